/** The filesystem blob store: bytes in and out, sums, ranges, limits, no partial file left by a failed write. */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { BlobTooLargeError, FileBlobStore, RangeNotSatisfiableError, digestBlob } from '../../src/storage/blob-store';
import { SLAB_BYTES, releaseHashWorkers } from '../../src/storage/hashing-writer';

let root: string;
let store: FileBlobStore;
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'agw-blobs-'));
  store = new FileBlobStore(root);
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));
// No hashing thread left for jest to wait for when the file is done.
afterAll(() => releaseHashWorkers());

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function sums(data: Buffer): { sha256: string; md5: string } {
  return { sha256: createHash('sha256').update(data).digest('hex'), md5: createHash('md5').update(data).digest('hex') };
}

/** Every file under the store's root (directories left out). */
function filesUnder(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)));
}

it('computes no MD5 when told not to (archived attachments), the SHA-256 still', async () => {
  const data = randomBytes(SLAB_BYTES * 2 + 12_345);
  const stored = await store.put(Readable.from([data]), { md5: false });
  expect(stored).toEqual({ key: stored.key, sizeBytes: data.length, sha256: sums(data).sha256 });
  expect((await readAll(store.open(stored.key))).equals(data)).toBe(true);
});

it('stores a stream and gives back the same bytes, size, sha256 and md5', async () => {
  const data = Buffer.concat([Buffer.from('first\r\n'), Buffer.alloc(300_000, 7), Buffer.from('\r\n')]);
  const stored = await store.put(Readable.from([data.subarray(0, 1000), data.subarray(1000)]));
  expect(stored.key).toMatch(/^[0-9a-f]{2}\/[0-9a-f]{2}\/[0-9a-f-]{36}$/);
  expect(stored).toEqual({ key: stored.key, sizeBytes: data.length, ...sums(data) });
  expect(await store.stat(stored.key)).toBe(data.length);
  expect((await readAll(store.open(stored.key))).equals(data)).toBe(true);
  expect(fs.readdirSync(path.join(root, 'tmp'))).toEqual([]);
});

it('stores a blob of several slabs, written and hashed off the main thread', async () => {
  const data = randomBytes(3 * SLAB_BYTES + 12345);
  const stored = await store.put(Readable.from(chunked(data, 65536)));
  expect(stored).toEqual({ key: stored.key, sizeBytes: data.length, ...sums(data) });
  expect(fs.readFileSync(store.pathOf(stored.key)).equals(data)).toBe(true);
  expect(await digestBlob(store, stored.key)).toEqual(stored);
});

describe('early flushes of a large blob', () => {
  const MIB = 1024 * 1024;
  /** 72 MiB of one reused buffer: cheap to produce, past two 32 MiB flush marks. */
  const large = () => Readable.from((function* () { const piece = Buffer.alloc(MIB, 5); for (let i = 0; i < 72; i++) yield piece; })());
  let fileHandle: object;
  beforeAll(async () => {
    const handle = await fs.promises.open(__filename, 'r');
    fileHandle = Object.getPrototypeOf(handle) as object;
    await handle.close();
  });
  afterEach(() => jest.restoreAllMocks());

  it('starts the disk writes while the bytes arrive, and still fsyncs before it answers', async () => {
    const calls: string[] = [];
    const datasync = jest.spyOn(fileHandle as { datasync(): Promise<void> }, 'datasync');
    const sync = jest.spyOn(fileHandle as { sync(): Promise<void> }, 'sync');
    datasync.mockImplementation(async function (this: unknown) { calls.push('datasync'); });
    sync.mockImplementation(async function (this: unknown) { calls.push('sync'); });
    const stored = await store.put(large());
    expect(stored.sizeBytes).toBe(72 * MIB);
    // At least one early flush; the fsync of the file comes after them all (then the directory's).
    expect(calls.filter((call) => call === 'datasync').length).toBeGreaterThanOrEqual(1);
    expect(calls.lastIndexOf('datasync')).toBeLessThan(calls.indexOf('sync'));
  });

  it('fails the write when an early flush fails, and keeps nothing', async () => {
    jest.spyOn(fileHandle as { datasync(): Promise<void> }, 'datasync').mockRejectedValue(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
    await expect(store.put(large())).rejects.toThrow('EIO');
    expect(filesUnder(root)).toEqual([]);
  });
});

it('stores an empty blob', async () => {
  const stored = await store.put(Readable.from([]));
  expect(stored.sizeBytes).toBe(0);
  expect(stored.sha256).toBe(createHash('sha256').digest('hex'));
  expect(stored.md5).toBe('d41d8cd98f00b204e9800998ecf8427e');
  expect(await store.stat(stored.key)).toBe(0);
});

it('leaves no file behind when the source fails halfway', async () => {
  async function* failing() {
    yield Buffer.alloc(64 * 1024, 1);
    throw new Error('client went away');
  }
  await expect(store.put(failing())).rejects.toThrow('client went away');
  expect(filesUnder(root)).toEqual([]);
});

it('leaves no file behind when the source fails after several slabs are on their way', async () => {
  async function* failing() {
    for (let i = 0; i < 6; i++) yield randomBytes(SLAB_BYTES / 2 + 17);
    throw new Error('client went away');
  }
  await expect(store.put(failing())).rejects.toThrow('client went away');
  expect(filesUnder(root)).toEqual([]);
});

it('deletes, reports missing blobs, and refuses keys that are not its own', async () => {
  const stored = await store.put(Readable.from([Buffer.from('x')]));
  await store.delete(stored.key);
  expect(await store.stat(stored.key)).toBeUndefined();
  await expect(readAll(store.open(stored.key))).rejects.toMatchObject({ code: 'ENOENT' });
  expect(() => store.open('../../etc/passwd')).toThrow(/Invalid blob key/);
  await expect(store.put(Readable.from([Buffer.from('x')]), { key: '../escape' })).rejects.toThrow(/Invalid blob key/);
  await store.delete(stored.key); // deleting again is fine
});

describe('maxBytes', () => {
  it('accepts a stream of exactly the limit', async () => {
    const data = randomBytes(SLAB_BYTES + 10);
    const stored = await store.put(Readable.from(chunked(data, 50_000)), { maxBytes: data.length });
    expect(stored.sizeBytes).toBe(data.length);
  });

  it.each([
    ['within the first slab', 1000, 999],
    ['after several slabs', 3 * SLAB_BYTES + 5, 2 * SLAB_BYTES + 1],
  ])('refuses one byte more than the limit (%s) and keeps nothing', async (_label, size, limit) => {
    const data = randomBytes(size);
    const error = await store.put(Readable.from(chunked(data, 40_000)), { maxBytes: limit }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BlobTooLargeError);
    expect((error as BlobTooLargeError).limitBytes).toBe(limit);
    expect(filesUnder(root)).toEqual([]);
  });

  it('refuses a limit that is not a non-negative integer', async () => {
    await expect(store.put(Readable.from([]), { maxBytes: -1 })).rejects.toThrow(RangeError);
    await expect(store.put(Readable.from([]), { maxBytes: 1.5 })).rejects.toThrow(RangeError);
    expect(filesUnder(root)).toEqual([]);
  });
});

describe('chosen keys', () => {
  it('stores under a key from newKey(), and never overwrites it', async () => {
    const key = store.newKey();
    expect(await store.stat(key)).toBeUndefined();
    const stored = await store.put(Readable.from([Buffer.from('first')]), { key });
    expect(stored.key).toBe(key);
    await expect(store.put(Readable.from([Buffer.from('second')]), { key })).rejects.toThrow(/exists already/);
    expect((await readAll(store.open(key))).toString()).toBe('first');
    expect(fs.readdirSync(path.join(root, 'tmp'))).toEqual([]);
  });
});

describe('ranges', () => {
  const data = randomBytes(700_000);
  let key: string;
  beforeEach(async () => {
    key = (await store.put(Readable.from([data]))).key;
  });

  it.each([
    [0, 0],
    [0, 699_999],
    [699_999, 699_999],
    [1, 262_144], // across a read-chunk boundary
    [100_000, 650_001],
  ])('streams exactly bytes %i-%i', async (start, end) => {
    const bytes = await readAll(store.open(key, { start, end }));
    expect(bytes.length).toBe(end - start + 1);
    expect(bytes.equals(data.subarray(start, end + 1))).toBe(true);
  });

  it('fails a range that reaches past the end, before any byte', async () => {
    const stream = store.open(key, { start: 699_000, end: 700_000 });
    const received: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => received.push(chunk));
    const error = await new Promise((resolve) => stream.on('error', resolve));
    expect(error).toBeInstanceOf(RangeNotSatisfiableError);
    expect(error).toMatchObject({ start: 699_000, end: 700_000, sizeBytes: 700_000 });
    expect(received).toEqual([]);
  });

  it('refuses malformed ranges at once, and reports a missing blob on the stream', async () => {
    expect(() => store.open(key, { start: 5, end: 4 })).toThrow(RangeError);
    expect(() => store.open(key, { start: -1, end: 4 })).toThrow(RangeError);
    expect(() => store.open(key, { start: 0.5, end: 4 })).toThrow(RangeError);
    await store.delete(key);
    await expect(readAll(store.open(key, { start: 0, end: 1 }))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('fails instead of ending short when the blob shrinks under a ranged read', async () => {
    const stream = store.open(key, { start: 0, end: 699_999 });
    const received: Buffer[] = [];
    const failure = new Promise<Error>((resolve) => stream.once('error', resolve));
    stream.once('data', (chunk: Buffer) => {
      received.push(chunk);
      fs.truncateSync(store.pathOf(key), 300_000);
      stream.on('data', (more: Buffer) => received.push(more));
    });
    expect((await failure).message).toMatch(/ended at byte 300000, before the end of the range 0-699999/);
    expect(Buffer.concat(received).length).toBe(300_000);
  });

  it('closes its file when the reader stops early', async () => {
    const blobPath = store.pathOf(key);
    const openOnBlob = () => fs.readdirSync('/proc/self/fd').filter((fd) => {
      try {
        return fs.readlinkSync(`/proc/self/fd/${fd}`) === blobPath;
      } catch {
        return false; // closed meanwhile
      }
    }).length;
    const stream = store.open(key, { start: 0, end: 699_999 });
    for await (const _chunk of stream) {
      expect(openOnBlob()).toBe(1);
      break;
    }
    if (!stream.closed) await new Promise((resolve) => stream.once('close', resolve));
    expect(openOnBlob()).toBe(0);
  });
});

describe('compose', () => {
  it('concatenates blobs into a new one with the sums of the whole', async () => {
    const parts = [randomBytes(SLAB_BYTES + 300_001), Buffer.alloc(0), randomBytes(2 * SLAB_BYTES + 7)];
    const keys: string[] = [];
    for (const part of parts) keys.push((await store.put(Readable.from(chunked(part, 100_000)))).key);
    const whole = Buffer.concat(parts);
    const composed = await store.compose(keys);
    expect(composed).toEqual({ key: composed.key, sizeBytes: whole.length, ...sums(whole) });
    expect(keys).not.toContain(composed.key);
    expect((await readAll(store.open(composed.key))).equals(whole)).toBe(true);
    for (const [i, key] of keys.entries()) expect(await store.stat(key)).toBe(parts[i]!.length); // the parts stay
  });

  it('fails on a missing blob and keeps nothing of the attempt', async () => {
    const first = await store.put(Readable.from([randomBytes(2 * SLAB_BYTES)]));
    const missing = store.newKey();
    await expect(store.compose([first.key, missing])).rejects.toMatchObject({ code: 'ENOENT' });
    expect(filesUnder(root)).toEqual([first.key]);
    expect(() => store.open('nope')).toThrow(/Invalid blob key/);
    await expect(store.compose([first.key, 'nope'])).rejects.toThrow(/Invalid blob key/);
  });
});

function chunked(data: Buffer, size: number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) chunks.push(data.subarray(i, i + size));
  return chunks;
}

describe('a Readable source when the store stops reading early', () => {
  it('is left paused and usable after BlobTooLargeError (an HTTP door can still answer)', async () => {
    const source = new Readable({ read() {} });
    source.push(randomBytes(SLAB_BYTES));
    source.push(randomBytes(SLAB_BYTES));
    const stored = store.put(source, { maxBytes: SLAB_BYTES + 1 });
    await expect(stored).rejects.toBeInstanceOf(BlobTooLargeError);
    expect(source.destroyed).toBe(false);
    expect(source.isPaused()).toBe(true);
    source.push(Buffer.from('rest of the body'));
    source.push(null);
    source.destroy(new Error('the client went away later')); // handled: no uncaught error
    await new Promise((resolve) => setImmediate(resolve));
    expect(filesUnder(root)).toEqual([]);
  });

  it('is the failure when it errors or closes early, and nothing is kept', async () => {
    // The failure comes from read(), which only runs once the store consumes the source.
    let erroringReads = 0;
    const erroring = new Readable({
      read() {
        if (erroringReads++ === 0) this.push(randomBytes(3 * SLAB_BYTES));
        else this.destroy(new Error('connection reset'));
      },
    });
    await expect(store.put(erroring)).rejects.toThrow('connection reset');

    let closingReads = 0;
    const closing = new Readable({
      read() {
        if (closingReads++ === 0) this.push(randomBytes(100));
        else this.destroy();
      },
    });
    await expect(store.put(closing)).rejects.toMatchObject({ code: 'ERR_STREAM_PREMATURE_CLOSE' });
    expect(filesUnder(root)).toEqual([]);
  });
});
