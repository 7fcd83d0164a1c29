/**
 * The blob store on Azure Blob Storage: every blob a block blob, named like the filesystem store's
 * files (`xx/yy/<uuid>`, under an optional prefix in one container), so rows stay portable.
 *
 * Durability: Azure acknowledges Put Blob, Put Block and Put Block List only once the data is
 * stored durably (replicated per the account's redundancy), so a put, a part and a completion
 * count as durable when the service has answered them. Rows still commit only after that.
 *
 * Never overwrite: a blob exists only once Put Block List commits its blocks (or one Put Blob
 * stores it), and both carry `If-None-Match: *`. Until then its bytes are uncommitted blocks,
 * invisible to readers, which Azure drops by itself after a week and which the next commit of
 * the blob's name discards.
 *
 * Puts stream through HashingWriter (MD5 and SHA-256 on the way) into staged blocks of `blockBytes`,
 * a few staged in parallel: memory per put is about (parallelBlocks + 2) blocks, whatever the size.
 * A blob that fits in one block is a single Put Blob (with `If-None-Match: *`), marker and all saved.
 *
 * Resumable uploads: the upload's parts are staged blocks of the blob it becomes (block ids carry a
 * random nonce per write, so a rewritten part never collides with an earlier attempt); a part's etag
 * names its blocks, and completeUpload commits the parts' blocks in offset order. Nothing is kept in
 * memory between calls, so the parts of one upload may come from different processes. Each part
 * takes at least one block, and a blob holds at most 50,000: an upload has at most that many parts.
 *
 * Markers, small empty blobs, make unfinished work listable for garbage collection (uncommitted
 * blocks cannot be listed by prefix on every service and emulator): `tmp/<uuid>.partial` while a put
 * has blocks staged, `uploads/<uuid>` while an upload is open (touched by every part, so its age is the
 * age of its last write).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import type { TokenCredential } from '@azure/core-auth';
import {
  BlobServiceClient,
  RestError,
  type AnonymousCredential,
  type BlockBlobClient,
  type ContainerClient,
  type StorageSharedKeyCredential,
} from '@azure/storage-blob';
import {
  BLOB_DIGESTS,
  SHA256_ONLY,
  type Sha256Blob,
  KEY_PATTERN,
  RangeNotSatisfiableError,
  UPLOAD_FILE_PATTERN,
  assertPartPlacement,
  blobKeyOf,
  concatenatedBlobs,
  contiguousLength,
  pump,
  uploadIdOf,
  type BlobStore,
  type ByteRange,
  type CommittedUploadPart,
  type ListQuery,
  type ListedItem,
  type PartOptions,
  type PutOptions,
  type StoredBlob,
  type UploadPartPlacement,
  type WrittenUploadPart,
} from './blob-store';
import { HashingWriter, type DigestAlgorithm, type Hashing } from './hashing-writer';
import { checkedRefreshInterval, keepMarkerFresh, notRefreshing } from './marker-refresh';

const MIB = 1024 * 1024;
const PUT_MARKERS = 'tmp/';
const UPLOAD_MARKERS = 'uploads/';

export interface AzureBlobStoreOptions {
  /** Prepended to every blob name (e.g. 'gateway/'), so one container can hold other things too. */
  prefix?: string;
  /**
   * Size of a staged block (Azure: at most 4000 MiB, 50,000 blocks per blob, so 8 MiB blocks allow
   * blobs of 390 GiB). Default 8 MiB: a put holds about (parallelBlocks + 2) of them, ~40 MiB.
   */
  blockBytes?: number;
  /** Blocks of one stream being staged at once. Default 3. */
  parallelBlocks?: number;
  hashing?: Hashing;
  /** How often a put in progress re-touches its marker (marker-refresh.ts). Default 15 minutes. */
  markerRefreshMs?: number;
}

/** StorageSharedKeyCredential, AnonymousCredential (a SAS in the URL), or a TokenCredential (@azure/identity). */
export type AzureCredential = StorageSharedKeyCredential | AnonymousCredential | TokenCredential;

export type AzureBlobStoreConfig = AzureBlobStoreOptions & {
  container: string;
} & (
    | { connectionString: string }
    | { accountUrl: string; credential: AzureCredential }
  );

/**
 * The configuration entry point: a store on `container` (created if missing), reached by a
 * connection string or by the account's URL and a credential (shared key, or an Entra ID token
 * credential from @azure/identity).
 */
export async function createAzureBlobStore(config: AzureBlobStoreConfig): Promise<AzureBlobStore> {
  const service =
    'connectionString' in config
      ? BlobServiceClient.fromConnectionString(config.connectionString)
      : new BlobServiceClient(config.accountUrl, config.credential);
  const container = service.getContainerClient(config.container);
  await container.createIfNotExists();
  return new AzureBlobStore(container, config);
}

export class AzureBlobStore implements BlobStore {
  private readonly prefix: string;
  private readonly blockBytes: number;
  private readonly parallelBlocks: number;
  private readonly hashing: Hashing | undefined;
  private readonly markerRefreshMs: number;

  constructor(
    private readonly container: ContainerClient,
    options: AzureBlobStoreOptions = {},
  ) {
    this.prefix = options.prefix ?? '';
    this.blockBytes = options.blockBytes ?? 8 * MIB;
    this.parallelBlocks = options.parallelBlocks ?? 3;
    this.hashing = options.hashing;
    this.markerRefreshMs = checkedRefreshInterval(options.markerRefreshMs);
    if (!Number.isSafeInteger(this.blockBytes) || this.blockBytes < 1 || this.blockBytes > 4000 * MIB) throw new RangeError(`Invalid block size ${this.blockBytes}`);
    if (!Number.isSafeInteger(this.parallelBlocks) || this.parallelBlocks < 1) throw new RangeError(`Invalid parallelBlocks ${this.parallelBlocks}`);
  }

  newKey(): string {
    return blobKeyOf(randomUUID());
  }

  put(source: Readable | AsyncIterable<Uint8Array>, options: PutOptions & { md5: false }): Promise<Sha256Blob>;
  put(source: Readable | AsyncIterable<Uint8Array>, options?: PutOptions & { md5?: true }): Promise<StoredBlob>;
  async put(source: Readable | AsyncIterable<Uint8Array>, options: PutOptions = {}): Promise<Sha256Blob & { md5?: string }> {
    const key = options.key ?? this.newKey();
    const blob = this.blockBlob(key); // refuses a bad key before anything is written
    if (options.key !== undefined && (await this.stat(key)) !== undefined) throw existsAlready(key);
    const marker = this.blockBlob(putMarkerOf(key), true);
    // The marker goes up before the first block, so that no staged byte is ever unlisted; a blob
    // that fits in one block is one Put Blob at the end and needs none.
    let marked = false;
    let stopRefreshing = notRefreshing;
    const mark = async () => {
      marked = true;
      await marker.upload('', 0);
      // Set Blob Metadata moves the marker's Last-Modified: GC sees a live put as young.
      stopRefreshing = keepMarkerFresh(() => marker.setMetadata({ refreshed: new Date().toISOString() }), this.markerRefreshMs);
    };
    try {
      const written = await this.stream(blob, source, options.md5 === false ? SHA256_ONLY : BLOB_DIGESTS, options.maxBytes, mark);
      const md5: string | undefined = written.digests.md5;
      const properties = {
        conditions: { ifNoneMatch: '*' },
        ...(md5 !== undefined && { blobHTTPHeaders: { blobContentMD5: Buffer.from(md5, 'hex') } }),
        metadata: { sha256: written.digests.sha256 },
      };
      try {
        if (written.whole) await blob.upload(written.whole, written.whole.length, properties);
        else await blob.commitBlockList(written.blockIds, properties);
      } catch (error) {
        if (isConflict(error)) throw existsAlready(key);
        throw error;
      }
      // A marker left by a failure here is recognised as stale when listed (the blob exists).
      await stopRefreshing();
      if (marked) await marker.deleteIfExists().catch(() => undefined);
      return { key, sizeBytes: written.sizeBytes, sha256: written.digests.sha256, ...(md5 !== undefined && { md5 }) };
    } catch (error) {
      await stopRefreshing();
      if (marked) {
        await this.discardUncommitted(blob).catch(() => undefined);
        await marker.deleteIfExists().catch(() => undefined);
      }
      throw error;
    }
  }

  open(key: string, range?: ByteRange): Readable {
    const blob = this.blockBlob(key);
    if (range) assertRange(range);
    const out = new PassThrough({ highWaterMark: 256 * 1024 });
    const start = range?.start ?? 0;
    const count = range ? range.end - range.start + 1 : undefined;
    blob
      // A dropped connection mid-read resumes from where it broke, for the same blob version.
      .download(start, count, { maxRetryRequests: 5 })
      .then((response) => {
        const body = response.readableStreamBody as Readable | undefined;
        body?.on('error', (error) => out.destroy(error));
        // A reader that stops early lets the response go. (An AbortSignal would do it too, but
        // its AbortError surfaces on the SDK's inner stream, which nobody listens to by then.)
        if (out.destroyed) body?.destroy();
        else out.once('close', () => body?.destroy());
        const total = totalSizeOf(response.contentRange) ?? response.contentLength ?? 0;
        // Azure answers a range reaching past the end with the bytes there are; ours fails whole.
        if (range && range.end >= total) return out.destroy(new RangeNotSatisfiableError(range.start, range.end, total));
        if (!body) return out.end();
        body.pipe(out);
      })
      .catch(async (error: unknown) => {
        if (range && isStatus(error, 416)) {
          // The start lies past the end: the size makes the error the filesystem store's.
          const size = await this.stat(key).catch(() => undefined);
          if (size === undefined) return out.destroy(missing(key));
          return out.destroy(new RangeNotSatisfiableError(range.start, range.end, size));
        }
        out.destroy(isStatus(error, 404) ? missing(key) : (error as Error));
      });
    return out;
  }

  async stat(key: string): Promise<number | undefined> {
    try {
      return (await this.blockBlob(key).getProperties()).contentLength ?? 0;
    } catch (error) {
      if (isStatus(error, 404)) return undefined;
      throw error;
    }
  }

  /** Removes the blob, and what a put under this key that never finished left behind. */
  async delete(key: string): Promise<void> {
    const blob = this.blockBlob(key);
    await blob.deleteIfExists();
    const marker = this.blockBlob(putMarkerOf(key), true);
    if ((await marker.deleteIfExists()).succeeded) await this.discardUncommitted(blob);
  }

  async createUpload(): Promise<string> {
    const uploadKey = `uploads/${randomUUID()}`;
    await this.blockBlob(uploadKey, true).upload('', 0, { conditions: { ifNoneMatch: '*' } });
    return uploadKey;
  }

  async writeUploadPart(
    uploadKey: string,
    part: UploadPartPlacement,
    source: Readable | AsyncIterable<Uint8Array>,
    options: PartOptions = {},
  ): Promise<WrittenUploadPart> {
    const target = this.blockBlob(blobKeyOf(uploadIdOf(uploadKey)));
    assertPartPlacement(part);
    // Proves the upload is open (not aborted or completed) and makes its age that of its last write.
    try {
      await this.blockBlob(uploadKey, true).setMetadata({ lastpart: String(part.partNumber) });
    } catch (error) {
      if (isStatus(error, 404)) throw missing(uploadKey);
      throw error;
    }
    // A part that fails leaves uncommitted blocks that no etag names: completeUpload leaves them out.
    const written = await this.stream(target, source, options.md5 ? ['md5'] : [], options.maxBytes);
    return { sizeBytes: written.sizeBytes, ...(options.md5 && { md5: written.digests.md5 }), etag: `${written.nonce}.${written.blockIds.length}` };
  }

  async completeUpload(uploadKey: string, parts: CommittedUploadPart[]): Promise<{ key: string; sizeBytes: number }> {
    const key = blobKeyOf(uploadIdOf(uploadKey));
    const sizeBytes = contiguousLength(parts);
    const target = this.blockBlob(key);
    const marker = this.blockBlob(uploadKey, true);
    const done = async () => {
      // Completed before (a crash between the commit and the caller's): the same answer.
      if ((await this.stat(key)) !== sizeBytes) throw missing(uploadKey);
      await marker.deleteIfExists();
      return { key, sizeBytes };
    };
    if (!(await marker.exists())) return done();
    const staged = new Map<string, number>();
    try {
      const list = await target.getBlockList('uncommitted');
      for (const block of list.uncommittedBlocks ?? []) staged.set(block.name, block.size);
    } catch (error) {
      if (!isStatus(error, 404)) throw error; // no block staged yet: fine for an empty upload
    }
    const blockIds: string[] = [];
    let held = 0;
    for (const part of [...parts].sort((a, b) => a.offset - b.offset)) {
      const ids = blockIdsOfEtag(part.etag);
      const partBytes = ids.reduce((sum, id) => sum + (staged.get(id) ?? 0), 0);
      if (ids.some((id) => !staged.has(id))) throw new Error(`Upload ${uploadKey} lacks blocks of part ${part.partNumber}`);
      if (partBytes > part.sizeBytes) throw new Error(`Part ${part.partNumber} of upload ${uploadKey} holds ${partBytes} bytes, not ${part.sizeBytes}`);
      held += partBytes;
      blockIds.push(...ids);
    }
    if (held !== sizeBytes) throw new Error(`Upload ${uploadKey} holds ${held} bytes, fewer than its parts' ${sizeBytes}`);
    try {
      await target.commitBlockList(blockIds, { conditions: { ifNoneMatch: '*' } });
    } catch (error) {
      if (isConflict(error)) return done();
      throw error;
    }
    await marker.deleteIfExists();
    return { key, sizeBytes };
  }

  async abortUpload(uploadKey: string): Promise<void> {
    const target = this.blockBlob(blobKeyOf(uploadIdOf(uploadKey)));
    await this.blockBlob(uploadKey, true).deleteIfExists();
    await this.discardUncommitted(target);
  }

  /**
   * Streamed through this process: the whole's MD5 and SHA-256 must be computed anyway, which
   * takes reading every byte, and staging the same bytes back costs one upload on top. (Put Block
   * From URL would copy server-side, but needs a SAS for the sources, and the read for the sums
   * would remain.)
   */
  async compose(keys: string[]): Promise<StoredBlob> {
    for (const key of keys) this.blockBlob(key); // refuse a bad key before writing anything
    return this.put(concatenatedBlobs(this, keys));
  }

  async *listBlobs(query: ListQuery): AsyncIterable<ListedItem> {
    for await (const item of this.listNames(query.prefix ?? '')) {
      if (KEY_PATTERN.test(item.key) && item.modifiedAt < query.olderThan) yield item;
    }
  }

  async *listUnfinishedPuts(query: ListQuery): AsyncIterable<ListedItem> {
    for await (const marker of this.listNames(PUT_MARKERS)) {
      const id = /^tmp\/(.+)\.partial$/.exec(marker.key)?.[1];
      if (!id || !UPLOAD_FILE_PATTERN.test(id) || marker.modifiedAt >= query.olderThan) continue;
      const key = blobKeyOf(id);
      if (!key.startsWith(query.prefix ?? '')) continue;
      if ((await this.stat(key)) !== undefined) {
        await this.blockBlob(marker.key, true).deleteIfExists(); // stale: the put did commit
        continue;
      }
      yield { key, sizeBytes: await this.uncommittedBytes(this.blockBlob(key)), modifiedAt: marker.modifiedAt };
    }
  }

  async *listUnfinishedUploads(query: ListQuery): AsyncIterable<ListedItem> {
    for await (const marker of this.listNames(UPLOAD_MARKERS)) {
      const id = /^uploads\/(.+)$/.exec(marker.key)?.[1];
      if (!id || !UPLOAD_FILE_PATTERN.test(id) || marker.modifiedAt >= query.olderThan || !marker.key.startsWith(query.prefix ?? '')) continue;
      const target = blobKeyOf(id);
      if ((await this.stat(target)) !== undefined) {
        await this.blockBlob(marker.key, true).deleteIfExists(); // stale: the upload was completed
        continue;
      }
      yield { key: marker.key, sizeBytes: await this.uncommittedBytes(this.blockBlob(target)), modifiedAt: marker.modifiedAt };
    }
  }

  /** The block blob client of a key (a blob key, or an internal marker name when `internal`). */
  private blockBlob(key: string, internal = false): BlockBlobClient {
    if (!internal && !KEY_PATTERN.test(key)) throw new Error(`Invalid blob key '${key}'`);
    return this.container.getBlockBlobClient(this.prefix + key);
  }

  /** Committed blobs (and markers) under `prefix`, keys without the store's prefix. */
  private async *listNames(prefix: string): AsyncIterable<ListedItem> {
    for await (const item of this.container.listBlobsFlat({ prefix: this.prefix + prefix })) {
      yield { key: item.name.slice(this.prefix.length), sizeBytes: item.properties.contentLength ?? 0, modifiedAt: item.properties.lastModified };
    }
  }

  /** Drops the uncommitted blocks of a blob that was never committed, by committing nothing and deleting that. */
  private async discardUncommitted(blob: BlockBlobClient): Promise<void> {
    try {
      await blob.commitBlockList([], { conditions: { ifNoneMatch: '*' } });
    } catch (error) {
      if (isConflict(error)) return; // a committed blob: not ours to drop
      throw error;
    }
    await blob.deleteIfExists();
  }

  private async uncommittedBytes(blob: BlockBlobClient): Promise<number> {
    try {
      const list = await blob.getBlockList('uncommitted');
      return (list.uncommittedBlocks ?? []).reduce((sum, block) => sum + block.size, 0);
    } catch (error) {
      if (isStatus(error, 404)) return 0;
      throw error;
    }
  }

  /**
   * Stream `source` into staged blocks of `blob`, hashing it; every block is staged when this
   * resolves. With `beforeFirstBlock`, a stream that fits in one block is not staged but handed
   * back whole (for one Put Blob), and the hook runs before any block is staged.
   */
  private async stream(
    blob: BlockBlobClient,
    source: Readable | AsyncIterable<Uint8Array>,
    algorithms: DigestAlgorithm[],
    maxBytes: number | undefined,
    beforeFirstBlock?: () => Promise<void>,
  ): Promise<{ sizeBytes: number; digests: Record<DigestAlgorithm, string>; blockIds: string[]; whole?: Buffer; nonce: string }> {
    const stager = new BlockStager(blob, this.blockBytes, this.parallelBlocks, beforeFirstBlock);
    const writer = new HashingWriter({ algorithms, maxBytes, hashing: this.hashing, writeAt: (bytes, position) => stager.write(bytes, position) });
    try {
      await pump(source, writer);
      const staged = await stager.finish();
      return { sizeBytes: writer.sizeBytes, digests: writer.digests(), ...staged, nonce: stager.nonce };
    } finally {
      await writer.whenIdle();
      await stager.idle();
    }
  }
}

/**
 * Gathers the writer's slabs (in the order they come, which is stream order) into blocks and
 * stages them, at most `parallel` at once; a write waits while that many are staging, which holds
 * the source back. Block ids: base64 of the nonce and the block's index, all of one length as
 * Azure requires.
 */
class BlockStager {
  readonly nonce = randomBytes(8).toString('hex');
  private block?: Buffer;
  private fill = 0;
  private received = 0;
  private readonly ids: string[] = [];
  private readonly staging = new Set<Promise<void>>();
  private readonly spare: Buffer[] = [];
  private failure?: unknown;
  private firstBlock?: Promise<void>;

  constructor(
    private readonly blob: BlockBlobClient,
    private readonly blockBytes: number,
    private readonly parallel: number,
    /** Runs (once) before the first block is staged; its presence also allows finish() to hand back one block whole. */
    private readonly beforeFirstBlock?: () => Promise<void>,
  ) {}

  /** Copies the bytes at once (the caller reuses its buffer); resolves when there is room for more. */
  async write(bytes: Buffer, position: number): Promise<void> {
    // Blocks are cut in arrival order, which must be stream order.
    if (position !== this.received) throw new Error(`Bytes at ${position} arrived where ${this.received} was due`);
    this.received += bytes.length;
    let offset = 0;
    while (offset < bytes.length) {
      // The first block grows as bytes come (doubling), so a small blob never costs a whole block.
      this.block ??= this.spare.pop() ?? Buffer.allocUnsafeSlow(Math.min(this.blockBytes, Math.max(bytes.length - offset, 64 * 1024)));
      if (this.fill === this.block.length) {
        const larger = Buffer.allocUnsafeSlow(Math.min(this.blockBytes, 2 * this.block.length));
        this.block.copy(larger, 0, 0, this.fill);
        this.block = larger;
      }
      const copied = bytes.copy(this.block, this.fill, offset);
      this.fill += copied;
      offset += copied;
      if (this.fill === this.blockBytes) this.stageCurrent();
    }
    while (this.staging.size >= this.parallel && this.failure === undefined) await Promise.race(this.staging);
    if (this.failure !== undefined) throw this.failure;
  }

  /**
   * Stages the last block; the ids of all blocks, in order, once every one is staged. Or, when
   * allowed and no block was staged, the bytes (at most one block) to store in one request.
   */
  async finish(): Promise<{ blockIds: string[]; whole?: Buffer }> {
    if (this.beforeFirstBlock && this.ids.length === 0) return { blockIds: [], whole: this.block?.subarray(0, this.fill) ?? Buffer.alloc(0) };
    if (this.fill > 0) this.stageCurrent();
    await this.idle();
    if (this.failure !== undefined) throw this.failure;
    return { blockIds: this.ids };
  }

  async idle(): Promise<void> {
    while (this.staging.size > 0) await Promise.allSettled([...this.staging]);
  }

  private stageCurrent(): void {
    const block = this.block!;
    const length = this.fill;
    this.block = undefined;
    this.fill = 0;
    const id = blockId(this.nonce, this.ids.length);
    this.ids.push(id);
    this.firstBlock ??= this.beforeFirstBlock?.() ?? Promise.resolve();
    const staged: Promise<void> = this.firstBlock
      .then(() => this.blob.stageBlock(id, block.subarray(0, length), length))
      .then(
        () => undefined,
        (error: unknown) => void (this.failure ??= error),
      )
      .finally(() => {
        this.staging.delete(staged);
        if (this.spare.length < this.parallel && block.length === this.blockBytes) this.spare.push(block);
      });
    this.staging.add(staged);
  }
}

/** 16 hex digits of nonce and 8 of index: 24 characters, 32 in base64, for every block. */
function blockId(nonce: string, index: number): string {
  return Buffer.from(`${nonce}${String(index).padStart(8, '0')}`).toString('base64');
}

/** A part's etag (`<nonce>.<block count>`) back to its block ids. */
function blockIdsOfEtag(etag: string): string[] {
  const match = /^([0-9a-f]{16})\.(\d{1,5})$/.exec(etag);
  if (!match) throw new Error(`Invalid part etag '${etag}'`);
  return Array.from({ length: Number(match[2]) }, (_, i) => blockId(match[1]!, i));
}

function putMarkerOf(key: string): string {
  return `${PUT_MARKERS}${key.slice(6)}.partial`;
}

function assertRange(range: ByteRange): void {
  if (!Number.isSafeInteger(range.start) || !Number.isSafeInteger(range.end) || range.start < 0 || range.end < range.start) {
    throw new RangeError(`Invalid byte range ${range.start}-${range.end}`);
  }
}

/** The total size from a Content-Range header (`bytes 0-99/1234`). */
function totalSizeOf(contentRange: string | undefined): number | undefined {
  const total = contentRange && /\/(\d+)$/.exec(contentRange)?.[1];
  return total ? Number(total) : undefined;
}

function isStatus(error: unknown, status: number): boolean {
  return error instanceof RestError && error.statusCode === status;
}

/** If-None-Match: * failing: 409 BlobAlreadyExists (Azure) or 412 (some emulators' answer). */
function isConflict(error: unknown): boolean {
  return isStatus(error, 409) || isStatus(error, 412);
}

function existsAlready(key: string): Error {
  return new Error(`Blob ${key} exists already`);
}

/** Shaped like the filesystem's error, which callers already recognise as "not there". */
function missing(key: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`ENOENT: ${key} does not exist`), { code: 'ENOENT' });
}
