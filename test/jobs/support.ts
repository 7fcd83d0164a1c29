/**
 * A migrated database for the jobs tests, on DATABASE_URL's server (a fresh database) or in-memory
 * PGlite; `openPeer()` gives a second handle as a second gateway process would have one: its own
 * connection pool on PostgreSQL, the same (single-connection) handle on PGlite.
 */
import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { Client } from 'pg';
import { openDatabase } from '../../src/storage/db';
import { migrateLatest } from '../../src/storage/migrate';
import type { Logger } from '../../src/jobs/queue';

export interface JobsDatabase {
  db: Knex;
  embedded: boolean;
  openPeer(): Knex;
  close(): Promise<void>;
}

export async function openJobsDatabase(): Promise<JobsDatabase> {
  const database = await createServerDatabase(process.env.DATABASE_URL || undefined);
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

/** Waits until `condition` holds, checked every few ms; gives up (failing the test) after 30 s. */
export async function waitFor(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const giveUpAt = Date.now() + 30_000;
  while (!(await condition())) {
    if (Date.now() > giveUpAt) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
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

/**
 * Like test/helpers/database.ts's createTestDatabase (a fresh `agw_test_<random>` database, dropped
 * on close), without importing the whole app: these tests need only the jobs table.
 */
async function createServerDatabase(serverUrl: string | undefined): Promise<{ databaseUrl: string | undefined; drop(): Promise<void> }> {
  if (!serverUrl) return { databaseUrl: undefined, drop: async () => {} };
  const name = `agw_test_${randomBytes(6).toString('hex')}`;
  await withAdminClient(serverUrl, (client) => client.query(`CREATE DATABASE ${name}`));
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    databaseUrl: url.toString(),
    drop: () =>
      withAdminClient(serverUrl, async (client) => {
        await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
        await client.query(`DROP DATABASE IF EXISTS ${name}`);
      }),
  };
}

async function withAdminClient<T>(serverUrl: string, work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: serverUrl });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}
