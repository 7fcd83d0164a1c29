/**
 * MD5 and SHA-256 of a byte stream, computed on worker threads. Both on the main thread cost about
 * 2 s per GiB (MD5 alone ~700 MB/s), which would cap an upload well below what the disk and socket
 * do; on a worker thread the main thread only copies bytes and does I/O.
 *
 * Measured (bench/scenarios/blob-hashing.ts, 1 GiB over a local socket into the store, 2 cores
 * shared with other work; three runs, ratio of the median MB/s to a plain pipe's): both sums on one
 * worker 0.77-1.07, MD5 and SHA-256 split over two workers 0.76-0.82, batched writes hashed on the
 * main thread 0.62-0.82, the former hashing Transform 0.52-0.64. Two workers were not faster than
 * one: with the sender, the main thread and the disk, a third busy thread on two cores only adds
 * contention. So by default a stream's sums run on one worker, and several workers (on larger
 * machines) serve several streams; `splitAlgorithms` spreads one stream's sums instead.
 *
 * The bytes are not posted: they sit in SharedArrayBuffer slabs owned by the stream
 * (HashingWriter); a message names a slab and a length, the worker hashes that view and answers,
 * and only then may the slab be refilled. Each worker keeps the state of every stream it serves,
 * keyed by job id, so one worker serves many concurrent streams.
 */
import { Worker } from 'node:worker_threads';

export type DigestAlgorithm = 'md5' | 'sha256';

// Plain JavaScript run with `eval`: the same source works under ts-jest, from dist/ and from a
// bundle, where a separate worker file would need a path that differs between them.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const jobs = new Map();
parentPort.on('message', (message) => {
  try {
    if (message.type === 'start') {
      jobs.set(message.job, { slabs: message.slabs, hashes: message.algorithms.map((algorithm) => createHash(algorithm)) });
    } else if (message.type === 'update') {
      const job = jobs.get(message.job);
      const bytes = new Uint8Array(job.slabs[message.slab], 0, message.length);
      for (const hash of job.hashes) hash.update(bytes);
      parentPort.postMessage({ type: 'updated', job: message.job, slab: message.slab });
    } else if (message.type === 'digest') {
      const job = jobs.get(message.job);
      jobs.delete(message.job);
      parentPort.postMessage({ type: 'digests', job: message.job, digests: job.hashes.map((hash) => hash.digest('hex')) });
    } else if (message.type === 'drop') {
      jobs.delete(message.job);
    }
  } catch (error) {
    jobs.delete(message.job);
    parentPort.postMessage({ type: 'failed', job: message.job, message: String(error && error.stack || error) });
  }
});
`;

type WorkerReply =
  | { type: 'updated'; job: number; slab: number }
  | { type: 'digests'; job: number; digests: string[] }
  | { type: 'failed'; job: number; message: string };

interface JobListener {
  updated(slab: number): void;
  digests(digests: string[]): void;
  failed(error: Error): void;
}

class HashWorker {
  private readonly worker: Worker;
  private readonly listeners = new Map<number, JobListener>();
  /** Messages posted that the worker has yet to answer. */
  private outstanding = 0;
  /** To end once its last stream is done. */
  private retiring = false;
  exited = false;

  constructor() {
    this.worker = new Worker(WORKER_SOURCE, { eval: true, name: 'blob-hashing' });
    // Referenced only while an answer is awaited: an idle worker must not keep a CLI command
    // alive (nor one whose stream was abandoned unfinished), and an awaited one must, or the
    // process could exit while a digest is on its way.
    this.worker.unref();
    this.worker.on('message', (reply: WorkerReply) => {
      if (this.outstanding > 0 && --this.outstanding === 0) this.worker.unref();
      const listener = this.listeners.get(reply.job);
      if (!listener) return; // a dropped job's late answer
      if (reply.type === 'updated') listener.updated(reply.slab);
      else if (reply.type === 'digests') listener.digests(reply.digests);
      else listener.failed(new Error(`Hash worker failed: ${reply.message}`));
    });
    this.worker.on('error', (error) => this.fail(error));
    this.worker.on('exit', (code) => this.fail(new Error(`Hash worker exited with code ${code}`)));
  }

  attach(job: number, listener: JobListener, algorithms: DigestAlgorithm[], slabs: SharedArrayBuffer[]): void {
    if (this.exited) throw new Error('Hash worker has exited');
    this.listeners.set(job, listener);
    this.worker.postMessage({ type: 'start', job, algorithms, slabs });
  }

  update(job: number, slab: number, length: number): void {
    this.expectAnswer();
    this.worker.postMessage({ type: 'update', job, slab, length });
  }

  digest(job: number): void {
    this.expectAnswer();
    this.worker.postMessage({ type: 'digest', job });
  }

  detach(job: number, dropState: boolean): void {
    if (!this.listeners.delete(job)) return;
    if (dropState && !this.exited) this.worker.postMessage({ type: 'drop', job });
    if (this.retiring && this.listeners.size === 0) void this.worker.terminate();
  }

  terminate(): Promise<number> {
    return this.worker.terminate();
  }

  /** End now if idle (resolving once it has), else once its last stream is done. */
  async retire(): Promise<void> {
    this.retiring = true;
    if (this.listeners.size === 0) await this.worker.terminate();
  }

  private expectAnswer(): void {
    if (this.outstanding++ === 0) this.worker.ref();
  }

  private fail(error: Error): void {
    this.exited = true;
    this.outstanding = 0;
    this.worker.unref();
    const listeners = [...this.listeners.values()];
    this.listeners.clear();
    for (const listener of listeners) listener.failed(error);
  }
}

/** Slab sets kept for reuse when no stream needs them (each SLAB_COUNT slabs of a stream's slab size). */
const IDLE_SLAB_SETS = 4;

/** A fixed number of hashing threads, started on first use, shared by every stream given the pool. */
export class HashWorkerPool {
  private readonly workers: (HashWorker | undefined)[];
  private nextJob = 1;
  private turn = 0;
  private readonly idleSlabSets: SharedArrayBuffer[][] = [];

  constructor(
    readonly size: number,
    private readonly options: { splitAlgorithms?: boolean } = {},
  ) {
    if (!Number.isInteger(size) || size < 1) throw new Error(`A hash worker pool needs at least one worker (got ${size})`);
    this.workers = new Array<HashWorker | undefined>(size).fill(undefined);
  }

  /** Start hashing one stream whose bytes will be placed in `slabs`; streams take turns over the workers. */
  start(algorithms: readonly DigestAlgorithm[], slabs: SharedArrayBuffer[], onSlabHashed: (slab: number) => void, onFailure: (error: Error) => void): OffThreadHash {
    const groups = new Map<number, DigestAlgorithm[]>();
    const first = this.turn;
    this.turn = (this.turn + 1) % this.size;
    algorithms.forEach((algorithm, i) => {
      const index = this.options.splitAlgorithms ? (first + i) % this.size : first;
      groups.set(index, [...(groups.get(index) ?? []), algorithm]);
    });
    const assignments = [...groups].map(([index, group]) => ({ worker: this.worker(index), algorithms: group }));
    return new OffThreadHash(this.nextJob++, assignments, slabs, onSlabHashed, onFailure);
  }

  /**
   * Slabs for one stream. They are recycled rather than left to the garbage collector: a worker
   * that has seen a SharedArrayBuffer keeps its memory alive until the worker's own heap is
   * collected, which a worker allocating next to nothing rarely does (fresh slabs for each 8 MiB
   * TUS part grew RSS by 500 MiB over 1 GiB before they were recycled).
   */
  acquireSlabs(count: number, bytes: number): SharedArrayBuffer[] {
    const set = this.idleSlabSets.pop();
    if (set && set.length === count && set[0]!.byteLength === bytes) return set;
    return Array.from({ length: count }, () => new SharedArrayBuffer(bytes));
  }

  /** Give slabs back; only once no worker and no write uses them any more. */
  releaseSlabs(set: SharedArrayBuffer[]): void {
    if (this.idleSlabSets.length < IDLE_SLAB_SETS) this.idleSlabSets.push(set);
  }

  /**
   * Let the workers go (on shutdown): idle ones now, busy ones once their streams are done. Streams
   * started later get new workers. Resolves when the idle ones have ended.
   */
  async release(): Promise<void> {
    const running = this.workers.filter((worker): worker is HashWorker => worker !== undefined);
    this.workers.fill(undefined);
    await Promise.all(running.map((worker) => worker.retire()));
  }

  /** Stop every worker at once, failing the streams they serve (tests); new ones start if used again. */
  async close(): Promise<void> {
    const running = this.workers.filter((worker): worker is HashWorker => worker !== undefined);
    this.workers.fill(undefined);
    await Promise.all(running.map((worker) => worker.terminate()));
  }

  private worker(index: number): HashWorker {
    let worker = this.workers[index];
    if (!worker || worker.exited) {
      worker = new HashWorker();
      this.workers[index] = worker;
    }
    return worker;
  }
}

/** The hashing of one stream: slab updates in, a digest per algorithm out. */
export class OffThreadHash {
  private readonly pendingDigests = new Map<HashWorker, DigestAlgorithm[]>();
  private readonly digests: Partial<Record<DigestAlgorithm, string>> = {};
  private finishing?: { resolve: (digests: Record<DigestAlgorithm, string>) => void; reject: (error: Error) => void };
  private failure?: Error;

  constructor(
    private readonly job: number,
    private readonly assignments: { worker: HashWorker; algorithms: DigestAlgorithm[] }[],
    slabs: SharedArrayBuffer[],
    private readonly onSlabHashed: (slab: number) => void,
    private readonly onFailure: (error: Error) => void,
  ) {
    for (const { worker, algorithms } of assignments) {
      worker.attach(
        job,
        {
          updated: (slab) => this.onSlabHashed(slab),
          digests: (hex) => this.received(worker, algorithms, hex),
          failed: (error) => this.fail(error),
        },
        algorithms,
        slabs,
      );
    }
  }

  /** How many answers (calls of onSlabHashed) one update brings. */
  get workersPerUpdate(): number {
    return this.assignments.length;
  }

  update(slab: number, length: number): void {
    for (const { worker } of this.assignments) worker.update(this.job, slab, length);
  }

  /** After the last update: the digests, lower-case hex. */
  finish(): Promise<Record<DigestAlgorithm, string>> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.finishing = { resolve, reject };
      for (const { worker, algorithms } of this.assignments) {
        this.pendingDigests.set(worker, algorithms);
        worker.digest(this.job);
      }
    });
  }

  /** Forget the stream (it failed or was abandoned). */
  drop(): void {
    for (const { worker } of this.assignments) worker.detach(this.job, true);
  }

  private received(worker: HashWorker, algorithms: DigestAlgorithm[], hex: string[]): void {
    algorithms.forEach((algorithm, i) => (this.digests[algorithm] = hex[i]!));
    this.pendingDigests.delete(worker);
    worker.detach(this.job, false);
    if (this.pendingDigests.size === 0) this.finishing?.resolve(this.digests as Record<DigestAlgorithm, string>);
  }

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    this.drop();
    this.finishing?.reject(error);
    this.onFailure(error);
  }
}
