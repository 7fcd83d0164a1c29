/**
 * Failures: exponential backoff with jitter, RetryLater, maxAttempts → failed and kept, operators'
 * requeue/discard, and a retry meeting a newer pending job of the same key.
 */
import { ManualClock } from '../../src/clock';
import { backoffDelayMs, discardFailedJobs, enqueueJob, jobStats, requeueFailedJobs, RetryLater, type JobContext } from '../../src/jobs/queue';
import { jobRows, runnerWith, useJobsDatabase } from './support';

const database = useJobsDatabase();

describe('backoffDelayMs', () => {
  const backoff = { baseMs: 1000, maxMs: 60_000 };
  it('doubles per attempt, with jitter between half and all of the step, up to the cap', () => {
    expect([1, 2, 3, 4].map((attempt) => backoffDelayMs(attempt, backoff, () => 0))).toEqual([500, 1000, 2000, 4000]);
    expect([1, 2, 3, 4].map((attempt) => backoffDelayMs(attempt, backoff, () => 1))).toEqual([1000, 2000, 4000, 8000]);
    expect(backoffDelayMs(30, backoff, () => 1)).toBe(60_000);
    expect(backoffDelayMs(10_000, backoff, () => 0)).toBe(30_000);
    const samples = Array.from({ length: 200 }, () => backoffDelayMs(3, backoff));
    expect(Math.min(...samples)).toBeGreaterThanOrEqual(2000);
    expect(Math.max(...samples)).toBeLessThanOrEqual(4000);
    expect(new Set(samples).size).toBeGreaterThan(1);
  });
});

it('retries a failing job after its backoff, counting attempts and keeping the last error', async () => {
  const clock = new ManualClock();
  const attempts: number[] = [];
  const { runner, log } = runnerWith(
    database.db,
    clock,
    'test.flaky',
    async (_payload, job) => {
      attempts.push(job.attempt);
      if (job.attempt < 3) throw new Error(`scanner said no (${job.attempt})`);
    },
    { backoff: { baseMs: 1000, maxMs: 10_000 } },
  );
  await enqueueJob(database.db, clock, { kind: 'test.flaky' });

  expect(await runner.runDue()).toBe(1);
  let [row] = await jobRows(database.db);
  expect(row).toMatchObject({ state: 'pending', attempts: 1, locked_by: null, locked_until: null });
  expect(row!.last_error).toMatch(/^Error: scanner said no \(1\)/);
  // First retry: between 500 and 1000 ms later.
  const firstDelay = row!.run_at.getTime() - clock.now().getTime();
  expect(firstDelay).toBeGreaterThanOrEqual(500);
  expect(firstDelay).toBeLessThanOrEqual(1000);
  clock.advance(499);
  expect(await runner.runDue()).toBe(0);
  clock.advance(501);
  expect(await runner.runDue()).toBe(1);

  [row] = await jobRows(database.db);
  const secondDelay = row!.run_at.getTime() - clock.now().getTime();
  expect(secondDelay).toBeGreaterThanOrEqual(1000);
  expect(secondDelay).toBeLessThanOrEqual(2000);
  clock.advance(2000);
  expect(await runner.runDue()).toBe(1);
  expect(attempts).toEqual([1, 2, 3]);
  expect(await jobRows(database.db)).toEqual([]);
  expect(log.entries.filter((entry) => entry.level === 'warn' && entry.msg === 'job failed; will retry')).toHaveLength(2);
});

it('retries after RetryLater\'s own delay without counting an attempt', async () => {
  const clock = new ManualClock();
  const seen: number[] = [];
  let scannerUp = false;
  const { runner } = runnerWith(
    database.db,
    clock,
    'test.scan',
    async (_payload, job) => {
      seen.push(job.attempt);
      if (!scannerUp) throw new RetryLater('clamd is not answering', 30_000);
    },
    { maxAttempts: 1 },
  );
  await enqueueJob(database.db, clock, { kind: 'test.scan' });

  for (let round = 0; round < 3; round++) {
    expect(await runner.runDue()).toBe(1);
    const [row] = await jobRows(database.db);
    expect(row).toMatchObject({ state: 'pending', attempts: 0, last_error: 'retry later: clamd is not answering' });
    expect(row!.run_at).toEqual(new Date(clock.now().getTime() + 30_000));
    clock.advance(29_999);
    expect(await runner.runDue()).toBe(0);
    clock.advance(1);
  }
  scannerUp = true;
  expect(await runner.runDue()).toBe(1);
  // maxAttempts 1 and four runs: RetryLater never counted.
  expect(seen).toEqual([1, 1, 1, 1]);
  expect(await jobRows(database.db)).toEqual([]);
});

it('marks a job failed after maxAttempts and keeps it, visible, with its last error', async () => {
  const clock = new ManualClock();
  let runs = 0;
  const { runner, log } = runnerWith(
    database.db,
    clock,
    'test.doomed',
    async () => {
      runs++;
      throw new TypeError(`bad payload, run ${runs}`);
    },
    { maxAttempts: 3, backoff: { baseMs: 100, maxMs: 100 } },
  );
  await enqueueJob(database.db, clock, { kind: 'test.doomed', key: 'doomed:1', payload: { x: 1 } });
  for (let round = 0; round < 3; round++) {
    expect(await runner.runDue()).toBe(1);
    clock.advance(100);
  }
  clock.advance(24 * 3600_000);
  expect(await runner.runDue()).toBe(0);
  expect(runs).toBe(3);

  const [row] = await jobRows(database.db);
  expect(row).toMatchObject({ state: 'failed', attempts: 3, key: 'doomed:1', payload: { x: 1 }, locked_by: null, lease_token: null });
  expect(row!.last_error).toMatch(/^TypeError: bad payload, run 3/);
  expect(row!.failed_at).toBeInstanceOf(Date);
  expect(await jobStats(database.db)).toEqual([{ kind: 'test.doomed', pending: 0, running: 0, failed: 1 }]);
  expect(log.entries.some((entry) => entry.level === 'error' && /failed for good after 3 attempts/.test(entry.msg ?? ''))).toBe(true);

  // A failed job does not block its key.
  expect(await enqueueJob(database.db, clock, { kind: 'test.doomed', key: 'doomed:1', payload: { x: 2 } })).toBe(true);
  expect(await jobStats(database.db)).toEqual([{ kind: 'test.doomed', pending: 1, running: 0, failed: 1 }]);
});

it('lets an operator requeue or discard failed jobs', async () => {
  const clock = new ManualClock();
  let healthy = false;
  const payloads: unknown[] = [];
  const { runner } = runnerWith(
    database.db,
    clock,
    'test.repairable',
    async (payload) => {
      if (!healthy) throw new Error('broken');
      payloads.push(payload);
    },
    { maxAttempts: 1 },
  );
  await enqueueJob(database.db, clock, { kind: 'test.repairable', payload: { n: 1 } });
  await enqueueJob(database.db, clock, { kind: 'test.repairable', payload: { n: 2 } });
  await enqueueJob(database.db, clock, { kind: 'test.repairable', key: 'k', payload: { n: 3 } });
  expect(await runner.runDue()).toBe(3);
  expect(await jobStats(database.db)).toEqual([{ kind: 'test.repairable', pending: 0, running: 0, failed: 3 }]);
  // A pending job of key k exists again: the failed one of key k is not requeued next to it.
  await enqueueJob(database.db, clock, { kind: 'test.repairable', key: 'k', payload: { n: 4 } });

  const [first] = await jobRows(database.db);
  healthy = true;
  expect(await requeueFailedJobs(database.db, clock, { id: String(first!.id) })).toBe(1);
  expect(await runner.runDue()).toBe(2);
  expect(payloads).toEqual([{ n: 1 }, { n: 4 }]);
  expect(await requeueFailedJobs(database.db, clock, { kind: 'test.other' })).toBe(0);
  expect(await discardFailedJobs(database.db, { kind: 'test.repairable' })).toBe(2);
  expect(await jobRows(database.db)).toEqual([]);
});

it('merges a retry into a newer pending job of the same key (a key names one piece of work)', async () => {
  const clock = new ManualClock();
  const runs: Array<{ payload: unknown; attempt: number }> = [];
  const { runner } = runnerWith(
    database.db,
    clock,
    'test.keyed',
    async (payload, job: JobContext) => {
      runs.push({ payload, attempt: job.attempt });
      if (payload.first) {
        // While this one runs, the same work is asked for again (allowed: only pending jobs dedupe).
        expect(await enqueueJob(database.db, clock, { kind: 'test.keyed', key: 'deliver:w1', payload: { second: true }, runAt: new Date(clock.now().getTime() + 3600_000) })).toBe(true);
        throw new Error('receiver answered 503');
      }
    },
    { backoff: { baseMs: 1000, maxMs: 1000 } },
  );
  await enqueueJob(database.db, clock, { kind: 'test.keyed', key: 'deliver:w1', payload: { first: true } });
  expect(await runner.runDue()).toBe(1);

  const rows = await jobRows(database.db);
  expect(rows).toHaveLength(1);
  expect(rows[0]).toMatchObject({ state: 'pending', key: 'deliver:w1', payload: { second: true } });
  // Moved to the earlier of the two times: the retry's, not an hour away.
  expect(rows[0]!.run_at.getTime() - clock.now().getTime()).toBeLessThanOrEqual(1000);
  clock.advance(1000);
  expect(await runner.runDue()).toBe(1);
  expect(runs).toEqual([
    { payload: { first: true }, attempt: 1 },
    { payload: { second: true }, attempt: 1 },
  ]);
});
