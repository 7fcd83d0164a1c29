/**
 * The filesystem blob store: the blob-store contract (blob-store-contract.ts), and what only a
 * filesystem does: early flushes and fsync, temporary files, truncation under a read, file handles.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { FileBlobStore } from '../../src/storage/blob-store';
import { releaseHashWorkers } from '../../src/storage/hashing-writer';
import { describeBlobStoreContract } from './blob-store-contract';

// No hashing thread left for jest to wait for when the file is done.
afterAll(() => releaseHashWorkers());

describeBlobStoreContract('FileBlobStore', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agw-blobs-'));
  return { store: new FileBlobStore(dir), cleanup: async () => fs.rmSync(dir, { recursive: true, force: true }) };
});

describe('FileBlobStore on disk', () => {
  let root: string;
  let store: FileBlobStore;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'agw-blobs-'));
    store = new FileBlobStore(root);
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  /** Every file under the store's root (directories left out). */
  function filesUnder(dir: string): string[] {
    return fs
      .readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)));
  }

  it('writes a blob to its file, through a temporary file that does not stay', async () => {
    const data = Buffer.alloc(300_000, 7);
    const stored = await store.put(Readable.from([data]));
    expect(fs.readFileSync(store.pathOf(stored.key)).equals(data)).toBe(true);
    expect(fs.readdirSync(path.join(root, 'tmp'))).toEqual([]);
    expect(filesUnder(root)).toEqual([stored.key]);
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

    it('flushes an upload part early too, since each part waits for its own fsync before it is answered', async () => {
      const calls: string[] = [];
      jest.spyOn(fileHandle as { datasync(): Promise<void> }, 'datasync').mockImplementation(async function (this: unknown) { calls.push('datasync'); });
      jest.spyOn(fileHandle as { sync(): Promise<void> }, 'sync').mockImplementation(async function (this: unknown) { calls.push('sync'); });
      const uploadKey = await store.createUpload();
      // An 8 MiB chunk, as tus-js-client sends them: far below a whole blob's flush interval.
      const chunk = Readable.from((function* () { const piece = Buffer.alloc(MIB, 6); for (let i = 0; i < 8; i++) yield piece; })());
      const written = await store.writeUploadPart(uploadKey, { partNumber: 1, offset: 0 }, chunk);
      expect(written.sizeBytes).toBe(8 * MIB);
      expect(calls.filter((call) => call === 'datasync').length).toBeGreaterThanOrEqual(1);
      expect(calls.at(-1)).toBe('sync');
    });

    it('writes one slab at a time, in order: concurrent writes to one file would queue on its inode lock', async () => {
      const original = (fileHandle as { write: (...args: unknown[]) => Promise<{ bytesWritten: number }> }).write;
      let inFlight = 0;
      let mostInFlight = 0;
      const positions: number[] = [];
      jest.spyOn(fileHandle as { write: typeof original }, 'write').mockImplementation(async function (this: unknown, ...args: unknown[]) {
        inFlight++;
        mostInFlight = Math.max(mostInFlight, inFlight);
        positions.push(args[3] as number);
        try {
          // Slow enough that the next slabs are full and waiting while this one is written.
          await new Promise((resolve) => setTimeout(resolve, 5));
          return await original.apply(this, args);
        } finally {
          inFlight--;
        }
      });
      const stored = await store.put(Readable.from((function* () { const piece = Buffer.alloc(MIB, 4); for (let i = 0; i < 12; i++) yield piece; })()));
      expect(stored.sizeBytes).toBe(12 * MIB);
      expect(mostInFlight).toBe(1);
      expect(positions).toEqual(Array.from({ length: 12 }, (_, i) => i * MIB));
      expect(fs.statSync(store.pathOf(stored.key)).size).toBe(12 * MIB);
    });

    it('fails the write when an early flush fails, and keeps nothing', async () => {
      jest.spyOn(fileHandle as { datasync(): Promise<void> }, 'datasync').mockRejectedValue(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
      await expect(store.put(large())).rejects.toThrow('EIO');
      expect(filesUnder(root)).toEqual([]);
    });
  });

  describe('ranged reads of a file', () => {
    const data = Buffer.alloc(700_000, 9);
    let key: string;
    beforeEach(async () => {
      key = (await store.put(Readable.from([data]))).key;
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
});
