/** Resumable uploads in the filesystem blob store: parts at offsets, crashes, completion, abort. */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { BlobTooLargeError, FileBlobStore, digestBlob, type CommittedUploadPart } from '../../src/storage/blob-store';
import { SLAB_BYTES, releaseHashWorkers } from '../../src/storage/hashing-writer';

let root: string;
let store: FileBlobStore;
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'agw-uploads-'));
  store = new FileBlobStore(root);
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));
// No hashing thread left for jest to wait for when the file is done.
afterAll(() => releaseHashWorkers());

const md5 = (data: Buffer) => createHash('md5').update(data).digest('hex');
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const uploadFile = (uploadKey: string) => path.join(root, uploadKey);

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Write parts one after another, as a TUS client's PATCHes arrive, and return what the caller would commit. */
async function writeParts(uploadKey: string, bodies: Buffer[], firstOffset = 0): Promise<CommittedUploadPart[]> {
  const parts: CommittedUploadPart[] = [];
  let offset = firstOffset;
  for (const body of bodies) {
    const placement = { partNumber: parts.length + 1, offset };
    // Every other part asks for its MD5 (for a client's checksum); the rest are not hashed.
    const withMd5 = parts.length % 2 === 1;
    const written = await store.writeUploadPart(uploadKey, placement, Readable.from([body.subarray(0, 1000), body.subarray(1000)]), { md5: withMd5 });
    expect(written).toStrictEqual({ sizeBytes: body.length, ...(withMd5 && { md5: md5(body) }), etag: expect.any(String) });
    parts.push({ ...placement, sizeBytes: written.sizeBytes, etag: written.etag });
    offset += body.length;
  }
  return parts;
}

it('creates an upload, writes parts at their offsets and completes it into a blob by renaming', async () => {
  const uploadKey = await store.createUpload();
  expect(fs.statSync(uploadFile(uploadKey)).size).toBe(0);
  const bodies = [randomBytes(2 * SLAB_BYTES + 3), randomBytes(SLAB_BYTES), randomBytes(12)];
  const parts = await writeParts(uploadKey, bodies);
  const inode = fs.statSync(uploadFile(uploadKey)).ino;

  const whole = Buffer.concat(bodies);
  const completed = await store.completeUpload(uploadKey, parts);
  expect(completed).toEqual({ key: expect.stringMatching(/^[0-9a-f]{2}\/[0-9a-f]{2}\/[0-9a-f-]{36}$/), sizeBytes: whole.length });
  expect(fs.statSync(store.pathOf(completed.key)).ino).toBe(inode); // renamed, not copied
  expect(fs.existsSync(uploadFile(uploadKey))).toBe(false);
  expect((await readAll(store.open(completed.key))).equals(whole)).toBe(true);
  expect(await digestBlob(store, completed.key)).toEqual({ key: completed.key, sizeBytes: whole.length, sha256: sha256(whole), md5: md5(whole) });
});

it('completes an upload whose parts the caller lists in any order', async () => {
  const uploadKey = await store.createUpload();
  const bodies = [randomBytes(5000), randomBytes(7000)];
  const parts = await writeParts(uploadKey, bodies);
  const completed = await store.completeUpload(uploadKey, [parts[1]!, parts[0]!]);
  expect((await readAll(store.open(completed.key))).equals(Buffer.concat(bodies))).toBe(true);
});

it('rewrites from the committed offset after a crash left bytes beyond it', async () => {
  const uploadKey = await store.createUpload();
  const first = randomBytes(SLAB_BYTES + 500);
  const [committed] = await writeParts(uploadKey, [first]);

  // A crash in the middle of the second PATCH: its bytes (and more garbage) are on disk, but the
  // caller never committed the part, so its offset stays at the end of the first part.
  fs.appendFileSync(uploadFile(uploadKey), randomBytes(3 * SLAB_BYTES));
  const restarted = new FileBlobStore(root);
  const second = randomBytes(SLAB_BYTES / 2); // shorter than the garbage: it must not survive
  const written = await restarted.writeUploadPart(uploadKey, { partNumber: 2, offset: first.length }, Readable.from([second]), { md5: true });
  expect(written).toMatchObject({ sizeBytes: second.length, md5: md5(second) });
  expect(fs.statSync(uploadFile(uploadKey)).size).toBe(first.length + second.length);

  const completed = await restarted.completeUpload(uploadKey, [committed!, { partNumber: 2, offset: first.length, sizeBytes: second.length, etag: written.etag }]);
  const whole = Buffer.concat([first, second]);
  expect(completed.sizeBytes).toBe(whole.length);
  expect((await readAll(restarted.open(completed.key))).equals(whole)).toBe(true);
});

it('keeps only the committed bytes when a part fails halfway, and the part can be sent again', async () => {
  const uploadKey = await store.createUpload();
  const first = randomBytes(3000);
  const [committed] = await writeParts(uploadKey, [first]);
  async function* droppedConnection() {
    yield randomBytes(2 * SLAB_BYTES);
    throw new Error('connection reset');
  }
  await expect(store.writeUploadPart(uploadKey, { partNumber: 2, offset: first.length }, droppedConnection())).rejects.toThrow('connection reset');
  expect(fs.statSync(uploadFile(uploadKey)).size).toBe(first.length);

  const second = randomBytes(2 * SLAB_BYTES);
  const written = await store.writeUploadPart(uploadKey, { partNumber: 2, offset: first.length }, Readable.from([second]));
  const completed = await store.completeUpload(uploadKey, [committed!, { partNumber: 2, offset: first.length, sizeBytes: second.length, etag: written.etag }]);
  expect((await readAll(store.open(completed.key))).equals(Buffer.concat([first, second]))).toBe(true);
});

it('refuses a part larger than its limit and keeps the committed bytes only', async () => {
  const uploadKey = await store.createUpload();
  const [committed] = await writeParts(uploadKey, [randomBytes(100)]);
  const error = await store
    .writeUploadPart(uploadKey, { partNumber: 2, offset: 100 }, Readable.from([randomBytes(SLAB_BYTES), randomBytes(SLAB_BYTES)]), { maxBytes: SLAB_BYTES + 1 })
    .catch((e: unknown) => e);
  expect(error).toBeInstanceOf(BlobTooLargeError);
  expect(fs.statSync(uploadFile(uploadKey)).size).toBe(100);
  expect(committed!.sizeBytes).toBe(100);
});

it('cuts off bytes past the last committed part when completing', async () => {
  const uploadKey = await store.createUpload();
  const body = randomBytes(4096);
  const parts = await writeParts(uploadKey, [body]);
  fs.appendFileSync(uploadFile(uploadKey), Buffer.from('remains of a write that was never committed'));
  const completed = await store.completeUpload(uploadKey, parts);
  expect(completed.sizeBytes).toBe(body.length);
  expect((await readAll(store.open(completed.key))).equals(body)).toBe(true);
});

it('answers a repeated completion (after a crash before the caller committed) with the same blob', async () => {
  const uploadKey = await store.createUpload();
  const parts = await writeParts(uploadKey, [randomBytes(10), randomBytes(20)]);
  const first = await store.completeUpload(uploadKey, parts);
  expect(await store.completeUpload(uploadKey, parts)).toEqual(first);
  // …but not for parts that do not describe that blob
  await expect(store.completeUpload(uploadKey, parts.slice(0, 1))).rejects.toMatchObject({ code: 'ENOENT' });
});

it('refuses parts that do not join up, or claim bytes the upload does not hold', async () => {
  const uploadKey = await store.createUpload();
  const parts = await writeParts(uploadKey, [randomBytes(100), randomBytes(100)]);
  await expect(store.completeUpload(uploadKey, [parts[1]!])).rejects.toThrow(/do not join up.*starts at 100.*end at 0/);
  await expect(store.completeUpload(uploadKey, [parts[0]!, { ...parts[1]!, offset: 99 }])).rejects.toThrow(/do not join up/);
  await expect(store.completeUpload(uploadKey, [parts[0]!, { ...parts[1]!, partNumber: 1 }])).rejects.toThrow(/given twice/);
  await expect(store.completeUpload(uploadKey, [parts[0]!, { ...parts[1]!, sizeBytes: 101 }])).rejects.toThrow(/holds 200 bytes, fewer than its parts' 201/);
  await expect(store.completeUpload(uploadKey, [parts[0]!, { ...parts[1]!, partNumber: 0 }])).rejects.toThrow(/Invalid part number/);
  // nothing of that moved the upload
  expect(fs.statSync(uploadFile(uploadKey)).size).toBe(200);
  expect((await store.completeUpload(uploadKey, parts)).sizeBytes).toBe(200);
});

it('completes an empty upload into an empty blob', async () => {
  const uploadKey = await store.createUpload();
  const completed = await store.completeUpload(uploadKey, []);
  expect(completed.sizeBytes).toBe(0);
  expect(await store.stat(completed.key)).toBe(0);
});

it('aborts an upload: its bytes are gone, further parts fail, aborting again is harmless', async () => {
  const uploadKey = await store.createUpload();
  await writeParts(uploadKey, [randomBytes(SLAB_BYTES * 2)]);
  expect((await store.listUploads()).map((u) => u.uploadKey)).toEqual([uploadKey]);
  await store.abortUpload(uploadKey);
  expect(fs.existsSync(uploadFile(uploadKey))).toBe(false);
  expect(await store.listUploads()).toEqual([]);
  await expect(store.writeUploadPart(uploadKey, { partNumber: 2, offset: SLAB_BYTES * 2 }, Readable.from([Buffer.from('x')]))).rejects.toMatchObject({ code: 'ENOENT' });
  await store.abortUpload(uploadKey);
});

it('lists uploads in progress with their size and age', async () => {
  const a = await store.createUpload();
  const b = await store.createUpload();
  await writeParts(b, [randomBytes(123)]);
  const uploads = await store.listUploads();
  expect(uploads.map((u) => [u.uploadKey, u.sizeBytes]).sort()).toEqual([[a, 0], [b, 123]].sort());
  for (const upload of uploads) expect(upload.modifiedAt.getTime()).toBeGreaterThan(Date.now() - 60_000);
});

it('refuses malformed upload keys and part placements', async () => {
  const uploadKey = await store.createUpload();
  const body = () => Readable.from([Buffer.from('x')]);
  for (const bad of ['uploads/../../x', 'ab/cd/' + uploadKey.slice(8), uploadKey.slice(8), 'uploads/']) {
    await expect(store.writeUploadPart(bad, { partNumber: 1, offset: 0 }, body())).rejects.toThrow(/Invalid upload key/);
    await expect(store.completeUpload(bad, [])).rejects.toThrow(/Invalid upload key/);
    await expect(store.abortUpload(bad)).rejects.toThrow(/Invalid upload key/);
  }
  await expect(store.writeUploadPart(uploadKey, { partNumber: 0, offset: 0 }, body())).rejects.toThrow(/Invalid part number/);
  await expect(store.writeUploadPart(uploadKey, { partNumber: 1, offset: -1 }, body())).rejects.toThrow(/Invalid part offset/);
  await expect(store.writeUploadPart(uploadKey, { partNumber: 1.5, offset: 0 }, body())).rejects.toThrow(/Invalid part number/);
});
