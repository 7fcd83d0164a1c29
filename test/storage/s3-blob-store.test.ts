/**
 * The S3 blob store against a real S3-compatible server: s3rver 3.7.1 (npm; the only S3 server on npm
 * or in Debian bookworm that runs here: MinIO is in neither, Ceph's radosgw needs a whole RADOS
 * cluster, s3rver 4 and fauxqs want Node 22+). Started by test/helpers/s3-server.ts on a free port,
 * in a temporary directory.
 *
 * What s3rver cannot do, and so what these tests do not show:
 * - conditional writes: it ignores `If-None-Match: *` on PUT and on CompleteMultipartUpload, so
 *   "never overwrite" is shown through the store's HEAD check only;
 * - AbortMultipartUpload (it answers 405) and ListMultipartUploads (501): an aborted put's marker is
 *   listed and removed, but s3rver keeps the parts it received in its own directory;
 * - UploadPartCopy (501), which the store does not use (resumable uploads are completed by streaming);
 * - the 5 MiB minimum of every multipart part but the last: it accepts smaller ones, so the store's
 *   own minimum is checked by its constructor, not by the server;
 * - durability: it writes without fsync, and a PUT is not atomic on its disk (AWS S3, MinIO and Ceph
 *   make an object visible whole, once stored);
 * - ranges: it answers `bytes=0-0` with the whole object (the store cuts any answer to the range asked).
 *
 * The store-independent contract (blob-store-contract.ts, shared with the filesystem and Azure stores)
 * runs first; the tests after it are S3's own: multipart puts, TUS parts below S3's 5 MiB minimum,
 * parts from several instances, prefixes, a put left open by a dead writer, the garbage collector.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer as readAll } from 'node:stream/consumers';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { BlobTooLargeError, digestBlob, type ListedItem } from '../../src/storage/blob-store';
import { collectGarbage } from '../../src/storage/garbage-collection';
import { releaseHashWorkers } from '../../src/storage/hashing-writer';
import { createS3BlobStore, S3BlobStore } from '../../src/storage/s3-blob-store';
import { createTestApp } from '../helpers/database';
import { describeBlobStoreContract } from './blob-store-contract';
import { startS3Server, type TestS3Server } from '../helpers/s3-server';

const MIB = 1024 * 1024;
const PART = 5 * MIB;

let s3: TestS3Server;
let store: S3BlobStore;
let prefixCount = 0;

beforeAll(async () => {
  s3 = await startS3Server();
});
afterAll(async () => {
  await s3.stop();
  await releaseHashWorkers();
});
// Each test in a prefix of its own: what it lists is only its own.
beforeEach(() => {
  store = storeAt(`test-${++prefixCount}`);
});

// A fresh prefix is an empty store; the server and its directory go at the end.
describeBlobStoreContract('S3BlobStore on s3rver', async () => ({ store: storeAt(`contract-${++prefixCount}`, { markerRefreshMs: 500 }), cleanup: async () => {} }));

function storeAt(prefix: string, options: { markerRefreshMs?: number } = {}): S3BlobStore {
  return createS3BlobStore({ endpoint: s3.endpoint, region: 'us-east-1', bucket: s3.bucket, prefix, forcePathStyle: true, credentials: s3.credentials, partSizeBytes: PART, ...options });
}

function sums(data: Buffer): { sha256: string; md5: string } {
  return { sha256: createHash('sha256').update(data).digest('hex'), md5: createHash('md5').update(data).digest('hex') };
}

function* chunked(data: Buffer, size: number): Generator<Buffer> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

/** Every object key in the bucket under the store's prefix. */
async function objectKeys(of: S3BlobStore = store): Promise<string[]> {
  const page = await of.client.send(new ListObjectsV2Command({ Bucket: of.bucket, Prefix: of.prefix }));
  return (page.Contents ?? []).map((object) => object.Key!.slice(of.prefix.length)).sort();
}

async function collect(items: AsyncIterable<ListedItem>): Promise<ListedItem[]> {
  const all: ListedItem[] = [];
  for await (const item of items) all.push(item);
  return all;
}

const later = () => new Date(Date.now() + 60_000);

describe('puts', () => {
  it('streams a large blob up as a multipart upload of several parts, hashed on the way, and leaves no marker', async () => {
    const data = randomBytes(3 * PART + 123_457); // four parts, the last one short
    const stored = await store.put(Readable.from(chunked(data, 64 * 1024)));
    expect(stored).toEqual({ key: stored.key, sizeBytes: data.length, ...sums(data) });
    expect((await readAll(store.open(stored.key))).equals(data)).toBe(true);
    expect(await digestBlob(store, stored.key)).toEqual(stored);
    expect(await objectKeys()).toEqual([stored.key]);
  });

  it('stores a blob of exactly one part, and of one part and one byte', async () => {
    for (const size of [PART, PART + 1]) {
      const data = randomBytes(size);
      const stored = await store.put(Readable.from(chunked(data, MIB)));
      expect(stored).toEqual({ key: stored.key, sizeBytes: size, ...sums(data) });
      expect((await readAll(store.open(stored.key))).equals(data)).toBe(true);
    }
    expect(await collect(store.listUnfinishedPuts({ olderThan: later() }))).toEqual([]);
  });

  it('never overwrites a blob under a chosen key, small or multipart', async () => {
    const key = store.newKey();
    const first = Buffer.from('the first bytes');
    await store.put(Readable.from([first]), { key });
    await expect(store.put(Readable.from([Buffer.from('others')]), { key })).rejects.toThrow(/exists already/);
    await expect(store.put(Readable.from(chunked(randomBytes(PART + 10), MIB)), { key })).rejects.toThrow(/exists already/);
    expect((await readAll(store.open(key))).equals(first)).toBe(true);
    expect(await objectKeys()).toEqual([key]);
  });

  it('refuses more than maxBytes and keeps nothing, for a small put and a multipart one', async () => {
    await expect(store.put(Readable.from([Buffer.alloc(1000)]), { maxBytes: 999 })).rejects.toBeInstanceOf(BlobTooLargeError);
    await expect(store.put(Readable.from(chunked(randomBytes(2 * PART + 1), MIB)), { maxBytes: 2 * PART })).rejects.toBeInstanceOf(BlobTooLargeError);
    expect(await objectKeys()).toEqual([]);
    const exact = await store.put(Readable.from([Buffer.alloc(1000)]), { maxBytes: 1000 });
    expect(exact.sizeBytes).toBe(1000);
  });

  it('keeps nothing when the source fails after several parts', async () => {
    async function* failing(): AsyncGenerator<Buffer> {
      for (let i = 0; i < 2 * PART; i += MIB) yield randomBytes(MIB);
      throw new Error('the client went away');
    }
    await expect(store.put(failing())).rejects.toThrow('the client went away');
    expect(await objectKeys()).toEqual([]);
  });

  it('refuses a part size below S3 minimum of 5 MiB', () => {
    expect(() => createS3BlobStore({ region: 'us-east-1', bucket: 'b', partSizeBytes: MIB })).toThrow(/at least 5242880/);
  });
});

describe('prefixes', () => {
  it('keeps stores with different prefixes in one bucket apart', async () => {
    const other = storeAt(`${store.prefix.slice(0, -1)}-other`);
    const mine = await store.put(Readable.from([Buffer.from('mine')]));
    const theirs = await other.put(Readable.from([Buffer.from('theirs')]));
    expect((await collect(store.listBlobs({ olderThan: later() }))).map((item) => item.key)).toEqual([mine.key]);
    expect((await collect(other.listBlobs({ olderThan: later() }))).map((item) => item.key)).toEqual([theirs.key]);
    expect(await store.stat(theirs.key)).toBeUndefined();
  });
});

describe('resumable uploads', () => {
  it('completes parts smaller than S3 5 MiB minimum into one blob, then removes the parts', async () => {
    const chunks = [randomBytes(100_000), randomBytes(1), randomBytes(3 * MIB), randomBytes(70_000)];
    const uploadKey = await store.createUpload();
    expect(uploadKey).toMatch(/^uploads\/[0-9a-f-]{36}$/);
    const parts = [];
    let offset = 0;
    for (const [i, chunk] of chunks.entries()) {
      const written = await store.writeUploadPart(uploadKey, { partNumber: i + 1, offset }, Readable.from([chunk]), { md5: true });
      expect(written).toMatchObject({ sizeBytes: chunk.length, md5: sums(chunk).md5 });
      parts.push({ partNumber: i + 1, offset, sizeBytes: chunk.length, etag: written.etag });
      offset += chunk.length;
    }
    const whole = Buffer.concat(chunks);
    // Given in any order: the offsets place them.
    const blob = await store.completeUpload(uploadKey, [...parts].reverse());
    expect(blob).toEqual({ key: blob.key, sizeBytes: whole.length });
    expect((await readAll(store.open(blob.key))).equals(whole)).toBe(true);
    expect(await objectKeys()).toEqual([blob.key]);
    // Rerun after a crash: the same answer.
    expect(await store.completeUpload(uploadKey, parts)).toEqual(blob);
  });

  it('takes parts from different store instances (gateway processes), one of them larger than a multipart part', async () => {
    const elsewhere = storeAt(store.prefix);
    const chunks = [randomBytes(2 * MIB), randomBytes(PART + MIB + 7), randomBytes(10)];
    const uploadKey = await store.createUpload();
    const parts = [];
    let offset = 0;
    for (const [i, chunk] of chunks.entries()) {
      const writer = i % 2 === 0 ? store : elsewhere;
      const written = await writer.writeUploadPart(uploadKey, { partNumber: i + 1, offset }, Readable.from(chunked(chunk, 64 * 1024)));
      expect(written.md5).toBeUndefined();
      parts.push({ partNumber: i + 1, offset, sizeBytes: chunk.length, etag: written.etag });
      offset += chunk.length;
    }
    expect(await collect(elsewhere.listUnfinishedUploads({ olderThan: later() }))).toEqual([
      { key: uploadKey, sizeBytes: offset, modifiedAt: expect.any(Date) },
    ]);
    const blob = await elsewhere.completeUpload(uploadKey, parts);
    const whole = Buffer.concat(chunks);
    expect(await digestBlob(store, blob.key)).toEqual({ key: blob.key, sizeBytes: whole.length, ...sums(whole) });
    expect(await objectKeys()).toEqual([blob.key]);
  });

  it('refuses to complete with a part that is not the one committed', async () => {
    const uploadKey = await store.createUpload();
    const written = await store.writeUploadPart(uploadKey, { partNumber: 1, offset: 0 }, Readable.from([Buffer.from('committed')]));
    // A later, uncommitted rewrite of the same part (a retry whose row never committed).
    await store.writeUploadPart(uploadKey, { partNumber: 1, offset: 0 }, Readable.from([Buffer.from('rewritten')]));
    await expect(store.completeUpload(uploadKey, [{ partNumber: 1, offset: 0, sizeBytes: 9, etag: written.etag }])).rejects.toThrow(/not the one committed/);
    expect((await objectKeys()).filter((key) => !key.startsWith('uploads/'))).toEqual([]);
  });

});

describe('compose', () => {
  it('concatenates blobs into a new one with the sums of the whole', async () => {
    const pieces = [randomBytes(1000), randomBytes(PART + 3), randomBytes(5)];
    const keys = [];
    for (const piece of pieces) keys.push((await store.put(Readable.from([piece]))).key);
    const whole = Buffer.concat(pieces);
    const composed = await store.compose(keys);
    expect(composed).toEqual({ key: composed.key, sizeBytes: whole.length, ...sums(whole) });
    expect((await readAll(store.open(composed.key))).equals(whole)).toBe(true);
  });

});

describe('listing for the garbage collector', () => {
  it('lists a put that never finished (its writer gone) by its marker; delete(key) from another instance removes it', async () => {
    // The writer stalls after two parts, as one whose process died would: its multipart upload stays open.
    let stall!: (error: Error) => void;
    const stalled = new Promise<never>((_, reject) => (stall = reject));
    stalled.catch(() => undefined); // it may fail before the source awaits it
    async function* dying(): AsyncGenerator<Buffer> {
      for (let i = 0; i < 2 * PART; i += MIB) yield randomBytes(MIB);
      await stalled;
    }
    const key = store.newKey();
    const putting = store.put(dying(), { key });
    const sweeper = storeAt(store.prefix);
    let unfinished: ListedItem[] = [];
    for (let i = 0; i < 200 && unfinished.length === 0; i++) {
      unfinished = await collect(sweeper.listUnfinishedPuts({ olderThan: later() }));
      if (unfinished.length === 0) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(unfinished).toEqual([{ key, sizeBytes: 0, modifiedAt: expect.any(Date) }]);
    expect(await collect(sweeper.listUnfinishedPuts({ olderThan: new Date(Date.now() - 60_000) }))).toEqual([]);
    expect(await collect(sweeper.listBlobs({ olderThan: later() }))).toEqual([]);

    await sweeper.delete(key);
    expect(await collect(sweeper.listUnfinishedPuts({ olderThan: later() }))).toEqual([]);
    stall(new Error('the writer died'));
    await expect(putting).rejects.toThrow('the writer died');
    expect(await objectKeys()).toEqual([]);
  });

  it('lists unfinished uploads by age with the size of their parts, and abortUpload removes them', async () => {
    const uploadKey = await store.createUpload();
    await store.writeUploadPart(uploadKey, { partNumber: 1, offset: 0 }, Readable.from([Buffer.alloc(1234)]));
    await store.writeUploadPart(uploadKey, { partNumber: 2, offset: 1234 }, Readable.from([Buffer.alloc(10)]));
    const empty = await store.createUpload();
    const listed = await collect(store.listUnfinishedUploads({ olderThan: later() }));
    expect(listed.sort((x, y) => x.key.localeCompare(y.key))).toEqual(
      [
        { key: uploadKey, sizeBytes: 1244, modifiedAt: expect.any(Date) },
        { key: empty, sizeBytes: 0, modifiedAt: expect.any(Date) },
      ].sort((x, y) => x.key.localeCompare(y.key)),
    );
    expect(await collect(store.listUnfinishedUploads({ olderThan: new Date(Date.now() - 60_000) }))).toEqual([]);
    for (const item of listed) await store.abortUpload(item.key);
    expect(await collect(store.listUnfinishedUploads({ olderThan: later() }))).toEqual([]);
    expect(await objectKeys()).toEqual([]);
  });
});

describe('the garbage collector on an S3 store', () => {
  it('removes an orphan blob, an unfinished put and an abandoned upload once older than the grace period', async () => {
    const app = await createTestApp();
    try {
      const orphan = await store.put(Readable.from([Buffer.alloc(100)]));
      const uploadKey = await store.createUpload();
      await store.writeUploadPart(uploadKey, { partNumber: 1, offset: 0 }, Readable.from([Buffer.alloc(40)]));
      // A put whose writer stalls after its first part: its multipart upload stays open until collected.
      let stall!: (error: Error) => void;
      const stalled = new Promise<never>((_, reject) => (stall = reject));
      stalled.catch(() => undefined); // it may fail before the source awaits it
      const putting = store.put(
        (async function* () {
          for (let i = 0; i < PART; i += MIB) yield randomBytes(MIB);
          await stalled;
        })(),
      );
      while ((await collect(store.listUnfinishedPuts({ olderThan: later() }))).length === 0) await new Promise((resolve) => setTimeout(resolve, 50));

      const young = await collectGarbage(app.db, store, { graceMs: 60 * 60_000 });
      expect(young.total).toEqual({ files: 0, bytes: 0 });
      const old = await collectGarbage(app.db, store, { graceMs: 60 * 60_000, now: new Date(Date.now() + 2 * 60 * 60_000) });
      expect(old).toMatchObject({ blobs: { files: 1, bytes: 100 }, partials: { files: 1, bytes: 0 }, uploads: { files: 1, bytes: 40 } });
      expect(await store.stat(orphan.key)).toBeUndefined();
      stall(new Error('the writer died'));
      await expect(putting).rejects.toThrow('the writer died');
      expect(await objectKeys()).toEqual([]);
    } finally {
      await app.close();
    }
  });
});
