/** The hashing writer behind every blob-store write: sums equal node:crypto's wherever they are computed, bounded memory, failures. */
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { HashWorkerPool } from '../../src/storage/hash-workers';
import { HashingWriter, SLAB_BYTES, SLAB_COUNT, configureSlabBytes, releaseHashWorkers, slabBytesInUse, type Hashing } from '../../src/storage/hashing-writer';
import { measureBytes } from '../../src/storage/measure';

const pools: HashWorkerPool[] = [];
function pool(size: number, options?: { splitAlgorithms?: boolean }): HashWorkerPool {
  const created = new HashWorkerPool(size, options);
  pools.push(created);
  return created;
}
afterAll(async () => {
  await Promise.all(pools.map((p) => p.close()));
  await releaseHashWorkers(); // measureBytes used the process-wide pool
});

/** Random data cut into random-sized chunks (1 byte … 200 KB), as a socket might deliver it. */
function randomlyChunked(data: Buffer): Buffer[] {
  const chunks: Buffer[] = [];
  for (let i = 0; i < data.length; ) {
    const size = randomInt(1, 200_000);
    chunks.push(data.subarray(i, i + size));
    i += size;
  }
  return chunks;
}

async function writeThrough(data: Buffer, hashing: Hashing): Promise<{ writer: HashingWriter; sink: Buffer }> {
  const sink = Buffer.alloc(data.length);
  const writer = new HashingWriter({
    algorithms: ['md5', 'sha256'],
    hashing,
    writeAt: async (bytes, position) => {
      await new Promise((resolve) => setImmediate(resolve)); // complete out of order with the hashing
      bytes.copy(sink, position);
    },
  });
  await pipeline(Readable.from(randomlyChunked(data)), writer);
  return { writer, sink };
}

const sizes = [0, 1, SLAB_BYTES - 1, SLAB_BYTES, SLAB_BYTES + 1, SLAB_COUNT * SLAB_BYTES + 13, Math.floor(9.5 * SLAB_BYTES)];
const modes: [string, () => Hashing][] = [
  ['the main thread', () => 'main-thread'],
  ['one worker', () => pool(1)],
  ['two workers, algorithms split', () => pool(2, { splitAlgorithms: true })],
];

describe.each(modes)('hashing on %s', (_label, hashing) => {
  it.each(sizes)('gives node:crypto sums and places every byte for %i random bytes', async (size) => {
    const data = randomBytes(size);
    const { writer, sink } = await writeThrough(data, hashing());
    expect(writer.sizeBytes).toBe(size);
    expect(writer.digests()).toEqual({
      md5: createHash('md5').update(data).digest('hex'),
      sha256: createHash('sha256').update(data).digest('hex'),
    });
    expect(sink.equals(data)).toBe(true);
  });
});

it('keeps concurrent streams on one pool apart', async () => {
  const shared = pool(2);
  const inputs = Array.from({ length: 6 }, (_, i) => randomBytes(2 * SLAB_BYTES + i * 100_003));
  const results = await Promise.all(inputs.map((data) => writeThrough(data, shared)));
  results.forEach(({ writer, sink }, i) => {
    expect(writer.digests().sha256).toBe(createHash('sha256').update(inputs[i]!).digest('hex'));
    expect(writer.digests().md5).toBe(createHash('md5').update(inputs[i]!).digest('hex'));
    expect(sink.equals(inputs[i]!)).toBe(true);
  });
});

it('computes only the algorithms asked for', async () => {
  const data = randomBytes(3 * SLAB_BYTES);
  const writer = new HashingWriter({ algorithms: ['md5'], hashing: pool(1) });
  await pipeline(Readable.from([data]), writer);
  expect(writer.digests()).toEqual({ md5: createHash('md5').update(data).digest('hex') });
});

it("with no algorithm only places the bytes (past the first slab too), through the pool's recycled slabs", async () => {
  const workers = pool(1);
  const recycled = workers.acquireSlabs(SLAB_COUNT, SLAB_BYTES);
  workers.releaseSlabs(recycled);
  const data = randomBytes(3 * SLAB_BYTES + 5);
  const sink = Buffer.alloc(data.length);
  const written = new Set<ArrayBufferLike>();
  const writer = new HashingWriter({
    algorithms: [],
    hashing: workers,
    writeAt: async (bytes, position) => {
      written.add(bytes.buffer);
      bytes.copy(sink, position);
    },
  });
  await pipeline(Readable.from(randomlyChunked(data)), writer);
  expect(writer.digests()).toEqual({});
  expect(sink.equals(data)).toBe(true);
  expect(written.size).toBeGreaterThan(0);
  expect([...written].every((buffer) => recycled.includes(buffer as SharedArrayBuffer))).toBe(true);
  expect(workers.acquireSlabs(SLAB_COUNT, SLAB_BYTES)).toBe(recycled); // given back
});

it('holds the source back while the sink is slow: bytes ahead of the sink stay within the slabs', async () => {
  let release!: () => void;
  const sinkBlocked = new Promise<void>((resolve) => (release = resolve));
  const writer = new HashingWriter({ algorithms: ['md5', 'sha256'], hashing: pool(1), writeAt: () => sinkBlocked });
  let produced = 0;
  async function* source() {
    for (let i = 0; i < 64; i++) {
      produced += 256 * 1024;
      yield Buffer.alloc(256 * 1024, i);
    }
  }
  const done = pipeline(source(), writer);
  await new Promise((resolve) => setTimeout(resolve, 200));
  // 16 MiB offered; only the slabs, the writable's buffer and a chunk in hand may be taken.
  const bound = (SLAB_COUNT + 2) * SLAB_BYTES + 256 * 1024;
  expect(writer.sizeBytes).toBeLessThanOrEqual(bound);
  expect(produced).toBeLessThanOrEqual(bound + 256 * 1024);
  release();
  await done;
  expect(writer.sizeBytes).toBe(16 * 1024 * 1024);
});

describe('with larger slabs (STORAGE_SLAB_MIB)', () => {
  const MIB = 1024 * 1024;

  it.each([
    ['one worker', () => pool(1)],
    ['the main thread', (): Hashing => 'main-thread'],
  ] as [string, () => Hashing][])('writes and hashes in 4 MiB slabs on %s, every byte placed once', async (_label, hashing) => {
    const data = randomBytes(Math.floor(9.5 * MIB) + 7);
    const writes: [number, number][] = [];
    const sink = Buffer.alloc(data.length);
    const writer = new HashingWriter({
      algorithms: ['md5', 'sha256'],
      hashing: hashing(),
      slabBytes: 4 * MIB,
      writeAt: async (bytes, position) => {
        writes.push([position, bytes.length]);
        bytes.copy(sink, position);
      },
    });
    await pipeline(Readable.from(randomlyChunked(data)), writer);
    expect(writes).toEqual([
      [0, 4 * MIB],
      [4 * MIB, 4 * MIB],
      [8 * MIB, data.length - 8 * MIB],
    ]);
    expect(sink.equals(data)).toBe(true);
    expect(writer.digests()).toEqual({ md5: createHash('md5').update(data).digest('hex'), sha256: createHash('sha256').update(data).digest('hex') });
  });

  it('still holds a stream under 1 MiB whole and writes it once, whatever the slab size', async () => {
    const data = randomBytes(MIB - 1);
    const writes: number[] = [];
    const writer = new HashingWriter({ algorithms: ['md5'], hashing: pool(1), slabBytes: 8 * MIB, writeAt: async (bytes) => writes.push(bytes.length) });
    await pipeline(Readable.from(randomlyChunked(data)), writer);
    expect(writes).toEqual([MIB - 1]);
    expect(writer.digests().md5).toBe(createHash('md5').update(data).digest('hex'));
  });

  it('keeps what a slow sink has not taken within 4 slabs of the larger size', async () => {
    let release!: () => void;
    const sinkBlocked = new Promise<void>((resolve) => (release = resolve));
    const writer = new HashingWriter({ algorithms: ['sha256'], hashing: pool(1), slabBytes: 2 * MIB, writeAt: () => sinkBlocked });
    async function* source() {
      for (let i = 0; i < 128; i++) yield Buffer.alloc(256 * 1024, i);
    }
    const done = pipeline(source(), writer);
    await new Promise((resolve) => setTimeout(resolve, 200));
    // 32 MiB offered: the four 2 MiB slabs, the writable's buffer (1 MiB) and a chunk in hand.
    expect(writer.sizeBytes).toBeGreaterThan(SLAB_COUNT * 2 * MIB - 256 * 1024);
    expect(writer.sizeBytes).toBeLessThanOrEqual(SLAB_COUNT * 2 * MIB + MIB + 256 * 1024);
    release();
    await done;
    expect(writer.sizeBytes).toBe(32 * MIB);
  });

  it('is configured for the streams that start afterwards, within 1-16 whole MiB', async () => {
    try {
      configureSlabBytes(2 * MIB);
      expect(slabBytesInUse()).toBe(2 * MIB);
      const writes: number[] = [];
      const writer = new HashingWriter({ algorithms: [], hashing: pool(1), writeAt: async (bytes) => writes.push(bytes.length) });
      await pipeline(Readable.from([randomBytes(5 * MIB)]), writer);
      expect(writes).toEqual([2 * MIB, 2 * MIB, MIB]);
      for (const wrong of [0, MIB / 2, 1.5 * MIB, 17 * MIB]) expect(() => configureSlabBytes(wrong)).toThrow('A slab is 1 to 16 whole MiB');
      expect(slabBytesInUse()).toBe(2 * MIB);
    } finally {
      configureSlabBytes(SLAB_BYTES);
    }
  });
});

it('fails the stream when the sink fails, and lets no write outlive it', async () => {
  let inFlight = 0;
  const writer = new HashingWriter({
    algorithms: ['sha256'],
    hashing: pool(1),
    writeAt: async (_bytes, position) => {
      inFlight++;
      await new Promise((resolve) => setTimeout(resolve, 5));
      inFlight--;
      if (position === SLAB_BYTES) throw new Error('disk full');
    },
  });
  await expect(pipeline(Readable.from(randomlyChunked(randomBytes(8 * SLAB_BYTES))), writer)).rejects.toThrow('disk full');
  await writer.whenIdle();
  expect(inFlight).toBe(0);
});

it('fails the stream when its hash worker dies, and the pool starts a new worker for the next stream', async () => {
  const dying = pool(1);
  let resume!: () => void;
  const paused = new Promise<void>((resolve) => (resume = resolve));
  async function* source() {
    yield randomBytes(2 * SLAB_BYTES);
    await paused;
    yield randomBytes(2 * SLAB_BYTES);
  }
  const writer = new HashingWriter({ algorithms: ['md5', 'sha256'], hashing: dying });
  const result = pipeline(source(), writer);
  // Once the first chunk is taken, the stream's hashing has started on the worker.
  while (writer.sizeBytes === 0) await new Promise((resolve) => setImmediate(resolve));
  await dying.close();
  resume();
  await expect(result).rejects.toThrow(/Hash worker exited/);

  const data = randomBytes(3 * SLAB_BYTES);
  const { writer: next } = await writeThrough(data, dying);
  expect(next.digests().sha256).toBe(createHash('sha256').update(data).digest('hex'));
});

it('lets a released pool finish the streams in progress, and starts new workers for later ones', async () => {
  const released = pool(1);
  let resume!: () => void;
  const paused = new Promise<void>((resolve) => (resume = resolve));
  const data = randomBytes(4 * SLAB_BYTES);
  async function* source() {
    yield data.subarray(0, 2 * SLAB_BYTES);
    await paused;
    yield data.subarray(2 * SLAB_BYTES);
  }
  const writer = new HashingWriter({ algorithms: ['sha256'], hashing: released });
  const inProgress = pipeline(source(), writer);
  while (writer.sizeBytes === 0) await new Promise((resolve) => setImmediate(resolve));
  await released.release();
  resume();
  await inProgress;
  expect(writer.digests().sha256).toBe(createHash('sha256').update(data).digest('hex'));

  const later = randomBytes(2 * SLAB_BYTES);
  const { writer: next } = await writeThrough(later, released);
  expect(next.digests().sha256).toBe(createHash('sha256').update(later).digest('hex'));
});

it('refuses bytes beyond maxBytes', async () => {
  const writer = new HashingWriter({ algorithms: ['md5'], hashing: pool(1), maxBytes: 2 * SLAB_BYTES });
  await expect(pipeline(Readable.from([randomBytes(2 * SLAB_BYTES), Buffer.from('!')]), writer)).rejects.toMatchObject({ name: 'BlobTooLargeError', limitBytes: 2 * SLAB_BYTES });
});

describe('measureBytes', () => {
  it.each([0, 100, 5 * SLAB_BYTES + 3])('passes %i bytes through unchanged and measures them like node:crypto', async (size) => {
    const data = randomBytes(size);
    const measure = measureBytes();
    const out: Buffer[] = [];
    await pipeline(
      Readable.from(randomlyChunked(data)),
      measure.stream,
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          out.push(chunk);
          done();
        },
      }),
    );
    expect(Buffer.concat(out).equals(data)).toBe(true);
    expect(measure.result()).toEqual({
      sizeBytes: size,
      sha256: createHash('sha256').update(data).digest('hex'),
      md5: createHash('md5').update(data).digest('hex'),
    });
  });

  it('passes a failure of the source on', async () => {
    async function* failing() {
      yield randomBytes(3 * SLAB_BYTES);
      throw new Error('read error');
    }
    const measure = measureBytes();
    await expect(pipeline(failing(), measure.stream, new Writable({ write: (_c, _e, done) => done() }))).rejects.toThrow('read error');
  });
});
