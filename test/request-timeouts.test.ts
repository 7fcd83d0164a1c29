/**
 * Slow and stalled clients over real HTTP (src/request-timeouts.ts): a body trickling in, a chunked
 * body that never ends, a body shorter than its Content-Length and headers that never end are cut
 * after their timeout (408, connection closed); a streamed upload (REST attachment, Altinn 3 broker
 * upload) that keeps making progress runs past the body timeout, one that stalls is cut; an
 * oversized declared SOAP Content-Length is refused before the body is sent. While ~1,000
 * connections trickle, /health and SOAP calls answer.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { Readable } from 'node:stream';
import { loadConfig } from '../src/config';
import { rawRequest, startBrokerTestServer, type BrokerTestServer } from './helpers/broker';
import { call, DQ_ACTION, DQ_PATH, envelope11, NS, operationXml } from './helpers/soap-client';
import { createRestFixture, messageBody, type RestFixture } from './messages/rest-helpers';

const TIMEOUTS = { headersMs: 1500, bodyMs: 3000, streamedBodyStallMs: 1000, keepAliveMs: 5000 };
const TEST_ACTION = 'http://www.altinn.no/services/2009/10/IAltinnContractBase/Test';

let fixture: RestFixture;
let port: number;

beforeAll(async () => {
  fixture = await createRestFixture({ timeouts: TIMEOUTS });
  port = Number(new URL(fixture.server.url).port);
});
afterAll(() => fixture?.close());

interface Trickler {
  /** Resolves when the server closes the connection: what it answered and after how long. */
  closed: Promise<{ answer: string; afterMs: number }>;
  stop(): void;
}

/** Opens a connection, writes `head`, then one byte of `filler` every `everyMs`. */
function trickle(head: string, everyMs: number, filler = 'x', toPort = port): Trickler {
  const started = Date.now();
  const socket = net.connect(toPort, '127.0.0.1');
  const received: Buffer[] = [];
  let interval: NodeJS.Timeout | undefined;
  socket.on('data', (chunk: Buffer) => received.push(chunk));
  socket.on('connect', () => {
    socket.write(head);
    interval = setInterval(() => socket.write(filler), everyMs);
  });
  const closed = new Promise<{ answer: string; afterMs: number }>((resolve) => {
    socket.on('error', () => {});
    socket.on('close', () => {
      clearInterval(interval);
      resolve({ answer: Buffer.concat(received).toString('latin1'), afterMs: Date.now() - started });
    });
  });
  return {
    closed,
    stop: () => {
      clearInterval(interval);
      socket.destroy();
    },
  };
}

const soapHead = (extraHeaders: string) =>
  `POST ${DQ_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml; charset=utf-8\r\nSOAPAction: "${TEST_ACTION}"\r\n${extraHeaders}\r\n`;

async function expectHealthy(gateway: RestFixture): Promise<void> {
  const health = await fetch(`${gateway.server.url}/health`);
  expect(health.status).toBe(200);
  const test = await call(gateway.server.url, DQ_PATH, TEST_ACTION, `<b:Test xmlns:b="${NS.base}"/>`);
  expect(test.status).toBe(200);
  const items = await call(
    gateway.server.url,
    DQ_PATH,
    DQ_ACTION('GetDownloadQueueItems'),
    operationXml('GetDownloadQueueItems', { systemUserName: gateway.owner.userName, systemPassword: gateway.owner.password }),
  );
  expect(items.status).toBe(200);
}

describe('bodies that do not arrive in time are cut (HTTP_BODY_TIMEOUT_MS)', () => {
  // Whitespace before the root element is well-formed: the server keeps reading, never faults.
  it.each([
    ['a body trickling one byte every 200 ms', soapHead('Content-Length: 100000\r\n'), 200, ' '],
    ['a chunked body that never ends', soapHead('Transfer-Encoding: chunked\r\n'), 200, '1\r\n \r\n'],
    ['a body shorter than its Content-Length, then silence', `${soapHead('Content-Length: 100000\r\n')}<soapenv:Envelope`, 3_600_000, ''],
  ])('%s: 408 and closed after the body timeout', async (name, head, everyMs, filler) => {
    const { answer, afterMs } = await trickle(head, everyMs, filler).closed;
    expect(answer).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(afterMs).toBeGreaterThanOrEqual(TIMEOUTS.bodyMs - 50);
    expect(afterMs).toBeLessThan(TIMEOUTS.bodyMs + 1500);
    console.log(`${name}: cut after ${afterMs} ms (HTTP_BODY_TIMEOUT_MS ${TIMEOUTS.bodyMs})`);
  });

  it('headers that never end are cut after HTTP_HEADERS_TIMEOUT_MS', async () => {
    const client = trickle(`GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n`, 200, 'X');
    const { afterMs } = await client.closed;
    expect(afterMs).toBeGreaterThanOrEqual(TIMEOUTS.headersMs - 50);
    expect(afterMs).toBeLessThan(TIMEOUTS.headersMs + 1500);
  });
});

describe('streamed uploads are bounded by progress, not by duration (HTTP_UPLOAD_STALL_TIMEOUT_MS)', () => {
  async function draftLocation(): Promise<string> {
    const created = await fixture.call('POST', '/api/my/messages?complete=false', { body: messageBody(fixture.owner) });
    expect(created.status).toBe(201);
    return new URL(created.headers.get('location')!).pathname;
  }

  it('an upload that keeps sending runs past the body timeout; one that stalls is cut', async () => {
    const location = await draftLocation();
    const path = `${location}/attachments/streamedattachment?fileName=slow.bin&attachmentType=Stordata`;
    // 8 KiB every 250 ms for ~4 s: longer than HTTP_BODY_TIMEOUT_MS, never stalled.
    const chunks = 16;
    async function* slowly(): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < chunks; i++) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        yield Buffer.alloc(8192, i);
      }
    }
    const started = Date.now();
    const uploaded = await fixture.call('POST', path, { rawBody: slowly(), headers: { 'content-type': 'application/octet-stream' } });
    expect(Date.now() - started).toBeGreaterThan(TIMEOUTS.bodyMs);
    expect(uploaded.status).toBe(201);
    expect(uploaded.json.FileSize).toBe(chunks * 8192);

    // The same route, but after 4 KiB nothing more: cut once a stall window passes without 1 KiB.
    const token = await fixture.token();
    const head =
      `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nApiKey: ${fixture.apiKey}\r\nAuthorization: Bearer ${token}\r\n` +
      'Content-Type: application/octet-stream\r\nContent-Length: 1000000\r\n\r\n';
    const stalled = trickle(head + 'y'.repeat(4096), 3_600_000);
    const { answer, afterMs } = await stalled.closed;
    expect(answer).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(afterMs).toBeGreaterThanOrEqual(TIMEOUTS.streamedBodyStallMs - 50);
    expect(afterMs).toBeLessThan(2 * TIMEOUTS.streamedBodyStallMs + 1500);
    const attachments = await fixture.call('GET', `${location}/attachments`);
    expect(attachments.json._embedded.attachments.map((a: { FileName: string }) => a.FileName)).toEqual(['slow.bin']);
  });
});

describe('broker uploads (the 10 GB case) are bounded by progress too', () => {
  let broker: BrokerTestServer;
  beforeAll(async () => {
    broker = await startBrokerTestServer({ config: { timeouts: TIMEOUTS } });
  });
  afterAll(() => broker?.close());

  it('an Altinn 3 upload that keeps sending for longer than the body timeout is published', async () => {
    const id = await broker.initialize();
    const chunks = 16; // 64 KiB every 250 ms: ~4 s against a 3 s body timeout
    const parts = Array.from({ length: chunks }, (_, i) => Buffer.alloc(64 * 1024, i));
    const body = Readable.from(
      (async function* () {
        for (const part of parts) {
          await new Promise((resolve) => setTimeout(resolve, 250));
          yield part;
        }
      })(),
    );
    const started = Date.now();
    const response = await rawRequest(broker.url, {
      method: 'POST',
      path: `/broker/api/v1/filetransfer/${id}/upload`,
      headers: { authorization: `Bearer ${broker.tokens.sender}`, 'content-type': 'application/octet-stream', 'content-length': chunks * 64 * 1024 },
      body,
    });
    expect(Date.now() - started).toBeGreaterThan(TIMEOUTS.bodyMs);
    expect(response.status).toBe(200);
    const downloaded = await broker.call('GET', `/filetransfer/${id}/download`, { token: broker.tokens.recipient });
    expect(downloaded.status).toBe(200);
  });
});

it('a declared SOAP Content-Length above SOAP_MAX_REQUEST_BYTES is refused before the body is sent', async () => {
  const limit = fixture.server.app.config.limits.maxRequestBytes;
  const client = trickle(soapHead(`Content-Length: ${limit + 1}\r\n`), 3_600_000);
  const { answer, afterMs } = await client.closed;
  expect(answer).toMatch(/^HTTP\/1\.1 500 /);
  expect(answer).toContain(`The request is larger than ${limit} bytes (Content-Length ${limit + 1})`);
  expect(afterMs).toBeLessThan(TIMEOUTS.bodyMs);
});

/** Open file descriptors this process may hold (the soft RLIMIT_NOFILE), from /proc on Linux. */
function fileLimit(): number {
  const line = readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'));
  const soft = line?.split(/\s{2,}/)[1];
  return soft === undefined || soft === 'unlimited' ? Infinity : Number(soft);
}

describe('slow clients en masse', () => {
  // A longer body timeout than above: opening the connections takes a while on a loaded machine.
  const SLOW = { ...TIMEOUTS, bodyMs: 8000 };
  let gateway: RestFixture;
  beforeAll(async () => {
    gateway = await createRestFixture({ timeouts: SLOW });
  });
  afterAll(() => gateway?.close());

  it('while ~1,000 connections trickle, /health and SOAP calls answer; every trickler is cut after the body timeout', async () => {
    const gatewayPort = Number(new URL(gateway.server.url).port);
    // Server and clients share this process: two descriptors per connection, plus room for the rest.
    const connections = Math.min(1000, Math.floor((fileLimit() - 300) / 2));
    console.log(`slow-client test: ${connections} trickling connections (open-file limit ${fileLimit()})`);
    expect(connections).toBeGreaterThanOrEqual(300);
    const body = envelope11(`<b:Test xmlns:b="${NS.base}"/>`);
    const tricklers: Trickler[] = [];
    const started = Date.now();
    for (let i = 0; i < connections; i++) {
      tricklers.push(trickle(soapHead(`Content-Length: ${body.length}\r\n`), 300, ' ', gatewayPort));
      if (i % 100 === 99) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    // Every trickler holds a connection now, and normal calls still answer.
    await expectHealthy(gateway);
    const healthyAfterMs = Date.now() - started;
    const closed = await Promise.all(tricklers.map((t) => t.closed));
    const times = closed.map((c) => c.afterMs).sort((a, b) => a - b);
    console.log(
      `slow-client test: /health and SOAP answered ${healthyAfterMs} ms in; all ${connections} cut after ${times[0]}-${times[times.length - 1]} ms (HTTP_BODY_TIMEOUT_MS ${SLOW.bodyMs})`,
    );
    // The calls were answered while every trickler still held its connection.
    expect(healthyAfterMs).toBeLessThan(times[0]!);
    expect(times[0]).toBeGreaterThanOrEqual(SLOW.bodyMs - 50);
    expect(closed.every((c) => c.answer.startsWith('HTTP/1.1 408 Request Timeout'))).toBe(true);
    // Counted from each client's start, so a loaded machine's slow connection set-up adds to it.
    expect(times[times.length - 1]).toBeLessThan(SLOW.bodyMs + 20_000);
    await expectHealthy(gateway);
  }, 90_000);
});

it('reads its settings from the environment (milliseconds, at least 100)', () => {
  expect(loadConfig({}).timeouts).toEqual({ headersMs: 30_000, bodyMs: 60_000, streamedBodyStallMs: 60_000, keepAliveMs: 72_000 });
  const env = { HTTP_HEADERS_TIMEOUT_MS: '1000', HTTP_BODY_TIMEOUT_MS: '2000', HTTP_UPLOAD_STALL_TIMEOUT_MS: '3000', HTTP_KEEP_ALIVE_TIMEOUT_MS: '4000' };
  expect(loadConfig(env).timeouts).toEqual({ headersMs: 1000, bodyMs: 2000, streamedBodyStallMs: 3000, keepAliveMs: 4000 });
  expect(() => loadConfig({ HTTP_BODY_TIMEOUT_MS: '5' })).toThrow('HTTP_BODY_TIMEOUT_MS must be an integer >= 100, got \'5\'');
});
