/**
 * Durable background jobs in the database: enqueued in the caller's transaction, claimed with
 * FOR UPDATE SKIP LOCKED under a lease, retried with backoff, failed jobs kept for operators.
 *
 * Why not pg-boss or graphile-worker: the jobs must run on the embedded PGlite (one in-process
 * connection) as on PostgreSQL, and tests must drive the time. pg-boss accepts a `db.executeSql`
 * adapter (so it could be pointed at PGlite), but its SQL compares against the database's now()
 * everywhere (start_after, expiry, retention, its maintenance loop) and has no clock option.
 * graphile-worker needs a node-postgres Pool (PGlite has none); its `useNodeTime` reads Date.now()
 * rather than an injected clock, and it recovers a crashed worker's job only after a fixed 4 h lock
 * timeout, with no heartbeat. So: one small table (migrations/005_jobs.ts), SQL in ./store.ts.
 *
 * Contract for handlers: they must be idempotent. A job runs at least once and, while its lease is
 * held, on one worker at a time; but a crash after the handler's effect and before the job row is
 * deleted runs it again, as does a lease that lapsed (a worker stalled longer than leaseMs).
 * A handler reads the current state of what it works on and does nothing when there is nothing to do.
 *
 * A job that succeeds is deleted (no history; the log has one line per outcome). A job whose
 * handler throws is retried after an exponential backoff with jitter; `RetryLater` retries after its
 * own delay without counting an attempt (a dependency is down, the job itself is fine). After
 * `maxAttempts` counted attempts the job is kept in state 'failed' with its last error.
 */
import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import type { Clock } from '../clock';
import { isDeadLocalOwner, PROCESS_OWNER } from '../process-identity';
import {
  claimJobs,
  completeJob,
  countJobs,
  deleteFailed,
  deletePendingJobsByKey,
  extendLease,
  failJob,
  insertJob,
  listRunningClaims,
  releaseClaim,
  requeueFailed,
  returnToPending,
  type ClaimedJob,
  type FailedJobFilter,
  type JobCounts,
} from './store';

export type { JobCounts, FailedJobFilter } from './store';

/** The logging this module needs; a pino logger (or fastify's) fits. */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

export interface JobSpec {
  kind: string;
  /** JSON values only (it is stored as jsonb). */
  payload?: Record<string, unknown>;
  /** Not before this time (default: now by the clock). */
  runAt?: Date;
  /** Dedupe: a job with the same key that is still pending is not enqueued again. */
  key?: string;
}

const KIND_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$/;

/**
 * Enqueue inside the caller's transaction (or on the db): the job exists iff the caller's change
 * committed. Returns false when a pending job with the same key already existed. After the commit,
 * call `JobRunner.wake()` so a local runner starts at once instead of at its next poll.
 */
export async function enqueueJob(db: Knex | Knex.Transaction, clock: Clock, spec: JobSpec): Promise<boolean> {
  if (typeof spec.kind !== 'string' || !KIND_PATTERN.test(spec.kind)) throw new TypeError(`enqueueJob: not a job kind: ${JSON.stringify(spec.kind)}`);
  if (spec.runAt !== undefined && !(spec.runAt instanceof Date && Number.isFinite(spec.runAt.getTime()))) {
    throw new TypeError(`enqueueJob(${spec.kind}): runAt is not a valid Date`);
  }
  if (spec.key !== undefined && (typeof spec.key !== 'string' || spec.key.length === 0)) throw new TypeError(`enqueueJob(${spec.kind}): key must be a non-empty string`);
  const payload = spec.payload ?? {};
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) throw new TypeError(`enqueueJob(${spec.kind}): payload must be an object`);
  const now = clock.now();
  return insertJob(db, { kind: spec.kind, payload, key: spec.key ?? null, runAt: spec.runAt ?? now, createdAt: now });
}

/**
 * Cancel pending jobs by key (e.g. the expiry job of a transfer that was purged early); returns how
 * many were removed. A job already running is not interrupted: its handler must cope with the work
 * having become unnecessary (idempotence).
 */
export async function cancelJobs(db: Knex | Knex.Transaction, key: string): Promise<number> {
  return deletePendingJobsByKey(db, key);
}

/** Counts by kind and state (pending, running, failed), for metrics and the CLI. */
export async function jobStats(db: Knex | Knex.Transaction): Promise<JobCounts[]> {
  return countJobs(db);
}

/** Operators: give failed jobs (by id and/or kind) a fresh start, due now; returns how many. */
export async function requeueFailedJobs(db: Knex | Knex.Transaction, clock: Clock, filter: FailedJobFilter = {}): Promise<number> {
  return requeueFailed(db, clock.now(), filter);
}

/** Operators: delete failed jobs (by id and/or kind); returns how many. */
export async function discardFailedJobs(db: Knex | Knex.Transaction, filter: FailedJobFilter = {}): Promise<number> {
  return deleteFailed(db, filter);
}

/**
 * Thrown by a handler when the job cannot run yet for a reason outside it (e.g. the virus scanner
 * is down): it is retried after `delayMs`, and the attempt does not count towards maxAttempts.
 */
export class RetryLater extends Error {
  constructor(
    message: string,
    readonly delayMs: number,
  ) {
    super(message);
    this.name = 'RetryLater';
    if (!Number.isFinite(delayMs) || delayMs < 0) throw new RangeError(`RetryLater: delayMs must be a non-negative number, not ${delayMs}`);
  }
}

export interface JobContext {
  id: string;
  kind: string;
  /** 1 on the first run; counts failed runs and runs lost with their worker, not RetryLater. */
  attempt: number;
  log: Logger;
  /** Aborted when this worker lost the job's lease, or when stop() gave up waiting for it. */
  signal: AbortSignal;
}

export interface JobHandler {
  (payload: Record<string, unknown>, job: JobContext): Promise<void>;
}

export interface JobKindOptions {
  /** Counted attempts before the job is marked failed (default: unlimited). */
  maxAttempts?: number;
  /** Retry delay after the n-th failure: between half and all of min(maxMs, baseMs * 2^(n-1)). */
  backoff?: { baseMs: number; maxMs: number };
  /** How long a claim holds without renewal; renewed every leaseMs/3 while the handler runs. */
  leaseMs?: number;
}

export const DEFAULT_BACKOFF = { baseMs: 10_000, maxMs: 60 * 60_000 } as const;
export const DEFAULT_LEASE_MS = 60_000;

/** The retry delay after `attempt` counted failures (exponential, capped, "equal jitter"). */
export function backoffDelayMs(attempt: number, backoff: { baseMs: number; maxMs: number }, random: () => number = Math.random): number {
  const ceiling = Math.min(backoff.maxMs, backoff.baseMs * 2 ** Math.min(Math.max(attempt - 1, 0), 52));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

export interface JobRunnerOptions {
  db: Knex;
  clock: Clock;
  log: Logger;
  handlers: Record<string, JobHandler | ({ handler: JobHandler } & JobKindOptions)>;
  /** Jobs run at once by this runner (default 4). */
  concurrency?: number;
  /** Idle polling interval (default 1000 ms); after a poll that found work the next poll is immediate. */
  pollIntervalMs?: number;
  /** Written to locked_by; unique per runner (default host:pid:random). */
  workerId?: string;
}

interface KindEntry {
  handler: JobHandler;
  maxAttempts: number;
  backoff: { baseMs: number; maxMs: number };
  leaseMs: number;
}

interface RunningJob {
  job: ClaimedJob;
  controller: AbortController;
  /** Settles when the job is over; true when its handler ran. */
  done: Promise<boolean>;
}

export class JobRunner {
  readonly workerId: string;
  private readonly db: Knex;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly kinds = new Map<string, KindEntry>();
  private readonly concurrency: number;
  private readonly pollIntervalMs: number;
  private readonly running = new Map<string, RunningJob>();
  private started = false;
  private stopping = false;
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | null = null;
  private pollRequested = false;

  constructor(options: JobRunnerOptions) {
    this.db = options.db;
    this.clock = options.clock;
    this.concurrency = positiveInteger(options.concurrency ?? 4, 'concurrency');
    this.pollIntervalMs = positiveInteger(options.pollIntervalMs ?? 1000, 'pollIntervalMs');
    this.workerId = options.workerId ?? `${PROCESS_OWNER}:${randomBytes(3).toString('hex')}`;
    this.log = options.log.child({ component: 'jobs', workerId: this.workerId });
    for (const [kind, spec] of Object.entries(options.handlers)) {
      if (!KIND_PATTERN.test(kind)) throw new TypeError(`JobRunner: not a job kind: ${JSON.stringify(kind)}`);
      const entry = typeof spec === 'function' ? { handler: spec } : spec;
      const backoff = entry.backoff ?? DEFAULT_BACKOFF;
      positiveInteger(backoff.baseMs, `${kind}.backoff.baseMs`);
      positiveInteger(backoff.maxMs, `${kind}.backoff.maxMs`);
      const maxAttempts = entry.maxAttempts ?? Infinity;
      if (maxAttempts !== Infinity) positiveInteger(maxAttempts, `${kind}.maxAttempts`);
      this.kinds.set(kind, {
        handler: entry.handler,
        maxAttempts,
        backoff: { baseMs: backoff.baseMs, maxMs: Math.max(backoff.maxMs, backoff.baseMs) },
        leaseMs: positiveInteger(entry.leaseMs ?? DEFAULT_LEASE_MS, `${kind}.leaseMs`),
      });
    }
  }

  /** Starts the polling loop (timers are unref'd: they never keep the process alive on their own). */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.stopping = false;
    this.schedule(0);
  }

  /** Polls now (after a local enqueue has committed, so the work starts without waiting). */
  wake(): void {
    this.schedule(0);
  }

  /**
   * Stops claiming, gives back jobs claimed but not started, and waits up to `timeoutMs` (default
   * 10 s) for running handlers. Handlers still running then are signalled (JobContext.signal) and
   * keep their lease while they run; if the process exits, the lease lapses and another worker
   * reruns them.
   */
  async stop(options: { timeoutMs?: number } = {}): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.polling) await this.polling;
    const pending = [...this.running.values()];
    if (pending.length > 0) {
      let deadline: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        Promise.allSettled(pending.map((entry) => entry.done)).then(() => false),
        new Promise<boolean>((resolve) => {
          deadline = setTimeout(() => resolve(true), options.timeoutMs ?? 10_000);
        }),
      ]);
      clearTimeout(deadline);
      if (timedOut) {
        const ids = [...this.running.values()].map((entry) => entry.job.id);
        this.log.warn({ jobIds: ids }, 'jobs still running when the runner stopped; another worker reruns them if this process exits');
        for (const entry of this.running.values()) entry.controller.abort(new Error('job runner stopping'));
      }
    }
    this.started = false;
  }

  /**
   * Frees the jobs that processes of this host held when they died (kill -9, a crash), so they run
   * again now rather than when their leases run out. Call before start(); returns how many.
   */
  async releaseClaimsOfDeadLocalWorkers(): Promise<number> {
    let released = 0;
    for (const claim of await listRunningClaims(this.db)) {
      if (isDeadLocalOwner(claim.lockedBy)) released += await releaseClaim(this.db, claim.id, claim.lockedBy);
    }
    if (released > 0) this.log.warn({ released }, 'freed jobs held by a process of this host that is gone; they run again now');
    return released;
  }

  /**
   * Claims and runs every job due at clock.now(), round after round until none is due (tests, the
   * CLI). A job retried during this call is not run again by it. Returns how many handlers ran.
   */
  async runDue(options: { maxJobs?: number } = {}): Promise<number> {
    const maxJobs = options.maxJobs ?? Infinity;
    const claimedIds = new Set<string>();
    let ran = 0;
    while (claimedIds.size < maxJobs) {
      const limit = Math.min(this.concurrency, maxJobs - claimedIds.size);
      const claimed = await this.claim(limit, [...claimedIds]);
      if (claimed.length === 0) break;
      for (const job of claimed) claimedIds.add(job.id);
      const outcomes = await Promise.all(claimed.map((job) => this.launch(job).done));
      ran += outcomes.filter(Boolean).length;
    }
    return ran;
  }

  private schedule(delayMs: number): void {
    if (!this.started || this.stopping) return;
    if (this.polling) {
      if (delayMs === 0) this.pollRequested = true;
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.poll();
    }, delayMs);
    this.timer.unref();
  }

  private async poll(): Promise<void> {
    if (this.polling || !this.started || this.stopping) return;
    const work = this.claimAndLaunch();
    this.polling = work.then(() => undefined);
    const result = await work;
    this.polling = null;
    const requested = this.pollRequested;
    this.pollRequested = false;
    if (this.concurrency - this.running.size <= 0) return; // a finishing job polls again
    this.schedule(result === 'found' || (result === 'idle' && requested) ? 0 : this.pollIntervalMs);
  }

  private async claimAndLaunch(): Promise<'found' | 'idle' | 'failed'> {
    try {
      const free = this.concurrency - this.running.size;
      if (free <= 0) return 'idle';
      const claimed = await this.claim(free);
      for (const job of claimed) {
        if (this.stopping) await this.releaseUnstarted(job);
        else this.launch(job);
      }
      return claimed.length > 0 ? 'found' : 'idle';
    } catch (error) {
      this.log.error({ err: error }, 'polling for jobs failed; trying again later');
      return 'failed';
    }
  }

  private claim(limit: number, excludeIds?: string[]): Promise<ClaimedJob[]> {
    return claimJobs(this.db, {
      leaseMsByKind: new Map([...this.kinds].map(([kind, entry]) => [kind, entry.leaseMs])),
      now: this.clock.now(),
      limit,
      workerId: this.workerId,
      ...(excludeIds ? { excludeIds } : {}),
    });
  }

  private launch(job: ClaimedJob): RunningJob {
    const entry = this.kinds.get(job.kind)!;
    const controller = new AbortController();
    const slot = `${job.id}/${job.leaseToken}`;
    const running: RunningJob = { job, controller, done: Promise.resolve(false) };
    this.running.set(slot, running);
    const heartbeat = setInterval(() => void this.heartbeat(job, entry, controller, heartbeat), Math.max(Math.floor(entry.leaseMs / 3), 1));
    heartbeat.unref();
    running.done = this.execute(job, entry, controller).finally(() => {
      clearInterval(heartbeat);
      this.running.delete(slot);
      this.schedule(0);
    });
    return running;
  }

  /** Runs the handler and records the outcome; resolves to whether the handler ran. */
  private async execute(job: ClaimedJob, entry: KindEntry, controller: AbortController): Promise<boolean> {
    let handlerRan = false;
    const log = this.log.child({ jobId: job.id, jobKind: job.kind, attempt: job.attempts });
    try {
      if (job.reclaimedFrom !== null) log.warn({ previousWorker: job.reclaimedFrom }, 'job taken over after its lease expired');
      if (job.attempts > entry.maxAttempts) {
        // Its runs keep dying with their worker (a crash, an OOM): stop before another one.
        const reason = `gave up after ${entry.maxAttempts} attempts; last: ${job.lastError ?? 'lease expired'}`;
        if (await failJob(this.db, job, this.clock.now(), reason)) log.error({ lastError: job.lastError }, 'job failed for good');
        return false;
      }
      let outcome: unknown = null;
      handlerRan = true;
      try {
        log.debug({}, 'job started');
        await entry.handler(job.payload, { id: job.id, kind: job.kind, attempt: job.attempts, log, signal: controller.signal });
      } catch (error) {
        outcome = error ?? new Error('handler threw a nullish value');
      }
      if (outcome === null) {
        if (await completeJob(this.db, job)) log.debug({}, 'job done');
        else log.warn({}, 'job done, but its lease had been taken over meanwhile: it will run again');
      } else {
        await this.settleFailure(job, entry, outcome, log);
      }
    } catch (error) {
      // The database failed while recording the outcome: the lease lapses and the job runs again.
      log.error({ err: error }, 'could not record the outcome of a job; it will run again when its lease expires');
    }
    return handlerRan;
  }

  private async settleFailure(job: ClaimedJob, entry: KindEntry, error: unknown, log: Logger): Promise<void> {
    const now = this.clock.now().getTime();
    if (error instanceof RetryLater) {
      const outcome = await returnToPending(this.db, job, {
        runAt: new Date(now + error.delayMs),
        attemptsDelta: -1,
        lastError: `retry later: ${error.message}`,
      });
      log.info({ delayMs: error.delayMs, reason: error.message, outcome }, 'job postponed');
      return;
    }
    const lastError = describeError(error);
    if (job.attempts >= entry.maxAttempts) {
      if (await failJob(this.db, job, new Date(now), lastError)) log.error({ err: error }, `job failed for good after ${job.attempts} attempts`);
      return;
    }
    const delayMs = backoffDelayMs(job.attempts, entry.backoff);
    const outcome = await returnToPending(this.db, job, { runAt: new Date(now + delayMs), attemptsDelta: 0, lastError });
    log.warn({ err: error, delayMs, outcome }, 'job failed; will retry');
  }

  private async releaseUnstarted(job: ClaimedJob): Promise<void> {
    try {
      // As if never claimed: same due time (so the same place in line), the claim not counted.
      const outcome = await returnToPending(this.db, job, { runAt: job.runAt, attemptsDelta: -1 });
      this.log.debug({ jobId: job.id, jobKind: job.kind, outcome }, 'gave back a job claimed as the runner stopped');
    } catch (error) {
      this.log.warn({ err: error, jobId: job.id }, 'could not release a claimed job; it runs again when its lease expires');
    }
  }

  private async heartbeat(job: ClaimedJob, entry: KindEntry, controller: AbortController, timer: NodeJS.Timeout): Promise<void> {
    try {
      const held = await extendLease(this.db, job, new Date(this.clock.now().getTime() + entry.leaseMs));
      if (!held) {
        clearInterval(timer);
        this.log.warn({ jobId: job.id, jobKind: job.kind }, 'lost the lease of a running job (another worker took it over)');
        controller.abort(new Error('job lease lost'));
      }
    } catch (error) {
      this.log.warn({ err: error, jobId: job.id }, 'could not renew a job lease');
    }
  }
}

function describeError(error: unknown): string {
  const text = error instanceof Error ? (error.stack ?? `${error.name}: ${error.message}`) : String(error);
  // Enough for an operator; a pathological message must not bloat the table.
  return text.length > 4000 ? `${text.slice(0, 4000)}…` : text;
}

function positiveInteger(value: number, name: string): number {
  if (!Number.isInteger(value) || value <= 0) throw new RangeError(`JobRunner: ${name} must be a positive integer, not ${value}`);
  return value;
}
