/**
 * The resumable-upload use cases (src/broker/resumable-upload.ts) against a real database and blob
 * store, without HTTP: offsets, leases, checksums, completion and attachment, concatenation,
 * termination, replaced attempts, expiry and recovery after a failed completion. The TUS door is
 * tested over HTTP in test/services/broker-api/tus.test.ts.
 */
import { createHash, randomBytes } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import { configureResource } from '../../src/broker/configure-resource';
import { isBrokerError } from '../../src/broker/errors';
import { appendTransferStatus, loadFileTransfer } from '../../src/broker/file-transfer-store';
import { initializeFileTransfer } from '../../src/broker/initialize-file-transfer';
import {
  abortResumableUploads,
  createFinalUpload,
  createResumableUpload,
  expireResumableUploads,
  getResumableUpload,
  ResumableUploadError,
  terminateResumableUpload,
  UPLOAD_EXPIRATION_MS,
  writeResumableUpload,
  type ResumableUploadErrorReason,
} from '../../src/broker/resumable-upload';
import type { BrokerCaller, BrokerContext } from '../../src/broker/types';
import { uploadFileTransfer } from '../../src/broker/upload-file-transfer';
import { ManualClock } from '../../src/clock';
import { FileBlobStore, type BlobStore } from '../../src/storage/blob-store';
import { createTestApp, type TestApp } from '../helpers/database';
import { waitFor } from '../helpers/wait';

const SENDER: BrokerCaller = { orgNumber: '974760673', partyId: '0192:974760673' };
const RECIPIENT: BrokerCaller = { orgNumber: '889640782', partyId: '0192:889640782' };
const STRANGER: BrokerCaller = { orgNumber: '314240979', partyId: '0192:314240979' };
const OWNER: BrokerCaller = { orgNumber: '991825827', partyId: '0192:991825827' };

const md5 = (bytes: Buffer) => createHash('md5').update(bytes).digest('hex');
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

let app: TestApp;
let ctx: BrokerContext;
let clock: ManualClock;
const RESOURCE = 'resumable-upload-resource';

beforeAll(async () => {
  clock = new ManualClock(new Date('2026-03-02T08:00:00.000Z'));
  app = await createTestApp({}, { clock });
  ctx = app.broker;
  await configureResource(ctx, OWNER, RESOURCE, { maxFileTransferSize: 1024 * 1024 });
});

afterAll(() => app?.close());

async function initialize(overrides: Record<string, unknown> = {}): Promise<string> {
  const { fileTransferId } = await initializeFileTransfer(ctx, SENDER, {
    resourceId: RESOURCE,
    fileName: 'input.txt',
    sendersFileTransferReference: 'test-data',
    sender: SENDER.partyId,
    recipients: [RECIPIENT.partyId],
    propertyList: {},
    disableVirusScan: true,
    ...overrides,
  });
  return fileTransferId;
}

const write = (id: string, offset: number, bytes: Buffer, extra: { partialId?: string; expectedMd5?: string } = {}) =>
  writeResumableUpload(ctx, SENDER, { fileTransferId: id, ...(extra.partialId && { partialId: extra.partialId }) }, {
    offset,
    source: Readable.from([bytes]),
    contentLength: bytes.length,
    ...(extra.expectedMd5 && { expectedMd5: extra.expectedMd5 }),
  });

async function refusal(promise: Promise<unknown>): Promise<ResumableUploadErrorReason | string> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ResumableUploadError) return error.reason;
    if (isBrokerError(error)) return error.name;
    throw error;
  }
  throw new Error('expected a refusal');
}

async function readBlob(key: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of ctx.blobs.open(key)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function uploadRows(id: string) {
  return app.db('broker_uploads').where({ file_transfer_id: id }).orderBy('created_at').select();
}

/** Until a writer holds the lease of the transfer's upload. */
async function waitForLease(id: string): Promise<void> {
  await waitFor(async () => (await app.db('broker_uploads').where({ file_transfer_id: id }).whereNotNull('lease_token').first()) !== undefined, 'a writer to take the lease');
}

async function pendingUploadFiles(): Promise<string[]> {
  return (await (ctx.blobs as FileBlobStore).listUploads()).map((upload) => upload.uploadKey);
}

it('costs a chunk two statements and no transaction of its own, and leaves the lease free after it', async () => {
  const id = await initialize();
  const bytes = randomBytes(3000);
  const upload = await createResumableUpload(ctx, SENDER, id, { kind: 'single', uploadLength: bytes.length });
  await write(id, 0, bytes.subarray(0, 1000));
  const sql = await statementsOf(() => write(id, 1000, bytes.subarray(1000, 2000)));
  // The lease on the upload row (checking the transfer, returning the row and numbering the part),
  // then the commit of the part: the transfer itself is not loaded.
  expect(sql).toHaveLength(2);
  expect(sql[0]).toMatch(/^update "broker_uploads" set "lease_token"/);
  expect(sql.some((statement) => /^(BEGIN|COMMIT)/i.test(statement))).toBe(false);
  const row = await app.db('broker_uploads').where({ id: upload.uploadId }).first();
  expect(row).toMatchObject({ lease_token: null, lease_until: null });
  expect(Number(row.upload_offset)).toBe(2000);
  const parts = await app.db('broker_upload_parts').where({ upload_id: upload.uploadId }).orderBy('part_number').select('part_number', 'offset');
  expect(parts.map((part: { part_number: number; offset: number | string }) => [part.part_number, Number(part.offset)])).toEqual([
    [1, 0],
    [2, 1000],
  ]);
});

it('costs a chunk of a partial upload two statements too, and still refuses one at the wrong offset with the stored offset', async () => {
  const id = await initialize();
  const partial = await createResumableUpload(ctx, SENDER, id, { kind: 'partial', uploadLength: 3000 });
  const sql = await statementsOf(() => write(id, 0, randomBytes(1000), { partialId: partial.uploadId }));
  expect(sql).toHaveLength(2);
  expect(sql[0]).toMatch(/^update "broker_uploads" set "lease_token"/);
  // The one-statement lease does not fit: the upload is resolved and the refusal explained.
  expect(await write(id, 500, randomBytes(10), { partialId: partial.uploadId }).catch((error: Error) => error.message)).toBe(
    'Offset does not match file. File offset: 1000. Request offset: 500',
  );
});

it('leases in one statement only for the sender, while the transfer takes uploads, on the upload of its current attempt', async () => {
  /** The refusal of `work`, which must have loaded the transfer after the one-statement lease took nothing. */
  const declined = async (work: () => Promise<unknown>) => {
    let reason: string | undefined;
    const sql = await statementsOf(async () => (reason = await refusal(work())));
    expect(sql[0]).toMatch(/^update "broker_uploads" set "lease_token"/);
    expect(sql[1]).toMatch(/from "broker_file_transfers" as "t" left join "broker_recipients"/);
    return reason;
  };
  const id = await initialize();
  const single = await createResumableUpload(ctx, SENDER, id, { kind: 'single', uploadLength: 100 });
  for (const caller of [STRANGER, RECIPIENT]) {
    const chunk = { offset: 0, source: Readable.from([randomBytes(10)]), contentLength: 10 };
    expect(await declined(() => writeResumableUpload(ctx, caller, { fileTransferId: id }, chunk))).toBe('FileTransferNotFound');
  }

  // A partial upload whose attempt a single upload replaced.
  const other = await initialize();
  const partial = await createResumableUpload(ctx, SENDER, other, { kind: 'partial', uploadLength: 100 });
  await createResumableUpload(ctx, SENDER, other, { kind: 'single', uploadLength: 100 });
  expect(await declined(() => write(other, 0, randomBytes(10), { partialId: partial.uploadId }))).toBe('UploadNotFound');

  // A transfer that no longer takes uploads, its attempt left as it was: a conflict, as in Altinn.
  await app.db.transaction((trx) => appendTransferStatus(trx, id, 'Cancelled', clock.now()));
  expect(await declined(() => write(id, 0, randomBytes(10)))).toBe('FileTransferAlreadyUploaded');
  expect(Number((await app.db('broker_uploads').where({ id: single.uploadId }).first()).upload_offset)).toBe(0);
});

/** The SQL statements `work` sends. */
async function statementsOf(work: () => Promise<unknown>): Promise<string[]> {
  const sql: string[] = [];
  const listener = (query: { sql: string }) => sql.push(query.sql);
  app.db.on('query', listener);
  try {
    await work();
  } finally {
    app.db.removeListener('query', listener);
  }
  return sql;
}

it('writes chunks at the stored offset, publishes at once, and the processing job fills in the MD5 and SHA-256', async () => {
  const id = await initialize();
  const bytes = randomBytes(300_000);
  const upload = await createResumableUpload(ctx, SENDER, id, { kind: 'single', uploadLength: bytes.length });
  expect(upload).toMatchObject({ fileTransferId: id, kind: 'single', uploadLength: bytes.length, uploadOffset: 0, partialIds: [] });
  expect(upload.expiresAt).toEqual(new Date(clock.now().getTime() + UPLOAD_EXPIRATION_MS));
  expect((await loadFileTransfer(app.db, id))!.status.status).toBe('UploadStarted');
  expect((await app.db('broker_file_transfers').where({ id }).first()).upload_attempt).toBe(`tus:${upload.uploadId}`);

  clock.advance(1000);
  const first = await write(id, 0, bytes.subarray(0, 100_000));
  expect(first).toEqual({ changed: true, upload: expect.objectContaining({ uploadOffset: 100_000, expiresAt: new Date(clock.now().getTime() + UPLOAD_EXPIRATION_MS) }) });
  expect((await getResumableUpload(ctx, SENDER, { fileTransferId: id })).uploadOffset).toBe(100_000);
  await write(id, 100_000, bytes.subarray(100_000, 250_000), { expectedMd5: md5(bytes.subarray(100_000, 250_000)) });
  const last = await write(id, 250_000, bytes.subarray(250_000));
  expect(last.upload).toMatchObject({ uploadOffset: bytes.length, expiresAt: null });

  // No scan and no checksum to check: Published at once, the sums filled in afterwards (CONTRACT §5).
  const transfer = (await loadFileTransfer(app.db, id))!;
  expect(transfer.status.status).toBe('Published');
  expect(transfer).toMatchObject({ fileTransferSize: bytes.length, checksum: null, sha256: null });
  await app.jobs.runDue();
  expect(await loadFileTransfer(app.db, id)).toMatchObject({ status: expect.objectContaining({ status: 'Published' }), checksum: md5(bytes), sha256: sha256(bytes) });
  expect((await readBlob(transfer.blobKey!)).equals(bytes)).toBe(true);
  const parts = await app.db('broker_upload_parts').where({ upload_id: upload.uploadId }).orderBy('part_number').select('part_number', 'offset', 'size_bytes', 'md5');
  // A part has its own MD5 only when the client sent one to check (the upload's come from the processing job).
  expect(parts).toEqual([
    { part_number: 1, offset: 0, size_bytes: 100_000, md5: null },
    { part_number: 2, offset: 100_000, size_bytes: 150_000, md5: md5(bytes.subarray(100_000, 250_000)) },
    { part_number: 3, offset: 250_000, size_bytes: 50_000, md5: null },
  ]);
  // A repeated last chunk (its answer was lost) changes nothing; any other offset is a conflict.
  expect(await write(id, bytes.length, Buffer.alloc(0))).toEqual({ changed: false, upload: expect.objectContaining({ uploadOffset: bytes.length }) });
  expect(await refusal(write(id, 0, bytes.subarray(0, 10)))).toBe('OffsetMismatch');
  expect(await refusal(createResumableUpload(ctx, SENDER, id, { kind: 'single', uploadLength: 5 }))).toBe('FileTransferAlreadyUploaded');
});

it('refuses a wrong offset, a chunk past the length and a size over the limit, keeping the stored offset', async () => {
  const id = await initialize();
  expect(await refusal(createResumableUpload(ctx, SENDER, id, { kind: 'single', uploadLength: 1024 * 1024 + 1 }))).toBe('FileSizeTooBig');
  await createResumableUpload(ctx, SENDER, id, { kind: 'single', uploadLength: 1000 });
  await write(id, 0, randomBytes(400));
  expect(await refusal(write(id, 0, randomBytes(10)))).toBe('OffsetMismatch');
  expect(await refusal(write(id, 500, randomBytes(10)))).toBe('OffsetMismatch');
  // Declared too long: refused before a byte is read.
  expect(await refusal(write(id, 400, randomBytes(601)))).toBe('ChunkExceedsLength');
  // Undeclared (chunked) and too long: refused while streaming; nothing of it is kept.
  const tooLong = writeResumableUpload(ctx, SENDER, { fileTransferId: id }, { offset: 400, source: Readable.from([randomBytes(300), randomBytes(301)]) });
  expect(await refusal(tooLong)).toBe('ChunkExceedsLength');
  const state = await getResumableUpload(ctx, SENDER, { fileTransferId: id });
  expect(state.uploadOffset).toBe(400);
  const rest = randomBytes(600);
  expect((await write(id, 400, rest)).upload.uploadOffset).toBe(1000);
  expect((await loadFileTransfer(app.db, id))!.status.status).toBe('Published');
});

it('verifies a chunk against its Upload-Checksum MD5: a mismatch keeps nothing, the retry is stored', async () => {
  const id = await initialize();
  const bytes = randomBytes(5000);
  await createResumableUpload(ctx, SENDER, id, { kind: 'single', uploadLength: bytes.length });
  await write(id, 0, bytes.subarray(0, 2000), { expectedMd5: md5(bytes.subarray(0, 2000)) });
  const wrong = md5(Buffer.from('something else'));
  expect(await refusal(write(id, 2000, bytes.subarray(2000), { expectedMd5: wrong }))).toBe('ChunkChecksumMismatch');
  expect((await getResumableUpload(ctx, SENDER, { fileTransferId: id })).uploadOffset).toBe(2000);
  expect(await app.db('broker_upload_parts').where({ offset: 2000 }).first()).toBeUndefined();

  await write(id, 2000, bytes.subarray(2000), { expectedMd5: md5(bytes.subarray(2000)) });
  const transfer = (await loadFileTransfer(app.db, id))!;
  expect(transfer.status.status).toBe('Published');
  expect(transfer.sha256).toBeNull();
  await app.jobs.runDue();
  expect(await loadFileTransfer(app.db, id)).toMatchObject({ sha256: sha256(bytes), checksum: md5(bytes) });
  expect((await readBlob(transfer.blobKey!)).equals(bytes)).toBe(true);
});

it('lets one of two concurrent writers at the same offset write; the other is told the upload is busy', async () => {
  const id = await initialize();
  await createResumableUpload(ctx, SENDER, id, { kind: 'single', uploadLength: 2000 });
  const slow = new PassThrough();
  const first = writeResumableUpload(ctx, SENDER, { fileTransferId: id }, { offset: 0, source: slow, contentLength: 1000 });
  slow.write(randomBytes(500));
  await waitForLease(id);
  expect(await refusal(write(id, 0, randomBytes(1000)))).toBe('UploadLocked');
  const rest = randomBytes(500);
  slow.end(rest);
  expect((await first).upload.uploadOffset).toBe(1000);
  expect(await app.db('broker_uploads').where({ file_transfer_id: id }).first()).toMatchObject({ lease_token: null, lease_until: null });
});

it('keeps nothing of a chunk whose stream broke, releases the lease, and resumes at the stored offset', async () => {
  const id = await initialize({ checksum: undefined });
  const bytes = randomBytes(3000);
  await createResumableUpload(ctx, SENDER, id, { kind: 'single', uploadLength: bytes.length });
  await write(id, 0, bytes.subarray(0, 1000));
  const broken = new PassThrough();
  const writing = writeResumableUpload(ctx, SENDER, { fileTransferId: id }, { offset: 1000, source: broken });
  broken.write(bytes.subarray(1000, 1500));
  await waitForLease(id);
  broken.destroy(new Error('connection reset'));
  await expect(writing).rejects.toThrow('connection reset');
  expect(await app.db('broker_uploads').where({ file_transfer_id: id }).first()).toMatchObject({ upload_offset: 1000, lease_token: null });
  await write(id, 1000, bytes.subarray(1000));
  const transfer = (await loadFileTransfer(app.db, id))!;
  expect(transfer.status.status).toBe('Published');
  expect((await readBlob(transfer.blobKey!)).equals(bytes)).toBe(true);
});

it('fails the transfer when the MD5 given at initialize does not match (the upload itself succeeded)', async () => {
  const bytes = randomBytes(1000);
  const id = await initialize({ checksum: md5(Buffer.from('not these bytes')) });
  await createResumableUpload(ctx, SENDER, id, { kind: 'single', uploadLength: bytes.length });
  expect((await write(id, 0, bytes)).upload.uploadOffset).toBe(1000);
  // Checked after completion, by the processing job (CONTRACT §4).
  expect((await loadFileTransfer(app.db, id))!.status.status).toBe('UploadProcessing');
  await app.jobs.runDue();
  const transfer = (await loadFileTransfer(app.db, id))!;
  expect(transfer.status).toMatchObject({ status: 'Failed', text: 'Checksum mismatch' });
  expect(transfer.blobKey).toBeNull();
});

it('concatenates complete partial uploads in the order the final names them, in the compose job', async () => {
  const id = await initialize();
  const pieces = [randomBytes(70_000), randomBytes(1), randomBytes(30_000)];
  const partials = [];
  for (const piece of pieces) partials.push(await createResumableUpload(ctx, SENDER, id, { kind: 'partial', uploadLength: piece.length }));
  expect(new Set(partials.map((p) => p.kind))).toEqual(new Set(['partial']));
  expect((await app.db('broker_file_transfers').where({ id }).first()).upload_attempt).toBe('tus:concat');
  // Written in any order, each from its own offset 0.
  await write(id, 0, pieces[2]!, { partialId: partials[2]!.uploadId });
  await write(id, 0, pieces[0]!, { partialId: partials[0]!.uploadId });
  const ids = partials.map((p) => p.uploadId);
  expect(await refusal(createFinalUpload(ctx, SENDER, id, ids))).toBe('PartialUploadsIncomplete');
  await write(id, 0, pieces[1]!, { partialId: partials[1]!.uploadId });
  expect(await refusal(createFinalUpload(ctx, SENDER, id, [ids[0]!, ids[0]!]))).toBe('PartialUploadsNotFound');
  expect(await refusal(createFinalUpload(ctx, SENDER, id, [ids[0]!, '00000000-0000-4000-8000-000000000000']))).toBe('PartialUploadsNotFound');
  expect(await refusal(write(id, 0, Buffer.from('x'), { partialId: ids[0]! }))).toBe('OffsetMismatch');

  const whole = Buffer.concat(pieces);
  const partialBlobs: string[] = (await uploadRows(id)).map((row) => row.blob_key);
  expect(partialBlobs).toHaveLength(3);
  const final = await createFinalUpload(ctx, SENDER, id, ids);
  expect(final).toMatchObject({ kind: 'final', uploadLength: whole.length, uploadOffset: whole.length, partialIds: ids, expiresAt: null });
  expect(await getResumableUpload(ctx, SENDER, { fileTransferId: id })).toMatchObject({ uploadId: final.uploadId, kind: 'final' });
  expect(await refusal(write(id, 0, Buffer.from('x')))).toBe('FinalUploadNotWritable');
  expect((await loadFileTransfer(app.db, id))!.status.status).toBe('UploadStarted');

  await app.jobs.runDue();
  const transfer = (await loadFileTransfer(app.db, id))!;
  expect(transfer).toMatchObject({ fileTransferSize: whole.length, checksum: md5(whole), sha256: sha256(whole) });
  expect(transfer.status.status).toBe('Published');
  expect((await readBlob(transfer.blobKey!)).equals(whole)).toBe(true);
  // The partials are consumed: rows and blobs gone; the final stays (HEAD still answers).
  expect((await uploadRows(id)).map((row) => row.kind)).toEqual(['final']);
  await app.jobs.runDue();
  for (const key of partialBlobs) expect(await ctx.blobs.stat(key)).toBeUndefined();
  expect(await getResumableUpload(ctx, SENDER, { fileTransferId: id })).toMatchObject({ uploadOffset: whole.length, uploadLength: whole.length });
});

it('terminates an upload while the transfer takes uploads: its bytes go, the status stays', async () => {
  const id = await initialize();
  const upload = await createResumableUpload(ctx, SENDER, id, { kind: 'single', uploadLength: 100 });
  await write(id, 0, randomBytes(40));
  const [row] = await uploadRows(id);
  expect(await pendingUploadFiles()).toContain(row.upload_key);
  await terminateResumableUpload(ctx, SENDER, { fileTransferId: id });
  expect(await uploadRows(id)).toEqual([]);
  expect(await pendingUploadFiles()).not.toContain(row.upload_key);
  expect((await loadFileTransfer(app.db, id))!.status.status).toBe('UploadStarted');
  expect(await refusal(getResumableUpload(ctx, SENDER, { fileTransferId: id }))).toBe('UploadNotFound');
  expect(await refusal(terminateResumableUpload(ctx, SENDER, { fileTransferId: id }))).toBe('UploadNotFound');
  expect(upload.uploadId).toBe(row.id);

  // Once the transfer is uploaded, termination is refused.
  const published = await initialize();
  await createResumableUpload(ctx, SENDER, published, { kind: 'single', uploadLength: 3 });
  await write(published, 0, Buffer.from('abc'));
  expect(await refusal(terminateResumableUpload(ctx, SENDER, { fileTransferId: published }))).toBe('FileTransferAlreadyUploaded');
});

it('answers a stranger and a recipient as if the transfer did not exist', async () => {
  const id = await initialize();
  await createResumableUpload(ctx, SENDER, id, { kind: 'single', uploadLength: 10 });
  for (const caller of [STRANGER, RECIPIENT]) {
    expect(await refusal(createResumableUpload(ctx, caller, id, { kind: 'single', uploadLength: 10 }))).toBe('FileTransferNotFound');
    expect(await refusal(getResumableUpload(ctx, caller, { fileTransferId: id }))).toBe('FileTransferNotFound');
    expect(await refusal(writeResumableUpload(ctx, caller, { fileTransferId: id }, { offset: 0, source: Readable.from([Buffer.from('x')]) }))).toBe('FileTransferNotFound');
    expect(await refusal(terminateResumableUpload(ctx, caller, { fileTransferId: id }))).toBe('FileTransferNotFound');
  }
  expect((await getResumableUpload(ctx, SENDER, { fileTransferId: id })).uploadOffset).toBe(0);
});

it('aborts the uploads of a replaced attempt: a new single upload, or a streamed upload, discards the old bytes', async () => {
  const id = await initialize();
  const old = await createResumableUpload(ctx, SENDER, id, { kind: 'single', uploadLength: 100 });
  await write(id, 0, randomBytes(50));
  const [oldRow] = await uploadRows(id);
  const replacement = await createResumableUpload(ctx, SENDER, id, { kind: 'single', uploadLength: 20 });
  // The transfer's URL now names the new upload; the old one is gone for the client at once…
  expect(await getResumableUpload(ctx, SENDER, { fileTransferId: id })).toMatchObject({ uploadId: replacement.uploadId, uploadOffset: 0 });
  // …and its bytes and row once the abort job has run.
  await app.jobs.runDue();
  expect((await uploadRows(id)).map((row) => row.id)).toEqual([replacement.uploadId]);
  expect(await pendingUploadFiles()).not.toContain(oldRow.upload_key);
  expect(old.uploadId).not.toBe(replacement.uploadId);

  // A streamed upload replaces the resumable one too.
  const partial = await createResumableUpload(ctx, SENDER, id, { kind: 'partial', uploadLength: 10 });
  await write(id, 0, randomBytes(10), { partialId: partial.uploadId });
  const bytes = randomBytes(64);
  await uploadFileTransfer(ctx, SENDER, id, Readable.from([bytes]));
  await app.jobs.runDue();
  expect(await uploadRows(id)).toEqual([]);
  const transfer = (await loadFileTransfer(app.db, id))!;
  expect(transfer.status.status).toBe('Published');
  expect((await readBlob(transfer.blobKey!)).equals(bytes)).toBe(true);
  // abortResumableUploads never touches the blob the transfer holds.
  await abortResumableUploads(ctx, id);
  expect((await readBlob(transfer.blobKey!)).equals(bytes)).toBe(true);
});

it('expires an incomplete upload 24 hours after its last write (sliding), deleting its bytes', async () => {
  const id = await initialize();
  await createResumableUpload(ctx, SENDER, id, { kind: 'single', uploadLength: 100 });
  clock.advance(20 * 60 * 60 * 1000);
  await write(id, 0, randomBytes(10));
  const [row] = await uploadRows(id);
  clock.advance(20 * 60 * 60 * 1000); // 40 h after creation, 20 h after the write: still alive
  await expireResumableUploads(ctx);
  expect((await uploadRows(id)).map((r) => r.id)).toEqual([row.id]);
  expect((await getResumableUpload(ctx, SENDER, { fileTransferId: id })).uploadOffset).toBe(10);

  clock.advance(4 * 60 * 60 * 1000 + 1);
  // Expired: gone for the client even before the sweep…
  expect(await refusal(getResumableUpload(ctx, SENDER, { fileTransferId: id }))).toBe('UploadNotFound');
  expect(await refusal(write(id, 10, randomBytes(10)))).toBe('UploadNotFound');
  // …and the sweep deletes bytes and row.
  expect(await expireResumableUploads(ctx)).toBe(1);
  expect(await uploadRows(id)).toEqual([]);
  expect(await pendingUploadFiles()).not.toContain(row.upload_key);
  expect((await loadFileTransfer(app.db, id))!.status.status).toBe('UploadStarted');
});

it('finishes on the next request an upload whose completion failed after its last chunk was stored', async () => {
  const id = await initialize();
  const bytes = randomBytes(2000);
  await createResumableUpload(ctx, SENDER, id, { kind: 'single', uploadLength: bytes.length });
  await write(id, 0, bytes.subarray(0, 1500));
  const failingOnce: BlobStore = Object.create(ctx.blobs);
  let failures = 0;
  failingOnce.completeUpload = async () => {
    failures++;
    throw new Error('disk hiccup');
  };
  await expect(
    writeResumableUpload({ ...ctx, blobs: failingOnce }, SENDER, { fileTransferId: id }, { offset: 1500, source: Readable.from([bytes.subarray(1500)]) }),
  ).rejects.toThrow('disk hiccup');
  expect(failures).toBe(1);
  expect(await app.db('broker_uploads').where({ file_transfer_id: id }).first()).toMatchObject({ upload_offset: 2000, completed_at: null, lease_token: null });
  expect((await loadFileTransfer(app.db, id))!.status.status).toBe('UploadStarted');

  // HEAD sees every byte stored and finishes the job.
  expect(await getResumableUpload(ctx, SENDER, { fileTransferId: id })).toMatchObject({ uploadOffset: 2000, uploadLength: 2000 });
  const transfer = (await loadFileTransfer(app.db, id))!;
  expect(transfer.status.status).toBe('Published');
  expect((await readBlob(transfer.blobKey!)).equals(bytes)).toBe(true);
});

it('completes an empty upload at creation', async () => {
  const id = await initialize();
  const upload = await createResumableUpload(ctx, SENDER, id, { kind: 'single', uploadLength: 0 });
  expect(upload).toMatchObject({ uploadLength: 0, uploadOffset: 0, expiresAt: null });
  const transfer = (await loadFileTransfer(app.db, id))!;
  expect(transfer).toMatchObject({ fileTransferSize: 0, checksum: md5(Buffer.alloc(0)), sha256: sha256(Buffer.alloc(0)) });
  expect(transfer.status.status).toBe('Published');
});
