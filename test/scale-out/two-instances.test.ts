/**
 * Two gateway processes (the compiled `altinn-gateway serve`) on one PostgreSQL database and one
 * Azure blob store (Azurite, the emulator), each with its own DATA_DIR, behind a round-robin client: nothing one process keeps
 * may be needed by the other. The DownloadQueue loop with a 50 MiB streamed attachment; a broker
 * TUS upload whose chunks alternate between the instances, downloaded byte-exact, with a kill -9 of
 * the serving instance mid-download and the rest fetched with Range from the other; the transfer
 * purged exactly once and every event delivered to the webhooks once; a graceful shutdown (SIGTERM)
 * of one instance while the other serves.
 *
 * Needs DATABASE_URL: the embedded database is for one process, so without a PostgreSQL server
 * this file is skipped, saying so on stderr.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { archiveFormTasks } from '../../src/archive/archive-form-tasks';
import { BROKER_SCOPES, issueLocalOrganisationToken } from '../../src/auth/organisation-tokens';
import { loadConfig } from '../../src/config';
import { newTask } from '../helpers/archive-fixtures';
import { ORGS, party } from '../helpers/broker';
import { createSoapOwner, generatedAttachment, generatedSha256, type SoapOwner } from '../helpers/fixtures';
import { startAzurite, type Azurite } from '../helpers/azurite';
import { createGatewayProcess, type GatewayProcess } from '../helpers/gateway-process';
import { describeOnPostgres } from '../helpers/postgres-only';
import { altinnFaultOf, call, child, children, DQ_ACTION, DQ_PATH, envelope11, NS, operationXml, STREAMED_ACTION, STREAMED_PATH, text } from '../helpers/soap-client';

const MiB = 1024 * 1024;
const onPostgres = describeOnPostgres('test/scale-out/two-instances.test.ts', 'two gateway processes need one PostgreSQL server');

onPostgres('two gateway processes on one PostgreSQL and one Azure blob store', () => {
  let a: GatewayProcess;
  let b: GatewayProcess;
  let azurite: Azurite;
  let senderToken: string;
  let recipientToken: string;
  let owner: SoapOwner;
  let archived: { archiveReference: string; attachmentId: number };
  const webhookDeliveries: string[] = [];
  let receiver: http.Server;

  /** The round-robin client's next instance. */
  let turn = 0;
  const next = () => [a, b][turn++ % 2]!;

  beforeAll(async () => {
    azurite = await startAzurite();
    receiver = http.createServer((request, response) => {
      webhookDeliveries.push(String(request.headers['webhook-id']));
      request.resume();
      request.on('end', () => response.writeHead(200).end());
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/events`;

    a = await createGatewayProcess({ BLOB_STORE_URL: 'azure://scale-out/gateway', AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString, SHUTDOWN_GRACE_MS: '30000' });
    await a.cli(['migrate']);
    await a.cli(['broker', 'resource', 'set', '--resource', 'scale-out', '--owner', ORGS.serviceOwner, '--purge-after-confirm', 'on', '--grace', 'PT0S']);
    for (const org of [ORGS.sender, ORGS.recipient]) await a.cli(['broker', 'webhook', 'add', '--org', org, '--url', receiverUrl]);
    const jwt = loadConfig(a.env).messages.jwt;
    senderToken = await issueLocalOrganisationToken(jwt, a.env.DATA_DIR!, { orgNumber: ORGS.sender, scopes: [BROKER_SCOPES.write], ttlSeconds: 3600 });
    recipientToken = await issueLocalOrganisationToken(jwt, a.env.DATA_DIR!, { orgNumber: ORGS.recipient, scopes: [BROKER_SCOPES.read], ttlSeconds: 3600 });
    ({ owner, archived } = await a.inspect(async (app) => {
      const soapOwner = await createSoapOwner(app);
      const [task] = await archiveFormTasks(app, soapOwner.serviceOwnerId, [newTask(soapOwner, { attachments: [generatedAttachment('big.bin', 50 * MiB, 5)] })]);
      return { owner: soapOwner, archived: { archiveReference: task!.archiveReference, attachmentId: task!.attachmentIds[0]! } };
    }));
    b = await a.sibling();
    await Promise.all([a.start(), b.start()]);
  }, 300_000);

  afterEach(() => {
    const state = expect.getState();
    if (state.assertionCalls !== state.numPassingAsserts) process.stderr.write(`instance A log:\n${a.log}\ninstance B log:\n${b.log}\n`);
  });

  afterAll(async () => {
    await b?.close();
    await a?.close();
    await new Promise((resolve) => receiver?.close(resolve));
    await azurite?.stop();
  });

  /** Every webhook delivery row delivered (what is still pending, and why, when not). */
  const deliveriesDone = async () => {
    const pending = () => a.rows('SELECT event_seq, attempts, last_status, last_error, next_attempt_at FROM broker_webhook_deliveries WHERE delivered_at IS NULL');
    try {
      await a.eventually(async () => (await pending()).length === 0, 'deliveries done', 60_000);
    } catch (error) {
      throw new Error(`${JSON.stringify(await pending())}\n${String(error)}`.slice(0, 4000));
    }
  };
  const credentials = () => ({ systemUserName: owner.userName, systemPassword: owner.password });
  const dq = (gateway: GatewayProcess, operation: string, args: Record<string, string | number>) => call(gateway.url, DQ_PATH, DQ_ACTION(operation), operationXml(operation, { ...credentials(), ...args }));
  const queued = async (gateway: GatewayProcess) => {
    const result = await dq(gateway, 'GetDownloadQueueItems', { serviceCode: owner.serviceCode });
    return children(child(result.bodyElement, 'GetDownloadQueueItemsResult'), 'DownloadQueueItemBE').map((item) => text(item, 'ArchiveReference'));
  };

  it('serves the DownloadQueue loop with a 50 MiB streamed attachment across both, and purges the item once', async () => {
    // Said once the background work has started, just after the server listens.
    for (const gateway of [a, b]) await gateway.eventually(async () => gateway.log.includes('"blobStore":"azure://scale-out/gateway/"'), 'the blob store in the log');
    expect(await queued(next())).toEqual([archived.archiveReference]);
    expect(await queued(next())).toEqual([archived.archiveReference]);
    const task = await dq(next(), 'GetArchivedFormTaskBasicDQ', { archiveReference: archived.archiveReference });
    const attachment = children(child(child(task.bodyElement, 'GetArchivedFormTaskBasicDQResult'), 'Attachments'), 'ArchivedAttachmentDQBE')[0]!;
    expect(text(attachment, 'AttachmentId')).toBe(String(archived.attachmentId));

    const downloaded = await streamedAttachment(next());
    expect(downloaded).toEqual({ sizeBytes: 50 * MiB, sha256: generatedSha256(50 * MiB, 5) });

    const purges = await Promise.all([next(), next()].map((gateway) => dq(gateway, 'PurgeItem', { archiveReference: archived.archiveReference })));
    const answers = purges.map((result) => (altinnFaultOf(result) ? 'fault' : text(result.bodyElement, 'PurgeItemResult')));
    expect(answers.sort()).toEqual(['OK', 'fault']);
    expect(await queued(next())).toEqual([]);
    expect(await queued(next())).toEqual([]);
  }, 120_000);

  it('takes a TUS upload whose chunks alternate between the instances, serves it byte-exact across a kill -9 with Range, purges it once and delivers every event once', async () => {
    const bytes = bytesOf(48 * MiB, 3);
    const initialized = await api(next(), 'POST', '/filetransfer', senderToken, {
      resourceId: 'scale-out',
      fileName: 'big.bin',
      sendersFileTransferReference: 'two-instances',
      sender: party(ORGS.sender),
      recipients: [party(ORGS.recipient)],
    });
    expect(initialized.status).toBe(200);
    const id: string = initialized.json.fileTransferId;
    const tus = (gateway: GatewayProcess, method: string, headers: Record<string, string>, body?: Buffer) =>
      fetch(`${gateway.url}/broker/api/v1/filetransfer/upload/tus/${id}`, { method, headers: { authorization: `Bearer ${senderToken}`, 'tus-resumable': '1.0.0', ...headers }, body });
    expect((await tus(next(), 'POST', { 'upload-length': String(bytes.length) })).status).toBe(201);
    const chunk = 8 * MiB;
    for (let offset = 0; offset < bytes.length; offset += chunk) {
      const patched = await tus(next(), 'PATCH', { 'content-type': 'application/offset+octet-stream', 'upload-offset': String(offset) }, bytes.subarray(offset, offset + chunk));
      expect(patched.status).toBe(204);
      // The other instance knows the new offset at once: it is the database's.
      const head = await tus(next(), 'HEAD', {});
      expect(head.headers.get('upload-offset')).toBe(String(Math.min(offset + chunk, bytes.length)));
      next(); // the next chunk goes to the instance that did not take this one
    }
    await a.eventually(async () => (await api(next(), 'GET', `/filetransfer/${id}`, senderToken)).json.fileTransferStatus === 'Published', 'published', 120_000);
    // Deliveries settle before an instance is killed (a delivery cut by kill -9 is sent again, by design).
    await deliveriesDone();

    // B serves the download; it is killed after 8 MiB; A serves the rest from that offset.
    const received: Buffer[] = [];
    let receivedBytes = 0;
    await new Promise<void>((resolve, reject) => {
      const request = http.get(`${b.url}/broker/api/v1/filetransfer/${id}/download`, { headers: { authorization: `Bearer ${recipientToken}` }, agent: false }, (response) => {
        expect(response.statusCode).toBe(200);
        let killing = false;
        response.on('data', (data: Buffer) => {
          received.push(data);
          receivedBytes += data.length;
          if (receivedBytes >= 8 * MiB && !killing) {
            killing = true;
            response.pause();
            b.kill9().then(() => response.resume(), reject);
          }
        });
        response.on('error', () => resolve());
        response.on('aborted', () => resolve());
        response.on('end', () => reject(new Error('the download ended before the instance was killed')));
      });
      request.on('error', () => resolve());
    });
    expect(receivedBytes).toBeLessThan(bytes.length);
    const rest = await fetch(`${a.url}/broker/api/v1/filetransfer/${id}/download`, { headers: { authorization: `Bearer ${recipientToken}`, range: `bytes=${receivedBytes}-` } });
    expect(rest.status).toBe(206);
    expect(rest.headers.get('content-range')).toBe(`bytes ${receivedBytes}-${bytes.length - 1}/${bytes.length}`);
    const whole = Buffer.concat([...received, Buffer.from(await rest.arrayBuffer())]);
    expect(sha256(whole)).toBe(sha256(bytes));
    await b.start(); // B comes back (and frees at once what its dead process held)

    expect((await api(next(), 'POST', `/filetransfer/${id}/confirmdownload`, recipientToken)).status).toBe(204);
    await a.eventually(async () => (await api(next(), 'GET', `/filetransfer/${id}`, senderToken)).json.fileTransferStatus === 'Purged', 'purged', 60_000);
    expect(await a.rows('SELECT status FROM broker_file_transfer_statuses WHERE file_transfer_id = ? AND status = ?', [id, 'Purged'])).toHaveLength(1);
    const purgeEvents = await a.rows<{ id: string }>("SELECT id FROM broker_events WHERE file_transfer_id = ? AND type LIKE '%filepurged'", [id]);
    expect(purgeEvents).toHaveLength(1);

    // Every delivery row done, each event reached each webhook of its party exactly once.
    await deliveriesDone();
    await new Promise((resolve) => setTimeout(resolve, 2000)); // room for a duplicate to show
    const expected = await a.rows<{ id: string }>(
      'SELECT e.id FROM broker_webhook_deliveries d JOIN broker_events e ON e.seq = d.event_seq WHERE d.file_transfer_id = ? ORDER BY e.id',
      [id],
    );
    const mine = new Set(expected.map((row) => row.id));
    expect(expected.length).toBeGreaterThanOrEqual(5);
    expect(webhookDeliveries.filter((eventId) => mine.has(eventId)).sort()).toEqual(expected.map((row) => row.id).sort());
  }, 300_000);

  it('shuts one instance down gracefully (SIGTERM) mid-download while the other serves', async () => {
    const response = await startStreamedDownload(a);
    const chunks: Buffer[] = [];
    const done = new Promise<void>((resolve, reject) => {
      response.on('data', (data: Buffer) => chunks.push(data));
      response.on('end', resolve);
      response.on('error', reject);
    });
    response.pause();
    const exited = a.terminate();
    await a.eventually(async () => !(await fetch(`${a.url}/health`).then((r) => r.ok, () => false)), 'A stops taking connections');
    expect(await queued(b)).toEqual([]);
    expect((await fetch(`${b.url}/health/ready`)).status).toBe(200);
    response.resume();
    await done;
    expect(await exited).toBe(0);
    expect(mtomPart(Buffer.concat(chunks), response)).toEqual({ sizeBytes: 50 * MiB, sha256: generatedSha256(50 * MiB, 5) });
    await a.start();
  }, 120_000);

  function startStreamedDownload(gateway: GatewayProcess): Promise<http.IncomingMessage> {
    const body = envelope11(operationXml('GetAttachmentDataStreamedBasic', { ...credentials(), attachmentId: archived.attachmentId }, NS.so));
    return new Promise((resolve, reject) => {
      const request = http.request(
        { host: '127.0.0.1', port: gateway.port, path: STREAMED_PATH, method: 'POST', agent: false, headers: { 'content-type': 'text/xml; charset=utf-8', soapaction: STREAMED_ACTION } },
        resolve,
      );
      request.on('error', reject);
      request.end(body);
    });
  }

  async function streamedAttachment(gateway: GatewayProcess): Promise<{ sizeBytes: number; sha256: string }> {
    const response = await startStreamedDownload(gateway);
    expect(response.statusCode).toBe(200);
    const chunks: Buffer[] = [];
    for await (const data of response) chunks.push(data as Buffer);
    return mtomPart(Buffer.concat(chunks), response);
  }
});

/** The binary MTOM part of a streamed attachment response. */
function mtomPart(whole: Buffer, response: http.IncomingMessage): { sizeBytes: number; sha256: string } {
  const boundary = /boundary="([^"]+)"/.exec(response.headers['content-type']!)![1]!;
  const start = whole.indexOf('\r\n\r\n', whole.indexOf('Content-Type: application/octet-stream')) + 4;
  const end = whole.lastIndexOf(`\r\n--${boundary}--`);
  return { sizeBytes: end - start, sha256: sha256(whole.subarray(start, end)) };
}

async function api(gateway: GatewayProcess, method: string, urlPath: string, token: string, body?: unknown): Promise<{ status: number; json: any }> {
  const response = await fetch(`${gateway.url}/broker/api/v1${urlPath}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const textBody = await response.text();
  return { status: response.status, json: /json/.test(response.headers.get('content-type') ?? '') && textBody ? JSON.parse(textBody) : undefined };
}

function bytesOf(size: number, seed: number): Buffer {
  const bytes = Buffer.alloc(size);
  for (let i = 0; i < size; i += 4) bytes.writeUInt32LE((i * 2654435761 + seed) >>> 0, i);
  return bytes;
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}
