/**
 * Copying a whole blob store to another (`storage migrate --to`), so that an installation can move
 * its bytes, e.g. off its local disk into Azure Blob Storage or S3, before switching BLOB_STORE_URL.
 *
 * - What: every blob the source lists, and every blob a row refers to (REFERENCED below), under the
 *   same key. A referenced blob the source lacks is reported (unless its row went meanwhile).
 *   Unfinished puts and resumable uploads in flight are store-specific and not copied: they are
 *   counted, so the operator can let them finish (or expire) before the final run.
 * - Verified: the source's bytes are hashed as they are read (and checked against the SHA-256 the
 *   row records, where it does), the copy is read back from the target and must have the same size
 *   and SHA-256. A copy that differs is deleted again and reported; the run then fails.
 * - Resumable: each verified copy is appended to a journal (fsynced) before it counts. A later run
 *   skips a journalled key that the target still holds at that size; a key the target holds but the
 *   journal lacks (a run killed between the copy and its journal line) is read back and verified.
 *   The target never overwrites (put with a key refuses an existing blob), and the source is never
 *   changed.
 */
import { createReadStream, promises as fsp } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream';
import { createInterface } from 'node:readline';
import type { Db } from './db';
import { digestBlob, type BlobStore } from './blob-store';
import { referencedKeys } from './garbage-collection';
import { measureBytes } from './measure';

export interface CopyBlobsOptions {
  /** File of the keys copied and verified so far (created, appended to). */
  journal: string;
  /** Blobs copied at once. */
  concurrency?: number;
  /** Called after every blob, and once at the end. */
  progress?: (progress: CopyProgress) => void;
}

export interface CopyProgress {
  totalBlobs: number;
  totalBytes: number;
  /** Blobs dealt with so far: copied, found verified, gone meanwhile, or failed. */
  doneBlobs: number;
  doneBytes: number;
  /** Bytes copied by this run (not counting skipped ones), for a rate. */
  copiedBytes: number;
  startedAt: number;
}

export interface CopyProblem {
  key: string;
  problem: string;
}

export interface CopyBlobsResult {
  /** Copied and verified by this run. */
  copied: { blobs: number; bytes: number };
  /** Already at the target and verified (by an earlier run, or read back now). */
  alreadyThere: { blobs: number; bytes: number };
  /** Mismatches and missing blobs; the copy is incomplete when any. */
  problems: CopyProblem[];
  /** Resumable uploads and unfinished puts in the source, not copied. */
  inFlight: { uploads: number; partials: number };
}

interface Expected {
  /** What the rows say (absent: no row records it). */
  sha256?: string;
  sizeBytes?: number;
  /** Size as the source listed it. */
  listedBytes?: number;
}

/** Tables holding blob keys, with the size and SHA-256 they record where they do (what counts as referenced: garbage-collection.ts). */
const REFERENCED: { table: string; size?: string; sha256?: string }[] = [
  { table: 'attachments', size: 'size_bytes', sha256: 'sha256' },
  { table: 'message_attachments', size: 'size_bytes', sha256: 'sha256' },
  { table: 'broker_file_transfers', sha256: 'sha256' },
  { table: 'broker_uploads' },
];

const PAGE = 1000;

export async function copyBlobs(db: Db, source: BlobStore, target: BlobStore, options: CopyBlobsOptions): Promise<CopyBlobsResult> {
  const listedBefore = new Date(Date.now() + 60_000); // everything there is, including what is written while listing
  const expected = new Map<string, Expected>();
  for await (const item of source.listBlobs({ olderThan: listedBefore })) expected.set(item.key, { listedBytes: item.sizeBytes });
  await addReferencedKeys(db, expected);

  const result: CopyBlobsResult = { copied: { blobs: 0, bytes: 0 }, alreadyThere: { blobs: 0, bytes: 0 }, problems: [], inFlight: { uploads: 0, partials: 0 } };
  for await (const _ of source.listUnfinishedUploads({ olderThan: listedBefore })) result.inFlight.uploads += 1;
  for await (const _ of source.listUnfinishedPuts({ olderThan: listedBefore })) result.inFlight.partials += 1;

  const journal = await Journal.open(options.journal);
  const progress: CopyProgress = {
    totalBlobs: expected.size,
    totalBytes: [...expected.values()].reduce((sum, entry) => sum + (entry.listedBytes ?? entry.sizeBytes ?? 0), 0),
    doneBlobs: 0,
    doneBytes: 0,
    copiedBytes: 0,
    startedAt: Date.now(),
  };
  const copyOne = async (key: string, entry: Expected): Promise<void> => {
    const outcome = await copyBlob(db, source, target, journal, key, entry);
    progress.doneBlobs += 1;
    if (outcome.kind === 'problem') {
      result.problems.push({ key, problem: outcome.problem });
    } else if (outcome.kind !== 'gone') {
      const counts = outcome.kind === 'copied' ? result.copied : result.alreadyThere;
      counts.blobs += 1;
      counts.bytes += outcome.sizeBytes;
      progress.doneBytes += outcome.sizeBytes;
      if (outcome.kind === 'copied') progress.copiedBytes += outcome.sizeBytes;
    }
    options.progress?.(progress);
  };
  try {
    const queue = [...expected.entries()];
    const workers = Array.from({ length: Math.max(1, options.concurrency ?? 4) }, async () => {
      for (let next = queue.shift(); next; next = queue.shift()) await copyOne(next[0], next[1]);
    });
    await Promise.all(workers);
  } finally {
    await journal.close();
  }
  if (progress.totalBlobs === 0) options.progress?.(progress);
  result.problems.sort((a, b) => a.key.localeCompare(b.key));
  return result;
}

type Outcome = { kind: 'copied' | 'alreadyThere'; sizeBytes: number } | { kind: 'gone' } | { kind: 'problem'; problem: string };

async function copyBlob(db: Db, source: BlobStore, target: BlobStore, journal: Journal, key: string, entry: Expected): Promise<Outcome> {
  const verified = journal.verified.get(key);
  const atTarget = await target.stat(key);
  if (verified && atTarget === verified.sizeBytes) return { kind: 'alreadyThere', sizeBytes: atTarget };

  const sourceSize = await source.stat(key);
  if (sourceSize === undefined) {
    // Deleted by a running gateway since it was listed (its row went with it): nothing to copy.
    if (!(await referencedKeys(db, [key])).has(key)) return { kind: 'gone' };
    return { kind: 'problem', problem: 'a row refers to it, but the source store does not hold it' };
  }

  let read: { sizeBytes: number; sha256: string };
  let copiedNow = false;
  if (atTarget === undefined) {
    // What a killed run's put of this key left half-written (the store's temporary bytes) goes first.
    await target.delete(key);
    const measure = measureBytes();
    const bytes = pipeline(source.open(key), measure.stream, () => undefined); // a read error fails the put
    await target.put(bytes, { key });
    copiedNow = true;
    read = measure.result();
  } else {
    // Held by the target without a journal line: a run that died before writing it, or another copy.
    read = await digestBlob(source, key);
  }
  const copy = await digestBlob(target, key);

  const problems: string[] = [];
  if (entry.sha256 !== undefined && entry.sha256 !== read.sha256) problems.push(`the source's bytes (sha256 ${read.sha256}) are not what its row records (sha256 ${entry.sha256})`);
  if (entry.sizeBytes !== undefined && entry.sizeBytes !== read.sizeBytes) problems.push(`the source holds ${read.sizeBytes} bytes, its row records ${entry.sizeBytes}`);
  if (copy.sizeBytes !== read.sizeBytes || copy.sha256 !== read.sha256) {
    problems.push(`the copy (${copy.sizeBytes} bytes, sha256 ${copy.sha256}) differs from the source (${read.sizeBytes} bytes, sha256 ${read.sha256})`);
  }
  if (problems.length > 0) {
    // The target holds only verified copies: one this run made is removed, so a later run makes it again; one it found is left for the operator.
    if (copiedNow) await target.delete(key);
    return { kind: 'problem', problem: problems.join('; ') };
  }
  await journal.add(key, copy.sizeBytes, copy.sha256);
  return { kind: copiedNow ? 'copied' : 'alreadyThere', sizeBytes: copy.sizeBytes };
}

/** Adds the keys the rows refer to, with the size and SHA-256 they record. */
async function addReferencedKeys(db: Db, expected: Map<string, Expected>): Promise<void> {
  for (const { table, size, sha256 } of REFERENCED) {
    let after = '';
    for (;;) {
      const columns = ['blob_key', ...(size ? [`${size} as size_bytes`] : []), ...(sha256 ? [`${sha256} as sha256`] : [])];
      const rows: { blob_key: string; size_bytes?: number | string; sha256?: string | null }[] = await db(table)
        .whereNotNull('blob_key')
        .where('blob_key', '>', after)
        .orderBy('blob_key')
        .limit(PAGE)
        .select(columns);
      for (const row of rows) {
        const entry = expected.get(row.blob_key) ?? {};
        if (row.sha256) entry.sha256 = row.sha256;
        if (row.size_bytes !== undefined) entry.sizeBytes = Number(row.size_bytes);
        expected.set(row.blob_key, entry);
      }
      if (rows.length < PAGE) break;
      after = rows[rows.length - 1]!.blob_key;
    }
  }
}


/** `key size sha256` lines of verified copies; a torn last line (a kill mid-write) is ignored. */
class Journal {
  /** Appends one at a time, so that lines never interleave. */
  private appending: Promise<void> = Promise.resolve();

  private constructor(
    readonly verified: Map<string, { sizeBytes: number; sha256: string }>,
    private readonly handle: fsp.FileHandle,
  ) {}

  static async open(file: string): Promise<Journal> {
    await fsp.mkdir(path.dirname(file), { recursive: true });
    const verified = new Map<string, { sizeBytes: number; sha256: string }>();
    try {
      for await (const line of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) {
        const match = /^(\S+) (\d+) ([0-9a-f]{64})$/.exec(line);
        if (match) verified.set(match[1]!, { sizeBytes: Number(match[2]), sha256: match[3]! });
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    const handle = await fsp.open(file, 'a');
    // A torn line left by a kill must not glue onto the next one.
    if ((await handle.stat()).size > 0) await handle.appendFile('\n');
    return new Journal(verified, handle);
  }

  async add(key: string, sizeBytes: number, sha256: string): Promise<void> {
    const appended = this.appending.then(async () => {
      await this.handle.appendFile(`${key} ${sizeBytes} ${sha256}\n`);
      await this.handle.datasync();
    });
    this.appending = appended.catch(() => undefined);
    await appended;
    this.verified.set(key, { sizeBytes, sha256 });
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}

/** One progress line: blobs, bytes and the rate of this run. */
export function describeCopyProgress(progress: CopyProgress): string {
  const seconds = Math.max((Date.now() - progress.startedAt) / 1000, 0.001);
  return `${progress.doneBlobs}/${progress.totalBlobs} blobs, ${formatBytes(progress.doneBytes)} of ${formatBytes(progress.totalBytes)}, ${formatBytes(progress.copiedBytes / seconds)}/s`;
}

function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}
