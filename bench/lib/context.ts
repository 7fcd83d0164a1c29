/**
 * What every scenario gets: the options, its directories, the benchmark database(s), the gateway
 * as a child process (`node bin/altinn-gateway.js serve` on its own port and DATA_DIR), baselines
 * as child processes, and in-process access to an archive for loading data.
 *
 * An archive is a database plus a DATA_DIR (blob store; the embedded database lives there too).
 * The main one is created by run.ts; a scenario may ask for more (queue-scale runs a small and a
 * large archive side by side). The embedded database (PGlite) must never be opened by two
 * processes at once, so on it `withArchive` stops that archive's gateway first.
 */
import fs from 'node:fs';
import path from 'node:path';
import { openApp, type App } from '../../src/app';
import { loadConfig } from '../../src/config';
import type { BenchOptions } from './args';
import { createBenchDatabase, type BenchDatabase } from './database';
import { freePort, spawnServer, type ChildServer } from './processes';

export interface Archive {
  name: string;
  db: BenchDatabase;
  dataDir: string;
}

export interface BenchContext {
  options: BenchOptions;
  quick: boolean;
  /** The main archive's database (its kind is the run's kind). */
  db: BenchDatabase;
  main: Archive;
  /** Project root. */
  rootDir: string;
  /** Temporary directory of this run (removed at the end unless --keep). */
  workDir: string;
  /** The main archive's DATA_DIR. */
  dataDir: string;
  /** Generated input files kept across runs (deterministic, so they are made once). */
  cacheDir: string;
  /** Another empty archive of the same kind (a fresh database; removed at the end). */
  createArchive(name: string): Promise<Archive>;
  /** Open an archive (default: main) in this process, run `work`, close it. */
  withArchive<T>(work: (app: App) => Promise<T>, archive?: Archive): Promise<T>;
  /**
   * (Re)start the gateway of an archive (default: main); a running one with as many workers is stopped
   * first. `workers` > 1 (Postgres only) starts it with WORKERS, beside a 1-process one if wanted.
   */
  startGateway(label: string, archive?: Archive, workers?: number): Promise<ChildServer>;
  stopGateway(archive?: Archive): Promise<void>;
  /** Start a baseline server: a script under dist/bench/baselines with arguments. */
  startBaseline(name: string, script: string, args: string[]): Promise<ChildServer>;
  /** Start a baseline that is another program: `command ...args <port> ...portArgs`, ready when GET readyPath answers 200. */
  startProgram(name: string, command: string, args: string[], portArgs: string[], readyPath: string): Promise<ChildServer>;
  /** Stop the gateways and drop the extra databases (not the main one: run.ts owns it). */
  dispose(): Promise<void>;
}

export function createContext(options: BenchOptions, db: BenchDatabase, rootDir: string, workDir: string, cacheDir: string): BenchContext {
  const logsDir = path.join(workDir, 'logs');
  const profilesDir = path.join(rootDir, 'bench', 'results', 'profiles');
  fs.mkdirSync(logsDir, { recursive: true });
  const gateways = new Map<string, ChildServer>();
  const extraDatabases: BenchDatabase[] = [];
  let starts = 0;

  const makeArchive = (name: string, database: BenchDatabase): Archive => {
    const dataDir = path.join(workDir, `data-${name}`);
    fs.mkdirSync(dataDir, { recursive: true });
    return { name, db: database, dataDir };
  };
  const main = makeArchive('main', db);

  const gatewayEnv = (archive: Archive, port: number): NodeJS.ProcessEnv => {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      DATA_DIR: archive.dataDir,
      // Request logging off (warnings and errors stay on): the baselines log nothing either.
      LOG_LEVEL: process.env.BENCH_GATEWAY_LOG_LEVEL || 'warn',
      NODE_ENV: 'production',
    };
    delete env.DATABASE_URL;
    delete env.BENCH_DATABASE_URL;
    if (archive.db.url) env.DATABASE_URL = archive.db.url;
    return env;
  };

  const context: BenchContext = {
    options,
    quick: options.quick,
    db,
    main,
    rootDir,
    workDir,
    dataDir: main.dataDir,
    cacheDir,
    createArchive: async (name) => {
      const database = db.kind === 'postgres' ? await createBenchDatabase(process.env) : await createBenchDatabase({});
      if (database.kind === 'postgres') extraDatabases.push(database);
      return makeArchive(name, database);
    },
    withArchive: async (work, archive = main) => {
      if (archive.db.kind === 'pglite') await context.stopGateway(archive);
      const config = loadConfig({ DATA_DIR: archive.dataDir, ...(archive.db.url && { DATABASE_URL: archive.db.url }) });
      const app = await openApp(config);
      try {
        if (archive.db.kind === 'pglite' && archive.db.version.startsWith('PGlite (')) {
          const { rows } = await app.db.raw<{ rows: { version: string }[] }>('select version()');
          archive.db.version = `PGlite (embedded) ${rows[0]!.version}`;
        }
        return await work(app);
      } finally {
        await app.close();
      }
    },
    startGateway: async (label, archive = main, workers = 1) => {
      const key = `${archive.name}:${workers}`;
      await gateways.get(key)?.stop();
      gateways.delete(key);
      if (archive.db.kind === 'pglite') await context.stopGateway(archive);
      const port = await freePort();
      const script = path.join(rootDir, 'bin', 'altinn-gateway.js');
      // BENCH_GATEWAY_NODE_ARGS: extra node flags for diagnosis, e.g. "--trace-gc".
      const extra = (process.env.BENCH_GATEWAY_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
      const profile = options.profile ? ['--cpu-prof', `--cpu-prof-dir=${profilesDir}`, `--cpu-prof-name=gateway-${label}-${Date.now()}.cpuprofile`] : [];
      const nodeArgs = [...extra, ...profile, script, 'serve'];
      if (options.profile) fs.mkdirSync(profilesDir, { recursive: true });
      const gateway = await spawnServer({
        name: `gateway (${archive.name}${workers > 1 ? `, ${workers} workers` : ''})`,
        nodeArgs,
        env: { ...gatewayEnv(archive, port), WORKERS: String(workers) },
        port,
        readyPath: '/health',
        logFile: path.join(logsDir, `gateway-${++starts}-${label}.log`),
        cwd: rootDir,
      });
      gateways.set(key, gateway);
      return gateway;
    },
    stopGateway: async (archive = main) => {
      const running = [...gateways].filter(([key]) => key.startsWith(`${archive.name}:`));
      for (const [key] of running) gateways.delete(key);
      await Promise.all(running.map(([, gateway]) => gateway.stop()));
    },
    startBaseline: async (name, script, args) => {
      const port = await freePort();
      return spawnServer({
        name,
        nodeArgs: [path.join(rootDir, 'dist', 'bench', 'baselines', script), String(port), ...args],
        env: { ...process.env, NODE_ENV: 'production' },
        port,
        readyPath: '/ready',
        logFile: path.join(logsDir, `${name}.log`),
        cwd: rootDir,
      });
    },
    startProgram: async (name, command, args, portArgs, readyPath) => {
      const port = await freePort();
      return spawnServer({
        name,
        command,
        nodeArgs: [...args, String(port), ...portArgs],
        env: process.env,
        port,
        readyPath,
        logFile: path.join(logsDir, `${name}.log`),
        cwd: rootDir,
        // A JVM starting Metro takes 5-10 s on a quiet 2-core machine, several times that on a busy one.
        readyTimeoutMs: 180_000,
      });
    },
    dispose: async () => {
      await Promise.allSettled([...gateways.values()].map((g) => g.stop()));
      gateways.clear();
      if (!options.keep) await Promise.allSettled(extraDatabases.map((d) => d.drop()));
    },
  };
  return context;
}

/** The gateway started with WORKERS=2, measured beside the 1-process one where the database is Postgres. */
export const GATEWAY_X2 = 'gateway ×2';

export function gatewayX2Note(started: boolean): string {
  return started
    ? `"${GATEWAY_X2}": the same gateway started with WORKERS=2 (two node:cluster worker processes sharing the port, on the same database); its CPU is the primary's, both workers' and their Postgres backends', its RSS the three processes' together.`
    : 'The gateway with WORKERS=2 left out: several processes need Postgres (the embedded database is single-process).';
}
