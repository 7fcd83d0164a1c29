/**
 * The benchmark's own database. With BENCH_DATABASE_URL (or DATABASE_URL) a fresh database
 * `agw_bench_<random>` is created on that Postgres server and dropped at the end; without, the
 * gateway runs on embedded PGlite under its DATA_DIR (single process at a time, and slow for
 * bulk data, so the scenarios scale down).
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export interface BenchDatabase {
  kind: 'postgres' | 'pglite';
  /** DATABASE_URL for the gateway and the loaders; undefined → embedded PGlite under DATA_DIR. */
  url: string | undefined;
  /** e.g. `PostgreSQL 15.20 …`; filled in when first known. */
  version: string;
  /** Where it lives, for the report (no credentials). */
  description: string;
  drop(): Promise<void>;
}

export async function createBenchDatabase(env: NodeJS.ProcessEnv): Promise<BenchDatabase> {
  const serverUrl = env.BENCH_DATABASE_URL || env.DATABASE_URL;
  if (!serverUrl) {
    return { kind: 'pglite', url: undefined, version: 'PGlite (version read at load time)', description: 'embedded PGlite', drop: async () => {} };
  }
  const name = `agw_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  let version: string;
  let major: number;
  try {
    version = (await admin.query<{ version: string }>('select version()')).rows[0]!.version;
    major = Number((await admin.query<{ server_version_num: string }>('show server_version_num')).rows[0]!.server_version_num) / 10000;
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  let dropped = false;
  return {
    kind: 'postgres',
    url: url.toString(),
    version,
    description: `PostgreSQL at ${url.hostname}:${url.port || 5432}, fresh database ${name}`,
    drop: async () => {
      if (dropped) return;
      dropped = true;
      const client = new pg.Client({ connectionString: serverUrl });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name}${major >= 13 ? ' WITH (FORCE)' : ''}`);
      } finally {
        await client.end();
      }
    },
  };
}
