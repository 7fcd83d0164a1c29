/**
 * kill -9 of a real gateway process (the compiled `altinn-gateway serve`) in the middle of a
 * broker upload and in the middle of a malware scan, then a restart on the same database and data
 * directory: no transfer is half-published, no bytes are left without a row, and the pending work
 * runs (the scan is done again, the transfer published once).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BROKER_SCOPES, issueLocalOrganisationToken } from '../../../src/auth/organisation-tokens';
import { openApp } from '../../../src/app';
import { loadConfig } from '../../../src/config';
import { CapturedOutput } from '../../helpers/cli-runner';
import { main } from '../../../src/cli/main';
import { createTestDatabase, type TestDatabase } from '../../helpers/database';
import { startTestClamd, type TestClamd } from '../../helpers/clamd';
import { freePort } from '../../helpers/processes';
import { ORGS, party } from '../../helpers/broker';

const ROOT = path.resolve(__dirname, '../../..');
const MiB = 1024 * 1024;

let workDir: string;
let database: TestDatabase;
let clamd: TestClamd;
let env: NodeJS.ProcessEnv;
let port: number;
let gateway: ChildProcess | undefined;
let senderToken: string;
let recipientToken: string;
/** What the gateway processes logged (shown when a test fails). */
let gatewayLog = '';

async function cli(args: string[]): Promise<void> {
  const stdout = new CapturedOutput();
  const stderr = new CapturedOutput();
  const code = await main(args, { stdin: process.stdin, stdout, stderr, env });
  if (code !== 0) throw new Error(`altinn-gateway ${args.join(' ')} failed: ${stderr.text}`);
}

async function startGateway(): Promise<void> {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin/altinn-gateway.js'), 'serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout!.on('data', (chunk: Buffer) => (gatewayLog += chunk.toString()));
  gateway = child;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the gateway exited (${child.exitCode}): ${stderr}`);
    const healthy = await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.ok, () => false);
    if (healthy) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`the gateway did not start: ${stderr}`);
}

async function kill9(): Promise<void> {
  const child = gateway!;
  gateway = undefined;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

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

/** Files of the blob store: stored blobs (two-level folders) and partial ones (tmp/). */
async function blobFiles(): Promise<{ blobs: string[]; partials: string[] }> {
  const root = path.join(env.DATA_DIR!, 'blobs');
  const blobs: string[] = [];
  for (const first of await readdir(root).catch(() => [])) {
    if (!/^[0-9a-f]{2}$/.test(first)) continue;
    for (const second of await readdir(path.join(root, first))) {
      for (const file of await readdir(path.join(root, first, second))) blobs.push(`${first}/${second}/${file}`);
    }
  }
  const partials = await readdir(path.join(root, 'tmp')).catch(() => []);
  return { blobs: blobs.sort(), partials };
}

async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not reached in time: ${what}\ngateway log:\n${gatewayLog}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Rows of the gateway's database, read by the CLI's own app (closed again at once). */
async function rows<T>(sql: string, bindings: unknown[] = []): Promise<T[]> {
  // The embedded database admits one process: read it only while the gateway is down.
  const app = await openApp(loadConfig(env), { migrate: false });
  try {
    const result = await app.db.raw(sql, bindings as never[]);
    return result.rows as T[];
  } finally {
    await app.close();
  }
}

beforeAll(async () => {
  // The child process runs the compiled gateway: compile the sources as they are now.
  const build = spawnSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', path.join(ROOT, 'tsconfig.build.json')], { encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`npm run build failed:\n${build.stdout}${build.stderr}`);
  workDir = await mkdtemp(path.join(tmpdir(), 'agw-crash-'));
  database = await createTestDatabase();
  clamd = await startTestClamd();
  port = await freePort();
  env = {
    PATH: process.env.PATH,
    DATA_DIR: path.join(workDir, 'data'),
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    CLAMD_URL: clamd.unixUrl,
    JOBS_POLL_INTERVAL_MS: '100',
    ...(database.databaseUrl && { DATABASE_URL: database.databaseUrl }),
  };
  await cli(['migrate']);
  await cli(['broker', 'resource', 'set', '--resource', 'crash-test', '--owner', ORGS.serviceOwner]);
  const jwt = loadConfig(env).messages.jwt;
  senderToken = await issueLocalOrganisationToken(jwt, env.DATA_DIR!, { orgNumber: ORGS.sender, scopes: [BROKER_SCOPES.write], ttlSeconds: 3600 });
  recipientToken = await issueLocalOrganisationToken(jwt, env.DATA_DIR!, { orgNumber: ORGS.recipient, scopes: [BROKER_SCOPES.read], ttlSeconds: 3600 });
}, 180_000);

afterEach(() => {
  const state = expect.getState();
  if (state.assertionCalls !== state.numPassingAsserts || process.env.CRASH_TEST_LOG) process.stderr.write(`gateway log:\n${gatewayLog}\n`);
  gatewayLog = '';
});

afterAll(async () => {
  if (gateway) await kill9();
  await clamd?.close();
  await database?.drop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
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
