/**
 * The database handle: knex over node-postgres when DATABASE_URL is set, otherwise over an
 * embedded PGlite persisted under DATA_DIR (zero setup for a newcomer; single connection).
 */
import fs from 'node:fs';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { knex, type Knex } from 'knex';
import pg from 'pg';
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
    });
  }
  if (options.serverSocketDirectory) {
    return knex({
      client: 'pg',
      connection: { host: options.serverSocketDirectory, port: ADMIN_SOCKET_PORT, user: 'postgres', database: 'postgres' },
      // The server runs one client statement at a time in its single session: one connection is all there is.
      pool: { min: 0, max: 1 },
    });
  }
  // knex-pglite is a CommonJS module whose export is the client class itself.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ClientPgLite = require('knex-pglite');
  if (options.embeddedDir) fs.mkdirSync(path.dirname(options.embeddedDir), { recursive: true });
  const pglite = new PGlite(options.embeddedDir);
  // knex-pglite takes an instance of our own as `connection.pglite` (its typings only know knex's shapes).
  const db = knex({ client: ClientPgLite, connection: { pglite } as unknown as Knex.StaticConnectionConfig });
  embeddedInstances.set(db, pglite);
  return db;
}

/** True for a unique-constraint violation, whichever backend raised it. */
export function isUniqueViolation(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: string }).code === '23505';
}
