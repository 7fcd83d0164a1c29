/**
 * What an operator watches: REST calls in /metrics beside SOAP, gauges of queue depth, lock-outs
 * and the connection pool, liveness and readiness, the landing page at `/`, and the log formats.
 */
import { Writable } from 'node:stream';
import { archiveFormTasks } from '../../src/archive/archive-form-tasks';
import { addSystemUser } from '../../src/auth/system-users';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/observability/logger';
import { restApiOf } from '../../src/observability/http-metrics';
import { buildServer } from '../../src/server';
import { migrateRollbackAll } from '../../src/storage/migrate';
import { VERSION } from '../../src/version';
import { createOwnerWithService, newTask } from '../helpers/archive-fixtures';
import { createTestApp } from '../helpers/database';
import { startTestServer, type TestServer } from '../helpers/server';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ auth: { maxFailedAttempts: 2, lockSeconds: 600, verifiedCacheSeconds: 0 } });
});
afterAll(() => server.close());

async function scrape(): Promise<string> {
  const response = await fetch(`${server.url}/metrics`);
  expect(response.status).toBe(200);
  return response.text();
}

function sample(metrics: string, name: string, labels: string): number | undefined {
  const line = metrics.split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('/metrics', () => {
  it('counts REST requests of each API by route template and status', async () => {
    // Without credentials: the messages and brokerservice APIs answer 400 (no ApiKey), the broker API 401.
    await fetch(`${server.url}/api/910000001/messages`);
    await fetch(`${server.url}/api/910000001/messages`);
    await fetch(`${server.url}/api/910000001/brokerservice/inbox`);
    await fetch(`${server.url}/broker/api/v1/filetransfer/0b8e7c35-8c27-4b39-9a4d-d0d2c9c2a2e1`);
    await fetch(`${server.url}/api/910000001/no-such-thing`);
    const metrics = await scrape();
    expect(sample(metrics, 'altinn_gateway_http_requests_total', 'api="messages",method="GET",route="/api/:who/messages",status="400"')).toBe(2);
    expect(sample(metrics, 'altinn_gateway_http_requests_total', 'api="brokerservice",method="GET",route="/api/:who/brokerservice/inbox",status="400"')).toBe(1);
    expect(sample(metrics, 'altinn_gateway_http_requests_total', 'api="broker",method="GET",route="/broker/api/v1/filetransfer/:fileTransferId",status="401"')).toBe(1);
    expect(sample(metrics, 'altinn_gateway_http_requests_total', 'api="messages",method="GET",route="unmatched",status="404"')).toBe(1);
    expect(sample(metrics, 'altinn_gateway_http_request_duration_seconds_count', 'api="messages",method="GET",route="/api/:who/messages"')).toBe(2);
    // Not REST API calls: the help pages, the OpenAPI document, SOAP, /metrics itself.
    expect(metrics).not.toMatch(/altinn_gateway_http_requests_total\{[^}]*route="\/(metrics|health)/);
  });

  it('tells the APIs apart by path', () => {
    expect(restApiOf('/api/910000001/messages/5/forms')).toBe('messages');
    expect(restApiOf('/api/910000001/brokerservice/outbox')).toBe('brokerservice');
    expect(restApiOf('/broker/api/v1/resource/x')).toBe('broker');
    expect(restApiOf('/api/help/static/index.html')).toBeUndefined();
    expect(restApiOf('/api/openapi.json')).toBeUndefined();
    expect(restApiOf('/ArchiveExternal/DownloadQueueExternalBasic.svc')).toBeUndefined();
  });

  it('gauges queue depth per owner, locked-out users and the connection pool at scrape time', async () => {
    const app = server.app;
    const busy = await createOwnerWithService(app);
    const idle = await createOwnerWithService(app);
    await archiveFormTasks(app, busy.serviceOwnerId, [newTask(busy), newTask(busy), newTask(busy)]);
    await addSystemUser(app.db, { serviceOwnerId: idle.serviceOwnerId, userName: 'gauge-user', password: 'gauge-password' });
    let metrics = await scrape();
    expect(sample(metrics, 'altinn_gateway_download_queue_items', `owner="${busy.orgNumber}"`)).toBe(3);
    expect(sample(metrics, 'altinn_gateway_download_queue_items', `owner="${idle.orgNumber}"`)).toBe(0);
    expect(sample(metrics, 'altinn_gateway_locked_system_users', '')).toBeUndefined(); // no labels: the line is name and value
    expect(metrics).toMatch(/^altinn_gateway_locked_system_users 0$/m);

    for (let attempt = 0; attempt < 2; attempt++) await app.authenticator.authenticate('gauge-user', 'wrong-password', '192.0.2.1').catch(() => undefined);
    metrics = await scrape();
    expect(metrics).toMatch(/^altinn_gateway_locked_system_users 1$/m);
    expect(sample(metrics, 'altinn_gateway_db_pool_connections', 'state="max"')).toBeGreaterThanOrEqual(1);
    expect(sample(metrics, 'altinn_gateway_db_pool_connections', 'state="used"')).toBeGreaterThanOrEqual(0);
    expect(sample(metrics, 'altinn_gateway_db_pool_connections', 'state="pending"')).toBe(0);
  });
});

describe('health', () => {
  it('answers liveness and readiness beside /health', async () => {
    const live = await fetch(`${server.url}/health/live`);
    expect({ status: live.status, body: await live.json() }).toEqual({ status: 200, body: { status: 'ok' } });
    const ready = await fetch(`${server.url}/health/ready`);
    expect({ status: ready.status, body: await ready.json() }).toEqual({ status: 200, body: { status: 'ok', database: 'ok', migrations: 'applied' } });
  });

  it('is not ready while migrations are pending', async () => {
    const app = await createTestApp();
    const unmigrated = buildServer(app, { logger: false });
    try {
      const url = await unmigrated.listen({ port: 0, host: '127.0.0.1' });
      await migrateRollbackAll(app.db);
      const ready = await fetch(`${url}/health/ready`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toMatchObject({ status: 'unavailable', database: 'ok', pendingMigrations: expect.arrayContaining(['001_archive']) });
      expect((await fetch(`${url}/health/live`)).status).toBe(200);
    } finally {
      await unmigrated.close();
      await app.close();
    }
  });
});

describe('GET /', () => {
  it('is a small HTML page linking the WSDLs, the help, metrics and health', async () => {
    const response = await fetch(`${server.url}/`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const html = await response.text();
    expect(html).toMatch(/^<!DOCTYPE html>/);
    for (const href of [
      '/ArchiveExternal/DownloadQueueExternalBasic.svc?wsdl',
      '/ArchiveExternal/ServiceOwnerArchiveExternalStreamedBasic.svc?wsdl',
      '/ServiceEngineExternal/BrokerServiceExternalBasic.svc?wsdl',
      '/ServiceEngineExternal/BrokerServiceExternalBasicStreamed.svc?wsdl',
      '/api/help/',
      '/api/openapi.json',
      '/metrics',
      '/health/live',
      '/health/ready',
    ]) {
      expect(html).toContain(`href="${href}"`);
      const linked = await fetch(`${server.url}${href}`);
      expect([href, linked.status]).toEqual([href, 200]);
    }
    expect(html).toContain(`<small>${VERSION}</small>`);
  });
});

describe('logs', () => {
  function capture(): Writable & { text: string } {
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        sink.text += chunk.toString('utf8');
        callback();
      },
    }) as Writable & { text: string };
    sink.text = '';
    return sink;
  }

  it('are JSON lines by default and readable lines with LOG_FORMAT=pretty', async () => {
    const jsonSink = capture();
    createLogger(loadConfig({}), jsonSink).info({ orgNumber: '910000001' }, 'queue listed');
    expect(JSON.parse(jsonSink.text)).toMatchObject({ level: 30, msg: 'queue listed', orgNumber: '910000001' });

    const prettySink = capture();
    createLogger(loadConfig({ LOG_FORMAT: 'pretty' }), prettySink).info({ orgNumber: '910000001' }, 'queue listed');
    expect(prettySink.text).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] .*INFO.*: .*queue listed/);
    expect(prettySink.text).toContain('orgNumber: "910000001"');
    expect(() => JSON.parse(prettySink.text)).toThrow();
  });

  it('refuses an unknown LOG_FORMAT', () => {
    expect(() => loadConfig({ LOG_FORMAT: 'xml' })).toThrow("LOG_FORMAT must be one of json, pretty, got 'xml'");
  });
});
