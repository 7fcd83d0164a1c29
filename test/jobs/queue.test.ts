/**
 * Enqueueing, dedupe, cancellation and due times, on a real database (PostgreSQL with DATABASE_URL,
 * else embedded PGlite), with a manual clock.
 */
import pino from 'pino';
import * as jobsMigration from '../../migrations/005_jobs';
import { ManualClock } from '../../src/clock';
import { cancelJobs, enqueueJob, jobStats, JobRunner, type JobContext, type Logger } from '../../src/jobs/queue';
import { jobRows, recordingLogger, useJobsDatabase } from './support';

const database = useJobsDatabase();

interface Run {
  payload: Record<string, unknown>;
  job: Omit<JobContext, 'log' | 'signal'>;
  at: Date;
}

function recordingRunner(clock: ManualClock, kinds: string[] = ['test.record']) {
  const runs: Run[] = [];
  const handler = async (payload: Record<string, unknown>, job: JobContext) => {
    runs.push({ payload, job: { id: job.id, kind: job.kind, attempt: job.attempt }, at: clock.now() });
  };
  const runner = new JobRunner({
    db: database.db,
    clock,
    log: recordingLogger(),
    handlers: Object.fromEntries(kinds.map((kind) => [kind, handler])),
  });
  return { runner, runs };
}

it('accepts a pino logger as its Logger', () => {
  const log: Logger = pino({ level: 'silent' });
  expect(() => new JobRunner({ db: database.db, clock: new ManualClock(), log, handlers: {} })).not.toThrow();
});

it('enqueues inside the caller\'s transaction: a rolled-back transaction leaves no job', async () => {
  const clock = new ManualClock();
  await expect(
    database.db.transaction(async (trx) => {
      await enqueueJob(trx, clock, { kind: 'test.record', payload: { n: 1 } });
      expect(await trx('jobs').select('kind')).toEqual([{ kind: 'test.record' }]);
      throw new Error('roll back');
    }),
  ).rejects.toThrow('roll back');
  expect(await jobRows(database.db)).toEqual([]);

  await database.db.transaction(async (trx) => {
    await enqueueJob(trx, clock, { kind: 'test.record', payload: { n: 2 } });
  });
  const rows = await jobRows(database.db);
  expect(rows).toHaveLength(1);
  expect(rows[0]).toMatchObject({ kind: 'test.record', payload: { n: 2 }, state: 'pending', attempts: 0, key: null, locked_by: null });
  expect(rows[0]!.run_at).toEqual(clock.now());
  expect(rows[0]!.created_at).toEqual(clock.now());
});

it('runs a job with its payload, id, kind and first attempt, then deletes it', async () => {
  const clock = new ManualClock();
  const { runner, runs } = recordingRunner(clock);
  await enqueueJob(database.db, clock, { kind: 'test.record', payload: { transferId: 'abc', sizes: [1, 2], nested: { ok: true } } });
  const [row] = await jobRows(database.db);

  expect(await runner.runDue()).toBe(1);
  expect(runs).toEqual([{ payload: { transferId: 'abc', sizes: [1, 2], nested: { ok: true } }, job: { id: String(row!.id), kind: 'test.record', attempt: 1 }, at: clock.now() }]);
  expect(await jobRows(database.db)).toEqual([]);
  expect(await runner.runDue()).toBe(0);
});

it('runs a job only once it is due by the clock, oldest first', async () => {
  const clock = new ManualClock(new Date('2025-03-01T12:00:00Z'));
  const { runner, runs } = recordingRunner(clock);
  const thirtyDays = 30 * 24 * 3600_000;
  await enqueueJob(database.db, clock, { kind: 'test.record', payload: { name: 'expiry' }, runAt: new Date(clock.now().getTime() + thirtyDays) });
  await enqueueJob(database.db, clock, { kind: 'test.record', payload: { name: 'later' }, runAt: new Date(clock.now().getTime() + 60_000) });
  await enqueueJob(database.db, clock, { kind: 'test.record', payload: { name: 'soon' }, runAt: new Date(clock.now().getTime() + 1_000) });

  expect(await runner.runDue()).toBe(0);
  clock.advance(999);
  expect(await runner.runDue()).toBe(0);
  clock.advance(1);
  expect(await runner.runDue()).toBe(1);
  clock.advance(thirtyDays);
  expect(await runner.runDue()).toBe(2);
  expect(runs.map((run) => run.payload.name)).toEqual(['soon', 'later', 'expiry']);
});

it('runs jobs that a handler enqueues for now within the same runDue', async () => {
  const clock = new ManualClock();
  const seen: number[] = [];
  const runner = new JobRunner({
    db: database.db,
    clock,
    log: recordingLogger(),
    handlers: {
      'test.chain': async (payload) => {
        const step = payload.step as number;
        seen.push(step);
        if (step < 5) await enqueueJob(database.db, clock, { kind: 'test.chain', payload: { step: step + 1 } });
      },
    },
  });
  await enqueueJob(database.db, clock, { kind: 'test.chain', payload: { step: 1 } });
  expect(await runner.runDue()).toBe(5);
  expect(seen).toEqual([1, 2, 3, 4, 5]);
});

it('stops after maxJobs', async () => {
  const clock = new ManualClock();
  const { runner, runs } = recordingRunner(clock);
  for (let n = 0; n < 7; n++) await enqueueJob(database.db, clock, { kind: 'test.record', payload: { n } });
  expect(await runner.runDue({ maxJobs: 3 })).toBe(3);
  expect(runs).toHaveLength(3);
  expect(await jobRows(database.db)).toHaveLength(4);
});

it('does not enqueue a job whose key is still pending, and enqueues it again once that one ran', async () => {
  const clock = new ManualClock();
  const { runner, runs } = recordingRunner(clock);
  expect(await enqueueJob(database.db, clock, { kind: 'test.record', key: 'scan:t1', payload: { first: true } })).toBe(true);
  expect(await enqueueJob(database.db, clock, { kind: 'test.record', key: 'scan:t1', payload: { first: false } })).toBe(false);
  expect(await enqueueJob(database.db, clock, { kind: 'test.record', key: 'scan:t2' })).toBe(true);
  expect(await jobRows(database.db)).toHaveLength(2);

  expect(await runner.runDue()).toBe(2);
  expect(runs.map((run) => run.payload)).toEqual([{ first: true }, {}]);
  expect(await enqueueJob(database.db, clock, { kind: 'test.record', key: 'scan:t1', payload: { again: true } })).toBe(true);
  expect(await runner.runDue()).toBe(1);
});

it('dedupes within concurrent transactions too (the unique index decides)', async () => {
  const clock = new ManualClock();
  const peer = database.openPeer();
  const results = await Promise.all([
    database.db.transaction((trx) => enqueueJob(trx, clock, { kind: 'test.record', key: 'purge:t9' })),
    peer.transaction((trx) => enqueueJob(trx, clock, { kind: 'test.record', key: 'purge:t9' })),
  ]);
  expect(results.sort()).toEqual([false, true]);
  expect(await jobRows(database.db)).toHaveLength(1);
});

it('cancels pending jobs by key, and leaves other keys alone', async () => {
  const clock = new ManualClock();
  const { runner, runs } = recordingRunner(clock);
  const in30Days = new Date(clock.now().getTime() + 30 * 24 * 3600_000);
  await enqueueJob(database.db, clock, { kind: 'test.record', key: 'expire:t1', runAt: in30Days, payload: { t: 1 } });
  await enqueueJob(database.db, clock, { kind: 'test.record', key: 'expire:t2', runAt: in30Days, payload: { t: 2 } });

  await database.db.transaction(async (trx) => {
    expect(await cancelJobs(trx, 'expire:t1')).toBe(1);
  });
  expect(await cancelJobs(database.db, 'expire:t1')).toBe(0);
  clock.set(in30Days);
  expect(await runner.runDue()).toBe(1);
  expect(runs.map((run) => run.payload)).toEqual([{ t: 2 }]);
});

it('claims only the kinds it has handlers for', async () => {
  const clock = new ManualClock();
  const { runner, runs } = recordingRunner(clock, ['test.mine']);
  await enqueueJob(database.db, clock, { kind: 'test.theirs', payload: { who: 'theirs' } });
  await enqueueJob(database.db, clock, { kind: 'test.mine', payload: { who: 'mine' } });
  expect(await runner.runDue()).toBe(1);
  expect(runs.map((run) => run.payload.who)).toEqual(['mine']);
  expect(await jobRows(database.db)).toEqual([expect.objectContaining({ kind: 'test.theirs', state: 'pending', attempts: 0 })]);
});

it('counts jobs by kind and state', async () => {
  const clock = new ManualClock();
  await enqueueJob(database.db, clock, { kind: 'broker.scan' });
  await enqueueJob(database.db, clock, { kind: 'broker.scan' });
  await enqueueJob(database.db, clock, { kind: 'broker.expire' });
  await database.db('jobs').where({ kind: 'broker.expire' }).update({ state: 'failed', failed_at: clock.now(), last_error: 'x' });
  expect(await jobStats(database.db)).toEqual([
    { kind: 'broker.expire', pending: 0, running: 0, failed: 1 },
    { kind: 'broker.scan', pending: 2, running: 0, failed: 0 },
  ]);
});

it('refuses a malformed job spec', async () => {
  const clock = new ManualClock();
  await expect(enqueueJob(database.db, clock, { kind: '' })).rejects.toThrow(/not a job kind/);
  await expect(enqueueJob(database.db, clock, { kind: 'has space' })).rejects.toThrow(/not a job kind/);
  await expect(enqueueJob(database.db, clock, { kind: 'ok', runAt: new Date('nonsense') })).rejects.toThrow(/runAt/);
  await expect(enqueueJob(database.db, clock, { kind: 'ok', key: '' })).rejects.toThrow(/key/);
  await expect(enqueueJob(database.db, clock, { kind: 'ok', payload: [1] as unknown as Record<string, unknown> })).rejects.toThrow(/payload/);
  expect(() => new JobRunner({ db: database.db, clock, log: recordingLogger(), handlers: { ok: { handler: async () => {}, maxAttempts: 0 } } })).toThrow(
    /maxAttempts/,
  );
  expect(await jobRows(database.db)).toEqual([]);
});

describe('migration 005_jobs', () => {
  it('refuses inconsistent rows: an unknown state, a running job without a lease', async () => {
    const row = { kind: 'test.schema', payload: {}, run_at: new Date(), created_at: new Date() };
    await expect(database.db('jobs').insert({ ...row, state: 'done' })).rejects.toThrow(/jobs_state_check/);
    await expect(database.db('jobs').insert({ ...row, state: 'running' })).rejects.toThrow(/jobs_running_has_lease/);
    await expect(database.db('jobs').insert({ ...row, state: 'pending', locked_by: 'w', locked_until: new Date(), lease_token: '00000000-0000-4000-8000-000000000000' })).rejects.toThrow(
      /jobs_running_has_lease/,
    );
  });

  it('goes down and up again', async () => {
    const migration = jobsMigration;
    await migration.down(database.db);
    expect(await database.db.schema.hasTable('jobs')).toBe(false);
    await migration.up(database.db);
    expect(await database.db.schema.hasTable('jobs')).toBe(true);
    await enqueueJob(database.db, new ManualClock(), { kind: 'test.after', key: 'k' });
    expect(await enqueueJob(database.db, new ManualClock(), { kind: 'test.after', key: 'k' })).toBe(false);
  });
});
