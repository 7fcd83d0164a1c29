/**
 * Durable background jobs (src/jobs/): one row per job that is still to run, running, or failed for
 * good. A job that succeeds is deleted.
 *
 * - state 'pending': waits for run_at. 'running': claimed by locked_by until locked_until (a lease the
 *   worker extends while it runs; once it has passed, another worker may reclaim the job). 'failed':
 *   gave up after its kind's maxAttempts; kept with last_error for operators.
 * - lease_token: new on every claim, so a worker whose lease was taken over can no longer finish,
 *   retry or extend the job it lost.
 * - key: at most one pending job per key (dedupe, and cancellation by key).
 * - Every timestamp is written from the application's clock, never the database's now(), so tests
 *   that move a manual clock see consistent times.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('jobs', (t) => {
    t.bigIncrements('id');
    t.text('kind').notNullable();
    t.jsonb('payload').notNullable().defaultTo(knex.raw(`'{}'::jsonb`));
    t.text('key');
    t.text('state').notNullable().defaultTo('pending');
    t.timestamp('run_at', { useTz: true }).notNullable();
    // Claims so far, less those that did not count (RetryLater, released unstarted on shutdown).
    t.integer('attempts').notNullable().defaultTo(0);
    t.text('locked_by');
    t.timestamp('locked_until', { useTz: true });
    t.uuid('lease_token');
    t.text('last_error');
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.timestamp('failed_at', { useTz: true });
  });
  await knex.raw(`ALTER TABLE jobs ADD CONSTRAINT jobs_state_check CHECK (state IN ('pending', 'running', 'failed'))`);
  await knex.raw(`ALTER TABLE jobs ADD CONSTRAINT jobs_running_has_lease
    CHECK ((state = 'running') = (locked_by IS NOT NULL AND locked_until IS NOT NULL AND lease_token IS NOT NULL))`);
  await knex.raw(`CREATE UNIQUE INDEX jobs_pending_key ON jobs (key) WHERE state = 'pending'`);
  // The two ways a job becomes claimable: due, or its lease ran out.
  await knex.raw(`CREATE INDEX jobs_pending_run_at ON jobs (run_at, id) WHERE state = 'pending'`);
  await knex.raw(`CREATE INDEX jobs_running_locked_until ON jobs (locked_until) WHERE state = 'running'`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('jobs');
}
