/**
 * SQL on the `jobs` table (migrations/005_jobs.ts). Every statement here is a single statement or
 * a short transaction: nothing is held open while a handler runs (the embedded PGlite has one
 * connection). Times always come in as parameters from the caller's clock.
 *
 * A claimed job is identified by (id, lease_token): a worker whose lease was taken over by another
 * worker can no longer complete, retry, fail or extend the job, because its token no longer matches.
 */
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { isUniqueViolation } from '../storage/db';

type Queryable = Knex | Knex.Transaction;

export type JobState = 'pending' | 'running' | 'failed';

export interface NewJobRow {
  kind: string;
  payload: Record<string, unknown>;
  key: string | null;
  runAt: Date;
  createdAt: Date;
}

export interface ClaimedJob {
  id: string;
  kind: string;
  payload: Record<string, unknown>;
  key: string | null;
  /** Claims that counted, this one included (1 on a job's first run). */
  attempts: number;
  /** When it was due (kept when the job is given back unstarted). */
  runAt: Date;
  leaseToken: string;
  lastError: string | null;
  /** Set when the job was taken over from a worker whose lease had expired. */
  reclaimedFrom: string | null;
}

/** Inserts a job unless a pending job with the same key exists; true when inserted. */
export async function insertJob(db: Queryable, row: NewJobRow): Promise<boolean> {
  const result = await db.raw(
    `INSERT INTO jobs (kind, payload, key, state, run_at, attempts, created_at)
     VALUES (?, ?::jsonb, ?, 'pending', ?, 0, ?)
     ON CONFLICT (key) WHERE state = 'pending' DO NOTHING
     RETURNING id`,
    [row.kind, JSON.stringify(row.payload), row.key, row.runAt, row.createdAt],
  );
  return rowsOf(result).length === 1;
}

export async function deletePendingJobsByKey(db: Queryable, key: string): Promise<number> {
  const result = await db.raw(`DELETE FROM jobs WHERE key = ? AND state = 'pending' RETURNING id`, [key]);
  return rowsOf(result).length;
}

export interface ClaimOptions {
  /** The kinds to claim, each with its lease length. */
  leaseMsByKind: ReadonlyMap<string, number>;
  now: Date;
  limit: number;
  workerId: string;
  /** Job ids not to claim (already run by the caller in this round). */
  excludeIds?: readonly string[];
}

/**
 * Claims up to `limit` jobs of the given kinds that are due (pending, run_at <= now) or whose lease
 * has expired (running, locked_until <= now), in one statement. SKIP LOCKED lets concurrent claimers
 * pass over each other's rows instead of waiting, and the row lock plus the re-check of the WHERE
 * clause on the latest row version means a job is handed to exactly one claimer.
 */
export async function claimJobs(db: Queryable, options: ClaimOptions): Promise<ClaimedJob[]> {
  const kinds = [...options.leaseMsByKind.keys()];
  if (kinds.length === 0 || options.limit <= 0) return [];
  const leaseToken = randomUUID();
  const kindPlaceholders = kinds.map(() => '?').join(', ');
  const leaseCases = kinds.map(() => 'WHEN ? THEN ?::int').join(' ');
  const exclude = options.excludeIds && options.excludeIds.length > 0 ? `{${options.excludeIds.map(checkedId).join(',')}}` : null;
  const result = await db.raw(
    `WITH due AS (
       SELECT id, state AS previous_state, locked_by AS previous_worker
         FROM jobs
        WHERE kind IN (${kindPlaceholders})
          AND ((state = 'pending' AND run_at <= ?) OR (state = 'running' AND locked_until <= ?))
          ${exclude === null ? '' : 'AND NOT (id = ANY(?::bigint[]))'}
        ORDER BY run_at, id
        LIMIT ?
          FOR UPDATE SKIP LOCKED
     )
     UPDATE jobs
        SET state = 'running',
            attempts = jobs.attempts + 1,
            locked_by = ?,
            locked_until = ?::timestamptz + (CASE jobs.kind ${leaseCases} END) * interval '1 millisecond',
            lease_token = ?,
            last_error = CASE WHEN due.previous_state = 'running'
                              THEN 'lease expired: worker ' || due.previous_worker || ' did not finish the job (it stopped or was too slow to renew its lease)'
                              ELSE jobs.last_error END
       FROM due
      WHERE jobs.id = due.id
  RETURNING jobs.id, jobs.kind, jobs.payload, jobs.key, jobs.attempts, jobs.last_error, jobs.run_at,
            due.previous_state, due.previous_worker`,
    [
      ...kinds,
      options.now,
      options.now,
      ...(exclude === null ? [] : [exclude]),
      options.limit,
      options.workerId,
      options.now,
      ...kinds.flatMap((kind) => [kind, options.leaseMsByKind.get(kind)!]),
      leaseToken,
    ],
  );
  const rows = rowsOf(result) as Array<{
    id: number | string;
    kind: string;
    payload: Record<string, unknown> | string;
    key: string | null;
    attempts: number;
    last_error: string | null;
    run_at: Date;
    previous_state: JobState;
    previous_worker: string | null;
  }>;
  // RETURNING does not keep the CTE's order; run the oldest first.
  rows.sort((a, b) => a.run_at.getTime() - b.run_at.getTime() || Number(a.id) - Number(b.id));
  return rows.map((row) => ({
    id: String(row.id),
    kind: row.kind,
    payload: typeof row.payload === 'string' ? (JSON.parse(row.payload) as Record<string, unknown>) : row.payload,
    key: row.key,
    attempts: Number(row.attempts),
    runAt: row.run_at,
    leaseToken,
    lastError: row.last_error,
    reclaimedFrom: row.previous_state === 'running' ? row.previous_worker : null,
  }));
}

/** Pushes the lease forward; false when the job is no longer ours (finished elsewhere or taken over). */
export async function extendLease(db: Queryable, job: ClaimedJob, lockedUntil: Date): Promise<boolean> {
  const result = await db.raw(
    `UPDATE jobs SET locked_until = ? WHERE id = ? AND lease_token = ? AND state = 'running' RETURNING id`,
    [lockedUntil, job.id, job.leaseToken],
  );
  return rowsOf(result).length === 1;
}

/** Deletes a finished job; false when the lease had been lost (the job will run again elsewhere). */
export async function completeJob(db: Queryable, job: ClaimedJob): Promise<boolean> {
  const result = await db.raw(`DELETE FROM jobs WHERE id = ? AND lease_token = ? AND state = 'running' RETURNING id`, [
    job.id,
    job.leaseToken,
  ]);
  return rowsOf(result).length === 1;
}

/** Marks a job failed for good (kept for operators, with its last error). */
export async function failJob(db: Queryable, job: ClaimedJob, failedAt: Date, lastError: string): Promise<boolean> {
  const result = await db.raw(
    `UPDATE jobs
        SET state = 'failed', failed_at = ?, last_error = ?, locked_by = NULL, locked_until = NULL, lease_token = NULL
      WHERE id = ? AND lease_token = ? AND state = 'running'
  RETURNING id`,
    [failedAt, lastError, job.id, job.leaseToken],
  );
  return rowsOf(result).length === 1;
}

export interface ReturnToPending {
  runAt: Date;
  /** Added to attempts: -1 when this claim should not count (RetryLater, released unstarted). */
  attemptsDelta: number;
  /** Replaces last_error when given. */
  lastError?: string;
}

/**
 * What became of a job given back to the queue: `pending` (it will run at runAt), `merged` (another
 * pending job with the same key had been enqueued meanwhile; that one stays, moved to the earlier
 * of the two times, and this one is deleted: a key names one piece of work), or `lost` (the lease
 * had been taken over; the new holder decides).
 */
export type ReturnOutcome = 'pending' | 'merged' | 'lost';

export async function returnToPending(db: Knex, job: ClaimedJob, change: ReturnToPending): Promise<ReturnOutcome> {
  // A bounded loop: each round loses only to a concurrent enqueue or claim of the same key.
  for (let round = 0; ; round++) {
    try {
      const result = await db.raw(
        `UPDATE jobs
            SET state = 'pending', run_at = ?, attempts = GREATEST(attempts + ?, 0),
                last_error = COALESCE(?, last_error), locked_by = NULL, locked_until = NULL, lease_token = NULL
          WHERE id = ? AND lease_token = ? AND state = 'running'
      RETURNING id`,
        [change.runAt, change.attemptsDelta, change.lastError ?? null, job.id, job.leaseToken],
      );
      return rowsOf(result).length === 1 ? 'pending' : 'lost';
    } catch (error) {
      if (!isUniqueViolation(error) || job.key === null || round >= 5) throw error;
    }
    const key = job.key;
    const merged = await db.transaction(async (trx) => {
      const mine = rowsOf(await trx.raw(`SELECT id FROM jobs WHERE id = ? AND lease_token = ? AND state = 'running' FOR UPDATE`, [job.id, job.leaseToken]));
      if (mine.length === 0) return 'lost' as const;
      const other = rowsOf(
        await trx.raw(`UPDATE jobs SET run_at = LEAST(run_at, ?) WHERE key = ? AND state = 'pending' RETURNING id`, [change.runAt, key]),
      );
      if (other.length === 0) return null; // the other one was claimed meanwhile: try the plain update again
      await trx.raw(`DELETE FROM jobs WHERE id = ?`, [job.id]);
      return 'merged' as const;
    });
    if (merged) return merged;
  }
}

export interface JobCounts {
  kind: string;
  pending: number;
  running: number;
  failed: number;
}

export async function countJobs(db: Queryable): Promise<JobCounts[]> {
  const rows = rowsOf(await db.raw(`SELECT kind, state, count(*)::int AS n FROM jobs GROUP BY kind, state ORDER BY kind`)) as Array<{
    kind: string;
    state: JobState;
    n: number;
  }>;
  const byKind = new Map<string, JobCounts>();
  for (const row of rows) {
    const counts = byKind.get(row.kind) ?? { kind: row.kind, pending: 0, running: 0, failed: 0 };
    counts[row.state] = Number(row.n);
    byKind.set(row.kind, counts);
  }
  return [...byKind.values()];
}

export interface FailedJobFilter {
  id?: string;
  kind?: string;
}

function failedFilterSql(filter: FailedJobFilter): { sql: string; bindings: string[] } {
  const conditions = [`state = 'failed'`];
  const bindings: string[] = [];
  if (filter.id !== undefined) {
    conditions.push('id = ?');
    bindings.push(checkedId(filter.id));
  }
  if (filter.kind !== undefined) {
    conditions.push('kind = ?');
    bindings.push(filter.kind);
  }
  return { sql: conditions.join(' AND '), bindings };
}

/**
 * Gives failed jobs a fresh start (attempts 0, due at `now`). Of several failed jobs with one key
 * only the newest is requeued, and none whose key already has a pending job.
 */
export async function requeueFailed(db: Queryable, now: Date, filter: FailedJobFilter): Promise<number> {
  const where = failedFilterSql(filter);
  const result = await db.raw(
    `UPDATE jobs SET state = 'pending', run_at = ?, attempts = 0, failed_at = NULL
      WHERE id IN (SELECT DISTINCT ON (COALESCE(key, id::text)) id FROM jobs
                    WHERE ${where.sql}
                    ORDER BY COALESCE(key, id::text), id DESC)
        AND (key IS NULL OR NOT EXISTS (SELECT 1 FROM jobs pending WHERE pending.key = jobs.key AND pending.state = 'pending'))
  RETURNING id`,
    [now, ...where.bindings],
  );
  return rowsOf(result).length;
}

export async function deleteFailed(db: Queryable, filter: FailedJobFilter): Promise<number> {
  const where = failedFilterSql(filter);
  return rowsOf(await db.raw(`DELETE FROM jobs WHERE ${where.sql} RETURNING id`, where.bindings)).length;
}

function checkedId(id: string): string {
  if (!/^[0-9]{1,19}$/.test(id)) throw new TypeError(`not a job id: ${JSON.stringify(id)}`);
  return id;
}

/** Running jobs and who holds them. */
export async function listRunningClaims(db: Queryable): Promise<{ id: string; lockedBy: string }[]> {
  const rows = rowsOf(await db.raw(`SELECT id, locked_by FROM jobs WHERE state = 'running'`));
  return rows.map((row) => ({ id: String(row.id), lockedBy: String(row.locked_by) }));
}

/**
 * Back to pending, due as it was, if `lockedBy` still holds it (its run counted as an attempt).
 * When a pending job with the same key exists meanwhile, that one stands for it and this is dropped.
 */
export async function releaseClaim(db: Queryable, id: string, lockedBy: string): Promise<number> {
  const released = await db.raw(
    `UPDATE jobs SET state = 'pending', locked_by = NULL, locked_until = NULL, lease_token = NULL,
            last_error = COALESCE(last_error, 'its worker died')
      WHERE id = ? AND state = 'running' AND locked_by = ?
        AND (key IS NULL OR NOT EXISTS (SELECT 1 FROM jobs twin WHERE twin.key = jobs.key AND twin.state = 'pending'))
      RETURNING id`,
    [id, lockedBy],
  );
  if (rowsOf(released).length > 0) return 1;
  const merged = await db.raw(`DELETE FROM jobs WHERE id = ? AND state = 'running' AND locked_by = ? RETURNING id`, [id, lockedBy]);
  return rowsOf(merged).length;
}

function rowsOf(result: unknown): Record<string, unknown>[] {
  return ((result as { rows?: Record<string, unknown>[] }).rows ?? []) as Record<string, unknown>[];
}
