/**
 * The Azure Blob store against Azurite (the real wire protocol): the blob-store contract, and what
 * is Azure's own: If-None-Match on commit, blocks, markers of unfinished work, prefixes in a shared
 * container, parts from separate store instances (processes), memory of a large streamed put.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { BlobServiceClient, StorageSharedKeyCredential, type ContainerClient } from '@azure/storage-blob';
import { AzureBlobStore, createAzureBlobStore } from '../../src/storage/azure-blob-store';
import type { CommittedUploadPart, ListedItem } from '../../src/storage/blob-store';
import { collectGarbage } from '../../src/storage/garbage-collection';
import { SLAB_BYTES, releaseHashWorkers } from '../../src/storage/hashing-writer';
import { AZURITE_ACCOUNT, AZURITE_KEY, startAzurite, type Azurite } from '../helpers/azurite';
import { createTestApp } from '../helpers/database';
import { chunked, describeBlobStoreContract, readAll } from './blob-store-contract';

const MIB = 1024 * 1024;
let azurite: Azurite;
let service: BlobServiceClient;
beforeAll(async () => {
  azurite = await startAzurite();
  service = BlobServiceClient.fromConnectionString(azurite.connectionString);
});
afterAll(async () => {
  await azurite?.stop();
  await releaseHashWorkers();
});

/** A fresh container, removed afterwards. */
async function freshContainer(): Promise<ContainerClient> {
  const container = service.getContainerClient(`test-${randomUUID()}`);
  await container.create();
  return container;
}

// Blocks a little larger than a slab, so that block and slab boundaries fall apart and the
// contract's multi-slab blobs span several blocks.
describeBlobStoreContract('AzureBlobStore', async () => {
  const container = await freshContainer();
  return { store: new AzureBlobStore(container, { blockBytes: SLAB_BYTES + 4096, markerRefreshMs: 500 }), cleanup: async () => void (await container.delete()) };
});

describe('AzureBlobStore on Azurite', () => {
  let container: ContainerClient;
  beforeEach(async () => {
    container = await freshContainer();
  });
  afterEach(async () => {
    await container.delete();
  });

  async function names(): Promise<string[]> {
    const all: string[] = [];
    for await (const item of container.listBlobsFlat()) all.push(item.name);
    return all.sort();
  }

  async function collect(items: AsyncIterable<ListedItem>): Promise<ListedItem[]> {
    const all: ListedItem[] = [];
    for await (const item of items) all.push(item);
    return all;
  }
  const later = () => new Date(Date.now() + 60 * 60_000);

  it('commits a blob of several blocks of one id length, with its MD5 as Content-MD5 and its SHA-256 in metadata', async () => {
    const store = new AzureBlobStore(container, { blockBytes: MIB, parallelBlocks: 2 });
    const data = randomBytes(5 * MIB + 3);
    const stored = await store.put(Readable.from(chunked(data, 100_000)));
    const blob = container.getBlockBlobClient(stored.key);
    const blocks = (await blob.getBlockList('committed')).committedBlocks!;
    expect(blocks.map((block) => block.size)).toEqual([MIB, MIB, MIB, MIB, MIB, 3]);
    expect(new Set(blocks.map((block) => block.name.length)).size).toBe(1);
    const properties = await blob.getProperties();
    expect(Buffer.from(properties.contentMD5!).toString('hex')).toBe(createHash('md5').update(data).digest('hex'));
    expect(properties.metadata).toEqual({ sha256: createHash('sha256').update(data).digest('hex') });
    expect(await names()).toEqual([stored.key]); // the put's marker is gone
  });

  it('stores a blob that fits in one block with one Put Blob, and a larger one as marker, blocks, commit', async () => {
    // The requests as Azurite receives them, through a recording proxy in front of it.
    const requests: string[] = [];
    const target = new URL(azurite.blobEndpoint);
    const proxy = http.createServer((request, response) => {
      requests.push(`${request.method} ${new URL(request.url!, 'http://x').searchParams.get('comp') ?? ''}`);
      const forwarded = http.request({ host: target.hostname, port: target.port, method: request.method, path: request.url, headers: request.headers }, (answer) => {
        response.writeHead(answer.statusCode!, answer.headers);
        answer.pipe(response);
      });
      request.pipe(forwarded);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    try {
      const port = (proxy.address() as AddressInfo).port;
      const viaProxy = BlobServiceClient.fromConnectionString(azurite.connectionString.replace(`:${target.port}/`, `:${port}/`));
      const store = new AzureBlobStore(viaProxy.getContainerClient(container.containerName), { blockBytes: MIB });
      const small = await store.put(Readable.from([randomBytes(100_000)]));
      expect(requests).toEqual(['PUT ']); // Put Blob, If-None-Match: *
      requests.length = 0;
      const large = await store.put(Readable.from([randomBytes(3 * MIB)]));
      expect(requests).toEqual(['PUT ', 'PUT block', 'PUT block', 'PUT block', 'PUT blocklist', 'DELETE ']);
      expect(await names()).toEqual([small.key, large.key].sort());
    } finally {
      proxy.closeAllConnections();
      await new Promise((resolve) => proxy.close(resolve));
    }
  });

  it('never overwrites: of two puts racing for one key, If-None-Match lets exactly one commit', async () => {
    const store = new AzureBlobStore(container, { blockBytes: MIB });
    const key = store.newKey();
    const bodies = [randomBytes(3 * MIB), randomBytes(3 * MIB)];
    // Both pass the early existence check; the commit's condition decides.
    const results = await Promise.allSettled(bodies.map((body) => store.put(Readable.from(chunked(body, 256 * 1024)), { key })));
    expect(results.map((result) => result.status).sort()).toEqual(['fulfilled', 'rejected']);
    const rejected = results.find((result) => result.status === 'rejected') as PromiseRejectedResult;
    expect(String(rejected.reason)).toMatch(/exists already/);
    const winner = results.findIndex((result) => result.status === 'fulfilled');
    expect((await readAll(store.open(key))).equals(bodies[winner]!)).toBe(true);
  });

  it('refuses a commit over an existing blob at the service, not only in the store', async () => {
    const store = new AzureBlobStore(container);
    const stored = await store.put(Readable.from([Buffer.from('first')]));
    const blob = container.getBlockBlobClient(stored.key);
    await blob.stageBlock(Buffer.from('x'.repeat(8)).toString('base64'), Buffer.from('second'), 6);
    await expect(blob.commitBlockList([Buffer.from('x'.repeat(8)).toString('base64')], { conditions: { ifNoneMatch: '*' } })).rejects.toMatchObject({ statusCode: 409 });
    expect((await readAll(store.open(stored.key))).toString()).toBe('first');
  });

  it('takes the parts of one upload from separate store instances (processes), keeping nothing in memory between calls', async () => {
    const instances = [new AzureBlobStore(container, { blockBytes: MIB }), new AzureBlobStore(container, { blockBytes: MIB })];
    const uploadKey = await instances[0]!.createUpload();
    const bodies = [randomBytes(2 * MIB + 5), randomBytes(MIB), randomBytes(700), randomBytes(3 * MIB)];
    const parts: CommittedUploadPart[] = [];
    let offset = 0;
    for (const [i, body] of bodies.entries()) {
      const placement = { partNumber: i + 1, offset };
      const written = await instances[i % 2]!.writeUploadPart(uploadKey, placement, Readable.from(chunked(body, 64 * 1024)));
      parts.push({ ...placement, sizeBytes: written.sizeBytes, etag: written.etag });
      offset += body.length;
    }
    const completed = await new AzureBlobStore(container).completeUpload(uploadKey, parts);
    expect(completed.key).toBe(`${uploadKey.slice(8, 10)}/${uploadKey.slice(10, 12)}/${uploadKey.slice(8)}`);
    expect((await readAll(instances[1]!.open(completed.key))).equals(Buffer.concat(bodies))).toBe(true);
    expect(await names()).toEqual([completed.key]);
  });

  it('finds the remains of a put whose process died, with their staged bytes, and delete(key) drops them', async () => {
    const store = new AzureBlobStore(container);
    const key = store.newKey();
    // What a writer leaves when it dies mid-put: its marker and uncommitted blocks.
    await container.getBlockBlobClient(`tmp/${key.slice(6)}.partial`).upload('', 0);
    const blob = container.getBlockBlobClient(key);
    await blob.stageBlock(Buffer.from('a'.repeat(24)).toString('base64'), randomBytes(1000), 1000);
    const unfinished = await collect(store.listUnfinishedPuts({ olderThan: later() }));
    expect(unfinished.map((item) => [item.key, item.sizeBytes])).toEqual([[key, 1000]]);
    await store.delete(key);
    expect(await collect(store.listUnfinishedPuts({ olderThan: later() }))).toEqual([]);
    expect(await names()).toEqual([]);
    await expect(blob.getBlockList('all')).rejects.toMatchObject({ statusCode: 404 }); // no uncommitted block left
  });

  it('drops a stale marker (a crash between commit and marker removal) instead of listing the blob as unfinished', async () => {
    const store = new AzureBlobStore(container);
    const stored = await store.put(Readable.from([Buffer.from('committed')]));
    await container.getBlockBlobClient(`tmp/${stored.key.slice(6)}.partial`).upload('', 0);
    expect(await collect(store.listUnfinishedPuts({ olderThan: later() }))).toEqual([]);
    expect(await names()).toEqual([stored.key]);
  });

  it('reports an open upload with the bytes staged for it, its age that of its last part', async () => {
    const store = new AzureBlobStore(container);
    const uploadKey = await store.createUpload();
    const created = (await container.getBlockBlobClient(uploadKey).getProperties()).lastModified!;
    await new Promise((resolve) => setTimeout(resolve, 1100)); // Last-Modified has one-second resolution
    await store.writeUploadPart(uploadKey, { partNumber: 1, offset: 0 }, Readable.from([randomBytes(4321)]));
    const [listed] = await collect(store.listUnfinishedUploads({ olderThan: later() }));
    expect(listed).toMatchObject({ key: uploadKey, sizeBytes: 4321 });
    expect(listed!.modifiedAt.getTime()).toBeGreaterThan(created.getTime());
    await store.abortUpload(uploadKey);
    expect(await names()).toEqual([]);
  });

  it('keeps stores with different prefixes in one container apart', async () => {
    const a = new AzureBlobStore(container, { prefix: 'tenant-a/' });
    const b = new AzureBlobStore(container, { prefix: 'tenant-b/' });
    const stored = await a.put(Readable.from([Buffer.from('for a')]));
    const upload = await b.createUpload();
    expect(await names()).toEqual([`tenant-a/${stored.key}`, `tenant-b/${upload}`]);
    expect(await b.stat(stored.key)).toBeUndefined();
    expect((await collect(b.listBlobs({ olderThan: later() })))).toEqual([]);
    expect((await collect(a.listBlobs({ olderThan: later() }))).map((item) => item.key)).toEqual([stored.key]);
    expect(await collect(a.listUnfinishedUploads({ olderThan: later() }))).toEqual([]);
    expect((await collect(b.listUnfinishedUploads({ olderThan: later() }))).map((item) => item.key)).toEqual([upload]);
  });

  it('is swept by storage garbage collection: an orphan blob, a dead put, an abandoned upload; nothing young', async () => {
    const app = await createTestApp();
    try {
      const store = new AzureBlobStore(container);
      const orphan = await store.put(Readable.from([randomBytes(1000)]));
      const deadPut = store.newKey();
      await container.getBlockBlobClient(`tmp/${deadPut.slice(6)}.partial`).upload('', 0);
      await container.getBlockBlobClient(deadPut).stageBlock(Buffer.from('b'.repeat(24)).toString('base64'), randomBytes(700), 700);
      const upload = await store.createUpload();
      await store.writeUploadPart(upload, { partNumber: 1, offset: 0 }, Readable.from([randomBytes(300)]));

      const DAY_MS = 24 * 60 * 60_000;
      const young = await collectGarbage(app.db, store, { graceMs: DAY_MS });
      expect(young.total).toEqual({ files: 0, bytes: 0 });
      const aged = await collectGarbage(app.db, store, { graceMs: DAY_MS, now: new Date(Date.now() + 2 * DAY_MS) });
      expect(aged).toMatchObject({ blobs: { files: 1, bytes: 1000 }, partials: { files: 1, bytes: 700 }, uploads: { files: 1, bytes: 300 } });
      expect(await names()).toEqual([]);
      expect(await store.stat(orphan.key)).toBeUndefined();
      await expect(container.getBlockBlobClient(deadPut).getBlockList('all')).rejects.toMatchObject({ statusCode: 404 });
    } finally {
      await app.close();
    }
  });

  it('is created from a connection string or an account URL and shared key, making its container', async () => {
    const name = `factory-${randomUUID()}`;
    const fromString = await createAzureBlobStore({ connectionString: azurite.connectionString, container: name, prefix: 'p/' });
    const stored = await fromString.put(Readable.from([Buffer.from('hello')]));
    const fromKey = await createAzureBlobStore({
      accountUrl: azurite.blobEndpoint,
      credential: new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY),
      container: name,
      prefix: 'p/',
    });
    expect((await readAll(fromKey.open(stored.key))).toString()).toBe('hello');
    await service.getContainerClient(name).delete();
  });

  it('streams a 256 MiB put in bounded memory', async () => {
    const store = new AzureBlobStore(container, { blockBytes: 8 * MIB, parallelBlocks: 3 });
    const piece = randomBytes(MIB);
    const total = 256;
    const generated = Readable.from((function* () { for (let i = 0; i < total; i++) yield piece; })());
    global.gc?.();
    const before = process.memoryUsage();
    let peakRss = before.rss;
    let peakBuffers = before.arrayBuffers;
    const sampler = setInterval(() => {
      const now = process.memoryUsage();
      peakRss = Math.max(peakRss, now.rss);
      peakBuffers = Math.max(peakBuffers, now.arrayBuffers);
    }, 20);
    try {
      const stored = await store.put(generated);
      expect(stored.sizeBytes).toBe(total * MIB);
      expect(await store.stat(stored.key)).toBe(total * MIB);
    } finally {
      clearInterval(sampler);
    }
    // About 4 blocks of 8 MiB (3 staging, 1 filling) and the writer's 4 slabs (36 MiB measured): far from 256 MiB.
    expect(peakBuffers - before.arrayBuffers).toBeLessThan(64 * MIB);
    expect(peakRss - before.rss).toBeLessThan(128 * MIB);
  });
});
