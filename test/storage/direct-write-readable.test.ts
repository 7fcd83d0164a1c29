/**
 * Blob files piped into an HTTP response are written from a few reused buffers (each refilled only
 * after the socket's write callback): over a real socket the client must get exactly the file's
 * bytes, a client hanging up must release the file, and a pipe into anything but a socket or a
 * response must take the ordinary path (a Transform keeps chunks after its callback).
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { WriteBufferPool, WriteBufferRing } from '../../src/storage/direct-write-readable';
import { FileRangeReadStream } from '../../src/storage/file-range-stream';

let dir: string;
let file: string;
// Several times the ring (4 × 256 KiB), and not a multiple of a buffer.
const data = randomBytes(5 * 1024 * 1024 + 4321);
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agw-direct-'));
  file = path.join(dir, 'blob');
  fs.writeFileSync(file, data);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** An HTTP server answering every request with `respond`; closed after the test. */
async function serve(respond: (response: http.ServerResponse) => void): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer((request, response) => {
    request.resume();
    respond(response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

function download(url: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve(Buffer.concat(chunks)));
        response.on('error', reject);
      })
      .on('error', reject);
  });
}

it('sends a whole file and a range of it byte for byte, with pipe() and with pipeline()', async () => {
  const range = { start: 1_000_001, end: 4_200_000 };
  const server = await serve((response) => {
    const ranged = response.req.url === '/range';
    response.writeHead(200, { 'content-length': ranged ? range.end - range.start + 1 : data.length });
    const stream = new FileRangeReadStream(file, ranged ? range : undefined);
    if (ranged) void pipeline(stream, response);
    else stream.pipe(response);
  });
  try {
    // Sequential downloads over fresh connections, so that each round reuses the ring several times.
    for (let i = 0; i < 3; i++) expect(sha256(await download(server.url))).toBe(sha256(data));
    expect(sha256(await download(`${server.url}range`))).toBe(sha256(data.subarray(range.start, range.end + 1)));
  } finally {
    await server.close();
  }
});

it('stops reading and closes the file when the client hangs up mid-way', async () => {
  let closed!: Promise<void>;
  const server = await serve((response) => {
    response.writeHead(200, { 'content-length': data.length });
    const stream = new FileRangeReadStream(file);
    closed = new Promise((resolve) => stream.on('close', resolve));
    stream.pipe(response);
  });
  try {
    await new Promise<void>((resolve, reject) => {
      const request = http.get(server.url, (response) => {
        response.once('data', () => {
          request.destroy();
          resolve();
        });
      });
      request.on('error', () => undefined);
      request.on('close', resolve);
      setTimeout(() => reject(new Error('no data')), 10_000).unref();
    });
    await closed;
  } finally {
    await server.close();
  }
});

it('takes the ordinary path into a Transform, which keeps chunks after their callbacks', async () => {
  const through = new PassThrough({ highWaterMark: 64 * 1024 * 1024 });
  new FileRangeReadStream(file).pipe(through);
  // Read only once everything is in: reused buffers would have overwritten the queued chunks.
  await new Promise((resolve) => through.on('finish', resolve));
  const chunks: Buffer[] = [];
  for await (const chunk of through) chunks.push(chunk as Buffer);
  expect(sha256(Buffer.concat(chunks))).toBe(sha256(data));
});

it('with the size known, sends exactly that many bytes, and fails when the file is shorter', async () => {
  const server = await serve((response) => {
    const claimed = response.req.url === '/short' ? data.length + 1 : 3_000_000;
    response.writeHead(200, { 'content-length': claimed });
    const stream = new FileRangeReadStream(file, undefined, claimed);
    // A failing stream must break the response off, not leave it hanging.
    stream.on('error', () => response.destroy());
    stream.pipe(response);
  });
  try {
    expect(sha256(await download(server.url))).toBe(sha256(data.subarray(0, 3_000_000)));
    await expect(download(`${server.url}short`)).rejects.toThrow();
  } finally {
    await server.close();
  }
});

it('gives its buffers back to the pool once their writes are done, for the next stream to reuse', async () => {
  const pool = new WriteBufferPool(64 * 1024, 8);
  const used = new Set<Buffer>();
  let done!: Promise<void>;
  const server = await serve((response) => {
    response.writeHead(200, { 'content-length': 10 * 64 * 1024 });
    const ring = new WriteBufferRing(response, 2, pool);
    done = (async () => {
      for (let i = 0; i < 10; i++) {
        const buffer = await ring.take();
        used.add(buffer);
        ring.write(buffer.fill(i), buffer.length);
      }
      ring.stop();
      await new Promise<void>((resolve) => response.end(resolve));
    })();
  });
  try {
    const body = await download(server.url);
    await done;
    expect(body.length).toBe(10 * 64 * 1024);
    expect(body[9 * 64 * 1024]).toBe(9);
    // Two buffers served all ten writes, and both are free in the pool again.
    expect(used.size).toBe(2);
    const again = [pool.take(), pool.take()];
    expect(again.every((buffer) => used.has(buffer))).toBe(true);
  } finally {
    await server.close();
  }
});
