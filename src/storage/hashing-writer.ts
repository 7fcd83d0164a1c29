/**
 * The write side of every blob-store path: a Writable that counts the bytes, enforces a size
 * limit, computes MD5 and/or SHA-256 and hands the bytes to a positional sink (a file today, an
 * object-store part tomorrow), with bounded memory.
 *
 * Incoming chunks are copied into a few fixed slabs (1 MiB each unless STORAGE_SLAB_MIB says
 * otherwise). A full slab goes to the sink and to the hashing workers at the same time and is reused
 * once both are done with it, so at most SLAB_COUNT slabs are in flight per stream: memory is flat
 * whatever the size, and a slow disk or hasher holds the source back (backpressure) instead of piling
 * up bytes. Batching also turns the socket's 64 KiB chunks into slab-sized writes. Larger slabs mean
 * fewer writes and fewer messages to the hashing thread per GiB (bench/PROFILE-NOTES.md: with 4 MiB
 * the streamed upload's main thread needed a fifth less CPU), at SLAB_COUNT times their size in
 * memory per large stream.
 *
 * A stream that ends within its first MiB (most files are small) never touches a worker, whatever
 * the slab size: its chunks are held as they are and hashed on the main thread at the end, which is
 * cheaper than a round trip to a worker.
 *
 * A writer may also feed a RunningDigest: the sums of a longer stream that arrives as several
 * writers in turn (a resumable upload's chunks), computed from the same slabs, so each byte is
 * copied once and the whole is never read back to be hashed.
 */
import { createHash, type Hash } from 'node:crypto';
import os from 'node:os';
import { Writable } from 'node:stream';
import { BlobTooLargeError } from './blob-errors';
import { HashWorkerPool, type DigestAlgorithm, type OffThreadHash } from './hash-workers';

export type { DigestAlgorithm } from './hash-workers';

const MIB = 1024 * 1024;
/** The default slab size. */
export const SLAB_BYTES = MIB;
export const SLAB_COUNT = 4;
/** A stream shorter than this is held whole, hashed on the main thread and written once, at its end. */
export const SMALL_STREAM_BYTES = MIB;
/** The slab sizes STORAGE_SLAB_MIB may choose. */
export const SLAB_MIB_RANGE = { min: 1, max: 16 } as const;

let configuredSlabBytes = SLAB_BYTES;

/** The slab size of the streams started from now on (STORAGE_SLAB_MIB; streams in progress keep theirs). */
export function configureSlabBytes(bytes: number): void {
  if (!Number.isInteger(bytes / MIB) || bytes / MIB < SLAB_MIB_RANGE.min || bytes / MIB > SLAB_MIB_RANGE.max) {
    throw new RangeError(`A slab is ${SLAB_MIB_RANGE.min} to ${SLAB_MIB_RANGE.max} whole MiB (got ${bytes} bytes)`);
  }
  configuredSlabBytes = bytes;
}

/** The slab size new streams get. */
export function slabBytesInUse(): number {
  return configuredSlabBytes;
}

/** Where hashing runs: a pool of worker threads, or the main thread. */
export type Hashing = HashWorkerPool | 'main-thread';

let sharedPool: HashWorkerPool | undefined;

/**
 * The process-wide pool: one worker per core beyond the main thread's, at least one, at most four
 * (a stream's sums run on one worker, so more workers only serve more concurrent streams).
 */
export function sharedHashWorkers(): HashWorkerPool {
  sharedPool ??= new HashWorkerPool(Math.max(1, Math.min(4, os.availableParallelism() - 1)));
  return sharedPool;
}

/**
 * Let the process-wide pool's threads go, without failing streams in progress (call on shutdown):
 * a live worker thread also delays the exit of the process by tens of milliseconds.
 */
export async function releaseHashWorkers(): Promise<void> {
  await sharedPool?.release();
}

export interface HashingWriterOptions {
  algorithms: readonly DigestAlgorithm[];
  /**
   * Receives the bytes, each call with its position from the start of the stream. Several calls
   * may be in flight at once, for different positions. The buffer is reused once the promise
   * settles. Absent: the bytes are only counted and hashed.
   */
  writeAt?: (bytes: Buffer, position: number) => Promise<unknown>;
  /** More bytes than this fail the stream with BlobTooLargeError. */
  maxBytes?: number;
  hashing?: Hashing;
  /** Also hash every byte into this running digest (after the bytes it has had so far). */
  continues?: RunningDigest;
  /** The size of this stream's slabs; the configured one (configureSlabBytes) by default. */
  slabBytes?: number;
}

export class HashingWriter extends Writable {
  /** Bytes accepted so far. */
  sizeBytes = 0;
  private readonly algorithms: readonly DigestAlgorithm[];
  private readonly writeAt: HashingWriterOptions['writeAt'];
  private readonly maxBytes: number | undefined;
  private readonly hashing: Hashing;
  private readonly continues: RunningDigest | undefined;
  private readonly slabBytes: number;
  private feed?: DigestFeed;
  /** The beginning of the stream, while it is shorter than SMALL_STREAM_BYTES. */
  private held: Buffer[] = [];
  private heldBytes = 0;
  private slabs?: Buffer[];
  private sharedSlabs?: SharedArrayBuffer[];
  /** Per slab: how many of sink and workers still use it. */
  private busy: number[] = [];
  /** Per slab: how many of those are the running digest's answers, which the writer need not wait for. */
  private digestAnswers: number[] = [];
  /** Finished while the running digest still hashed some slabs: they go back to the pool once it has. */
  private slabsToPoolWhenFree = false;
  private free: number[] = [];
  private current = -1;
  private fill = 0;
  private dispatched = 0;
  private offThread?: OffThreadHash;
  private mainThreadHashes?: Hash[];
  private result?: Record<DigestAlgorithm, string>;
  private failure?: Error;
  /** Continuations waiting for a slab to become free (or for the failure). */
  private waiters: (() => void)[] = [];
  private readonly sinkWrites = new Set<Promise<unknown>>();

  constructor(options: HashingWriterOptions) {
    super({ highWaterMark: SLAB_BYTES });
    if (options.maxBytes !== undefined && !(Number.isSafeInteger(options.maxBytes) && options.maxBytes >= 0)) {
      throw new RangeError(`maxBytes must be a non-negative integer (got ${options.maxBytes})`);
    }
    this.algorithms = options.algorithms;
    this.writeAt = options.writeAt;
    this.maxBytes = options.maxBytes;
    this.hashing = options.hashing ?? sharedHashWorkers();
    this.continues = options.continues;
    this.slabBytes = options.slabBytes ?? configuredSlabBytes;
    this.continues?.claim();
  }

  /** The digests, lower-case hex; available once the stream has finished. */
  digests(): Record<DigestAlgorithm, string> {
    if (!this.result) throw new Error('The stream has not finished');
    return this.result;
  }

  /** Resolves when no sink write is in flight (call before closing what the sink writes to). */
  async whenIdle(): Promise<void> {
    while (this.sinkWrites.size > 0) await Promise.allSettled([...this.sinkWrites]);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.failure) return callback(this.failure);
    if (this.maxBytes !== undefined && this.sizeBytes + chunk.length > this.maxBytes) {
      return callback(new BlobTooLargeError(this.maxBytes));
    }
    this.sizeBytes += chunk.length;
    if (!this.slabs) {
      // A running digest hashes off the slabs: nothing is held back for the main thread.
      if (this.heldBytes + chunk.length < SMALL_STREAM_BYTES && !this.continues) {
        this.held.push(chunk);
        this.heldBytes += chunk.length;
        return callback();
      }
      this.startSlabs();
      const held = this.held;
      this.held = [];
      this.heldBytes = 0;
      return this.copyAll([...held, chunk], 0, 0, callback);
    }
    this.copyAll([chunk], 0, 0, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.finish().then(() => callback(), callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.failure ??= error ?? new Error('The stream was destroyed');
    this.offThread?.drop();
    if (this.continues && this.result === undefined) {
      // Some of this stream's bytes may be in the running digest, some not: it can no longer be
      // trusted. A stream that fed it nothing leaves it as it was.
      if (this.dispatched === 0) this.continues.release(0);
      else this.continues.invalidate(this.failure);
    }
    this.wake();
    // Writes still in flight must not outlive the stream: the owner closes the file after this.
    this.whenIdle().then(() => callback(error));
  }

  private startSlabs(): void {
    if (this.hashing === 'main-thread') {
      this.slabs = Array.from({ length: SLAB_COUNT }, () => Buffer.allocUnsafeSlow(this.slabBytes));
      this.mainThreadHashes = this.algorithms.map((algorithm) => createHash(algorithm));
    } else {
      // The pool's recycled slabs even when nothing is hashed (a TUS part): fresh ones per stream
      // would be garbage of SLAB_COUNT slabs every part.
      const shared = this.hashing.acquireSlabs(SLAB_COUNT, this.slabBytes);
      this.sharedSlabs = shared;
      this.slabs = shared.map((buffer) => Buffer.from(buffer));
      if (this.algorithms.length === 0) this.mainThreadHashes = [];
      else this.offThread = this.hashing.start(this.algorithms, shared, (slab) => this.release(slab), (error) => this.fail(error));
    }
    this.busy = new Array<number>(SLAB_COUNT).fill(0);
    this.digestAnswers = new Array<number>(SLAB_COUNT).fill(0);
    this.free = Array.from({ length: SLAB_COUNT }, (_, i) => SLAB_COUNT - 1 - i);
    const digestAnswered = (slab: number) => {
      this.digestAnswers[slab]!--;
      this.release(slab);
    };
    this.feed = this.continues?.feedFrom(this.hashing, this.sharedSlabs, digestAnswered, (error) => this.fail(error));
  }

  /** Copy chunks[i] from `offset` on into slabs, dispatching full ones; waits when all are in use. */
  private copyAll(chunks: Buffer[], i: number, offset: number, callback: (error?: Error | null) => void): void {
    const slabs = this.slabs!;
    while (i < chunks.length) {
      if (this.failure) return callback(this.failure);
      const chunk = chunks[i]!;
      if (offset >= chunk.length) {
        i++;
        offset = 0;
        continue;
      }
      if (this.current < 0) {
        const slab = this.free.pop();
        if (slab === undefined) {
          this.waiters.push(() => this.copyAll(chunks, i, offset, callback));
          return;
        }
        this.current = slab;
        this.fill = 0;
      }
      const copied = chunk.copy(slabs[this.current]!, this.fill, offset, Math.min(chunk.length, offset + this.slabBytes - this.fill));
      this.fill += copied;
      offset += copied;
      if (this.fill === this.slabBytes) this.dispatch();
    }
    callback();
  }

  /** Hand the current slab to the sink and the hashers. */
  private dispatch(): void {
    const slab = this.current;
    const length = this.fill;
    const bytes = this.slabs![slab]!.subarray(0, length);
    const position = this.dispatched;
    this.current = -1;
    this.fill = 0;
    this.dispatched += length;
    this.digestAnswers[slab] = this.feed?.answersPerUpdate ?? 0;
    this.busy[slab] = (this.writeAt ? 1 : 0) + (this.offThread?.workersPerUpdate ?? 0) + this.digestAnswers[slab]!;
    if (this.mainThreadHashes) for (const hash of this.mainThreadHashes) hash.update(bytes);
    this.offThread?.update(slab, length);
    this.feed?.update(slab, bytes);
    if (this.writeAt) this.track(this.writeAt(bytes, position)).then(() => this.release(slab), (error: Error) => this.fail(error));
    if (this.busy[slab] === 0) this.release(slab, true);
  }

  private release(slab: number, alreadyZero = false): void {
    if (!alreadyZero && --this.busy[slab]! > 0) return;
    this.free.push(slab);
    if (this.slabsToPoolWhenFree && this.free.length === SLAB_COUNT) this.slabsToPool();
    this.wake();
  }

  /** True when no slab is in use, or in use only by the running digest's hashing. */
  private doneButDigest(): boolean {
    for (let slab = 0; slab < SLAB_COUNT; slab++) if (this.busy[slab] !== this.digestAnswers[slab]) return false;
    return true;
  }

  private slabsToPool(): void {
    this.slabsToPoolWhenFree = false;
    if (this.hashing !== 'main-thread' && this.sharedSlabs) this.hashing.releaseSlabs(this.sharedSlabs);
    this.sharedSlabs = undefined;
  }

  private async finish(): Promise<void> {
    if (this.failure) throw this.failure;
    if (!this.slabs && this.continues) {
      // An empty stream: nothing to add to the running digest.
      this.result = digestRecord(this.algorithms, this.algorithms.map((algorithm) => createHash(algorithm)));
      this.continues.release(0);
      return;
    }
    if (!this.slabs) {
      // Ended within its first MiB: hash here, one write.
      const hashes = this.algorithms.map((algorithm) => createHash(algorithm));
      for (const chunk of this.held) for (const hash of hashes) hash.update(chunk);
      if (this.writeAt && this.heldBytes > 0) await this.track(this.writeAt(Buffer.concat(this.held, this.heldBytes), 0));
      this.held = [];
      this.result = digestRecord(this.algorithms, hashes);
      return;
    }
    if (this.fill > 0) this.dispatch();
    // The running digest's hashing of the last slabs need not hold the writer up (the bytes are
    // placed): it goes on while the caller makes them durable, and the digest answers for it.
    while (!this.doneButDigest()) {
      if (this.failure) throw this.failure;
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    if (this.failure) throw this.failure;
    this.result = this.offThread ? await this.offThread.finish() : digestRecord(this.algorithms, this.mainThreadHashes!);
    // Every slab has been given to the running digest: the next writer may feed it (the worker
    // takes the updates in order).
    this.continues?.release(this.dispatched);
    // Slabs are reused only once the sink and every worker are done with them.
    if (this.free.length === SLAB_COUNT) this.slabsToPool();
    else this.slabsToPoolWhenFree = true;
  }

  private track<T>(write: Promise<T>): Promise<T> {
    this.sinkWrites.add(write);
    const untrack = () => this.sinkWrites.delete(write);
    write.then(untrack, untrack);
    return write;
  }

  private fail(error: Error): void {
    this.failure ??= error;
    this.wake();
    // Surface it now, not at the next chunk: the source may be idle (a stalled client).
    if (!this.destroyed) this.destroy(error);
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter();
  }
}

function digestRecord(algorithms: readonly DigestAlgorithm[], hashes: Hash[]): Record<DigestAlgorithm, string> {
  const record: Partial<Record<DigestAlgorithm, string>> = {};
  algorithms.forEach((algorithm, i) => (record[algorithm] = hashes[i]!.digest('hex')));
  return record as Record<DigestAlgorithm, string>;
}

/** What a writer feeding a running digest does per slab. */
interface DigestFeed {
  /** How many answers (calls of the writer's onSlabHashed) one update brings. */
  answersPerUpdate: number;
  update(slab: number, bytes: Buffer): void;
}

/**
 * MD5 and/or SHA-256 of one byte stream written by several HashingWriters one after another (the
 * chunks of a resumable upload, each its own request): each writer hashes its slabs into this as
 * well (`continues`), so the bytes are copied once and the finished stream is not read back. The
 * hash state stays with its worker between writers; only one writer feeds it at a time.
 *
 * A writer that fails or is destroyed invalidates the digest (it may hold part of that writer's
 * bytes): `digests()` then rejects, and the caller hashes the stored bytes instead.
 */
export class RunningDigest {
  /** Bytes hashed so far (complete writers only). */
  sizeBytes = 0;
  private offThread?: OffThreadHash;
  private mainThreadHashes?: Hash[];
  private failure?: Error;
  private writing = false;
  /** The feeding writer's failure callback. */
  private writerFailed?: ((error: Error) => void) | undefined;

  constructor(readonly algorithms: readonly DigestAlgorithm[]) {}

  /** The digests of every byte fed, lower-case hex; the digest is done with afterwards. */
  async digests(): Promise<Record<DigestAlgorithm, string>> {
    if (this.failure) throw this.failure;
    if (this.writing) throw new Error('A writer is still feeding this digest');
    this.failure = new Error('The running digest has been read');
    if (this.offThread) return this.offThread.finish();
    return digestRecord(this.algorithms, this.mainThreadHashes ?? this.algorithms.map((algorithm) => createHash(algorithm)));
  }

  /** Forget it (the stream was abandoned); its worker state goes. */
  drop(): void {
    this.invalidate(new Error('The running digest was dropped'));
  }

  /** @internal A writer starts feeding it. */
  claim(): void {
    if (this.failure) throw this.failure;
    if (this.writing) throw new Error('Another writer is feeding this digest');
    this.writing = true;
  }

  /** @internal The writer's slabs join the digest; undefined slabs: the writer hashes on the main thread. */
  feedFrom(hashing: Hashing, slabs: SharedArrayBuffer[] | undefined, onSlabHashed: (slab: number) => void, onFailure: (error: Error) => void): DigestFeed | undefined {
    if (this.failure) return undefined;
    if (!this.offThread && (this.mainThreadHashes || !slabs || hashing === 'main-thread')) {
      // Main-thread hashing, chosen by the first writer, stays with the digest.
      const hashes = (this.mainThreadHashes ??= this.algorithms.map((algorithm) => createHash(algorithm)));
      return { answersPerUpdate: 0, update: (_slab, bytes) => hashes.forEach((hash) => hash.update(bytes)) };
    }
    if (!slabs) {
      // Stores share one way of hashing, so this does not happen; if it did, the digest is lost, not wrong.
      this.invalidate(new Error('A writer hashing on the main thread cannot continue a digest kept by a hash worker'));
      return undefined;
    }
    this.writerFailed = onFailure;
    // A worker that dies between two writers must invalidate the digest, not only fail a writer.
    const failed = (error: Error) => {
      this.invalidate(error);
      this.writerFailed?.(error);
    };
    try {
      if (this.offThread) this.offThread.rebind(slabs, onSlabHashed, failed);
      else this.offThread = (hashing as HashWorkerPool).start(this.algorithms, slabs, onSlabHashed, failed);
    } catch (error) {
      this.invalidate(error as Error);
      return undefined;
    }
    const offThread = this.offThread;
    return { answersPerUpdate: offThread.workersPerUpdate, update: (slab, bytes) => offThread.update(slab, bytes.length) };
  }

  /**
   * @internal The feeding writer is done and has handed over every slab (the worker may still be
   * hashing the last ones: it takes a digest's updates in order, so the next writer may feed it now).
   * `fedBytes`: how many bytes it gave.
   */
  release(fedBytes: number): void {
    this.writerFailed = undefined;
    this.sizeBytes += fedBytes;
    this.writing = false;
  }

  /** @internal */
  invalidate(error: Error): Error {
    if (!this.failure) {
      this.failure = error;
      this.offThread?.drop();
    }
    return this.failure;
  }
}
