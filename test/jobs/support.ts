/**
 * A migrated database for the jobs tests, on DATABASE_URL's server (a fresh database) or in-memory
 * PGlite; `openPeer()` gives a second handle as a second gateway process would have one: its own
 * connection pool on PostgreSQL, the same (single-connection) handle on PGlite.
 */
import type { Knex } from 'knex';
import { openDatabase } from '../../src/storage/db';
import { migrateLatest } from '../../src/storage/migrate';
import type { Clock } from '../../src/clock';
import { JobRunner, type JobHandler, type JobKindOptions, type Logger } from '../../src/jobs/queue';
import { createTestDatabase } from '../helpers/database';

export { waitFor } from '../helpers/wait';

export interface JobsDatabase {
  db: Knex;
  embedded: boolean;
  openPeer(): Knex;
  close(): Promise<void>;
}

export async function openJobsDatabase(): Promise<JobsDatabase> {
  const database = await createTestDatabase();
  const db = openDatabase({ databaseUrl: database.databaseUrl });
  await migrateLatest(db);
  const peers: Knex[] = [];
  return {
    db,
    embedded: database.databaseUrl === undefined,
    openPeer() {
      if (database.databaseUrl === undefined) return db;
      const peer = openDatabase({ databaseUrl: database.databaseUrl });
      peers.push(peer);
      return peer;
    },
    async close() {
      try {
        for (const peer of peers) await peer.destroy();
        await db.destroy();
      } finally {
        await database.drop();
      }
    },
  };
}

/**
 * One database for the test file (opened before its first test, closed after its last) with an
 * empty jobs table before each test: call at the top of a test file. The handle it returns is
 * usable from the first test on.
 */
export function useJobsDatabase(): JobsDatabase {
  let opened: JobsDatabase | undefined;
  const current = () => {
    if (!opened) throw new Error('the jobs database is open only while the tests run');
    return opened;
  };
  beforeAll(async () => {
    opened = await openJobsDatabase();
  });
  afterAll(() => opened?.close());
  beforeEach(async () => {
    await current().db('jobs').delete();
  });
  return {
    get db() {
      return current().db;
    },
    get embedded() {
      return current().embedded;
    },
    openPeer: () => current().openPeer(),
    close: () => current().close(),
  };
}

/** A runner on `db` for one kind of job, telling a recording logger (returned with it). */
export function runnerWith(db: Knex, clock: Clock, kind: string, handler: JobHandler, options: JobKindOptions = {}, workerId?: string) {
  const log = recordingLogger();
  const runner = new JobRunner({ db, clock, log, handlers: { [kind]: { handler, ...options } }, ...(workerId && { workerId }) });
  return { runner, log };
}

export interface LogEntry {
  level: 'debug' | 'info' | 'warn' | 'error';
  bindings: Record<string, unknown>;
  obj: object;
  msg: string | undefined;
}

/** A Logger that keeps what it was told, with the bindings of the child it was told through. */
export function recordingLogger(entries: LogEntry[] = [], bindings: Record<string, unknown> = {}): Logger & { entries: LogEntry[] } {
  const at = (level: LogEntry['level']) => (obj: object, msg?: string) => {
    entries.push({ level, bindings, obj, msg });
  };
  return {
    entries,
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (more) => recordingLogger(entries, { ...bindings, ...more }),
  };
}

/** A promise with its resolver, to hold a handler at a point the test chooses. */
export function deferred<T = void>(): { promise: Promise<T>; resolve(value: T): void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

export async function jobRows(db: Knex): Promise<Array<Record<string, any>>> {
  return db('jobs').select('*').orderBy('id');
}
