/**
 * The database handle: knex over node-postgres when DATABASE_URL is set, otherwise over an
 * embedded PGlite persisted under DATA_DIR (zero setup for a newcomer; single connection).
 */
import fs from 'node:fs';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { knex, type Knex } from 'knex';
import pg from 'pg';
import { openDurablePGlite } from './durable-pglite';
import { ADMIN_SOCKET_PORT } from './embedded-admin-socket';

// bigint columns (form task ids, sizes) come back as strings from node-postgres; every value we
// store fits a double exactly, and PGlite already returns numbers, so both backends agree.
pg.types.setTypeParser(pg.types.builtins.INT8, (value: string) => Number(value));

export type Db = Knex;

export interface DbOptions {
  databaseUrl?: string | undefined;
  /** Directory for the embedded database; undefined with no URL → in-memory PGlite (tests). */
  embeddedDir?: string | undefined;
  poolMax?: number;
  /**
   * The admin socket directory of a running server that holds the embedded database
   * (embedded-admin-socket.ts): connect through it instead of opening PGlite here.
   */
  serverSocketDirectory?: string | undefined;
  /** Where knex's own warnings go (as JSON log lines, not console text); console when absent. */
  log?: { warn(message: string): void; error(message: string): void; debug(message: string): void };
}

export function describeDatabase(options: DbOptions): string {
  if (options.databaseUrl) {
    const url = new URL(options.databaseUrl);
    return `PostgreSQL at ${url.hostname}:${url.port || 5432}${url.pathname}`;
  }
  if (options.serverSocketDirectory) return `embedded PGlite in ${options.embeddedDir}, through the running server`;
  return options.embeddedDir ? `embedded PGlite in ${options.embeddedDir}` : 'embedded PGlite in memory';
}

const embeddedInstances = new WeakMap<Db, PGlite>();

/** The PGlite instance behind `db`, when this process opened the embedded database itself. */
export function embeddedPglite(db: Db): PGlite | undefined {
  return embeddedInstances.get(db);
}

export function openDatabase(options: DbOptions): Db {
  if (options.databaseUrl) {
    return knex({
      client: 'pg',
      connection: { connectionString: options.databaseUrl },
      pool: { min: 0, max: options.poolMax ?? 10 },
      ...(options.log && { log: knexLog(options.log) }),
    });
  }
  if (options.serverSocketDirectory) {
    return knex({
      client: 'pg',
      connection: { host: options.serverSocketDirectory, port: ADMIN_SOCKET_PORT, user: 'postgres', database: 'postgres' },
      // The server runs one client statement at a time in its single session: one connection is all there is.
      pool: { min: 0, max: 1 },
      ...(options.log && { log: knexLog(options.log) }),
    });
  }
  // knex-pglite is a CommonJS module whose export is the client class itself.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ClientPgLite = require('knex-pglite');
  if (options.embeddedDir) fs.mkdirSync(path.dirname(options.embeddedDir), { recursive: true });
  // In memory (tests) there is nothing to make durable; on disk, see durable-pglite.ts.
  const pglite = options.embeddedDir ? openDurablePGlite(options.embeddedDir) : new PGlite();
  // knex-pglite takes an instance of our own as `connection.pglite` (its typings only know knex's shapes).
  const db = knex({
    client: ClientPgLite,
    connection: { pglite } as unknown as Knex.StaticConnectionConfig,
    ...(options.log && { log: knexLog(options.log) }),
  });
  embeddedInstances.set(db, pglite);
  return db;
}

function knexLog(log: NonNullable<DbOptions['log']>): Knex.Config['log'] {
  const text = (message: unknown) => (typeof message === 'string' ? message : String(message));
  return {
    warn: (message) => log.warn(text(message)),
    error: (message) => log.error(text(message)),
    deprecate: (method, alternative) => log.warn(`${method} is deprecated, use ${alternative}`),
    debug: (message) => log.debug(text(message)),
  };
}

/** Why the database cannot answer a query right now, or undefined when it can (health checks). */
export async function databaseProblem(db: Db): Promise<string | undefined> {
  try {
    await db.raw('select 1');
    return undefined;
  } catch (error) {
    return (error as Error).message || String(error);
  }
}

/** True for a unique-constraint violation, whichever backend raised it. */
export function isUniqueViolation(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: string }).code === '23505';
}

/** Connection failures a PostgreSQL server that is starting, restarting or not yet resolvable gives. */
const TRANSIENT_CONNECTION_ERRORS = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', '57P03']);

export interface WaitForDatabaseOptions {
  /** Keep retrying for this long; then the last failure is reported. */
  retryForMs: number;
  /** For the log line of each retry and the final message. */
  description: string;
  log: { warn(fields: object, message: string): void };
}

/**
 * Start-up against a PostgreSQL server that may not be up yet (compose, a restarting server): retry
 * a first query with growing pauses (0.5 s to 5 s) for `retryForMs`, logging each failure, then give
 * up with one clear error. A failure that waiting cannot cure (wrong password, no such database) is
 * reported at once.
 */
export async function waitForDatabase(db: Db, options: WaitForDatabaseOptions): Promise<void> {
  const started = Date.now();
  for (let attempt = 1; ; attempt++) {
    try {
      await db.raw('select 1');
      return;
    } catch (error) {
      const code = (error as { code?: string }).code;
      const reason = (error as Error).message || code || String(error);
      if (!code || !TRANSIENT_CONNECTION_ERRORS.has(code)) throw new Error(`Cannot use ${options.description}: ${reason}`);
      const elapsed = Date.now() - started;
      if (elapsed >= options.retryForMs) {
        throw new Error(`Cannot reach ${options.description} (tried for ${Math.round(elapsed / 1000)} s, ${attempt} attempts): ${reason}`);
      }
      const pauseMs = Math.min(500 * 2 ** (attempt - 1), 5000, options.retryForMs - elapsed);
      options.log.warn({ attempt, error: reason, retryInMs: pauseMs }, `cannot reach ${options.description} yet, retrying`);
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
  }
}
