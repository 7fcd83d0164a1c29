/**
 * The polling loop: start/wake, several runners on one database running each job exactly once,
 * and stop() (waits for running handlers, gives back claimed jobs it did not start, bounded).
 * On PostgreSQL the second runner has its own connection pool, as a second gateway process would;
 * on PGlite both share the one in-process connection.
 */
import { ManualClock, systemClock } from '../../src/clock';
import { enqueueJob, jobStats, JobRunner, type JobHandler } from '../../src/jobs/queue';
import { deferred, jobRows, recordingLogger, useJobsDatabase, waitFor, type JobsDatabase } from './support';

const database = useJobsDatabase();

const runners: JobRunner[] = [];
afterEach(async () => {
  await Promise.all(runners.splice(0).map((runner) => runner.stop({ timeoutMs: 1000 })));
});

function startRunner(options: { db?: JobsDatabase['db']; handlers: Record<string, JobHandler>; concurrency?: number; pollIntervalMs?: number; workerId?: string; clock?: ManualClock }) {
  const log = recordingLogger();
  const runner = new JobRunner({
    db: options.db ?? database.db,
    clock: options.clock ?? systemClock,
    log,
    handlers: options.handlers,
    concurrency: options.concurrency ?? 2,
    pollIntervalMs: options.pollIntervalMs ?? 3_600_000,
    ...(options.workerId && { workerId: options.workerId }),
  });
  runners.push(runner);
  runner.start();
  return { runner, log };
}

it('runs what is due when started, and what is enqueued later as soon as it is woken', async () => {
  const seen: unknown[] = [];
  await enqueueJob(database.db, systemClock, { kind: 'test.loop', payload: { n: 1 } });
  // An hour between idle polls: only start() and wake() can explain the runs below.
  const { runner } = startRunner({ handlers: { 'test.loop': async (payload) => void seen.push(payload.n) } });
  await waitFor(() => seen.length === 1, 'the first job');

  await database.db.transaction((trx) => enqueueJob(trx, systemClock, { kind: 'test.loop', payload: { n: 2 } }));
  runner.wake();
  await waitFor(() => seen.length === 2, 'the woken job');
  expect(seen).toEqual([1, 2]);
  await waitFor(async () => (await jobRows(database.db)).length === 0, 'the rows to go');
});

it('polls again at once after a poll that found work, until nothing is due', async () => {
  const seen: number[] = [];
  for (let n = 0; n < 9; n++) await enqueueJob(database.db, systemClock, { kind: 'test.burst', payload: { n } });
  startRunner({ handlers: { 'test.burst': async (payload) => void seen.push(payload.n as number) }, concurrency: 1 });
  await waitFor(() => seen.length === 9, 'all nine jobs, one at a time');
  expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
});

it('makes a job enqueued for later due when a manual clock reaches it (the loop reads the clock)', async () => {
  const clock = new ManualClock();
  const seen: string[] = [];
  await enqueueJob(database.db, clock, { kind: 'test.timed', payload: { at: 'later' }, runAt: new Date(clock.now().getTime() + 3600_000) });
  await enqueueJob(database.db, clock, { kind: 'test.timed', payload: { at: 'now' } });
  const { runner } = startRunner({ clock, handlers: { 'test.timed': async (payload) => void seen.push(payload.at as string) } });
  await waitFor(async () => (await jobRows(database.db)).length === 1, 'the due job to run');
  expect(seen).toEqual(['now']);
  clock.advance(3600_000);
  runner.wake();
  await waitFor(() => seen.length === 2, 'the job to become due');
  expect(seen).toEqual(['now', 'later']);
});

it('runs every job exactly once with two runners on one database (many jobs)', async () => {
  const jobCount = 300;
  const executions = new Map<number, number>();
  const inFlight = new Set<number>();
  const overlaps: number[] = [];
  const byRunner = { a: 0, b: 0 };
  const handler = (runner: 'a' | 'b'): JobHandler => async (payload) => {
    const n = payload.n as number;
    if (inFlight.has(n)) overlaps.push(n);
    inFlight.add(n);
    executions.set(n, (executions.get(n) ?? 0) + 1);
    byRunner[runner]++;
    // Yield a little so runs interleave across runners and slots.
    await new Promise((resolve) => setTimeout(resolve, n % 3));
    inFlight.delete(n);
  };
  for (let n = 0; n < jobCount; n++) await enqueueJob(database.db, systemClock, { kind: 'test.once', payload: { n } });

  startRunner({ handlers: { 'test.once': handler('a') }, concurrency: 4, pollIntervalMs: 10, workerId: 'runner-a' });
  startRunner({ db: database.openPeer(), handlers: { 'test.once': handler('b') }, concurrency: 4, pollIntervalMs: 10, workerId: 'runner-b' });
  await waitFor(async () => (await jobStats(database.db)).length === 0, 'the queue to drain');

  expect(overlaps).toEqual([]);
  expect(executions.size).toBe(jobCount);
  expect([...executions.values()].every((count) => count === 1)).toBe(true);
  expect(byRunner.a + byRunner.b).toBe(jobCount);
  // Both took part: the test would prove nothing if one runner had done all the work.
  expect(byRunner.a).toBeGreaterThan(0);
  expect(byRunner.b).toBeGreaterThan(0);
});

it('runs every job exactly once with two runners draining with runDue at the same time', async () => {
  const clock = new ManualClock();
  const executions = new Map<number, number>();
  const handler: JobHandler = async (payload) => {
    const n = payload.n as number;
    executions.set(n, (executions.get(n) ?? 0) + 1);
    await new Promise((resolve) => setImmediate(resolve));
  };
  for (let n = 0; n < 120; n++) await enqueueJob(database.db, clock, { kind: 'test.drain', payload: { n } });
  const a = new JobRunner({ db: database.db, clock, log: recordingLogger(), handlers: { 'test.drain': handler }, concurrency: 3, workerId: 'drain-a' });
  const b = new JobRunner({ db: database.openPeer(), clock, log: recordingLogger(), handlers: { 'test.drain': handler }, concurrency: 3, workerId: 'drain-b' });
  const [ranA, ranB] = await Promise.all([a.runDue(), b.runDue()]);
  expect(ranA + ranB).toBe(120);
  expect(executions.size).toBe(120);
  expect([...executions.values()].every((count) => count === 1)).toBe(true);
  expect(await jobRows(database.db)).toEqual([]);
});

it('stop() waits for a running handler to finish', async () => {
  const started = deferred();
  const release = deferred();
  await enqueueJob(database.db, systemClock, { kind: 'test.slow' });
  const { runner } = startRunner({
    handlers: {
      'test.slow': async () => {
        started.resolve();
        await release.promise;
      },
    },
  });
  await started.promise;

  let stopped = false;
  const stopping = runner.stop().then(() => {
    stopped = true;
  });
  await new Promise((resolve) => setTimeout(resolve, 50));
  expect(stopped).toBe(false);
  expect(await jobRows(database.db)).toEqual([expect.objectContaining({ state: 'running' })]);

  release.resolve();
  await stopping;
  expect(await jobRows(database.db)).toEqual([]);
});

it('stop() gives back jobs it claimed but had not started, as if never claimed', async () => {
  let runs = 0;
  await enqueueJob(database.db, systemClock, { kind: 'test.unstarted', payload: { n: 1 } });
  await enqueueJob(database.db, systemClock, { kind: 'test.unstarted', payload: { n: 2 } });

  const before = await jobRows(database.db);

  // Hold the claim back: on PGlite by occupying the one connection, on PostgreSQL by a table lock.
  const blocker = await database.db.transaction();
  if (!database.embedded) await blocker.raw('LOCK TABLE jobs IN ACCESS EXCLUSIVE MODE');
  let stopping: Promise<void> | undefined;
  let log: ReturnType<typeof recordingLogger>;
  try {
    const started = startRunner({ handlers: { 'test.unstarted': async () => void runs++ } });
    log = started.log;
    await waitFor(async () => (database.embedded ? claimWaitsForConnection() : claimWaitsForLock()), 'the claim to be under way');
    stopping = started.runner.stop();
  } finally {
    await blocker.commit();
  }
  await stopping;

  expect(runs).toBe(0);
  const rows = await jobRows(database.db);
  expect(rows).toEqual(before.map((row) => ({ ...row, state: 'pending', attempts: 0, locked_by: null, locked_until: null, lease_token: null })));
  expect(log.entries.filter((entry) => entry.msg === 'gave back a job claimed as the runner stopped')).toHaveLength(2);
});

it('stop() gives up waiting after its timeout, signals the handler, and leaves the job leased', async () => {
  const started = deferred();
  const release = deferred();
  let aborted: unknown;
  await enqueueJob(database.db, systemClock, { kind: 'test.stuck' });
  const { runner, log } = startRunner({
    handlers: {
      'test.stuck': async (_payload, job) => {
        job.signal.addEventListener('abort', () => {
          aborted = job.signal.reason;
        });
        started.resolve();
        await release.promise;
      },
    },
  });
  await started.promise;
  await runner.stop({ timeoutMs: 20 });
  expect(String(aborted)).toMatch(/stopping/);
  expect(await jobRows(database.db)).toEqual([expect.objectContaining({ state: 'running' })]);
  expect(log.entries.some((entry) => entry.level === 'warn' && /still running when the runner stopped/.test(entry.msg ?? ''))).toBe(true);
  release.resolve();
  await waitFor(async () => (await jobRows(database.db)).length === 0, 'the handler to finish and its job to go');
});

/** PGlite: the runner's claim is queued for the single connection the blocker holds. */
function claimWaitsForConnection(): boolean {
  const pool = (database.db.client as { pool?: { numPendingAcquires(): number } }).pool;
  return (pool?.numPendingAcquires() ?? 0) > 0;
}

/**
 * PostgreSQL: the runner's claim waits for the blocker's table lock. Asked on a connection of its
 * own, outside a transaction: pg_stat_activity is a snapshot held for the rest of a transaction.
 */
async function claimWaitsForLock(): Promise<boolean> {
  const result = (await database.db.raw(
    `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%FOR UPDATE SKIP LOCKED%'`,
  )) as { rows: Array<{ n: number }> };
  return result.rows[0]!.n > 0;
}
