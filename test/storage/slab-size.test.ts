/** STORAGE_SLAB_MIB reaches the blob store's writes: a large put is written in slabs of that size. */
import fs from 'node:fs';
import { Readable } from 'node:stream';
import { loadConfig } from '../../src/config';
import { configureSlabBytes, SLAB_BYTES, slabBytesInUse } from '../../src/storage/hashing-writer';
import { createTestApp, type TestApp } from '../helpers/database';

const MIB = 1024 * 1024;
let app: TestApp;

beforeAll(async () => {
  app = await createTestApp({ storage: loadConfig({ STORAGE_SLAB_MIB: '4' }).storage });
});
afterAll(async () => {
  await app?.close();
  configureSlabBytes(SLAB_BYTES);
});
afterEach(() => jest.restoreAllMocks());

it('writes a large blob in 4 MiB slabs when STORAGE_SLAB_MIB=4, and keeps its bytes', async () => {
  expect(slabBytesInUse()).toBe(4 * MIB);
  const handle = await fs.promises.open(`${app.dataDir}/probe`, 'w');
  const fileHandle = Object.getPrototypeOf(handle) as { write: (...args: unknown[]) => Promise<{ bytesWritten: number }> };
  await handle.close();
  const original = fileHandle.write;
  const writes: [number, number][] = [];
  jest.spyOn(fileHandle, 'write').mockImplementation(function (this: unknown, ...args: unknown[]) {
    writes.push([args[3] as number, args[2] as number]);
    return original.apply(this, args);
  });
  const data = Buffer.alloc(10 * MIB, 7);
  const stored = await app.blobs.put(Readable.from([data.subarray(0, 5 * MIB), data.subarray(5 * MIB)]));
  expect(stored.sizeBytes).toBe(10 * MIB);
  expect(writes).toEqual([
    [0, 4 * MIB],
    [4 * MIB, 4 * MIB],
    [8 * MIB, 2 * MIB],
  ]);
  const back: Buffer[] = [];
  for await (const chunk of app.blobs.open(stored.key)) back.push(chunk as Buffer);
  expect(Buffer.concat(back).equals(data)).toBe(true);
});
