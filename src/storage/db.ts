/**
 * The database handle: knex over node-postgres when DATABASE_URL is set, otherwise over an
 * embedded PGlite persisted under DATA_DIR (zero setup for a newcomer; single connection).
 */
import fs from 'node:fs';
import path from 'node:path';
import { knex, type Knex } from 'knex';
import pg from 'pg';
import { openDurablePGlite } from './durable-pglite';

// bigint columns (form task ids, sizes) come back as strings from node-postgres; every value we
// store fits a double exactly, and PGlite already returns numbers, so both backends agree.
pg.types.setTypeParser(pg.types.builtins.INT8, (value: string) => Number(value));

export type Db = Knex;

export interface DbOptions {
  databaseUrl?: string | undefined;
  /** Directory for the embedded database; undefined with no URL → in-memory PGlite (tests). */
  embeddedDir?: string | undefined;
  poolMax?: number;
}

export function describeDatabase(options: DbOptions): string {
  if (options.databaseUrl) {
    const url = new URL(options.databaseUrl);
    return `PostgreSQL at ${url.hostname}:${url.port || 5432}${url.pathname}`;
  }
  return options.embeddedDir ? `embedded PGlite in ${options.embeddedDir}` : 'embedded PGlite in memory';
}

export function openDatabase(options: DbOptions): Db {
  if (options.databaseUrl) {
    return knex({
      client: 'pg',
      connection: { connectionString: options.databaseUrl },
      pool: { min: 0, max: options.poolMax ?? 10 },
    });
  }
  // knex-pglite is a CommonJS module whose export is the client class itself.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ClientPgLite = require('knex-pglite');
  if (options.embeddedDir) fs.mkdirSync(path.dirname(options.embeddedDir), { recursive: true });
  return knex({
    client: ClientPgLite,
    // In memory (tests) there is nothing to make durable; on disk, see durable-pglite.ts.
    // (knex-pglite takes an instance as `connection.pglite`, which knex's types do not know.)
    connection: (options.embeddedDir ? { pglite: openDurablePGlite(options.embeddedDir) } : {}) as Knex.StaticConnectionConfig,
  });
}

/** True for a unique-constraint violation, whichever backend raised it. */
export function isUniqueViolation(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: string }).code === '23505';
}
