/**
 * kill -9 of a real gateway process (the compiled `altinn-gateway serve`) in the middle of a
 * broker upload and in the middle of a malware scan, then a restart on the same database and data
 * directory: no transfer is half-published, no bytes are left without a row, and the pending work
 * runs (the scan is done again, the transfer published once).
 */
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { BROKER_SCOPES, issueLocalOrganisationToken } from '../../../src/auth/organisation-tokens';
import { loadConfig } from '../../../src/config';
import { createGatewayProcess, type GatewayProcess } from '../../helpers/gateway-process';
import { startTestClamd, type TestClamd } from '../../helpers/clamd';
import { ORGS, party } from '../../helpers/broker';

const MiB = 1024 * 1024;

let gw: GatewayProcess;
let clamd: TestClamd;
let env: NodeJS.ProcessEnv;
let port: number;
let senderToken: string;
let recipientToken: string;

const startGateway = () => gw.start();
const kill9 = () => gw.kill9();
const blobFiles = () => gw.blobFiles();
const eventually = (check: () => Promise<boolean>, what: string, timeoutMs?: number) => gw.eventually(check, what, timeoutMs);
const rows = <T>(sql: string, bindings: unknown[] = []) => gw.rows<T>(sql, bindings);

async function api(method: string, urlPath: string, token: string, body?: unknown): Promise<{ status: number; json: any; bytes: Buffer }> {
  const response = await fetch(`http://127.0.0.1:${port}/broker/api/v1${urlPath}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const bytes = Buffer.from(await response.arrayBuffer());
  const text = bytes.toString('utf8');
  return { status: response.status, bytes, json: /json/.test(response.headers.get('content-type') ?? '') && text ? JSON.parse(text) : undefined };
}

async function initialize(resourceId: string): Promise<string> {
  const response = await api('POST', '/filetransfer', senderToken, {
    resourceId,
    fileName: 'big.bin',
    sendersFileTransferReference: 'crash',
    sender: party(ORGS.sender),
    recipients: [party(ORGS.recipient)],
  });
  expect(response.status).toBe(200);
  return response.json.fileTransferId;
}

function bytesOf(size: number, seed: number): Buffer {
  const bytes = Buffer.alloc(size);
  for (let i = 0; i < size; i += 4) bytes.writeUInt32LE((i * 2654435761 + seed) >>> 0, i);
  return bytes;
}

async function upload(id: string, bytes: Buffer): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${port}/broker/api/v1/filetransfer/${id}/upload`, {
    method: 'POST',
    headers: { authorization: `Bearer ${senderToken}`, 'content-type': 'application/octet-stream' },
    body: bytes,
  });
  await response.arrayBuffer();
  return response.status;
}

beforeAll(async () => {
  clamd = await startTestClamd();
  gw = await createGatewayProcess({ CLAMD_URL: clamd.unixUrl });
  ({ env, port } = gw);
  await gw.cli(['migrate']);
  await gw.cli(['broker', 'resource', 'set', '--resource', 'crash-test', '--owner', ORGS.serviceOwner]);
  const jwt = loadConfig(env).messages.jwt;
  senderToken = await issueLocalOrganisationToken(jwt, env.DATA_DIR!, { orgNumber: ORGS.sender, scopes: [BROKER_SCOPES.write], ttlSeconds: 3600 });
  recipientToken = await issueLocalOrganisationToken(jwt, env.DATA_DIR!, { orgNumber: ORGS.recipient, scopes: [BROKER_SCOPES.read], ttlSeconds: 3600 });
}, 180_000);

afterEach(() => {
  const state = expect.getState();
  if (state.assertionCalls !== state.numPassingAsserts || process.env.CRASH_TEST_LOG) process.stderr.write(`gateway log:\n${gw.log}\n`);
  gw.log = '';
});

afterAll(async () => {
  await gw?.close();
  await clamd?.close();
});

it('loses nothing and keeps no stray bytes when killed in the middle of an upload', async () => {
  await startGateway();
  // What the blob store holds already (on the embedded database, the demo's attachments).
  const before = await blobFiles();
  const id = await initialize('crash-test');
  const bytes = bytesOf(64 * MiB, 1);

  // Send a quarter of the body, wait until the gateway has written some of it, then kill it.
  const request = http.request({
    host: '127.0.0.1',
    port,
    method: 'POST',
    path: `/broker/api/v1/filetransfer/${id}/upload`,
    headers: { authorization: `Bearer ${senderToken}`, 'content-type': 'application/octet-stream', 'content-length': bytes.length },
  });
  request.on('error', () => undefined); // the connection dies with the gateway
  request.write(bytes.subarray(0, 16 * MiB));
  await eventually(async () => {
    const { partials } = await blobFiles();
    if (partials.length !== 1) return false;
    return (await stat(path.join(env.DATA_DIR!, 'blobs', 'tmp', partials[0]!))).size > 0;
  }, 'the gateway writing the upload');
  await kill9();
  request.destroy();

  const [afterKill] = await rows<{ status: string; blob_key: string | null }>('SELECT status, blob_key FROM broker_file_transfers WHERE id = ?', [id]);
  expect(afterKill).toEqual({ status: 'UploadStarted', blob_key: null });

  // On restart the dead attempt is abandoned and its partial bytes deleted.
  await startGateway();
  await eventually(async () => {
    const files = await blobFiles();
    return files.partials.length === 0 && files.blobs.join() === before.blobs.join();
  }, 'the dead upload attempt cleaned up');
  const overview = await api('GET', `/filetransfer/${id}`, senderToken);
  expect(overview.json.fileTransferStatus).toBe('UploadStarted');

  // The sender uploads again and the transfer completes (scanned, then published).
  expect(await upload(id, bytes)).toBe(200);
  await eventually(async () => (await api('GET', `/filetransfer/${id}`, senderToken)).json.fileTransferStatus === 'Published', 'published');
  const download = await api('GET', `/filetransfer/${id}/download`, recipientToken);
  expect(createHash('sha256').update(download.bytes).digest('hex')).toBe(createHash('sha256').update(bytes).digest('hex'));
  await kill9();

  const files = await blobFiles();
  const referenced = await rows<{ blob_key: string }>('SELECT blob_key FROM broker_file_transfers WHERE blob_key IS NOT NULL');
  expect(files).toEqual({ blobs: [...before.blobs, ...referenced.map((r) => r.blob_key)].sort(), partials: [] });
}, 300_000);

it('finishes a scan that was cut off by kill -9 and publishes the transfer exactly once', async () => {
  await startGateway();
  const id = await initialize('crash-test');
  const bytes = bytesOf(96 * MiB, 2);
  expect(await upload(id, bytes)).toBe(200);
  // The processing job starts at once: kill the gateway while it scans.
  await eventually(async () => {
    const running = await api('GET', `/filetransfer/${id}`, senderToken);
    return running.json.fileTransferStatus === 'UploadProcessing';
  }, 'upload processing');
  await kill9();

  const [state] = await rows<{ status: string }>('SELECT status FROM broker_file_transfers WHERE id = ?', [id]);
  const jobs = await rows<{ state: string }>("SELECT state FROM jobs WHERE kind = 'broker.process-upload'");
  // Killed before publishing: the job is still there to run again.
  if (state!.status === 'UploadProcessing') expect(jobs.length).toBe(1);

  await startGateway();
  await eventually(async () => (await api('GET', `/filetransfer/${id}`, senderToken)).json.fileTransferStatus === 'Published', 'published after restart');
  await kill9();

  const published = await rows<{ count: string | number }>("SELECT count(*) AS count FROM broker_file_transfer_statuses WHERE file_transfer_id = ? AND status = 'Published'", [id]);
  expect(Number(published[0]!.count)).toBe(1);
  const events = await rows<{ type: string; subject: string }>("SELECT type, subject FROM broker_events WHERE file_transfer_id = ? AND type = 'published' ORDER BY seq", [id]);
  expect(events).toEqual([
    { type: 'published', subject: ORGS.sender },
    { type: 'published', subject: ORGS.recipient },
  ]);
  expect(await rows("SELECT id FROM jobs WHERE kind = 'broker.process-upload'")).toEqual([]);
}, 300_000);
