/**
 * Resumable uploads in the filesystem blob store, on disk: one file per upload, renamed into a
 * blob, truncated to the committed offset. What every store does is in blob-store-contract.ts
 * (run for the filesystem store from blob-store.test.ts).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { BlobTooLargeError, FileBlobStore, type CommittedUploadPart } from '../../src/storage/blob-store';
import { SLAB_BYTES, releaseHashWorkers } from '../../src/storage/hashing-writer';
import { readAll } from './blob-store-contract';

let root: string;
let store: FileBlobStore;
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'agw-uploads-'));
  store = new FileBlobStore(root);
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));
// No hashing thread left for jest to wait for when the file is done.
afterAll(() => releaseHashWorkers());

const uploadFile = (uploadKey: string) => path.join(root, uploadKey);

async function writeParts(uploadKey: string, bodies: Buffer[]): Promise<CommittedUploadPart[]> {
  const parts: CommittedUploadPart[] = [];
  let offset = 0;
  for (const body of bodies) {
    const placement = { partNumber: parts.length + 1, offset };
    const written = await store.writeUploadPart(uploadKey, placement, Readable.from([body]));
    parts.push({ ...placement, sizeBytes: written.sizeBytes, etag: written.etag });
    offset += body.length;
  }
  return parts;
}

it('keeps an upload in one file and completes it into a blob by renaming, not copying', async () => {
  const uploadKey = await store.createUpload();
  expect(fs.statSync(uploadFile(uploadKey)).size).toBe(0);
  const bodies = [randomBytes(2 * SLAB_BYTES + 3), randomBytes(12)];
  const parts = await writeParts(uploadKey, bodies);
  const inode = fs.statSync(uploadFile(uploadKey)).ino;
  const completed = await store.completeUpload(uploadKey, parts);
  expect(fs.statSync(store.pathOf(completed.key)).ino).toBe(inode);
  expect(fs.existsSync(uploadFile(uploadKey))).toBe(false);
});

it('rewrites from the committed offset after a crash left bytes beyond it, in a new process', async () => {
  const uploadKey = await store.createUpload();
  const first = randomBytes(SLAB_BYTES + 500);
  const [committed] = await writeParts(uploadKey, [first]);
  // A crash in the middle of the second PATCH: its bytes (and more garbage) are on disk, but the
  // caller never committed the part, so its offset stays at the end of the first part.
  fs.appendFileSync(uploadFile(uploadKey), randomBytes(3 * SLAB_BYTES));
  const restarted = new FileBlobStore(root);
  const second = randomBytes(SLAB_BYTES / 2); // shorter than the garbage: it must not survive
  const written = await restarted.writeUploadPart(uploadKey, { partNumber: 2, offset: first.length }, Readable.from([second]));
  expect(fs.statSync(uploadFile(uploadKey)).size).toBe(first.length + second.length);
  const completed = await restarted.completeUpload(uploadKey, [committed!, { partNumber: 2, offset: first.length, sizeBytes: second.length, etag: written.etag }]);
  expect((await readAll(restarted.open(completed.key))).equals(Buffer.concat([first, second]))).toBe(true);
});

it('truncates a part that failed halfway, or was too large, back to the committed offset', async () => {
  const uploadKey = await store.createUpload();
  await writeParts(uploadKey, [randomBytes(3000)]);
  async function* droppedConnection() {
    yield randomBytes(2 * SLAB_BYTES);
    throw new Error('connection reset');
  }
  await expect(store.writeUploadPart(uploadKey, { partNumber: 2, offset: 3000 }, droppedConnection())).rejects.toThrow('connection reset');
  expect(fs.statSync(uploadFile(uploadKey)).size).toBe(3000);
  const error = await store
    .writeUploadPart(uploadKey, { partNumber: 2, offset: 3000 }, Readable.from([randomBytes(SLAB_BYTES), randomBytes(SLAB_BYTES)]), { maxBytes: SLAB_BYTES + 1 })
    .catch((e: unknown) => e);
  expect(error).toBeInstanceOf(BlobTooLargeError);
  expect(fs.statSync(uploadFile(uploadKey)).size).toBe(3000);
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

it('lists uploads in progress with their size and age (listUploads), and not once aborted', async () => {
  const a = await store.createUpload();
  const b = await store.createUpload();
  await writeParts(b, [randomBytes(123)]);
  const uploads = await store.listUploads();
  expect(uploads.map((u) => [u.uploadKey, u.sizeBytes]).sort()).toEqual([[a, 0], [b, 123]].sort());
  for (const upload of uploads) expect(upload.modifiedAt.getTime()).toBeGreaterThan(Date.now() - 60_000);
  await store.abortUpload(b);
  expect(fs.existsSync(uploadFile(b))).toBe(false);
  expect((await store.listUploads()).map((u) => u.uploadKey)).toEqual([a]);
});
