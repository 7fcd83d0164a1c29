/** The writer for unhashed bytes (TUS chunks): the source's own buffers, in batches, one batch in the sink at a time. */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BlobTooLargeError } from '../../src/storage/blob-errors';
import { FileBlobStore, remainderAfter } from '../../src/storage/blob-store';
import { GatheringWriter } from '../../src/storage/gathering-writer';

const KIB = 1024;
const MIB = 1024 * KIB;

interface Batch {
  buffers: Buffer[];
  position: number;
}

function recordingSink(): { batches: Batch[]; writeAt: (buffers: Buffer[], position: number) => Promise<void> } {
  const batches: Batch[] = [];
  return { batches, writeAt: async (buffers, position) => void batches.push({ buffers, position }) };
}

function chunksOf(data: Buffer, size: number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) chunks.push(data.subarray(i, i + size));
  return chunks;
}

it('hands the source’s own buffers over in batches of at least batchBytes, at their positions, the last one shorter', async () => {
  const data = randomBytes(3 * MIB + 100 * KIB);
  const chunks = chunksOf(data, 64 * KIB);
  const sink = recordingSink();
  const writer = new GatheringWriter({ batchBytes: MIB, writeAt: sink.writeAt });
  await pipeline(Readable.from(chunks), writer);

  expect(writer.sizeBytes).toBe(data.length);
  const sizes = sink.batches.map((batch) => batch.buffers.reduce((sum, buffer) => sum + buffer.length, 0));
  expect(sizes.slice(0, -1).every((size) => size >= MIB)).toBe(true);
  expect(sizes.at(-1)).toBeGreaterThan(0);
  let position = 0;
  sink.batches.forEach((batch, i) => {
    expect(batch.position).toBe(position);
    position += sizes[i]!;
  });
  expect(Buffer.concat(sink.batches.flatMap((batch) => batch.buffers)).equals(data)).toBe(true);
  // Not copied: the very buffers the source produced.
  const handed = new Set(sink.batches.flatMap((batch) => batch.buffers));
  expect(chunks.every((chunk) => handed.has(chunk))).toBe(true);
});

it('writes a short stream once, at its end, and an empty one not at all', async () => {
  const sink = recordingSink();
  await pipeline(Readable.from([Buffer.from('abc'), Buffer.from('defg')]), new GatheringWriter({ batchBytes: MIB, writeAt: sink.writeAt }));
  expect(sink.batches).toEqual([{ buffers: [Buffer.from('abc'), Buffer.from('defg')], position: 0 }]);

  const none = recordingSink();
  const empty = new GatheringWriter({ batchBytes: MIB, writeAt: none.writeAt });
  await pipeline(Readable.from([]), empty);
  expect(none.batches).toEqual([]);
  expect(empty.sizeBytes).toBe(0);
});

it('keeps one batch in the sink at a time and holds the source back meanwhile (bounded memory)', async () => {
  const gates: (() => void)[] = [];
  let inSink = 0;
  let mostInSink = 0;
  const writer = new GatheringWriter({
    batchBytes: MIB,
    writeAt: () => {
      mostInSink = Math.max(mostInSink, ++inSink);
      return new Promise<void>((resolve) => gates.push(() => (inSink--, resolve())));
    },
  });
  let accepted = 0;
  const chunk = Buffer.alloc(64 * KIB);
  while (writer.write(chunk)) accepted++;
  // The first MiB went to the sink; the stream then buffered one more batch before saying stop.
  expect(gates).toHaveLength(1);
  expect(accepted * chunk.length).toBeLessThanOrEqual(2 * MIB + chunk.length);
  expect(writer.writableLength).toBeLessThanOrEqual(MIB + chunk.length);
  const ended = new Promise((resolve, reject) => writer.on('finish', resolve).on('error', reject));
  writer.end();
  while (!writer.writableFinished) {
    await new Promise((resolve) => setImmediate(resolve));
    gates.shift()?.();
  }
  await ended;
  expect(mostInSink).toBe(1);
  expect(writer.sizeBytes).toBe((accepted + 1) * chunk.length);
});

it('refuses bytes beyond maxBytes with BlobTooLargeError', async () => {
  const sink = recordingSink();
  const writer = new GatheringWriter({ batchBytes: 1000, maxBytes: 2500, writeAt: sink.writeAt });
  await expect(pipeline(Readable.from([Buffer.alloc(1000), Buffer.alloc(1000), Buffer.alloc(1000)]), writer)).rejects.toBeInstanceOf(BlobTooLargeError);
  expect(writer.sizeBytes).toBe(2000);
  expect(() => new GatheringWriter({ batchBytes: 0, writeAt: sink.writeAt })).toThrow(RangeError);
  expect(() => new GatheringWriter({ batchBytes: 10, maxBytes: -1, writeAt: sink.writeAt })).toThrow(RangeError);
});

it('fails with the sink’s error, and closes only once the batch in the sink has settled', async () => {
  const failing = new GatheringWriter({ batchBytes: 10, writeAt: async () => Promise.reject(new Error('disk full')) });
  await expect(pipeline(Readable.from([Buffer.alloc(20)]), failing)).rejects.toThrow('disk full');

  let settle!: () => void;
  let settled = false;
  const slow = new GatheringWriter({
    batchBytes: 10,
    writeAt: () =>
      new Promise<void>((resolve) => {
        settle = () => {
          settled = true;
          resolve();
        };
      }),
  });
  slow.write(Buffer.alloc(10));
  const closed = new Promise<boolean>((resolve) => slow.on('close', () => resolve(settled)));
  slow.destroy(new Error('client went away'));
  slow.on('error', () => undefined);
  await new Promise((resolve) => setTimeout(resolve, 20));
  settle();
  expect(await closed).toBe(true);
});

describe('the filesystem store writes unhashed parts from the source’s buffers', () => {
  it('places a part made of many small chunks at its offset, and a hashed part beside it', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agw-gather-'));
    try {
      const store = new FileBlobStore(dir);
      const upload = await store.createUpload();
      const first = randomBytes(3 * MIB + 7);
      const second = randomBytes(MIB / 2);
      const written = await store.writeUploadPart(upload, { partNumber: 1, offset: 0 }, Readable.from(chunksOf(first, 16 * KIB)));
      expect(written).toEqual({ sizeBytes: first.length, etag: `0+${first.length}` });
      const hashed = await store.writeUploadPart(upload, { partNumber: 2, offset: first.length }, Readable.from(chunksOf(second, 16 * KIB)), { md5: true });
      expect(hashed.md5).toMatch(/^[0-9a-f]{32}$/);
      const blob = await store.completeUpload(upload, [
        { partNumber: 1, offset: 0, sizeBytes: first.length, etag: written.etag },
        { partNumber: 2, offset: first.length, sizeBytes: second.length, etag: hashed.etag },
      ]);
      const chunks: Buffer[] = [];
      for await (const chunk of store.open(blob.key)) chunks.push(chunk as Buffer);
      expect(Buffer.concat(chunks).equals(Buffer.concat([first, second]))).toBe(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

it('continues a short vectored write after the bytes that were written, without copying', () => {
  const a = Buffer.from('abcd');
  const b = Buffer.from('efg');
  const c = Buffer.from('hi');
  expect(remainderAfter([a, b, c], 0)).toEqual([a, b, c]);
  expect(remainderAfter([a, b, c], 4)).toEqual([b, c]);
  const rest = remainderAfter([a, b, c], 5);
  expect(Buffer.concat(rest).toString()).toBe('fghi');
  expect(rest[0]!.buffer).toBe(b.buffer);
  expect(remainderAfter([a, b, c], 9)).toEqual([]);
});
