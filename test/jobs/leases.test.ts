/**
 * Leases: a job whose worker died (claimed, never finished) is reclaimed once its lease has expired
 * by the clock; a long job renews its lease; a worker that lost its lease can no longer finish,
 * retry or renew the job; a job whose runs keep dying with their worker ends failed.
 */
import { ManualClock } from '../../src/clock';
import { enqueueJob } from '../../src/jobs/queue';
import { claimJobs, completeJob, extendLease, failJob, returnToPending, type ClaimedJob } from '../../src/jobs/store';
import { deferred, jobRows, runnerWith, useJobsDatabase, waitFor } from './support';

const database = useJobsDatabase();

/** What a worker that then dies (kill -9) leaves behind: a claim it never finishes. */
async function claimAsDeadWorker(clock: ManualClock, kind: string, leaseMs: number, workerId = 'dead-worker'): Promise<ClaimedJob> {
  const [job] = await claimJobs(database.db, { leaseMsByKind: new Map([[kind, leaseMs]]), now: clock.now(), limit: 1, workerId });
  if (!job) throw new Error('nothing to claim');
  return job;
}

it('reclaims the job of a dead worker once its lease has expired, and the dead claim can no longer touch it', async () => {
  const clock = new ManualClock();
  await enqueueJob(database.db, clock, { kind: 'test.lease', payload: { n: 1 } });
  const dead = await claimAsDeadWorker(clock, 'test.lease', 5000);
  expect(dead.attempts).toBe(1);
  expect(await jobRows(database.db)).toEqual([
    expect.objectContaining({ state: 'running', locked_by: 'dead-worker', locked_until: new Date(clock.now().getTime() + 5000) }),
  ]);

  const staleResults: unknown[] = [];
  const attempts: number[] = [];
  const { runner, log } = runnerWith(
    database.db,
    clock,
    'test.lease',
    async (_payload, job) => {
      attempts.push(job.attempt);
      // The dead worker "wakes up" while the job runs here: its lease token is stale.
      staleResults.push(
        await extendLease(database.db, dead, new Date(clock.now().getTime() + 60_000)),
        await completeJob(database.db, dead),
        await failJob(database.db, dead, clock.now(), 'stale'),
        await returnToPending(database.db, dead, { runAt: clock.now(), attemptsDelta: 0 }),
      );
      const [row] = await jobRows(database.db);
      expect(row).toMatchObject({ state: 'running', locked_by: 'survivor' });
      expect(row!.last_error).toMatch(/lease expired: worker dead-worker did not finish/);
    },
    { leaseMs: 5000 },
    'survivor',
  );

  expect(await runner.runDue()).toBe(0);
  clock.advance(4999);
  expect(await runner.runDue()).toBe(0);
  clock.advance(1);
  expect(await runner.runDue()).toBe(1);
  expect(attempts).toEqual([2]);
  expect(staleResults).toEqual([false, false, false, 'lost']);
  expect(await jobRows(database.db)).toEqual([]);
  expect(log.entries).toContainEqual(
    expect.objectContaining({ level: 'warn', msg: 'job taken over after its lease expired', obj: { previousWorker: 'dead-worker' } }),
  );
});

it('renews the lease of a long job, so another worker does not take it over', async () => {
  const clock = new ManualClock();
  await enqueueJob(database.db, clock, { kind: 'test.long' });
  const started = deferred();
  const release = deferred();
  const { runner: longRunner } = runnerWith(
    database.db,
    clock,
    'test.long',
    async () => {
      started.resolve();
      await release.promise;
    },
    { leaseMs: 300 },
    'long-runner',
  );
  let othersRuns = 0;
  const { runner: other } = runnerWith(database.db, clock, 'test.long', async () => void othersRuns++, { leaseMs: 300 }, 'other');

  const running = longRunner.runDue();
  await started.promise;
  const [claimed] = await jobRows(database.db);
  const firstLease = claimed!.locked_until.getTime();
  expect(firstLease).toBe(clock.now().getTime() + 300);

  clock.advance(250);
  await waitFor(async () => (await jobRows(database.db))[0]!.locked_until.getTime() > firstLease, 'the heartbeat to renew the lease');
  clock.advance(100); // past the first lease, within the renewed one
  expect(await other.runDue()).toBe(0);

  release.resolve();
  expect(await running).toBe(1);
  expect(othersRuns).toBe(0);
  expect(await jobRows(database.db)).toEqual([]);
});

it('tells a handler (signal) when its lease was taken over, and does not delete the new holder\'s job', async () => {
  const clock = new ManualClock();
  await enqueueJob(database.db, clock, { kind: 'test.stalled' });
  const started = deferred();
  let abortReason: unknown;
  const { runner, log } = runnerWith(
    database.db,
    clock,
    'test.stalled',
    async (_payload, job) => {
      started.resolve();
      await new Promise<void>((resolve) => job.signal.addEventListener('abort', () => resolve(), { once: true }));
      abortReason = job.signal.reason;
    },
    { leaseMs: 60 },
  );
  const running = runner.runDue();
  await started.promise;
  // As if this worker had stalled past its lease and another one reclaimed the job.
  await database.db('jobs').update({ locked_by: 'thief', lease_token: '00000000-0000-4000-8000-000000000001' });

  expect(await running).toBe(1);
  expect(String(abortReason)).toMatch(/lease lost/);
  expect(await jobRows(database.db)).toEqual([expect.objectContaining({ state: 'running', locked_by: 'thief' })]);
  expect(log.entries.map((entry) => entry.msg)).toEqual(
    expect.arrayContaining(['lost the lease of a running job (another worker took it over)', 'job done, but its lease had been taken over meanwhile: it will run again']),
  );
});

it('fails a job for good when its runs keep dying with their worker (maxAttempts counts those too)', async () => {
  const clock = new ManualClock();
  await enqueueJob(database.db, clock, { kind: 'test.poison', payload: { huge: true } });
  await claimAsDeadWorker(clock, 'test.poison', 1000, 'worker-1');
  clock.advance(1000);
  await claimAsDeadWorker(clock, 'test.poison', 1000, 'worker-2');
  clock.advance(1000);

  let runs = 0;
  const { runner } = runnerWith(database.db, clock, 'test.poison', async () => void runs++, { maxAttempts: 2, leaseMs: 1000 });
  expect(await runner.runDue()).toBe(0);
  expect(runs).toBe(0);
  const [row] = await jobRows(database.db);
  expect(row).toMatchObject({ state: 'failed', attempts: 3, locked_by: null });
  expect(row!.last_error).toMatch(/^gave up after 2 attempts; last: lease expired: worker worker-2 did not finish/);
});
