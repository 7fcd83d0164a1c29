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
 */
import { createHash, type Hash } from 'node:crypto';
import os from 'node:os';
import { Writable } from 'node:stream';
import { BlobTooLargeError, assertMaxBytes } from './blob-errors';
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
  private readonly slabBytes: number;
  /** The beginning of the stream, while it is shorter than SMALL_STREAM_BYTES. */
  private held: Buffer[] = [];
  private heldBytes = 0;
  private slabs?: Buffer[];
  private sharedSlabs?: SharedArrayBuffer[];
  /** Per slab: how many of sink and workers still use it. */
  private busy: number[] = [];
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
    assertMaxBytes(options.maxBytes);
    this.algorithms = options.algorithms;
    this.writeAt = options.writeAt;
    this.maxBytes = options.maxBytes;
    this.hashing = options.hashing ?? sharedHashWorkers();
    this.slabBytes = options.slabBytes ?? configuredSlabBytes;
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
      if (this.heldBytes + chunk.length < SMALL_STREAM_BYTES) {
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
    this.free = Array.from({ length: SLAB_COUNT }, (_, i) => SLAB_COUNT - 1 - i);
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
    this.busy[slab] = (this.writeAt ? 1 : 0) + (this.offThread?.workersPerUpdate ?? 0);
    if (this.mainThreadHashes) for (const hash of this.mainThreadHashes) hash.update(bytes);
    this.offThread?.update(slab, length);
    if (this.writeAt) this.track(this.writeAt(bytes, position)).then(() => this.release(slab), (error: Error) => this.fail(error));
    if (this.busy[slab] === 0) this.release(slab, true);
  }

  private release(slab: number, alreadyZero = false): void {
    if (!alreadyZero && --this.busy[slab]! > 0) return;
    this.free.push(slab);
    this.wake();
  }

  private async finish(): Promise<void> {
    if (this.failure) throw this.failure;
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
    // Slabs go back to the pool only once the sink and every worker are done with them.
    while (this.free.length < SLAB_COUNT) {
      if (this.failure) throw this.failure;
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    if (this.failure) throw this.failure;
    this.result = this.offThread ? await this.offThread.finish() : digestRecord(this.algorithms, this.mainThreadHashes!);
    if (this.hashing !== 'main-thread' && this.sharedSlabs) this.hashing.releaseSlabs(this.sharedSlabs);
    this.sharedSlabs = undefined;
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
