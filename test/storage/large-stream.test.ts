/**
 * A 256 MiB stream through the blob store, generated lazily: memory must not grow with the size.
 * Buffering the whole stream would add at least 256 MiB of RSS; the bound is far below that and
 * far above what streaming costs (slabs, a hash worker, garbage awaiting collection).
 */
import { createCipheriv, createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { FileBlobStore } from '../../src/storage/blob-store';
import { releaseHashWorkers } from '../../src/storage/hashing-writer';

const MIB = 1024 * 1024;
const SIZE = 256 * MIB;
const RSS_GROWTH_BOUND = 160 * MIB;

let root: string;
beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'agw-large-'));
});
afterAll(async () => {
  fs.rmSync(root, { recursive: true, force: true });
  await releaseHashWorkers(); // no hashing thread left for jest to wait for
});

/** Incompressible bytes (AES-CTR keystream) in 64 KiB chunks, hashed with node:crypto as they are made. */
function* generated(sizeBytes: number, sums: { md5: ReturnType<typeof createHash>; sha256: ReturnType<typeof createHash> }): Generator<Buffer> {
  const cipher = createCipheriv('aes-128-ctr', Buffer.alloc(16, 7), Buffer.alloc(16));
  const zeros = Buffer.alloc(64 * 1024);
  for (let made = 0; made < sizeBytes; made += zeros.length) {
    const chunk = cipher.update(zeros.subarray(0, Math.min(zeros.length, sizeBytes - made)));
    sums.md5.update(chunk);
    sums.sha256.update(chunk);
    yield chunk;
  }
}

/** Peak RSS growth over `work`, sampled every 10 ms. */
async function rssGrowth<T>(work: () => Promise<T>): Promise<{ result: T; growthBytes: number }> {
  const before = process.memoryUsage.rss();
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 10);
  try {
    const result = await work();
    peak = Math.max(peak, process.memoryUsage.rss());
    return { result, growthBytes: peak - before };
  } finally {
    clearInterval(sampler);
  }
}

it('writes and reads back 256 MiB with flat memory and the right sums', async () => {
  const store = new FileBlobStore(root);
  const sums = { md5: createHash('md5'), sha256: createHash('sha256') };
  const written = await rssGrowth(() => store.put(Readable.from(generated(SIZE, sums))));
  expect(written.result).toEqual({ key: written.result.key, sizeBytes: SIZE, md5: sums.md5.digest('hex'), sha256: sums.sha256.digest('hex') });
  expect(written.growthBytes).toBeLessThan(RSS_GROWTH_BOUND);

  const read = await rssGrowth(async () => {
    const sha256 = createHash('sha256');
    let sizeBytes = 0;
    for await (const chunk of store.open(written.result.key, { start: 0, end: SIZE - 1 })) {
      sha256.update(chunk as Buffer);
      sizeBytes += (chunk as Buffer).length;
    }
    return { sizeBytes, sha256: sha256.digest('hex') };
  });
  expect(read.result).toEqual({ sizeBytes: SIZE, sha256: written.result.sha256 });
  expect(read.growthBytes).toBeLessThan(RSS_GROWTH_BOUND);
});
