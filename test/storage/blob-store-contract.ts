/**
 * What every BlobStore must do, whatever keeps the bytes: streamed puts with their sums, chosen
 * keys never overwritten, ranges, limits, nothing kept of a failed write, compose, resumable
 * uploads (parts at offsets, rewritten parts, repeated completion, abort), and the listing by
 * prefix and age that garbage collection relies on. Each store's test file calls
 * describeBlobStoreContract with a setup that gives a fresh, empty store.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { BlobTooLargeError, RangeNotSatisfiableError, digestBlob, type BlobStore, type CommittedUploadPart, type ListedItem } from '../../src/storage/blob-store';
import { SLAB_BYTES } from '../../src/storage/hashing-writer';

const KEY = /^[0-9a-f]{2}\/[0-9a-f]{2}\/[0-9a-f-]{36}$/;
const HOUR_MS = 60 * 60 * 1000;

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export function chunked(data: Buffer, size: number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) chunks.push(data.subarray(i, i + size));
  return chunks;
}

const md5 = (data: Buffer) => createHash('md5').update(data).digest('hex');
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const sums = (data: Buffer) => ({ sha256: sha256(data), md5: md5(data) });

async function collect(items: AsyncIterable<ListedItem>): Promise<ListedItem[]> {
  const all: ListedItem[] = [];
  for await (const item of items) all.push(item);
  return all.sort((a, b) => a.key.localeCompare(b.key));
}

export function describeBlobStoreContract(name: string, setup: () => Promise<{ store: BlobStore; cleanup(): Promise<void> }>): void {
  describe(`${name}: the blob-store contract`, () => {
    let store: BlobStore;
    let cleanup: () => Promise<void>;
    beforeEach(async () => {
      ({ store, cleanup } = await setup());
    });
    afterEach(() => cleanup());

    /** Keys of everything the store lists, however old: blobs, unfinished puts, unfinished uploads. */
    async function everything(): Promise<{ blobs: string[]; puts: string[]; uploads: string[] }> {
      const olderThan = new Date(Date.now() + HOUR_MS);
      const keys = async (items: AsyncIterable<ListedItem>) => (await collect(items)).map((item) => item.key);
      return { blobs: await keys(store.listBlobs({ olderThan })), puts: await keys(store.listUnfinishedPuts({ olderThan })), uploads: await keys(store.listUnfinishedUploads({ olderThan })) };
    }
    const nothing = { blobs: [], puts: [], uploads: [] };

    describe('puts and reads', () => {
      it('stores a stream and gives back the same bytes, size, sha256 and md5', async () => {
        const data = Buffer.concat([Buffer.from('first\r\n'), Buffer.alloc(300_000, 7), Buffer.from('\r\n')]);
        const stored = await store.put(Readable.from([data.subarray(0, 1000), data.subarray(1000)]));
        expect(stored.key).toMatch(KEY);
        expect(stored).toEqual({ key: stored.key, sizeBytes: data.length, ...sums(data) });
        expect(await store.stat(stored.key)).toBe(data.length);
        expect((await readAll(store.open(stored.key))).equals(data)).toBe(true);
        expect(await everything()).toEqual({ ...nothing, blobs: [stored.key] });
      });

      it('computes no MD5 when told not to (archived attachments), the SHA-256 still', async () => {
        const data = randomBytes(SLAB_BYTES * 2 + 12_345);
        const stored = await store.put(Readable.from([data]), { md5: false });
        expect(stored).toEqual({ key: stored.key, sizeBytes: data.length, sha256: sums(data).sha256 });
        expect((await readAll(store.open(stored.key))).equals(data)).toBe(true);
      });

      it('stores a blob of several slabs, written and hashed off the main thread', async () => {
        const data = randomBytes(3 * SLAB_BYTES + 12345);
        const stored = await store.put(Readable.from(chunked(data, 65536)));
        expect(stored).toEqual({ key: stored.key, sizeBytes: data.length, ...sums(data) });
        expect((await readAll(store.open(stored.key))).equals(data)).toBe(true);
        expect(await digestBlob(store, stored.key)).toEqual(stored);
      });

      it('stores an empty blob', async () => {
        const stored = await store.put(Readable.from([]));
        expect(stored.sizeBytes).toBe(0);
        expect(stored.sha256).toBe(createHash('sha256').digest('hex'));
        expect(stored.md5).toBe('d41d8cd98f00b204e9800998ecf8427e');
        expect(await store.stat(stored.key)).toBe(0);
        expect((await readAll(store.open(stored.key))).length).toBe(0);
      });

      it('leaves nothing behind when the source fails halfway', async () => {
        async function* failing() {
          yield Buffer.alloc(64 * 1024, 1);
          throw new Error('client went away');
        }
        await expect(store.put(failing())).rejects.toThrow('client went away');
        expect(await everything()).toEqual(nothing);
      });

      it('leaves nothing behind when the source fails after several slabs are on their way', async () => {
        async function* failing() {
          for (let i = 0; i < 6; i++) yield randomBytes(SLAB_BYTES / 2 + 17);
          throw new Error('client went away');
        }
        await expect(store.put(failing())).rejects.toThrow('client went away');
        expect(await everything()).toEqual(nothing);
      });

      it('deletes, reports missing blobs, and refuses keys that are not its own', async () => {
        const stored = await store.put(Readable.from([Buffer.from('x')]));
        await store.delete(stored.key);
        expect(await store.stat(stored.key)).toBeUndefined();
        await expect(readAll(store.open(stored.key))).rejects.toMatchObject({ code: 'ENOENT' });
        expect(() => store.open('../../etc/passwd')).toThrow(/Invalid blob key/);
        await expect(store.put(Readable.from([Buffer.from('x')]), { key: '../escape' })).rejects.toThrow(/Invalid blob key/);
        await store.delete(stored.key); // deleting again is fine
        expect(await everything()).toEqual(nothing);
      });
    });

    describe('maxBytes', () => {
      it('accepts a stream of exactly the limit', async () => {
        const data = randomBytes(SLAB_BYTES + 10);
        const stored = await store.put(Readable.from(chunked(data, 50_000)), { maxBytes: data.length });
        expect(stored.sizeBytes).toBe(data.length);
        expect(await store.stat(stored.key)).toBe(data.length);
      });

      it.each([
        ['within the first slab', 1000, 999],
        ['after several slabs', 3 * SLAB_BYTES + 5, 2 * SLAB_BYTES + 1],
      ])('refuses one byte more than the limit (%s) and keeps nothing', async (_label, size, limit) => {
        const data = randomBytes(size);
        const error = await store.put(Readable.from(chunked(data, 40_000)), { maxBytes: limit }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(BlobTooLargeError);
        expect((error as BlobTooLargeError).limitBytes).toBe(limit);
        expect(await everything()).toEqual(nothing);
      });

      it('refuses a limit that is not a non-negative integer', async () => {
        await expect(store.put(Readable.from([]), { maxBytes: -1 })).rejects.toThrow(RangeError);
        await expect(store.put(Readable.from([]), { maxBytes: 1.5 })).rejects.toThrow(RangeError);
        expect(await everything()).toEqual(nothing);
      });
    });

    describe('chosen keys', () => {
      it('stores under a key from newKey(), and never overwrites it', async () => {
        const key = store.newKey();
        expect(key).toMatch(KEY);
        expect(await store.stat(key)).toBeUndefined();
        const stored = await store.put(Readable.from([Buffer.from('first')]), { key });
        expect(stored.key).toBe(key);
        await expect(store.put(Readable.from([Buffer.from('second')]), { key })).rejects.toThrow(/exists already/);
        expect((await readAll(store.open(key))).toString()).toBe('first');
        expect(await everything()).toEqual({ ...nothing, blobs: [key] });
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

      it.each([
        [699_000, 700_000],
        [700_000, 700_001],
      ])('fails a range that reaches past the end (%i-%i), before any byte', async (start, end) => {
        const stream = store.open(key, { start, end });
        const received: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => received.push(chunk));
        const error = await new Promise((resolve) => stream.on('error', resolve));
        expect(error).toBeInstanceOf(RangeNotSatisfiableError);
        expect(error).toMatchObject({ start, end, sizeBytes: 700_000 });
        expect(received).toEqual([]);
      });

      it('refuses malformed ranges at once, and reports a missing blob on the stream', async () => {
        expect(() => store.open(key, { start: 5, end: 4 })).toThrow(RangeError);
        expect(() => store.open(key, { start: -1, end: 4 })).toThrow(RangeError);
        expect(() => store.open(key, { start: 0.5, end: 4 })).toThrow(RangeError);
        await store.delete(key);
        await expect(readAll(store.open(key, { start: 0, end: 1 }))).rejects.toMatchObject({ code: 'ENOENT' });
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
        expect(await everything()).toEqual({ ...nothing, blobs: [first.key] });
        await expect(store.compose([first.key, 'nope'])).rejects.toThrow(/Invalid blob key/);
      });
    });

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
        expect(await everything()).toEqual(nothing);
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
        expect(await everything()).toEqual(nothing);
      });
    });

    describe('resumable uploads', () => {
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

      it('creates an upload, writes parts at their offsets and completes it into a blob', async () => {
        const uploadKey = await store.createUpload();
        expect(uploadKey).toMatch(/^uploads\/[0-9a-f-]{36}$/);
        const bodies = [randomBytes(2 * SLAB_BYTES + 3), randomBytes(SLAB_BYTES), randomBytes(12)];
        const parts = await writeParts(uploadKey, bodies);
        const whole = Buffer.concat(bodies);
        const completed = await store.completeUpload(uploadKey, parts);
        expect(completed).toEqual({ key: expect.stringMatching(KEY), sizeBytes: whole.length });
        expect((await readAll(store.open(completed.key))).equals(whole)).toBe(true);
        expect(await digestBlob(store, completed.key)).toEqual({ key: completed.key, sizeBytes: whole.length, ...sums(whole) });
        expect(await everything()).toEqual({ ...nothing, blobs: [completed.key] });
      });

      it('completes an upload whose parts the caller lists in any order', async () => {
        const uploadKey = await store.createUpload();
        const bodies = [randomBytes(5000), randomBytes(7000)];
        const parts = await writeParts(uploadKey, bodies);
        const completed = await store.completeUpload(uploadKey, [parts[1]!, parts[0]!]);
        expect((await readAll(store.open(completed.key))).equals(Buffer.concat(bodies))).toBe(true);
      });

      it('leaves out a part written but never committed (a crash before the caller committed it), and takes its rewrite', async () => {
        const uploadKey = await store.createUpload();
        const first = randomBytes(SLAB_BYTES + 500);
        const [committed] = await writeParts(uploadKey, [first]);
        // Written, but the caller died before recording it: its offset stays at the end of the first part.
        await store.writeUploadPart(uploadKey, { partNumber: 2, offset: first.length }, Readable.from([randomBytes(3 * SLAB_BYTES)]));
        const second = randomBytes(SLAB_BYTES / 2); // shorter than the lost write: none of that may survive
        const written = await store.writeUploadPart(uploadKey, { partNumber: 2, offset: first.length }, Readable.from([second]), { md5: true });
        expect(written).toMatchObject({ sizeBytes: second.length, md5: md5(second) });
        const completed = await store.completeUpload(uploadKey, [committed!, { partNumber: 2, offset: first.length, sizeBytes: second.length, etag: written.etag }]);
        const whole = Buffer.concat([first, second]);
        expect(completed.sizeBytes).toBe(whole.length);
        expect((await readAll(store.open(completed.key))).equals(whole)).toBe(true);
      });

      it('completes with the committed parts only when a later part was written but never committed', async () => {
        const uploadKey = await store.createUpload();
        const body = randomBytes(4096);
        const parts = await writeParts(uploadKey, [body]);
        await store.writeUploadPart(uploadKey, { partNumber: 2, offset: body.length }, Readable.from([Buffer.from('remains of a write that was never committed')]));
        const completed = await store.completeUpload(uploadKey, parts);
        expect(completed.sizeBytes).toBe(body.length);
        expect((await readAll(store.open(completed.key))).equals(body)).toBe(true);
      });

      it('keeps the committed bytes when a part fails halfway, and the part can be sent again', async () => {
        const uploadKey = await store.createUpload();
        const first = randomBytes(3000);
        const [committed] = await writeParts(uploadKey, [first]);
        async function* droppedConnection() {
          yield randomBytes(2 * SLAB_BYTES);
          throw new Error('connection reset');
        }
        await expect(store.writeUploadPart(uploadKey, { partNumber: 2, offset: first.length }, droppedConnection())).rejects.toThrow('connection reset');
        const second = randomBytes(2 * SLAB_BYTES);
        const written = await store.writeUploadPart(uploadKey, { partNumber: 2, offset: first.length }, Readable.from([second]));
        const completed = await store.completeUpload(uploadKey, [committed!, { partNumber: 2, offset: first.length, sizeBytes: second.length, etag: written.etag }]);
        expect((await readAll(store.open(completed.key))).equals(Buffer.concat([first, second]))).toBe(true);
      });

      it('refuses a part larger than its limit, and the committed bytes still complete', async () => {
        const uploadKey = await store.createUpload();
        const body = randomBytes(100);
        const parts = await writeParts(uploadKey, [body]);
        const error = await store
          .writeUploadPart(uploadKey, { partNumber: 2, offset: 100 }, Readable.from([randomBytes(SLAB_BYTES), randomBytes(SLAB_BYTES)]), { maxBytes: SLAB_BYTES + 1 })
          .catch((e: unknown) => e);
        expect(error).toBeInstanceOf(BlobTooLargeError);
        const completed = await store.completeUpload(uploadKey, parts);
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
        const bodies = [randomBytes(100), randomBytes(100)];
        const parts = await writeParts(uploadKey, bodies);
        await expect(store.completeUpload(uploadKey, [parts[1]!])).rejects.toThrow(/do not join up.*starts at 100.*end at 0/);
        await expect(store.completeUpload(uploadKey, [parts[0]!, { ...parts[1]!, offset: 99 }])).rejects.toThrow(/do not join up/);
        await expect(store.completeUpload(uploadKey, [parts[0]!, { ...parts[1]!, partNumber: 1 }])).rejects.toThrow(/given twice/);
        await expect(store.completeUpload(uploadKey, [parts[0]!, { ...parts[1]!, sizeBytes: 101 }])).rejects.toThrow(/holds 200 bytes, fewer than its parts' 201/);
        await expect(store.completeUpload(uploadKey, [parts[0]!, { ...parts[1]!, partNumber: 0 }])).rejects.toThrow(/Invalid part number/);
        // nothing of that moved the upload
        const completed = await store.completeUpload(uploadKey, parts);
        expect((await readAll(store.open(completed.key))).equals(Buffer.concat(bodies))).toBe(true);
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
        expect(await everything()).toEqual({ ...nothing, uploads: [uploadKey] });
        await store.abortUpload(uploadKey);
        expect(await everything()).toEqual(nothing);
        await expect(store.writeUploadPart(uploadKey, { partNumber: 2, offset: SLAB_BYTES * 2 }, Readable.from([Buffer.from('x')]))).rejects.toMatchObject({ code: 'ENOENT' });
        await store.abortUpload(uploadKey);
        expect(await everything()).toEqual(nothing);
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
    });

    describe('listing, for garbage collection', () => {
      it('lists stored blobs by key prefix, with size and age, and only those older than asked', async () => {
        const a = await store.put(Readable.from([randomBytes(1234)]));
        const b = await store.put(Readable.from([randomBytes(10)]));
        const later = new Date(Date.now() + HOUR_MS);
        const listed = await collect(store.listBlobs({ olderThan: later }));
        expect(listed.map((item) => [item.key, item.sizeBytes])).toEqual([[a.key, 1234], [b.key, 10]].sort((x, y) => String(x[0]).localeCompare(String(y[0]))));
        for (const item of listed) expect(Math.abs(item.modifiedAt.getTime() - Date.now())).toBeLessThan(10 * 60_000);
        for (const prefix of [a.key.slice(0, 2), a.key.slice(0, 5), a.key]) {
          expect((await collect(store.listBlobs({ prefix, olderThan: later }))).map((item) => item.key)).toContain(a.key);
        }
        expect((await collect(store.listBlobs({ prefix: a.key, olderThan: later }))).map((item) => item.key)).toEqual([a.key]);
        // Young: it may be about to be referenced.
        expect(await collect(store.listBlobs({ olderThan: new Date(Date.now() - HOUR_MS) }))).toEqual([]);
        await store.delete(a.key);
        expect((await collect(store.listBlobs({ olderThan: later }))).map((item) => item.key)).toEqual([b.key]);
      });

      it('keeps a put that is still streaming young for garbage collection, however long it has run', async () => {
        const key = store.newKey();
        const started = Date.now();
        async function* steady() {
          // A slab every 300 ms for ~3.6 s: longer than the age asked about below.
          for (let i = 0; i < 12; i++) {
            yield randomBytes(SLAB_BYTES);
            await new Promise((resolve) => setTimeout(resolve, 300));
          }
        }
        const put = store.put(steady(), { key });
        await new Promise((resolve) => setTimeout(resolve, 3300));
        const later = new Date(Date.now() + HOUR_MS);
        expect((await collect(store.listUnfinishedPuts({ olderThan: later }))).map((item) => item.key)).toEqual([key]);
        expect(Date.now() - started).toBeGreaterThan(3000);
        // Older than 2 s is what a short grace period would sweep: not this put (its age is its last sign of life).
        expect(await collect(store.listUnfinishedPuts({ olderThan: new Date(Date.now() - 2000) }))).toEqual([]);
        const stored = await put;
        expect(stored.sizeBytes).toBe(12 * SLAB_BYTES);
        expect(await everything()).toEqual({ ...nothing, blobs: [key] });
      });

      it('lists a put in flight as unfinished under its key, and delete(key) removes what it left', async () => {
        const key = store.newKey();
        let failSource!: (error: Error) => void;
        const stalled = new Promise<never>((_resolve, reject) => (failSource = reject));
        async function* hanging() {
          for (let i = 0; i < 3; i++) yield randomBytes(SLAB_BYTES);
          await stalled; // a writer that stopped (or died) here
        }
        const put = store.put(hanging(), { key });
        put.catch(() => undefined);
        const later = new Date(Date.now() + HOUR_MS);
        // Poll until the store has started keeping bytes under it.
        let unfinished: ListedItem[] = [];
        for (let i = 0; i < 100 && unfinished.length === 0; i++) {
          unfinished = await collect(store.listUnfinishedPuts({ olderThan: later }));
          if (unfinished.length === 0) await new Promise((resolve) => setTimeout(resolve, 50));
        }
        expect(unfinished.map((item) => item.key)).toEqual([key]);
        expect((await collect(store.listUnfinishedPuts({ prefix: key.slice(0, 5), olderThan: later }))).map((item) => item.key)).toEqual([key]);
        expect(await collect(store.listUnfinishedPuts({ prefix: key.startsWith('f') ? '0' : 'f', olderThan: later }))).toEqual([]);
        expect(await collect(store.listUnfinishedPuts({ olderThan: new Date(Date.now() - HOUR_MS) }))).toEqual([]);
        expect(await collect(store.listBlobs({ olderThan: later }))).toEqual([]); // not a blob yet
        await store.delete(key);
        expect(await everything()).toEqual(nothing);
        failSource(new Error('writer gone'));
        await expect(put).rejects.toThrow();
        expect(await everything()).toEqual(nothing);
        expect(await store.stat(key)).toBeUndefined();
      });

      it('lists open uploads by age of their last write, and not once completed or aborted', async () => {
        const a = await store.createUpload();
        const b = await store.createUpload();
        const c = await store.createUpload();
        const [part] = await writeOne(b, randomBytes(123));
        const later = new Date(Date.now() + HOUR_MS);
        const listed = await collect(store.listUnfinishedUploads({ olderThan: later }));
        expect(listed.map((item) => item.key)).toEqual([a, b, c].sort());
        for (const item of listed) expect(Math.abs(item.modifiedAt.getTime() - Date.now())).toBeLessThan(10 * 60_000);
        expect(await collect(store.listUnfinishedUploads({ olderThan: new Date(Date.now() - HOUR_MS) }))).toEqual([]);
        expect((await collect(store.listUnfinishedUploads({ prefix: b, olderThan: later }))).map((item) => item.key)).toEqual([b]);
        await store.completeUpload(b, [part!]);
        await store.abortUpload(c);
        expect((await collect(store.listUnfinishedUploads({ olderThan: later }))).map((item) => item.key)).toEqual([a]);
      });

      async function writeOne(uploadKey: string, body: Buffer): Promise<CommittedUploadPart[]> {
        const written = await store.writeUploadPart(uploadKey, { partNumber: 1, offset: 0 }, Readable.from([body]));
        return [{ partNumber: 1, offset: 0, sizeBytes: written.sizeBytes, etag: written.etag }];
      }
    });
  });
}
