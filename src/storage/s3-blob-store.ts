/**
 * The blob store on an S3-compatible object store (AWS S3, MinIO, Ceph RGW), through @aws-sdk/client-s3.
 *
 * Keys are the filesystem store's, under an optional prefix in one bucket:
 * - `xx/yy/<uuid>`                  a blob;
 * - `pending/<key>`                 a put in progress (a multipart upload): its body is the S3 upload id,
 *                                   so that `delete(key)` and the garbage collector can abort it;
 * - `uploads/<uuid>`                a resumable (TUS) upload: an empty marker object;
 * - `uploads/<uuid>/<partNumber>`   one part of it, an object of its own.
 *
 * Durability: a write counts as durable when S3 acknowledges the PutObject or CompleteMultipartUpload
 * (AWS S3 stores the object redundantly before it answers 200; MinIO and Ceph sync to their disks or
 * replicas before answering). Every method resolves only after that acknowledgement, so rows commit
 * after it, as on the filesystem store. Objects appear whole or not at all: a crash mid-put leaves
 * only the parts of an unfinished multipart upload (listed by listUnfinishedPuts through its
 * `pending/` marker) and no object under the key.
 *
 * Never overwrite: PutObject and CompleteMultipartUpload carry `If-None-Match: *` (honoured by AWS S3
 * since 2024, MinIO and Ceph), and a put to a key the caller chose is preceded by a HEAD check, for
 * servers that ignore the header. On those servers a racing writer to the same key between the HEAD
 * and the commit would still win; keys come from newKey() (random UUIDs), so that race needs two
 * writers given the same fresh key.
 *
 * Streamed puts go up as multipart uploads of `partSizeBytes` parts (8 MiB by default; S3 wants at
 * least 5 MiB for every part but the last), `partsInFlight` of them at once: memory per put is
 * (partsInFlight + 1) parts plus the hashing writer's slabs, whatever the size; S3's 10,000 parts make
 * the largest put 10,000 x partSizeBytes (78 GiB at 8 MiB). A put that ends within its first MiB is a
 * single PutObject. MD5 and SHA-256 are computed on the way (HashingWriter).
 *
 * Resumable uploads: TUS chunks may be smaller than S3's 5 MiB part minimum and may arrive at different
 * gateway processes, so each part is an object of its own (streamed like a put), and completeUpload
 * streams the parts, in order and checked against their sizes and ETags, into the final blob, then
 * deletes them. Completing therefore reads and writes the upload's bytes once more through the
 * gateway (a server-side UploadPartCopy would avoid that for parts of 5 MiB and more, but the S3 server
 * the tests run against cannot do it). Nothing about an upload is kept in process memory: the caller's
 * database holds the parts' placement, the bucket holds the bytes.
 *
 * compose streams the blobs through too: the result's MD5 and SHA-256 are needed, and a server-side
 * copy would have to be read back to get them anyway.
 */
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
  type CompletedPart,
} from '@aws-sdk/client-s3';
import { RangeNotSatisfiableError } from './blob-errors';
import {
  BLOB_DIGESTS,
  SHA256_ONLY,
  type Sha256Blob,
  KEY_PATTERN,
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
import { assertByteRange } from './file-range-stream';
import { HashingWriter, SMALL_STREAM_BYTES, type DigestAlgorithm, type Hashing } from './hashing-writer';
import { checkedRefreshInterval, keepMarkerFresh, notRefreshing } from './marker-refresh';

export interface S3BlobStoreOptions {
  client: S3Client;
  bucket: string;
  /** Prepended to every key ('' or ending in '/'), so that several installations can share a bucket. */
  prefix?: string;
  /** Bytes per multipart part, at least 5 MiB (S3's minimum for all parts but the last). */
  partSizeBytes?: number;
  /** Parts of one put being sent at once. */
  partsInFlight?: number;
  /** Where MD5/SHA-256 run: by default the process-wide pool of hashing worker threads. */
  hashing?: Hashing;
  /** How often a put in progress re-touches its `pending/` marker (marker-refresh.ts). Default 15 minutes. */
  markerRefreshMs?: number;
}

export interface S3BlobStoreConfig {
  /** For S3-compatible servers (MinIO, Ceph); absent: AWS S3 of `region`. */
  endpoint?: string;
  region: string;
  bucket: string;
  prefix?: string;
  /** `http://host/bucket/key` rather than `http://bucket.host/key` (MinIO and most other servers want it). */
  forcePathStyle?: boolean;
  /** Absent: the SDK's default credential chain (AWS_ACCESS_KEY_ID…, profiles, instance roles). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  partSizeBytes?: number;
  hashing?: Hashing;
  markerRefreshMs?: number;
}

export function createS3BlobStore(config: S3BlobStoreConfig): S3BlobStore {
  const client = new S3Client({
    region: config.region,
    ...(config.endpoint !== undefined && { endpoint: config.endpoint }),
    ...(config.forcePathStyle !== undefined && { forcePathStyle: config.forcePathStyle }),
    ...(config.credentials && { credentials: config.credentials }),
  });
  return new S3BlobStore({ client, bucket: config.bucket, prefix: config.prefix, partSizeBytes: config.partSizeBytes, hashing: config.hashing, markerRefreshMs: config.markerRefreshMs });
}

const MIB = 1024 * 1024;
const MIN_PART_BYTES = 5 * MIB;
/** Parts of one multipart upload, at most (S3's limit): a put holds at most this many partSizeBytes. */
const MAX_PARTS = 10_000;
/**
 * A put that ends within its first MiB (which the hashing writer holds whole: most blobs) is one PutObject;
 * a longer one opens its multipart upload as soon as it gets this far, so that it is listed (and can
 * be stopped by delete) while it runs, even before its first part is full.
 */
const MULTIPART_FROM_BYTES = SMALL_STREAM_BYTES;
const PENDING = 'pending/';
const UPLOADS = 'uploads/';
/** An upload's marker (`uploads/<uuid>`) or one of its parts (`uploads/<uuid>/<partNumber>`). */
const UPLOAD_OBJECT_PATTERN = /^uploads\/([0-9a-f-]{36})(?:\/(\d+))?$/;

interface WrittenObject {
  sizeBytes: number;
  digests: Partial<Record<DigestAlgorithm, string>>;
  etag: string;
}

interface WriteObjectOptions {
  algorithms: DigestAlgorithm[];
  maxBytes?: number;
  /** Fail (and keep nothing) if an object exists under the key. */
  exclusive: boolean;
}

export class S3BlobStore implements BlobStore {
  readonly client: S3Client;
  readonly bucket: string;
  readonly prefix: string;
  private readonly partSizeBytes: number;
  private readonly partsInFlight: number;
  private readonly hashing: Hashing | undefined;
  readonly markerRefreshMs: number;

  constructor(options: S3BlobStoreOptions) {
    this.client = options.client;
    this.bucket = options.bucket;
    const prefix = options.prefix ?? '';
    this.prefix = prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
    this.partSizeBytes = options.partSizeBytes ?? 8 * MIB;
    if (!Number.isSafeInteger(this.partSizeBytes) || this.partSizeBytes < MIN_PART_BYTES) {
      throw new RangeError(`partSizeBytes must be at least ${MIN_PART_BYTES} (got ${this.partSizeBytes})`);
    }
    this.markerRefreshMs = checkedRefreshInterval(options.markerRefreshMs);
    this.partsInFlight = options.partsInFlight ?? 2;
    if (!Number.isSafeInteger(this.partsInFlight) || this.partsInFlight < 1) throw new RangeError(`partsInFlight must be at least 1 (got ${this.partsInFlight})`);
    this.hashing = options.hashing;
  }

  newKey(): string {
    return blobKeyOf(randomUUID());
  }

  put(source: Readable | AsyncIterable<Uint8Array>, options: PutOptions & { md5: false }): Promise<Sha256Blob>;
  put(source: Readable | AsyncIterable<Uint8Array>, options?: PutOptions & { md5?: true }): Promise<StoredBlob>;
  async put(source: Readable | AsyncIterable<Uint8Array>, options: PutOptions = {}): Promise<Sha256Blob & { md5?: string }> {
    const key = options.key ?? this.newKey();
    assertBlobKey(key);
    const algorithms = options.md5 === false ? SHA256_ONLY : BLOB_DIGESTS;
    const written = await this.writeObject(key, source, { algorithms, maxBytes: options.maxBytes, exclusive: options.key !== undefined });
    return { key, sizeBytes: written.sizeBytes, sha256: written.digests.sha256!, ...(written.digests.md5 !== undefined && { md5: written.digests.md5 }) };
  }

  open(key: string, range?: ByteRange): Readable {
    assertBlobKey(key);
    if (range) assertByteRange(range);
    return this.openObject(key, range);
  }

  async stat(key: string): Promise<number | undefined> {
    assertBlobKey(key);
    return this.statObject(key);
  }

  /** Removes the blob, and what a put under this key that never finished left (its multipart upload). */
  async delete(key: string): Promise<void> {
    assertBlobKey(key);
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }));
    await this.abortPendingPut(key);
  }

  async createUpload(): Promise<string> {
    const uploadKey = `${UPLOADS}${randomUUID()}`;
    await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.prefix + uploadKey, Body: Buffer.alloc(0), IfNoneMatch: '*' }));
    return uploadKey;
  }

  /**
   * Each part is an object of its own, so parts may come in any order and from any process; a
   * rewritten part replaces the object. Parts of an upload that is gone are refused.
   */
  async writeUploadPart(
    uploadKey: string,
    part: UploadPartPlacement,
    source: Readable | AsyncIterable<Uint8Array>,
    options: PartOptions = {},
  ): Promise<WrittenUploadPart> {
    assertPartPlacement(part);
    uploadIdOf(uploadKey);
    if ((await this.statObject(uploadKey)) === undefined) throw notFound(uploadKey);
    const written = await this.writeObject(partKeyOf(uploadKey, part.partNumber), source, {
      algorithms: options.md5 ? ['md5'] : [],
      maxBytes: options.maxBytes,
      exclusive: false,
    });
    return { sizeBytes: written.sizeBytes, ...(options.md5 && { md5: written.digests.md5 }), etag: written.etag };
  }

  async completeUpload(uploadKey: string, parts: CommittedUploadPart[]): Promise<{ key: string; sizeBytes: number }> {
    const key = blobKeyOf(uploadIdOf(uploadKey));
    const sizeBytes = contiguousLength(parts);
    const existing = await this.statObject(key);
    if (existing !== sizeBytes) {
      if ((await this.statObject(uploadKey)) === undefined) throw notFound(uploadKey);
      if (existing !== undefined) throw new Error(`Blob ${key} holds ${existing} bytes, not the ${sizeBytes} of upload ${uploadKey}`);
      await this.assertPartsHeld(uploadKey, parts, sizeBytes);
      const ordered = [...parts].sort((a, b) => a.offset - b.offset).filter((part) => part.sizeBytes > 0);
      const concatenated = async function* (this: S3BlobStore): AsyncGenerator<Uint8Array> {
        for (const part of ordered) yield* this.readPart(uploadKey, part);
      }.call(this);
      const written = await this.writeObject(key, concatenated, { algorithms: [], exclusive: true });
      if (written.sizeBytes !== sizeBytes) throw new Error(`Upload ${uploadKey}: its parts held ${written.sizeBytes} bytes, not ${sizeBytes}`);
    }
    // Completed (now or before a crash): the parts and the marker are of no more use.
    await this.dropUpload(uploadKey);
    return { key, sizeBytes };
  }

  async abortUpload(uploadKey: string): Promise<void> {
    uploadIdOf(uploadKey);
    await this.dropUpload(uploadKey);
  }

  async compose(keys: string[]): Promise<StoredBlob> {
    for (const key of keys) assertBlobKey(key);
    return this.put(concatenatedBlobs(this, keys));
  }

  async *listBlobs(query: ListQuery): AsyncIterable<ListedItem> {
    for await (const item of this.listObjects(query.prefix ?? '')) {
      if (KEY_PATTERN.test(item.key) && item.modifiedAt < query.olderThan) yield { key: item.key, sizeBytes: item.sizeBytes, modifiedAt: item.modifiedAt };
    }
  }

  /** Puts whose multipart upload is still open, by their `pending/` marker (its age: when the put began; size unknown, 0). */
  async *listUnfinishedPuts(query: ListQuery): AsyncIterable<ListedItem> {
    for await (const marker of this.listObjects(PENDING + (query.prefix ?? ''))) {
      const key = marker.key.slice(PENDING.length);
      if (KEY_PATTERN.test(key) && marker.modifiedAt < query.olderThan) yield { key, sizeBytes: 0, modifiedAt: marker.modifiedAt };
    }
  }

  /** Uploads by their marker and parts: last written when the newest of them was, sized by the parts. */
  async *listUnfinishedUploads(query: ListQuery): AsyncIterable<ListedItem> {
    let current: ListedItem | undefined;
    const done = (item: ListedItem | undefined) => item !== undefined && item.modifiedAt < query.olderThan && item.key.startsWith(query.prefix ?? '');
    // Listed in key order, so an upload's marker and parts come one after another.
    for await (const object of this.listObjects(UPLOADS)) {
      const match = UPLOAD_OBJECT_PATTERN.exec(object.key);
      if (!match) continue;
      const uploadKey = `${UPLOADS}${match[1]}`;
      if (current?.key !== uploadKey) {
        if (done(current)) yield current!;
        current = { key: uploadKey, sizeBytes: 0, modifiedAt: object.modifiedAt };
      }
      if (match[2] !== undefined) current.sizeBytes += object.sizeBytes;
      if (object.modifiedAt > current.modifiedAt) current.modifiedAt = object.modifiedAt;
    }
    if (done(current)) yield current!;
  }

  // ---- inside ----

  /**
   * Stream `source` into the object `key` (relative to the prefix), hashing it on the way: one
   * PutObject if it ends within its first MiB, a multipart upload otherwise. On failure nothing is left.
   */
  private async writeObject(key: string, source: Readable | AsyncIterable<Uint8Array>, options: WriteObjectOptions): Promise<WrittenObject> {
    const sink = new ObjectSink(this, key, options.exclusive);
    const writer = new HashingWriter({
      algorithms: options.algorithms,
      maxBytes: options.maxBytes,
      hashing: this.hashing,
      writeAt: (bytes) => sink.write(bytes),
    });
    try {
      try {
        await pump(source, writer);
      } finally {
        await writer.whenIdle();
      }
      const etag = await sink.complete();
      return { sizeBytes: writer.sizeBytes, digests: writer.digests(), etag };
    } catch (error) {
      await sink.abort();
      throw error;
    }
  }

  /** Every committed part is stored, with its ETag, and they hold the bytes the parts claim (one listing). */
  private async assertPartsHeld(uploadKey: string, parts: CommittedUploadPart[], sizeBytes: number): Promise<void> {
    const stored = new Map<string, ListedItem & { etag?: string }>();
    for await (const object of this.listObjects(`${uploadKey}/`)) stored.set(object.key, object);
    let held = 0;
    for (const part of parts) {
      const object = stored.get(partKeyOf(uploadKey, part.partNumber));
      if (object && part.sizeBytes > 0 && !sameEtag(object.etag, part.etag)) throw notCommitted(uploadKey, part.partNumber, object.etag, part.etag);
      held += Math.min(object?.sizeBytes ?? 0, part.sizeBytes);
    }
    if (held < sizeBytes) throw new Error(`Upload ${uploadKey} holds ${held} bytes, fewer than its parts' ${sizeBytes}`);
  }

  /** The part's bytes, refused if they are not the ones committed (size and ETag). */
  private async *readPart(uploadKey: string, part: CommittedUploadPart): AsyncGenerator<Uint8Array> {
    const partKey = partKeyOf(uploadKey, part.partNumber);
    const response = await this.getObject(partKey);
    const body = response.Body as Readable;
    try {
      // Checked again as it is read: the part may have been rewritten since it was listed.
      if (!sameEtag(response.ETag, part.etag)) throw notCommitted(uploadKey, part.partNumber, response.ETag, part.etag);
      if (response.ContentLength !== part.sizeBytes) throw new Error(`Part ${part.partNumber} of ${uploadKey} holds ${response.ContentLength} bytes, not ${part.sizeBytes}`);
      yield* body;
    } finally {
      body.destroy();
    }
  }

  private openObject(key: string, range?: ByteRange): Readable {
    const get = () => this.getObject(key, range);
    const stat = () => this.statObject(key);
    async function* bytes(): AsyncGenerator<Uint8Array> {
      let response;
      try {
        response = await get();
      } catch (error) {
        if (range && errorName(error) === 'InvalidRange') throw new RangeNotSatisfiableError(range.start, range.end, (await stat()) ?? 0);
        throw error;
      }
      const body = response.Body as Readable;
      try {
        if (!range) return yield* body;
        const [, first, total] = (/^bytes (\d+)-\d+\/(\d+)$/.exec(response.ContentRange ?? '') ?? []).map(Number);
        if (first !== range.start) throw new Error(`Asked for bytes ${range.start}-${range.end} of ${key}, the server sent ${response.ContentRange ?? 'all'}`);
        // S3 answers a range running past the end with the bytes there are: the caller wants all or nothing.
        if (!(total! > range.end)) throw new RangeNotSatisfiableError(range.start, range.end, total!);
        // Exactly the range's bytes: s3rver sends more for bytes=0-0 (it reads the 0 as "no end").
        let remaining = range.end - range.start + 1;
        for await (const chunk of body as AsyncIterable<Buffer>) {
          yield chunk.length <= remaining ? chunk : chunk.subarray(0, remaining);
          remaining -= Math.min(chunk.length, remaining);
          if (remaining === 0) return;
        }
        throw new Error(`${key} ended ${remaining} bytes before the end of the range ${range.start}-${range.end}`);
      } finally {
        body.destroy();
      }
    }
    return Readable.from(bytes(), { objectMode: false, highWaterMark: 256 * 1024 });
  }

  private async getObject(key: string, range?: ByteRange) {
    try {
      return await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.prefix + key, ...(range && { Range: `bytes=${range.start}-${range.end}` }) }));
    } catch (error) {
      if (isNotFound(error)) throw notFound(key);
      throw error;
    }
  }

  async statObject(key: string): Promise<number | undefined> {
    try {
      return (await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }))).ContentLength;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /** Objects under `prefix` (relative), in key order. */
  private async *listObjects(prefix: string): AsyncGenerator<ListedItem & { etag?: string }> {
    let ContinuationToken: string | undefined;
    do {
      const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix + prefix, ContinuationToken }));
      for (const object of page.Contents ?? []) {
        yield { key: object.Key!.slice(this.prefix.length), sizeBytes: object.Size ?? 0, modifiedAt: object.LastModified!, etag: object.ETag };
      }
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
  }

  private async deleteObjects(keys: string[]): Promise<void> {
    // DeleteObjects takes 1,000 keys at most.
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      const result = await this.client.send(
        new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: batch.map((key) => ({ Key: this.prefix + key })), Quiet: true } }),
      );
      const failed = result.Errors?.[0];
      if (failed) throw new Error(`Could not delete ${failed.Key}: ${failed.Code} ${failed.Message}`);
    }
  }

  /** Parts, parts' unfinished puts, then the marker: a crash in between leaves the upload listed. */
  private async dropUpload(uploadKey: string): Promise<void> {
    const parts: string[] = [];
    for await (const object of this.listObjects(`${uploadKey}/`)) parts.push(object.key);
    for await (const marker of this.listObjects(`${PENDING}${uploadKey}/`)) await this.abortPendingPut(marker.key.slice(PENDING.length));
    await this.deleteObjects(parts);
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.prefix + uploadKey }));
  }

  /** Records an open multipart upload for `key`, so that it can be found and aborted after a crash. */
  async recordPendingPut(key: string, uploadId: string): Promise<void> {
    await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.prefix + PENDING + key, Body: uploadId }));
  }

  /** Aborts the multipart upload a put to `key` left open, if any, and forgets it. */
  async abortPendingPut(key: string, uploadId?: string): Promise<void> {
    const markerKey = this.prefix + PENDING + key;
    if (uploadId === undefined) {
      try {
        const marker = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: markerKey }));
        uploadId = await marker.Body!.transformToString();
      } catch (error) {
        if (isNotFound(error)) return;
        throw error;
      }
    }
    try {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: this.prefix + key, UploadId: uploadId }));
    } catch (error) {
      // NoSuchUpload: completed or aborted already. A server that cannot abort (s3rver answers 405)
      // keeps the parts to itself: nothing more can be done about them through S3.
      if (!['NoSuchUpload', 'MethodNotAllowed', 'NotImplemented'].includes(errorName(error) ?? '')) throw error;
    }
    await this.forgetPendingPut(key);
  }

  /** Deletes the `pending/` marker of a put to `key` (completed or aborted). */
  async forgetPendingPut(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.prefix + PENDING + key }));
  }

  /** Multipart parts of this store's size, and how many may be on their way at once. */
  get partLayout(): { partSizeBytes: number; partsInFlight: number } {
    return { partSizeBytes: this.partSizeBytes, partsInFlight: this.partsInFlight };
  }
}

/**
 * Collects the hashing writer's slabs (handed over in stream order) into parts: a stream that ends
 * within MULTIPART_FROM_BYTES becomes one PutObject; a longer one opens a multipart upload, and its
 * parts go up `partsInFlight` at a time, each buffer reused once S3 has it.
 */
class ObjectSink {
  private readonly partSize: number;
  private readonly partsInFlight: number;
  private readonly free: Buffer[] = [];
  private buffers = 0;
  private current?: Buffer;
  private fill = 0;
  private received = 0;
  private uploadId?: string;
  private readonly completed: CompletedPart[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private queue: Promise<void> = Promise.resolve();
  private failure?: unknown;
  private stopRefreshing = notRefreshing;

  constructor(
    private readonly store: S3BlobStore,
    private readonly key: string,
    private readonly exclusive: boolean,
  ) {
    ({ partSizeBytes: this.partSize, partsInFlight: this.partsInFlight } = store.partLayout);
  }

  /** Takes the bytes (copied before the promise resolves); waits while every part buffer is in flight. */
  write(bytes: Buffer): Promise<void> {
    const taken = this.queue.then(() => this.take(bytes));
    this.queue = taken.catch(() => undefined);
    return taken;
  }

  /** Sends what is left and commits the object; resolves with its ETag once S3 has acknowledged it. */
  async complete(): Promise<string> {
    await this.queue;
    if (this.failure) throw this.failure;
    const { client, bucket, prefix } = this.store;
    if (this.exclusive && (await this.store.statObject(this.key)) !== undefined) throw new Error(`Blob ${this.key} exists already`);
    const conditional = this.exclusive ? { IfNoneMatch: '*' } : {};
    try {
      if (this.uploadId === undefined) {
        const body = this.current?.subarray(0, this.fill) ?? Buffer.alloc(0);
        const put = await client.send(new PutObjectCommand({ Bucket: bucket, Key: prefix + this.key, Body: body, ContentLength: body.length, ...conditional }));
        return put.ETag!;
      }
      if (this.fill > 0) await this.sendPart();
      await this.settle();
      if (this.failure) throw this.failure;
      const done = await client.send(
        new CompleteMultipartUploadCommand({ Bucket: bucket, Key: prefix + this.key, UploadId: this.uploadId, MultipartUpload: { Parts: this.completed }, ...conditional }),
      );
      // A marker left behind (this delete failing) only makes the collector look at this key, as it
      // would at any blob no row refers to.
      await this.stopRefreshing();
      await this.store.forgetPendingPut(this.key).catch(() => undefined);
      this.uploadId = undefined;
      return done.ETag!;
    } catch (error) {
      if (errorName(error) === 'PreconditionFailed' || errorName(error) === 'ConditionalRequestConflict') throw new Error(`Blob ${this.key} exists already`);
      throw error;
    }
  }

  /** Drops the multipart upload, if one was opened (after a failure). */
  async abort(): Promise<void> {
    await this.stopRefreshing();
    await this.queue;
    await this.settle();
    if (this.uploadId !== undefined) await this.store.abortPendingPut(this.key, this.uploadId);
    this.uploadId = undefined;
  }

  private async take(bytes: Buffer): Promise<void> {
    this.received += bytes.length;
    if (this.uploadId === undefined && this.received >= MULTIPART_FROM_BYTES) await this.begin();
    let offset = 0;
    while (offset < bytes.length) {
      if (this.failure) throw this.failure;
      this.current ??= this.freeBuffer();
      const copied = bytes.copy(this.current, this.fill, offset);
      this.fill += copied;
      offset += copied;
      if (this.fill === this.partSize) await this.sendPart();
    }
  }

  /** Sends the current buffer as the next part, once fewer than partsInFlight are on their way. */
  private async sendPart(): Promise<void> {
    const { client, bucket, prefix } = this.store;
    while (this.inFlight.size >= this.partsInFlight) await Promise.race(this.inFlight);
    if (this.failure) throw this.failure;
    const buffer = this.current!;
    const body = buffer.subarray(0, this.fill);
    const partNumber = this.completed.length + 1;
    if (partNumber > MAX_PARTS) throw new Error(`S3 takes ${MAX_PARTS} parts at most: a put of more than ${MAX_PARTS * this.partSize} bytes needs a larger partSizeBytes`);
    this.completed.push({ PartNumber: partNumber });
    this.current = undefined;
    this.fill = 0;
    const sending = client
      .send(new UploadPartCommand({ Bucket: bucket, Key: prefix + this.key, UploadId: this.uploadId, PartNumber: partNumber, Body: body, ContentLength: body.length }))
      .then(
        (answer) => void (this.completed[partNumber - 1]!.ETag = answer.ETag),
        (error: unknown) => void (this.failure ??= error),
      )
      .finally(() => {
        this.free.push(buffer);
        this.inFlight.delete(sending);
      });
    this.inFlight.add(sending);
  }

  /** Opens the multipart upload and records it (its `pending/` marker) before any part goes up. */
  private async begin(): Promise<void> {
    const { client, bucket, prefix } = this.store;
    const created = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: prefix + this.key }));
    const uploadId = created.UploadId!;
    this.uploadId = uploadId;
    await this.store.recordPendingPut(this.key, uploadId);
    // Rewritten with the same body, the marker's LastModified moves: GC sees a live put as young.
    this.stopRefreshing = keepMarkerFresh(() => this.store.recordPendingPut(this.key, uploadId), this.store.markerRefreshMs);
  }

  private freeBuffer(): Buffer {
    const buffer = this.free.pop();
    if (buffer) return buffer;
    this.buffers++;
    if (this.buffers > this.partsInFlight + 1) throw new Error('More part buffers than parts in flight'); // a bug, not a condition
    return Buffer.allocUnsafeSlow(this.partSize);
  }

  private async settle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }
}

function assertBlobKey(key: string): void {
  if (!KEY_PATTERN.test(key)) throw new Error(`Invalid blob key '${key}'`);
}

function partKeyOf(uploadKey: string, partNumber: number): string {
  return `${uploadKey}/${partNumber}`;
}

/** ETags compared without their quotes (servers differ in whether listings quote them). */
function sameEtag(a: string | undefined, b: string): boolean {
  return a !== undefined && a.replace(/"/g, '') === b.replace(/"/g, '');
}

function notCommitted(uploadKey: string, partNumber: number, found: string | undefined, committed: string): Error {
  return new Error(`Part ${partNumber} of ${uploadKey} is not the one committed (ETag ${found}, not ${committed})`);
}

function errorName(error: unknown): string | undefined {
  return error instanceof S3ServiceException ? error.name : undefined;
}

function isNotFound(error: unknown): boolean {
  return error instanceof S3ServiceException && (error.name === 'NoSuchKey' || error.name === 'NotFound');
}

/** A missing blob or upload, as the filesystem store reports it. */
function notFound(key: string): Error {
  return Object.assign(new Error(`No blob or upload '${key}'`), { code: 'ENOENT' });
}
