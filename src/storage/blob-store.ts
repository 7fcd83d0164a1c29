/**
 * Bytes live outside the database, behind this interface, so that an object store (S3 multipart
 * uploads, Azure block blobs) can take the filesystem's place: callers know keys, never paths.
 *
 * Durability: every method that stores bytes resolves only once they are durable. Callers commit
 * the row that points at a blob (or records an upload part) only after that, so a crash can leave
 * unreferenced bytes (harmless, collectable) but never a row without its bytes.
 *
 * The filesystem store writes a new blob to a temporary file, fsyncs it, renames it into place and
 * fsyncs the directory. Its resumable uploads are one file each under `uploads/`, written at the
 * offsets the caller gives and renamed (not copied) into a blob on completion.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Readable, finished, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { FileRangeReadStream } from './file-range-stream';
import { GatheringWriter } from './gathering-writer';
import { HashingWriter, slabBytesInUse, type DigestAlgorithm, type Hashing } from './hashing-writer';

export { BlobTooLargeError, RangeNotSatisfiableError } from './blob-errors';

export interface StoredBlob {
  key: string;
  sizeBytes: number;
  /** Lower-case hex SHA-256 of the bytes (our integrity record). */
  sha256: string;
  /** Lower-case hex MD5 of the bytes (what senders' checksums are compared with). */
  md5: string;
}

/** A blob stored with `md5: false`: only its SHA-256 was computed. */
export type Sha256Blob = Omit<StoredBlob, 'md5'>;

export interface ByteRange {
  start: number;
  /** Inclusive. */
  end: number;
}

export interface SizeLimit {
  /** More bytes than this fail with BlobTooLargeError, and nothing is kept. */
  maxBytes?: number;
}

export interface PartOptions extends SizeLimit {
  /** Compute the part's MD5 (for a checksum the caller verifies); otherwise the part is not hashed. */
  md5?: boolean;
}

export interface PutOptions extends SizeLimit {
  /** Store under this key, from newKey(), instead of a fresh one. An existing blob is never overwritten. */
  key?: string;
  /**
   * false: no MD5, for bytes nobody compares with a sender's checksum (archived attachments). MD5
   * costs more than twice SHA-256 (~1.4 against ~0.6 CPU-s per GiB with SHA-NI).
   */
  md5?: boolean;
}

export interface UploadPartPlacement {
  /** 1-based, unique within an upload (S3 allows 1…10000). */
  partNumber: number;
  /** Where the part's first byte goes in the finished blob. */
  offset: number;
}

export interface WrittenUploadPart {
  sizeBytes: number;
  /** Lower-case hex MD5 of the part's bytes, when asked for (TUS Upload-Checksum is checked against it). */
  md5?: string;
  /** The store's token for the part; give it back to completeUpload. */
  etag: string;
}

export interface CommittedUploadPart extends UploadPartPlacement {
  sizeBytes: number;
  etag: string;
}

export interface BlobStore {
  /** A fresh blob key, for recording where bytes will go before streaming them with put({ key }). */
  newKey(): string;
  /**
   * Stream bytes in; resolves once they are durable. A failing source leaves nothing behind. When
   * the store stops reading early (maxBytes, its own failure), a Readable source is left paused, not
   * destroyed: an HTTP caller can still answer on its connection.
   */
  put(source: Readable | AsyncIterable<Uint8Array>, options: PutOptions & { md5: false }): Promise<Sha256Blob>;
  put(source: Readable | AsyncIterable<Uint8Array>, options?: PutOptions & { md5?: true }): Promise<StoredBlob>;
  /**
   * Stream a blob, or exactly the bytes of `range` of it, out. Errors (a missing blob, a range not
   * within the blob: RangeNotSatisfiableError) surface on the stream; malformed keys and ranges throw.
   * `knownSizeBytes` (whole blob only): its size as the caller has just checked it with stat(); a
   * store may then skip its own size lookup. A shorter blob still fails the stream.
   */
  open(key: string, range?: ByteRange, knownSizeBytes?: number): Readable;
  /** Size in bytes, or undefined if the blob does not exist. */
  stat(key: string): Promise<number | undefined>;
  delete(key: string): Promise<void>;

  // Resumable uploads (TUS now; S3 multipart uploads and Azure staged blocks next). The caller (its
  // database) is the authority on which parts are committed and where: the store only keeps bytes.

  /** Start an upload; the key is durable when this resolves. */
  createUpload(): Promise<string>;
  /**
   * Store one part; durable when it resolves. Rewriting a part (after a failure or crash) is
   * allowed. The filesystem store discards whatever lies at or past the part's offset first, so its
   * parts must be written one at a time in offset order, which TUS does. (The Azure store keeps
   * each write's blocks apart, so it would take them in any order.)
   */
  writeUploadPart(uploadKey: string, part: UploadPartPlacement, source: Readable | AsyncIterable<Uint8Array>, options?: PartOptions): Promise<WrittenUploadPart>;
  /**
   * Turn the committed parts (contiguous from offset 0) into a blob; its bytes are durable when this
   * resolves. Calling it again after a crash returns the same blob.
   */
  completeUpload(uploadKey: string, parts: CommittedUploadPart[]): Promise<{ key: string; sizeBytes: number }>;
  /** Drop an upload and its bytes (no error if it is already gone). */
  abortUpload(uploadKey: string): Promise<void>;
  /** A new blob holding the given blobs one after another (TUS concatenation), hashed on the way. */
  compose(keys: string[]): Promise<StoredBlob>;

  // Listing, for sweeping what a crash left behind (storage/garbage-collection.ts): by key prefix
  // and age, as an object store lists (S3 ListObjectsV2, ListMultipartUploads).

  /** Stored blobs whose key starts with `prefix` (all: ''), last written before `olderThan`. */
  listBlobs(query: ListQuery): AsyncIterable<ListedItem>;
  /** Bytes of puts that never finished (their writer failed or died), keyed by the blob key they were for; `delete(key)` removes them. */
  listUnfinishedPuts(query: ListQuery): AsyncIterable<ListedItem>;
  /** Resumable uploads last written before `olderThan` (key: the upload key; `abortUpload` removes them). */
  listUnfinishedUploads(query: ListQuery): AsyncIterable<ListedItem>;
}

export interface ListQuery {
  prefix?: string;
  olderThan: Date;
}

export interface ListedItem {
  key: string;
  sizeBytes: number;
  modifiedAt: Date;
}

export interface FileBlobStoreOptions {
  /** Where MD5/SHA-256 run: by default the process-wide pool of hashing worker threads. */
  hashing?: Hashing;
}

export const KEY_PATTERN = /^[0-9a-f]{2}\/[0-9a-f]{2}\/[0-9a-f-]{36}$/;
const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const UPLOAD_KEY_PATTERN = new RegExp(`^uploads/(${UUID})$`);
export const UPLOAD_FILE_PATTERN = new RegExp(`^${UUID}$`);
export const BLOB_DIGESTS: DigestAlgorithm[] = ['md5', 'sha256'];
export const SHA256_ONLY: DigestAlgorithm[] = ['sha256'];

export class FileBlobStore implements BlobStore {
  private readonly tmpDir: string;
  private readonly uploadsDir: string;
  private readonly hashing: Hashing | undefined;

  constructor(
    private readonly rootDir: string,
    options: FileBlobStoreOptions = {},
  ) {
    this.tmpDir = path.join(rootDir, 'tmp');
    this.uploadsDir = path.join(rootDir, 'uploads');
    fs.mkdirSync(this.tmpDir, { recursive: true });
    fs.mkdirSync(this.uploadsDir, { recursive: true });
    this.hashing = options.hashing;
  }

  newKey(): string {
    return blobKeyOf(randomUUID());
  }

  put(source: Readable | AsyncIterable<Uint8Array>, options: PutOptions & { md5: false }): Promise<Sha256Blob>;
  put(source: Readable | AsyncIterable<Uint8Array>, options?: PutOptions & { md5?: true }): Promise<StoredBlob>;
  async put(source: Readable | AsyncIterable<Uint8Array>, options: PutOptions = {}): Promise<Sha256Blob & { md5?: string }> {
    const key = options.key ?? this.newKey();
    this.pathOf(key); // refuse a bad key before writing anything
    const tmpPath = path.join(this.tmpDir, `${path.basename(key)}.partial`);
    const handle = await fs.promises.open(tmpPath, 'wx');
    let closed = false;
    try {
      const digests = options.md5 === false ? SHA256_ONLY : BLOB_DIGESTS;
      const written = await this.writeDurably(handle, 0, source, digests, options.maxBytes, BLOB_EARLY_FLUSH_BYTES);
      closed = true;
      await handle.close();
      if (options.key !== undefined && (await this.stat(key)) !== undefined) throw new Error(`Blob ${key} exists already`);
      await this.moveIntoPlace(tmpPath, key);
      return { key, sizeBytes: written.sizeBytes, sha256: written.digests.sha256, ...(options.md5 !== false && { md5: written.digests.md5 }) };
    } catch (error) {
      if (!closed) await handle.close().catch(() => undefined);
      await fs.promises.rm(tmpPath, { force: true });
      throw error;
    }
  }

  open(key: string, range?: ByteRange, knownSizeBytes?: number): Readable {
    return new FileRangeReadStream(this.pathOf(key), range, knownSizeBytes);
  }

  async stat(key: string): Promise<number | undefined> {
    try {
      return (await fs.promises.stat(this.pathOf(key))).size;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  /**
   * Removes the blob, and what a `put` under this key that never finished left behind (its
   * process died): deleting a key reserved with newKey() leaves no bytes of it anywhere.
   */
  async delete(key: string): Promise<void> {
    await fs.promises.rm(this.pathOf(key), { force: true });
    await fs.promises.rm(path.join(this.tmpDir, `${path.basename(key)}.partial`), { force: true });
  }

  async createUpload(): Promise<string> {
    const id = randomUUID();
    await (await fs.promises.open(path.join(this.uploadsDir, id), 'wx')).close();
    await fsyncDirectory(this.uploadsDir);
    return `uploads/${id}`;
  }

  async writeUploadPart(
    uploadKey: string,
    part: UploadPartPlacement,
    source: Readable | AsyncIterable<Uint8Array>,
    options: PartOptions = {},
  ): Promise<WrittenUploadPart> {
    assertPartPlacement(part);
    const handle = await fs.promises.open(this.uploadPath(uploadKey), 'r+');
    try {
      // A write that failed or crashed earlier may have left bytes past the committed offset.
      await handle.truncate(part.offset);
      const written = await this.writeDurably(handle, part.offset, source, options.md5 ? ['md5'] : [], options.maxBytes, PART_EARLY_FLUSH_BYTES);
      // The filesystem store keeps no per-part state: its etag only names the part's extent.
      return { sizeBytes: written.sizeBytes, ...(options.md5 && { md5: written.digests.md5 }), etag: `${part.offset}+${written.sizeBytes}` };
    } catch (error) {
      // Keep only what the caller has committed; the part is rewritten from its offset.
      await handle.truncate(part.offset).catch(() => undefined);
      throw error;
    } finally {
      await handle.close();
    }
  }

  async completeUpload(uploadKey: string, parts: CommittedUploadPart[]): Promise<{ key: string; sizeBytes: number }> {
    const uploadPath = this.uploadPath(uploadKey);
    const sizeBytes = contiguousLength(parts);
    const key = blobKeyOf(uploadIdOf(uploadKey));
    let handle: FileHandle;
    try {
      handle = await fs.promises.open(uploadPath, 'r+');
    } catch (error) {
      // Completed before (a crash between the rename and the caller's commit): the same answer.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT' && (await this.stat(key)) === sizeBytes) return { key, sizeBytes };
      throw error;
    }
    try {
      const { size } = await handle.stat();
      if (size < sizeBytes) throw new Error(`Upload ${uploadKey} holds ${size} bytes, fewer than its parts' ${sizeBytes}`);
      if (size > sizeBytes) await handle.truncate(sizeBytes); // the remains of an uncommitted write
      await handle.sync();
    } finally {
      await handle.close();
    }
    await this.moveIntoPlace(uploadPath, key);
    await fsyncDirectory(this.uploadsDir);
    return { key, sizeBytes };
  }

  async abortUpload(uploadKey: string): Promise<void> {
    await fs.promises.rm(this.uploadPath(uploadKey), { force: true });
  }

  async compose(keys: string[]): Promise<StoredBlob> {
    for (const key of keys) this.pathOf(key); // refuse a bad key before writing anything
    return this.put(concatenatedBlobs(this, keys));
  }

  /** Uploads present on disk, for sweeping the ones no row refers to. */
  async listUploads(): Promise<{ uploadKey: string; sizeBytes: number; modifiedAt: Date }[]> {
    const uploads: { uploadKey: string; sizeBytes: number; modifiedAt: Date }[] = [];
    for (const name of await fs.promises.readdir(this.uploadsDir)) {
      if (!UPLOAD_FILE_PATTERN.test(name)) continue;
      try {
        const stats = await fs.promises.stat(path.join(this.uploadsDir, name));
        uploads.push({ uploadKey: `uploads/${name}`, sizeBytes: stats.size, modifiedAt: stats.mtime });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error; // completed or aborted meanwhile
      }
    }
    return uploads;
  }

  async *listBlobs(query: ListQuery): AsyncIterable<ListedItem> {
    const prefix = query.prefix ?? '';
    for (const first of await readdirIfAny(this.rootDir)) {
      if (!/^[0-9a-f]{2}$/.test(first) || !(first.startsWith(prefix.slice(0, 2)))) continue;
      for (const second of await readdirIfAny(path.join(this.rootDir, first))) {
        for (const name of await readdirIfAny(path.join(this.rootDir, first, second))) {
          const key = `${first}/${second}/${name}`;
          if (!KEY_PATTERN.test(key) || !key.startsWith(prefix)) continue;
          const item = await listedItem(path.join(this.rootDir, key), key, query.olderThan);
          if (item) yield item;
        }
      }
    }
  }

  async *listUnfinishedPuts(query: ListQuery): AsyncIterable<ListedItem> {
    for (const name of await readdirIfAny(this.tmpDir)) {
      const id = /^(.+)\.partial$/.exec(name)?.[1];
      if (!id || !UPLOAD_FILE_PATTERN.test(id)) continue;
      const key = blobKeyOf(id);
      if (!key.startsWith(query.prefix ?? '')) continue;
      const item = await listedItem(path.join(this.tmpDir, name), key, query.olderThan);
      if (item) yield item;
    }
  }

  async *listUnfinishedUploads(query: ListQuery): AsyncIterable<ListedItem> {
    for (const upload of await this.listUploads()) {
      if (upload.modifiedAt < query.olderThan && upload.uploadKey.startsWith(query.prefix ?? '')) {
        yield { key: upload.uploadKey, sizeBytes: upload.sizeBytes, modifiedAt: upload.modifiedAt };
      }
    }
  }

  /** Absolute path of a blob (for tools and benchmarks that read the file directly). */
  pathOf(key: string): string {
    if (!KEY_PATTERN.test(key)) throw new Error(`Invalid blob key '${key}'`);
    return path.join(this.rootDir, key);
  }

  private uploadPath(uploadKey: string): string {
    return path.join(this.uploadsDir, uploadIdOf(uploadKey));
  }

  /** Stream `source` into the file from `base` on, hashing it; fsynced when this resolves. */
  private async writeDurably(
    handle: FileHandle,
    base: number,
    source: Readable | AsyncIterable<Uint8Array>,
    algorithms: DigestAlgorithm[],
    maxBytes: number | undefined,
    earlyFlushBytes: number,
  ): Promise<{ sizeBytes: number; digests: Record<DigestAlgorithm, string> }> {
    const flusher = new EarlyFlusher(handle, earlyFlushBytes);
    // One write at a time: concurrent writes to one file queue on its inode lock, and the threads
    // waiting there spin (perf: rwsem_spin_on_owner, 45% of libuv's file threads' samples; see
    // bench/PROFILE-NOTES.md). Either writer still takes in the next bytes while one is written. A
    // write that fails fails every write queued after it.
    let lastWrite: Promise<void> = Promise.resolve();
    const writeAt = (bytes: Buffer | Buffer[], position: number): Promise<void> => {
      lastWrite = lastWrite.then(async () => {
        flusher.written(await writeFully(handle, bytes, base + position));
      });
      return lastWrite;
    };
    // Nothing to hash: the source's buffers are written as they are, not copied into slabs.
    const writer =
      algorithms.length === 0
        ? new GatheringWriter({ maxBytes, batchBytes: slabBytesInUse(), writeAt })
        : new HashingWriter({ algorithms, maxBytes, hashing: this.hashing, writeAt });
    try {
      await pump(source, writer);
    } finally {
      await writer.whenIdle(); // no write may land after the caller closes or truncates the file
      await flusher.idle();
    }
    flusher.rethrow();
    await handle.sync();
    // No algorithm asked for (GatheringWriter), no digest to give.
    const digests = writer instanceof HashingWriter ? writer.digests() : ({} as Record<DigestAlgorithm, string>);
    return { sizeBytes: writer.sizeBytes, digests };
  }

  /** Rename a durable file to a blob key, durably (new directories included). */
  private async moveIntoPlace(from: string, key: string): Promise<void> {
    const finalPath = this.pathOf(key);
    const dir = path.dirname(finalPath);
    const created = await fs.promises.mkdir(dir, { recursive: true });
    if (created !== undefined) {
      // New directories are entries of their parents, which must be durable too.
      await fsyncDirectory(path.dirname(dir));
      await fsyncDirectory(this.rootDir);
    }
    await fs.promises.rename(from, finalPath);
    await fsyncDirectory(dir);
  }
}

/**
 * Runs `work`, which hands `source` to the store (whose pump then reports the source's errors),
 * with an 'error' listener on `source` until it returns: a body that fails (a reset connection)
 * while the caller is still at its statements is reported by the pump, not left unhandled.
 */
export async function holdingSourceErrors<T>(source: Readable, work: () => Promise<T>): Promise<T> {
  const reportedByThePump = () => undefined;
  source.on('error', reportedByThePump);
  try {
    return await work();
  } finally {
    source.off('error', reportedByThePump);
  }
}

/**
 * pipeline(source, writer), except that a failure on the writer's side (a limit, a full disk) leaves
 * a Readable source undestroyed, unpiped and paused: an HTTP door can still answer the request (413)
 * on the connection it came from, and decides itself what becomes of the rest of the body.
 */
export function pump(source: Readable | AsyncIterable<Uint8Array>, writer: Writable): Promise<void> {
  if (!(source instanceof Readable)) return pipeline(source, writer);
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    const settle = (error?: Error | null) => {
      if (settled) return;
      settled = true;
      stopWatchingWriter();
      if (!error) {
        stopWatchingSource();
        return resolve();
      }
      // The source watcher stays: a later error of the abandoned source (a reset connection) must
      // not go unhandled.
      source.unpipe(writer);
      if (!source.destroyed) source.pause();
      if (!writer.destroyed) writer.destroy(error);
      reject(error);
    };
    writer.on('error', () => undefined); // reported through settle()
    // The source ending is the writer's business (pipe ends it); its failing or closing early is ours.
    const stopWatchingSource = finished(source, { writable: false }, (error) => error && settle(error));
    const stopWatchingWriter = finished(writer, (error) => settle(error));
    source.pipe(writer);
  });
}

/** The bytes of the given blobs one after another, read one blob at a time (compose streamed through). */
export async function* concatenatedBlobs(store: BlobStore, keys: string[]): AsyncGenerator<Uint8Array> {
  for (const key of keys) yield* store.open(key);
}

/** MD5 and SHA-256 of a stored blob, read back (an upload's parts were hashed one by one). */
export async function digestBlob(store: BlobStore, key: string, hashing?: Hashing): Promise<StoredBlob> {
  const writer = new HashingWriter({ algorithms: BLOB_DIGESTS, hashing });
  await pipeline(store.open(key), writer);
  const digests = writer.digests();
  return { key, sizeBytes: writer.sizeBytes, sha256: digests.sha256, md5: digests.md5 };
}

/** fsync a directory, so a rename into it survives a crash. */
export async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await fs.promises.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function readdirIfAny(dir: string): Promise<string[]> {
  try {
    return await fs.promises.readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
    throw error;
  }
}

/** The file as a listed item if it is older than `olderThan` (and still there). */
async function listedItem(file: string, key: string, olderThan: Date): Promise<ListedItem | undefined> {
  try {
    const stats = await fs.promises.stat(file);
    return stats.isFile() && stats.mtime < olderThan ? { key, sizeBytes: stats.size, modifiedAt: stats.mtime } : undefined;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined; // removed meanwhile
    throw error;
  }
}

export function blobKeyOf(id: string): string {
  return `${id.slice(0, 2)}/${id.slice(2, 4)}/${id}`;
}

export function uploadIdOf(uploadKey: string): string {
  const match = UPLOAD_KEY_PATTERN.exec(uploadKey);
  if (!match) throw new Error(`Invalid upload key '${uploadKey}'`);
  return match[1]!;
}

/** Bytes written between two early flushes of a blob being streamed in. */
const BLOB_EARLY_FLUSH_BYTES = 32 * 1024 * 1024;
/**
 * The same for a part of a resumable upload (a TUS chunk, typically 8 MiB): each part is answered
 * only once durable, so its final fsync is paid per part. Flushing every 4 MiB while the rest
 * arrives took that wait from about 3 ms to under 1 ms per 8 MiB chunk (bench/PROFILE-NOTES.md).
 */
const PART_EARLY_FLUSH_BYTES = 4 * 1024 * 1024;
/**
 * Early flushes in flight in the process at most: each holds one of libuv's (by default four)
 * threads until the disk has the bytes, and the other file operations need the rest.
 */
const MAX_EARLY_FLUSHES = 2;
let earlyFlushes = 0;

/**
 * Starts the disk writes of a large file while it is still arriving (fdatasync every
 * `everyBytes`, one at a time, in the background), so that the fsync before the row commits
 * waits for the last few MiB instead of the whole file: the kernel would otherwise keep a 1 GiB
 * upload in dirty pages (below its background threshold) and write all of it in that final fsync.
 * Durability still rests on that final fsync alone.
 */
class EarlyFlusher {
  private sinceFlush = 0;
  private flushing?: Promise<void>;
  private failure?: unknown;

  constructor(
    private readonly handle: FileHandle,
    private readonly everyBytes: number,
  ) {}

  written(bytes: number): void {
    this.sinceFlush += bytes;
    if (this.sinceFlush < this.everyBytes || this.flushing || this.failure !== undefined || earlyFlushes >= MAX_EARLY_FLUSHES) return;
    this.sinceFlush = 0;
    earlyFlushes++;
    this.flushing = this.handle
      .datasync()
      .catch((error: unknown) => void (this.failure = error))
      .finally(() => {
        earlyFlushes--;
        this.flushing = undefined;
      });
  }

  /** Resolves when no flush is in flight (before the file is closed or truncated). */
  async idle(): Promise<void> {
    await this.flushing;
  }

  /** A failed early flush fails the write: the final fsync might not report it again. */
  rethrow(): void {
    if (this.failure !== undefined) throw this.failure;
  }
}

/** Writes every byte (a short write is continued), one buffer or several in one vectored write; resolves with the count. */
async function writeFully(handle: FileHandle, bytes: Buffer | Buffer[], position: number): Promise<number> {
  let buffers = Array.isArray(bytes) ? bytes : [bytes];
  let total = 0;
  for (const buffer of buffers) total += buffer.length;
  let done = 0;
  while (done < total) {
    const { bytesWritten } = buffers.length === 1 ? await handle.write(buffers[0]!, 0, buffers[0]!.length, position + done) : await handle.writev(buffers, position + done);
    done += bytesWritten;
    if (done < total) buffers = remainderAfter(buffers, bytesWritten);
  }
  return total;
}

/** The buffers without their first `skip` bytes (views, not copies). */
export function remainderAfter(buffers: Buffer[], skip: number): Buffer[] {
  const rest: Buffer[] = [];
  for (const buffer of buffers) {
    if (skip >= buffer.length) {
      skip -= buffer.length;
      continue;
    }
    rest.push(skip > 0 ? buffer.subarray(skip) : buffer);
    skip = 0;
  }
  return rest;
}

export function assertPartPlacement(part: UploadPartPlacement): void {
  if (!Number.isSafeInteger(part.partNumber) || part.partNumber < 1) throw new RangeError(`Invalid part number ${part.partNumber}`);
  if (!Number.isSafeInteger(part.offset) || part.offset < 0) throw new RangeError(`Invalid part offset ${part.offset}`);
}

/** The length of parts that must cover 0…n without gap or overlap. */
export function contiguousLength(parts: CommittedUploadPart[]): number {
  const numbers = new Set<number>();
  let length = 0;
  for (const part of [...parts].sort((a, b) => a.offset - b.offset)) {
    assertPartPlacement(part);
    if (numbers.has(part.partNumber)) throw new RangeError(`Part number ${part.partNumber} is given twice`);
    numbers.add(part.partNumber);
    if (!Number.isSafeInteger(part.sizeBytes) || part.sizeBytes < 0) throw new RangeError(`Invalid part size ${part.sizeBytes}`);
    if (part.offset !== length) throw new RangeError(`The parts do not join up: one starts at ${part.offset}, the previous ones end at ${length}`);
    length += part.sizeBytes;
  }
  return length;
}
