/** The filesystem blob store: bytes in and out, sums, no partial file left by a failed write. */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { FileBlobStore } from '../../src/storage/blob-store';

let root: string;
let store: FileBlobStore;
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'agw-blobs-'));
  store = new FileBlobStore(root);
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

it('stores a stream and gives back the same bytes, size and sha256', async () => {
  const data = Buffer.concat([Buffer.from('first\r\n'), Buffer.alloc(300_000, 7), Buffer.from('\r\n')]);
  const stored = await store.put(Readable.from([data.subarray(0, 1000), data.subarray(1000)]));
  expect(stored.key).toMatch(/^[0-9a-f]{2}\/[0-9a-f]{2}\/[0-9a-f-]{36}$/);
  expect(stored.sizeBytes).toBe(data.length);
  expect(stored.sha256).toBe(createHash('sha256').update(data).digest('hex'));
  expect(await store.stat(stored.key)).toBe(data.length);
  expect((await readAll(store.open(stored.key))).equals(data)).toBe(true);
  expect(fs.readdirSync(path.join(root, 'tmp'))).toEqual([]);
});

it('stores an empty blob', async () => {
  const stored = await store.put(Readable.from([]));
  expect(stored.sizeBytes).toBe(0);
  expect(stored.sha256).toBe(createHash('sha256').digest('hex'));
  expect(await store.stat(stored.key)).toBe(0);
});

it('leaves no file behind when the source fails halfway', async () => {
  async function* failing() {
    yield Buffer.alloc(64 * 1024, 1);
    throw new Error('client went away');
  }
  await expect(store.put(failing())).rejects.toThrow('client went away');
  const files = fs.readdirSync(root, { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
  expect(files).toEqual([]);
});

it('deletes, reports missing blobs, and refuses keys that are not its own', async () => {
  const stored = await store.put(Readable.from([Buffer.from('x')]));
  await store.delete(stored.key);
  expect(await store.stat(stored.key)).toBeUndefined();
  await expect(readAll(store.open(stored.key))).rejects.toMatchObject({ code: 'ENOENT' });
  expect(() => store.open('../../etc/passwd')).toThrow(/Invalid blob key/);
});
