/**
 * Sweeping what crashes leave in the blob store: a blob no row points at (its writer died before
 * COMMIT, or after COMMIT before deleting what the change replaced), the bytes of a put that never
 * finished (`tmp/*.partial`), a resumable upload no row knows. Bytes are written, made durable,
 * and only then is a row committed pointing at them; so anything young may still be about to be
 * referenced, and only what is older than the grace period is removed.
 *
 * What keeps bytes alive, checked against the database for every candidate:
 * - attachments.blob_key (the archive, in clear or encrypted), message_attachments.blob_key
 *   (staged attachments of messages in progress);
 * - broker_file_transfers.blob_key, and upload_attempt 'blob:<key>' (a streamed upload in flight);
 * - broker_uploads.blob_key and upload_key (TUS uploads and their parts, in flight or completed).
 * A new table holding blob keys must be added to REFERENCES.
 */
import type { Clock } from '../clock';
import { enqueueJob, type JobHandler, type JobKindOptions } from '../jobs/queue';
import type { BlobStore, ListedItem } from './blob-store';
import type { Db } from './db';

export interface GarbageCollectionOptions {
  /** Only what was last written longer ago than this is considered. */
  graceMs: number;
  /** Count, do not remove. */
  dryRun?: boolean;
  now?: Date;
}

export interface RemovedCounts {
  files: number;
  bytes: number;
}

export interface GarbageCollectionResult {
  /** Stored blobs no row points at. */
  blobs: RemovedCounts;
  /** Bytes of puts that never finished. */
  partials: RemovedCounts;
  /** Resumable uploads no row knows. */
  uploads: RemovedCounts;
  total: RemovedCounts;
  dryRun: boolean;
}

/** Each: candidates (keys) → those of them a row refers to. */
const REFERENCES: ((db: Db, keys: string[]) => Promise<string[]>)[] = [
  (db, keys) => db('attachments').whereIn('blob_key', keys).pluck('blob_key'),
  (db, keys) => db('message_attachments').whereIn('blob_key', keys).pluck('blob_key'),
  (db, keys) => db('broker_file_transfers').whereIn('blob_key', keys).pluck('blob_key'),
  async (db, keys) =>
    (await db('broker_file_transfers').whereIn('upload_attempt', keys.map((key) => `blob:${key}`)).pluck<string[]>('upload_attempt')).map((attempt) =>
      attempt.slice('blob:'.length),
    ),
  (db, keys) => db('broker_uploads').whereIn('blob_key', keys).pluck('blob_key'),
  (db, keys) => db('broker_uploads').whereIn('upload_key', keys).pluck('upload_key'),
];

const BATCH = 500;

/** Those of `keys` that a row refers to (the one definition of "referenced": also storage migrate's). */
export async function referencedKeys(db: Db, keys: string[]): Promise<Set<string>> {
  return new Set((await Promise.all(REFERENCES.map((query) => query(db, keys)))).flat());
}

export async function collectGarbage(db: Db, blobs: BlobStore, options: GarbageCollectionOptions): Promise<GarbageCollectionResult> {
  const olderThan = new Date((options.now ?? new Date()).getTime() - options.graceMs);
  const dryRun = options.dryRun ?? false;
  const sweep = (items: AsyncIterable<ListedItem>, remove: (key: string) => Promise<void>) => sweepUnreferenced(db, items, dryRun ? async () => {} : remove);
  const result = {
    blobs: await sweep(blobs.listBlobs({ olderThan }), (key) => blobs.delete(key)),
    partials: await sweep(blobs.listUnfinishedPuts({ olderThan }), (key) => blobs.delete(key)),
    uploads: await sweep(blobs.listUnfinishedUploads({ olderThan }), (key) => blobs.abortUpload(key)),
  };
  const total = Object.values(result).reduce((sum, counts) => ({ files: sum.files + counts.files, bytes: sum.bytes + counts.bytes }), { files: 0, bytes: 0 });
  return { ...result, total, dryRun };
}

async function sweepUnreferenced(db: Db, items: AsyncIterable<ListedItem>, remove: (key: string) => Promise<void>): Promise<RemovedCounts> {
  const counts = { files: 0, bytes: 0 };
  let batch: ListedItem[] = [];
  const flush = async () => {
    const keys = batch.map((item) => item.key);
    const referenced = await referencedKeys(db, keys);
    for (const item of batch) {
      if (referenced.has(item.key)) continue;
      await remove(item.key);
      counts.files += 1;
      counts.bytes += item.sizeBytes;
    }
    batch = [];
  };
  for await (const item of items) {
    batch.push(item);
    if (batch.length >= BATCH) await flush();
  }
  if (batch.length > 0) await flush();
  return counts;
}

export function describeGarbageCollection(result: GarbageCollectionResult): string {
  const part = (name: string, counts: RemovedCounts) => `${counts.files} ${name} (${counts.bytes} bytes)`;
  return `${result.dryRun ? 'Would remove' : 'Removed'} ${result.total.files} files, ${result.total.bytes} bytes: ${part('orphan blobs', result.blobs)}, ${part('partial files', result.partials)}, ${part('abandoned uploads', result.uploads)}.`;
}

// ---- as a durable background job: at every start, then once a day ----

export const GARBAGE_COLLECTION_JOB = 'storage.collect-garbage';
export const GARBAGE_COLLECTION_INTERVAL_MS = 24 * 60 * 60 * 1000;

export function garbageCollectionJobHandler(
  ctx: { db: Db; blobs: BlobStore; clock: Clock },
  graceSeconds: number,
): { handler: JobHandler } & JobKindOptions {
  return {
    // Listing a large store takes a while; the lease is renewed while it runs.
    leaseMs: 10 * 60_000,
    handler: async (_payload, job) => {
      const result = await collectGarbage(ctx.db, ctx.blobs, { graceMs: graceSeconds * 1000, now: ctx.clock.now() });
      job.log.info({ removed: result }, describeGarbageCollection(result));
      await scheduleGarbageCollection(ctx.db, ctx.clock, new Date(ctx.clock.now().getTime() + GARBAGE_COLLECTION_INTERVAL_MS));
    },
  };
}

/**
 * `runAt` absent: the start-up sweep, now (its own key, so a daily run already pending does not
 * swallow it; processes starting together run it once). Otherwise the next daily run.
 */
export async function scheduleGarbageCollection(db: Db, clock: Clock, runAt?: Date): Promise<void> {
  await enqueueJob(db, clock, { kind: GARBAGE_COLLECTION_JOB, key: runAt ? GARBAGE_COLLECTION_JOB : `${GARBAGE_COLLECTION_JOB}:start`, ...(runAt && { runAt }) });
}
