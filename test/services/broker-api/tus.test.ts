/**
 * TUS 1.0 resumable upload over real HTTP (CONTRACT §5, §10): tus-js-client 4.3.1 in Node, the
 * way Altinn's own TUS test client uses it (8 MiB chunks, Bearer token, filename/filetype
 * metadata), aborted and resumed, and with four parallel uploads concatenated; then the protocol's
 * answers one by one with plain requests.
 *
 * The TUS requests go to a second listener built from the same app with hooks that record what the
 * server received per request (method, Upload-Offset, Content-Length, status, the offset answered),
 * so the test can show that a resumed client sends no stored byte again.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import type { ClientRequest } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import * as tus from 'tus-js-client';
import { scheduleStuckUploadSweep } from '../../../src/broker/jobs';
import { BROKER_SCOPES } from '../../../src/auth/organisation-tokens';
import { buildServer } from '../../../src/server';
import type { FileBlobStore } from '../../../src/storage/blob-store';
import { BROKER_API_PREFIX } from '../../../src/services/broker-api';
import { ORGS, party, rawRequest, startBrokerTestServer, type BrokerTestServer } from '../../helpers/broker';
import { waitFor } from '../../helpers/wait';

const MiB = 1024 * 1024;
const CHUNK = 8 * MiB;
const TUS = `${BROKER_API_PREFIX}/filetransfer/upload/tus`;

interface ReceivedRequest {
  method: string;
  url: string;
  uploadOffset: number | undefined;
  contentLength: number | undefined;
  status?: number;
  answeredOffset?: number;
  /** Whether the whole body arrived (false: the client broke the request off). */
  bodyComplete?: boolean;
}

let broker: BrokerTestServer;
let tusServer: FastifyInstance;
let tusUrl: string;
let workDir: string;
const received: ReceivedRequest[] = [];

beforeAll(async () => {
  broker = await startBrokerTestServer();
  workDir = await mkdtemp(path.join(tmpdir(), 'agw-tus-'));
  tusServer = buildServer(broker.app, { logger: false });
  tusServer.addHook('onRequest', async (request) => {
    if (!request.url.startsWith(TUS)) return;
    const record: ReceivedRequest = {
      method: request.method,
      url: request.url,
      uploadOffset: request.headers['upload-offset'] === undefined ? undefined : Number(request.headers['upload-offset']),
      contentLength: request.headers['content-length'] === undefined ? undefined : Number(request.headers['content-length']),
    };
    received.push(record);
    request.raw.once('close', () => (record.bodyComplete = request.raw.complete));
    (request as unknown as { tusRecord: ReceivedRequest }).tusRecord = record;
  });
  tusServer.addHook('onSend', async (request, reply, payload) => {
    const record = (request as unknown as { tusRecord?: ReceivedRequest }).tusRecord;
    if (record) {
      record.status = reply.statusCode;
      const offset = reply.getHeader('upload-offset');
      if (offset !== undefined) record.answeredOffset = Number(offset);
    }
    return payload;
  });
  tusUrl = await tusServer.listen({ port: 0, host: '127.0.0.1' });
});

afterAll(async () => {
  await tusServer?.close();
  await broker?.close();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

/** A file of random bytes written in 1 MiB pieces (never whole in memory), with its digests. */
async function makeFile(name: string, size: number): Promise<{ path: string; size: number; sha256: string; md5: string }> {
  const filePath = path.join(workDir, name);
  const sha256 = createHash('sha256');
  const md5 = createHash('md5');
  const out = fs.createWriteStream(filePath);
  for (let written = 0; written < size; written += MiB) {
    const piece = randomBytes(Math.min(MiB, size - written));
    sha256.update(piece);
    md5.update(piece);
    if (!out.write(piece)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
  }
  await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
  return { path: filePath, size, sha256: sha256.digest('hex'), md5: md5.digest('hex') };
}

/** Initialize as Altinn's TUS JS client does (CONTRACT §10). */
async function initializeAsTusClient(): Promise<string> {
  const response = await broker.call('POST', '/filetransfer', {
    token: broker.tokens.sender,
    json: {
      resourceId: broker.resourceId,
      fileName: 'input.txt',
      propertyList: {},
      recipients: [party(ORGS.recipient)],
      sender: party(ORGS.sender),
      sendersFileTransferReference: 'test-data',
      disableVirusScan: true,
    },
  });
  expect(response.status).toBe(200);
  return response.json.fileTransferId as string;
}

async function overview(id: string): Promise<Record<string, unknown>> {
  const response = await broker.call('GET', `/filetransfer/${id}`, { token: broker.tokens.sender });
  expect(response.status).toBe(200);
  return response.json;
}

/** SHA-256 of the recipient's download, hashed as it streams. */
async function downloadSha256(id: string): Promise<string> {
  const response = await fetch(`${broker.url}${BROKER_API_PREFIX}/filetransfer/${id}/download`, { headers: { authorization: `Bearer ${broker.tokens.recipient}` } });
  expect(response.status).toBe(200);
  const hash = createHash('sha256');
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) hash.update(chunk);
  return hash.digest('hex');
}

function tusOptions(id: string, extra: Partial<tus.UploadOptions> = {}): tus.UploadOptions {
  return {
    endpoint: `${tusUrl}${TUS}/${id}`,
    chunkSize: CHUNK,
    retryDelays: [100, 500, 1000, 2000],
    headers: { Authorization: `Bearer ${broker.tokens.sender}` },
    metadata: { filename: 'input.txt', filetype: 'text/plain' },
    ...extra,
  };
}

/** Runs an upload to its end. */
function finish(upload: tus.Upload): Promise<void> {
  return new Promise((resolve, reject) => {
    upload.options.onSuccess = () => resolve();
    upload.options.onError = reject;
    upload.start();
  });
}

interface CallResult {
  status: number;
  statusText: string;
  headers: Headers;
  text: string;
}

async function tusCall(method: string, target: string, options: { token?: string | null; headers?: Record<string, string>; body?: Buffer } = {}): Promise<CallResult> {
  const headers: Record<string, string> = { 'tus-resumable': '1.0.0', ...(options.headers ?? {}) };
  const token = options.token === undefined ? broker.tokens.sender : options.token;
  if (token) headers.authorization = `Bearer ${token}`;
  const url = target.startsWith('http') ? target : `${tusUrl}${target.startsWith('/broker') ? target : `${TUS}/${target}`}`;
  const response = await fetch(url, { method, headers, ...(options.body && { body: options.body }) });
  return { status: response.status, statusText: response.statusText, headers: response.headers, text: await response.text() };
}

const create = (id: string, length: number, headers: Record<string, string> = {}) => tusCall('POST', id, { headers: { 'upload-length': String(length), ...headers } });
const patch = (target: string, offset: number, body: Buffer, headers: Record<string, string> = {}) =>
  tusCall('PATCH', target, { body, headers: { 'content-type': 'application/offset+octet-stream', 'upload-offset': String(offset), ...headers } });
const md5Base64 = (bytes: Buffer) => createHash('md5').update(bytes).digest('base64');

/** The lease token of the transfer's upload (null when no request holds it). */
async function leaseToken(id: string): Promise<string | null | undefined> {
  return (await broker.app.db('broker_uploads').where({ file_transfer_id: id }).first())?.lease_token;
}

/**
 * A PATCH at `offset` that declares `length` bytes but sends only `sent`, its body left open:
 * resolves once it holds the upload's lease, with the request (to end or break it) and its answer.
 */
async function partialPatch(id: string, offset: number, length: number, sent: Buffer, holding: string) {
  let request!: ClientRequest;
  const answer = rawRequest(tusUrl, {
    method: 'PATCH',
    path: `${TUS}/${id}`,
    headers: { authorization: `Bearer ${broker.tokens.sender}`, 'tus-resumable': '1.0.0', 'content-type': 'application/offset+octet-stream', 'upload-offset': offset, 'content-length': length },
    send: (sending) => {
      request = sending;
      sending.write(sent);
    },
  });
  await waitFor(async () => (await leaseToken(id)) !== null, holding);
  return { request, answer };
}

describe('tus-js-client', () => {
  it('resumes an upload broken off near 40% at the stored offset, without sending a stored byte again', async () => {
    const file = await makeFile('resumed.bin', 44 * MiB);
    const id = await initializeAsTusClient();
    const urlStorage = new (tus as unknown as { FileUrlStorage: new (path: string) => NonNullable<tus.UploadOptions['urlStorage']> }).FileUrlStorage(path.join(workDir, 'tus-urls.json'));
    const firstRequest = received.length;

    // First session: broken off (as a dropped connection would) once 40% is on its way.
    await new Promise<void>((resolve, reject) => {
      const upload: tus.Upload = new tus.Upload(fs.createReadStream(file.path) as unknown as Buffer, {
        ...tusOptions(id, { urlStorage }),
        onProgress: (sent) => {
          if (sent >= 0.4 * file.size) {
            upload.abort().then(() => resolve(), reject);
            upload.options.onProgress = null;
          }
        },
        onSuccess: () => reject(new Error('the upload was not broken off')),
        onError: reject,
      });
      upload.start();
    });
    // The server has let go of the chunk in flight. It kept it only if every byte of it had
    // reached the server before the connection went (the kernel may deliver what was already sent).
    await waitFor(async () => (await leaseToken(id)) === null, 'the lease to be released');
    const stored = Number((await broker.app.db('broker_uploads').where({ file_transfer_id: id }).first()).upload_offset);
    expect([2 * CHUNK, 3 * CHUNK]).toContain(stored);
    expect((await overview(id)).fileTransferStatus).toBe('UploadStarted');
    const beforeResume = received.length;

    // Second session: the client finds its upload URL by the file's fingerprint and resumes.
    const resumed = new tus.Upload(fs.createReadStream(file.path) as unknown as Buffer, tusOptions(id, { urlStorage }));
    const previous = await resumed.findPreviousUploads();
    expect(previous).toHaveLength(1);
    expect(previous[0]!.uploadUrl).toBe(`${tusUrl}${TUS}/${id}`);
    resumed.resumeFromPreviousUpload(previous[0]!);
    await finish(resumed);

    const firstSession = received.slice(firstRequest, beforeResume);
    expect(firstSession.map((r) => [r.method, r.uploadOffset])).toEqual([
      ['POST', undefined],
      ['PATCH', 0],
      ['PATCH', CHUNK],
      ['PATCH', 2 * CHUNK], // the one broken off
    ]);
    expect(firstSession.slice(0, 3).map((r) => r.status)).toEqual([201, 204, 204]);
    expect(firstSession[3]!.status === 204).toBe(stored === 3 * CHUNK);
    // The resumed client asks for the offset, then sends from there on, in 8 MiB chunks.
    const secondSession = received.slice(beforeResume);
    expect(secondSession[0]).toMatchObject({ method: 'HEAD', status: 200, answeredOffset: stored });
    const resumedPatches = secondSession.slice(1);
    const expectedOffsets = [];
    for (let offset = stored; offset < file.size; offset += CHUNK) expectedOffsets.push(offset);
    expect(resumedPatches.map((r) => [r.method, r.uploadOffset, r.status])).toEqual(expectedOffsets.map((offset) => ['PATCH', offset, 204]));
    expect(resumedPatches.reduce((sum, r) => sum + r.contentLength!, 0)).toBe(file.size - stored);
    // Bytes the server took in, per PATCH: every byte of the file exactly once.
    const accepted = [...firstSession, ...secondSession].filter((r) => r.method === 'PATCH' && r.status === 204);
    expect(accepted.map((r) => [r.uploadOffset, r.answeredOffset])).toEqual([0, 1, 2, 3, 4, 5].map((n) => [n * CHUNK, Math.min((n + 1) * CHUNK, file.size)]));
    const parts = await broker.app.db('broker_upload_parts').join('broker_uploads', 'broker_uploads.id', 'broker_upload_parts.upload_id').where({ file_transfer_id: id }).orderBy('part_number').select('offset', 'size_bytes');
    expect(parts.map((p: { offset: number; size_bytes: number }) => [Number(p.offset), Number(p.size_bytes)])).toEqual(accepted.map((r) => [r.uploadOffset, r.answeredOffset! - r.uploadOffset!]));

    // Published at once (no scan, no checksum given); the hashes are filled in by the processing job.
    const published = await overview(id);
    expect(published).toMatchObject({ fileTransferStatus: 'Published', fileTransferSize: file.size });
    await broker.app.jobs.runDue();
    expect((await overview(id)).checksum).toBe(file.md5);
    expect(await downloadSha256(id)).toBe(file.sha256);
  });

  it('uploads in four parallel partial uploads that the server concatenates', async () => {
    const file = await makeFile('parallel.bin', 40 * MiB + 12345);
    const id = await initializeAsTusClient();
    const firstRequest = received.length;
    const upload = new tus.Upload(fs.createReadStream(file.path) as unknown as Buffer, tusOptions(id, { parallelUploads: 4 }));
    await finish(upload);
    expect(upload.url).toBe(`${tusUrl}${TUS}/${id}`);

    const requests = received.slice(firstRequest);
    const partialCreations = requests.filter((r) => r.method === 'POST' && r.status === 201).slice(0, 4);
    expect(partialCreations).toHaveLength(4);
    const final = requests[requests.length - 1]!;
    expect(final).toMatchObject({ method: 'POST', status: 201 });
    expect(requests.filter((r) => r.method === 'PATCH').every((r) => r.status === 204 && /\/partial\/[0-9a-f]{32}$/.test(r.url))).toBe(true);

    // The final upload is complete at once; its blob is composed by a job.
    const head = await tusCall('HEAD', id);
    expect(head.status).toBe(200);
    expect(head.headers.get('upload-length')).toBe(String(file.size));
    expect(head.headers.get('upload-offset')).toBe(String(file.size));
    expect(head.headers.get('upload-concat')).toMatch(new RegExp(`^final;(${TUS}/${id}/partial/[0-9a-f]{32} ?){4}$`));
    await broker.app.jobs.runDue();
    expect(await overview(id)).toMatchObject({ fileTransferStatus: 'Published', fileTransferSize: file.size, checksum: file.md5 });
    expect(await downloadSha256(id)).toBe(file.sha256);
  });
});

describe('the TUS protocol, request by request', () => {
  it('is described in the OpenAPI document', async () => {
    const document = (await (await fetch(`${tusUrl}/api/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    // (@fastify/swagger leaves HEAD routes out of the document.)
    expect(Object.keys(document.paths[`${TUS}/{fileTransferId}`]!).sort()).toEqual(['delete', 'options', 'patch', 'post']);
    expect(document.paths[`${TUS}/{fileTransferId}/partial/{partialId}`]).toBeDefined();
    expect(document.paths[`${TUS}/{fileTransferId}/{partialId}`]).toBeUndefined();
  });

  it('answers OPTIONS without a token with its version and extensions', async () => {
    for (const target of [`${TUS}/${randomBytes(4).toString('hex')}`, TUS]) {
      const response = await tusCall('OPTIONS', target, { token: null, headers: {} });
      expect(response.status).toBe(204);
      expect(Object.fromEntries(['tus-resumable', 'tus-version', 'tus-extension', 'tus-checksum-algorithm', 'tus-max-size'].map((h) => [h, response.headers.get(h)]))).toEqual({
        'tus-resumable': '1.0.0',
        'tus-version': '1.0.0',
        'tus-extension': 'creation,creation-with-upload,termination,checksum,concatenation,expiration',
        'tus-checksum-algorithm': 'md5',
        'tus-max-size': null,
      });
    }
  });

  it('creates an upload at the transfer URL, reports its offset, and takes chunks at that offset', async () => {
    const id = await broker.initialize();
    const bytes = randomBytes(3000);
    const created = await create(id, bytes.length, { 'upload-metadata': 'filename aW5wdXQudHh0,filetype dGV4dC9wbGFpbg==,empty' });
    expect(created.status).toBe(201);
    expect(created.headers.get('location')).toBe(`${TUS}/${id}`);
    expect(created.headers.get('tus-resumable')).toBe('1.0.0');
    expect(created.headers.get('upload-expires')).toBe(new Date(broker.clock.now().getTime() + 24 * 3600_000).toUTCString());
    expect(created.text).toBe('');
    expect((await overview(id)).fileTransferStatus).toBe('UploadStarted');

    const head = await tusCall('HEAD', id);
    expect(head.status).toBe(200);
    expect(Object.fromEntries(['upload-offset', 'upload-length', 'cache-control', 'tus-resumable', 'upload-concat'].map((h) => [h, head.headers.get(h)]))).toEqual({
      'upload-offset': '0',
      'upload-length': '3000',
      'cache-control': 'no-store',
      'tus-resumable': '1.0.0',
      'upload-concat': null,
    });

    const first = await patch(id, 0, bytes.subarray(0, 1000), { 'upload-checksum': `md5 ${md5Base64(bytes.subarray(0, 1000))}` });
    expect(first.status).toBe(204);
    expect(first.headers.get('upload-offset')).toBe('1000');
    expect(first.headers.get('upload-expires')).toBe(new Date(broker.clock.now().getTime() + 24 * 3600_000).toUTCString());

    // A wrong offset: 409, nothing stored.
    const conflict = await patch(id, 0, bytes.subarray(0, 1000));
    expect(conflict.status).toBe(409);
    expect(conflict.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(conflict.text).toBe('Offset does not match file. File offset: 1000. Request offset: 0');
    // A chunk whose checksum does not match: 460, discarded.
    const mismatch = await patch(id, 1000, bytes.subarray(1000, 2000), { 'upload-checksum': `md5 ${md5Base64(Buffer.from('other'))}` });
    expect([mismatch.status, mismatch.statusText, mismatch.text]).toEqual([460, 'Checksum Mismatch', 'Header Upload-Checksum does not match the checksum of the file']);
    expect((await tusCall('HEAD', id)).headers.get('upload-offset')).toBe('1000');
    // Checksums other than md5, and malformed ones, are refused.
    const sha1 = await patch(id, 1000, bytes.subarray(1000, 2000), { 'upload-checksum': `sha1 ${createHash('sha1').update('x').digest('base64')}` });
    expect([sha1.status, sha1.text]).toEqual([400, 'Unsupported checksum algorithm. Supported algorithms are: md5']);
    expect((await patch(id, 1000, bytes.subarray(1000, 2000), { 'upload-checksum': 'md5 not-base64!' })).status).toBe(400);
    // A chunk running past Upload-Length: 400.
    const tooLong = await patch(id, 1000, randomBytes(2001));
    expect([tooLong.status, tooLong.text]).toEqual([400, "The request ends at byte 3001, which is more data than the upload's length of 3000 bytes"]);
    // Not application/offset+octet-stream: 415.
    const wrongType = await tusCall('PATCH', id, { body: bytes.subarray(1000), headers: { 'content-type': 'application/octet-stream', 'upload-offset': '1000' } });
    expect([wrongType.status, wrongType.text]).toEqual([415, 'Content-Type application/offset+octet-stream is required']);
    expect((await tusCall('PATCH', id, { body: bytes.subarray(1000), headers: { 'content-type': 'application/offset+octet-stream' } })).status).toBe(400);

    const last = await patch(id, 1000, bytes.subarray(1000));
    expect(last.status).toBe(204);
    expect(last.headers.get('upload-offset')).toBe('3000');
    expect(last.headers.get('upload-expires')).toBeNull();
    expect((await overview(id)).fileTransferStatus).toBe('Published');
    // The final offset again (a retry whose answer was lost): 204, nothing changes.
    const retry = await patch(id, 3000, Buffer.alloc(0));
    expect([retry.status, retry.headers.get('upload-offset')]).toEqual([204, '3000']);
    // The transfer is uploaded: another creation is refused with Altinn's text.
    const again = await create(id, 10);
    expect([again.status, again.text]).toEqual([409, 'A file transfer has already been, or attempted to be, created. Create a new file transfer resource to try again.']);
    expect(await downloadSha256(id)).toBe(createHash('sha256').update(bytes).digest('hex'));
  });

  it('writes the body of the creation request at once (creation-with-upload)', async () => {
    const id = await broker.initialize();
    const bytes = randomBytes(5000);
    const created = await tusCall('POST', id, { body: bytes.subarray(0, 2000), headers: { 'upload-length': '5000', 'content-type': 'application/offset+octet-stream' } });
    expect(created.status).toBe(201);
    expect(created.headers.get('upload-offset')).toBe('2000');
    // A first chunk that fails its checksum: the upload exists, at offset 0; a malformed checksum creates nothing.
    const other = await broker.initialize();
    const refusedChunk = await tusCall('POST', other, {
      body: bytes.subarray(0, 100),
      headers: { 'upload-length': '5000', 'content-type': 'application/offset+octet-stream', 'upload-checksum': `md5 ${md5Base64(Buffer.from('else'))}` },
    });
    expect([refusedChunk.status, refusedChunk.headers.get('upload-offset')]).toEqual([201, '0']);
    const malformed = await tusCall('POST', id, { body: bytes.subarray(0, 100), headers: { 'upload-length': '5000', 'content-type': 'application/offset+octet-stream', 'upload-checksum': 'md5' } });
    expect(malformed.status).toBe(400);
    expect((await tusCall('HEAD', id)).headers.get('upload-offset')).toBe('2000');
    // The rest by POST with X-HTTP-Method-Override, for clients that cannot send PATCH.
    const overridden = await tusCall('POST', id, {
      body: bytes.subarray(2000),
      headers: { 'x-http-method-override': 'PATCH', 'content-type': 'application/offset+octet-stream', 'upload-offset': '2000' },
    });
    expect([overridden.status, overridden.headers.get('upload-offset')]).toEqual([204, '5000']);
    expect(await downloadSha256(id)).toBe(createHash('sha256').update(bytes).digest('hex'));
  });

  it('refuses creations it cannot take: deferred length, no length, too large, bad metadata, a wrong Tus-Resumable', async () => {
    const small = await broker.configureResource({ maxFileTransferSize: 1000 });
    const id = await broker.initialize({ resourceId: small });
    const deferred = await tusCall('POST', id, { headers: { 'upload-defer-length': '1' } });
    expect([deferred.status, deferred.text, deferred.headers.get('content-type')]).toEqual([400, 'Upload-Defer-Length is not supported', 'text/plain; charset=utf-8']);
    expect((await tusCall('POST', id)).status).toBe(400);
    expect((await create(id, -1 as number)).status).toBe(400);
    const tooLarge = await create(id, 1001);
    expect([tooLarge.status, tooLarge.text]).toEqual([400, 'File size exceeds maximum']);
    expect((await create(id, 10, { 'upload-metadata': 'filename not*base64' })).status).toBe(400);
    expect((await create(id, 10, { 'upload-concat': 'sideways' })).status).toBe(400);
    const version = await tusCall('POST', id, { headers: { 'upload-length': '10', 'tus-resumable': '0.2.2' } });
    expect([version.status, version.headers.get('tus-version')]).toEqual([412, '1.0.0']);
    expect((await overview(id)).fileTransferStatus).toBe('Initialized');
    expect((await create(id, 1000)).status).toBe(201);
  });

  it('keeps nothing of a chunk whose connection broke, and takes it again at the stored offset', async () => {
    const id = await broker.initialize();
    expect((await create(id, 3000)).status).toBe(201);
    const bytes = randomBytes(3000);
    expect((await patch(id, 0, bytes.subarray(0, 1000))).status).toBe(204);
    const broken = await partialPatch(id, 1000, 2000, bytes.subarray(1000, 1600), 'the PATCH to hold the lease');
    const cut = broken.answer.catch(() => undefined); // its connection is cut: there is no answer
    broken.request.destroy();
    await cut;
    await waitFor(async () => (await leaseToken(id)) === null, 'the lease to be released');
    const head = await tusCall('HEAD', id);
    expect(head.headers.get('upload-offset')).toBe('1000');
    expect((await patch(id, 1000, bytes.subarray(1000))).status).toBe(204);
    expect(await downloadSha256(id)).toBe(createHash('sha256').update(bytes).digest('hex'));
  });

  it('lets one of two concurrent PATCHes at the same offset write; the other gets 409', async () => {
    const id = await broker.initialize();
    expect((await create(id, 2000)).status).toBe(201);
    const bytes = randomBytes(2000);
    const slow = await partialPatch(id, 0, 2000, bytes.subarray(0, 700), 'the first PATCH to hold the lease');
    const second = await patch(id, 0, bytes);
    expect(second.status).toBe(409);
    expect(second.text).toMatch(/^File [0-9a-f-]{36} is currently being updated\. Please try again later$/);
    slow.request.end(bytes.subarray(700));
    const first = await slow.answer;
    expect(first.status).toBe(204);
    expect(first.headers['upload-offset']).toBe('2000');
    expect(await downloadSha256(id)).toBe(createHash('sha256').update(bytes).digest('hex'));
  });

  it('terminates an upload (DELETE) while the transfer takes uploads; refuses once it is uploaded', async () => {
    const id = await broker.initialize();
    expect((await create(id, 100)).status).toBe(201);
    expect((await patch(id, 0, randomBytes(60))).status).toBe(204);
    const uploadKey = (await broker.app.db('broker_uploads').where({ file_transfer_id: id }).first()).upload_key as string;
    const deleted = await tusCall('DELETE', id);
    expect([deleted.status, deleted.text, deleted.headers.get('tus-resumable')]).toEqual([204, '', '1.0.0']);
    expect((await tusCall('HEAD', id)).status).toBe(404);
    expect((await (broker.app.blobs as FileBlobStore).listUploads()).map((u) => u.uploadKey)).not.toContain(uploadKey);
    expect((await overview(id)).fileTransferStatus).toBe('UploadStarted');

    // A new upload after the termination, completed: now DELETE is a conflict.
    expect((await create(id, 4)).status).toBe(201);
    expect((await patch(id, 0, Buffer.from('done'))).status).toBe(204);
    const refused = await tusCall('DELETE', id);
    expect([refused.status, refused.text]).toEqual([409, 'A file transfer has already been, or attempted to be, created. Create a new file transfer resource to try again.']);
  });

  it('concatenates partial uploads named by absolute, relative and old-style URLs', async () => {
    const id = await broker.initialize();
    const pieces = [randomBytes(3000), randomBytes(2000), randomBytes(1000)];
    const locations: string[] = [];
    for (const piece of pieces) {
      const created = await create(id, piece.length, { 'upload-concat': 'partial' });
      expect(created.status).toBe(201);
      const location = created.headers.get('location')!;
      expect(location).toMatch(new RegExp(`^${TUS}/${id}/partial/[0-9a-f]{32}$`));
      locations.push(location);
      expect((await patch(location, 0, piece)).status).toBe(204);
      const head = await tusCall('HEAD', location);
      expect([head.headers.get('upload-concat'), head.headers.get('upload-offset')]).toEqual(['partial', String(piece.length)]);
    }
    const oldStyle = locations[2]!.replace('/partial/', '/');
    expect((await tusCall('HEAD', oldStyle)).headers.get('upload-offset')).toBe('1000');
    // A PATCH to a final upload and a final naming another transfer's partial are refused.
    const other = await broker.initialize();
    const foreign = await tusCall('POST', other, { headers: { 'upload-concat': `final;${locations[0]}` } });
    expect([foreign.status, foreign.text]).toEqual([400, 'Could not find some of the files supplied for concatenation']);
    const withLength = await tusCall('POST', id, { headers: { 'upload-concat': `final;${locations.join(' ')}`, 'upload-length': '6000' } });
    expect(withLength.status).toBe(400);

    const final = await tusCall('POST', id, { headers: { 'upload-concat': `final;${tusUrl}${locations[0]} ${locations[1]} ${oldStyle}` } });
    expect(final.status).toBe(201);
    expect(final.headers.get('location')).toBe(`${TUS}/${id}`);
    const finalPatch = await patch(id, 0, Buffer.from('x'));
    expect([finalPatch.status, finalPatch.text]).toEqual([403, 'File with "Upload-Concat: final" cannot be patched']);
    await broker.app.jobs.runDue();
    expect((await overview(id)).fileTransferStatus).toBe('Published');
    expect(await downloadSha256(id)).toBe(createHash('sha256').update(Buffer.concat(pieces)).digest('hex'));
  });

  it('expires an incomplete upload 24 hours after its last write; the sweep deletes its bytes', async () => {
    const id = await broker.initialize();
    expect((await create(id, 100)).status).toBe(201);
    broker.clock.advance(3600_000);
    const written = await patch(id, 0, randomBytes(10));
    expect(written.headers.get('upload-expires')).toBe(new Date(broker.clock.now().getTime() + 24 * 3600_000).toUTCString());
    const uploadKey = (await broker.app.db('broker_uploads').where({ file_transfer_id: id }).first()).upload_key as string;
    broker.clock.advance(24 * 3600_000 + 1);
    expect((await tusCall('HEAD', id)).status).toBe(404);
    expect((await patch(id, 10, randomBytes(10))).status).toBe(404);
    await scheduleStuckUploadSweep(broker.app.db, broker.app);
    await broker.app.jobs.runDue();
    expect(await broker.app.db('broker_uploads').where({ file_transfer_id: id })).toEqual([]);
    expect((await (broker.app.blobs as FileBlobStore).listUploads()).map((u) => u.uploadKey)).not.toContain(uploadKey);
    // The same sweep failed the transfer (24 h in UploadStarted, no upload activity for an hour): writing is now a conflict.
    expect(await overview(id)).toMatchObject({ fileTransferStatus: 'Failed', fileTransferStatusText: 'File transfer was stuck in UploadStarted as it failed upload mid-request.' });
    const late = await patch(id, 10, randomBytes(10));
    expect([late.status, late.text]).toEqual([409, 'A file transfer has already been, or attempted to be, created. Create a new file transfer resource to try again.']);
  });

  it('answers a stranger 404 on every request, a request without a token 401 and one without the write scope 403', async () => {
    const id = await broker.initialize();
    expect((await create(id, 10)).status).toBe(201);
    const concatenated = await broker.initialize();
    const partial = (await create(concatenated, 5, { 'upload-concat': 'partial' })).headers.get('location')!;
    const notFound = 'The requested file transfer was not found';
    for (const token of [broker.tokens.stranger, broker.tokens.recipientWriteOnly]) {
      for (const target of [id, partial]) {
        for (const [method, headers, body] of [
          ['POST', { 'upload-length': '10' }, undefined],
          ['HEAD', {}, undefined],
          ['PATCH', { 'content-type': 'application/offset+octet-stream', 'upload-offset': '0' }, Buffer.from('12345')],
          ['DELETE', {}, undefined],
        ] as const) {
          if (method === 'POST' && target !== id) continue;
          const response = await tusCall(method, target, { token, headers, ...(body && { body }) });
          expect([method, response.status, response.headers.get('tus-resumable')]).toEqual([method, 404, '1.0.0']);
          if (method !== 'HEAD') expect(response.text).toBe(notFound);
        }
      }
    }
    const noToken = await tusCall('POST', id, { token: null, headers: { 'upload-length': '10' } });
    expect([noToken.status, noToken.headers.get('www-authenticate'), noToken.headers.get('tus-resumable')]).toEqual([401, 'Bearer', '1.0.0']);
    expect((await tusCall('HEAD', id, { token: null })).status).toBe(401);
    const readOnly = await broker.token(ORGS.sender, [BROKER_SCOPES.read]);
    expect((await tusCall('PATCH', id, { token: readOnly, body: Buffer.from('x'), headers: { 'content-type': 'application/offset+octet-stream', 'upload-offset': '0' } })).status).toBe(403);
    // The sender's uploads are untouched by all of it.
    expect((await tusCall('HEAD', id)).headers.get('upload-offset')).toBe('0');
    expect((await tusCall('HEAD', partial)).headers.get('upload-offset')).toBe('0');
    expect((await overview(id)).fileTransferStatus).toBe('UploadStarted');
  });
});
