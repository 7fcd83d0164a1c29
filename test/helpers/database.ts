/**
 * Real databases for tests, isolated per test file (or per test).
 *
 * - `DATABASE_URL` set (e.g. `postgres://postgres@127.0.0.1:5432/test`): a fresh database named
 *   `agw_test_<random>` is created on that server and dropped again on close, so test files can
 *   run in parallel and never see each other's rows. The role needs CREATEDB.
 * - Unset: in-memory PGlite (embedded Postgres), one per app.
 *
 * Usage:
 *   let app: TestApp;
 *   beforeAll(async () => { app = await createTestApp({ auth: { maxFailedAttempts: 3, lockSeconds: 1, verifiedCacheSeconds: 0 } }); });
 *   afterAll(() => app.close());
 *
 * `createTestDatabase()` alone gives a database URL (or undefined for embedded) for tests that
 * open the app themselves, e.g. by running CLI commands with `DATABASE_URL` in their environment.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { openApp, type App } from '../../src/app';
import type { Clock } from '../../src/clock';
import { loadConfig, type Config } from '../../src/config';

export type TestApp = App & {
  /** Fresh temporary DATA_DIR (blobs live under `${dataDir}/blobs`); removed on close. */
  dataDir: string;
};

export interface TestDatabase {
  /** URL of the fresh server database, or undefined when tests should use embedded PGlite. */
  databaseUrl: string | undefined;
  /** Drops the server database (terminating its connections first); a no-op for embedded. */
  drop(): Promise<void>;
}

/** A fresh, empty database on DATABASE_URL's server, or `{ databaseUrl: undefined }` without one. */
export async function createTestDatabase(serverUrl: string | undefined = process.env.DATABASE_URL || undefined): Promise<TestDatabase> {
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

export interface TestAppOptions {
  /** The app's clock (a ManualClock to move time); the system clock when absent. */
  clock?: Clock;
}

/**
 * An opened, migrated app on a fresh database and a fresh DATA_DIR. Configuration is the
 * defaults (not the process environment, apart from DATABASE_URL) with `overrides` applied on top.
 * `close()` closes the app, drops the database and removes the DATA_DIR.
 */
export async function createTestApp(overrides: Partial<Config> = {}, options: TestAppOptions = {}): Promise<TestApp> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'agw-test-'));
  const database = await createTestDatabase();
  let app: App;
  try {
    const config: Config = { ...loadConfig({ LOG_LEVEL: 'silent' }), dataDir, databaseUrl: database.databaseUrl, ...overrides };
    app = await openApp(config, { inMemory: !config.databaseUrl, clock: options.clock });
  } catch (error) {
    await database.drop();
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
  return {
    ...app,
    dataDir,
    close: async () => {
      try {
        await app.close();
      } finally {
        await database.drop();
        await rm(dataDir, { recursive: true, force: true });
      }
    },
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
