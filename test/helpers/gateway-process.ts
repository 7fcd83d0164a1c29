/**
 * A real gateway process for kill -9 tests: the compiled `altinn-gateway serve` (compiled from the
 * sources as they are now), started on a fresh database and DATA_DIR, killed with SIGKILL and
 * restarted on the same data; its database read between runs by the CLI's own app, and its blob
 * store listed as files.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openApp, type App } from '../../src/app';
import { main } from '../../src/cli/main';
import { loadConfig } from '../../src/config';
import { CapturedOutput } from './cli-runner';
import { createTestDatabase, type TestDatabase } from './database';
import { freePort } from './processes';

const ROOT = path.resolve(__dirname, '../..');
/** The local token issuer's key in DATA_DIR (src/auth/end-user-tokens.ts). */
const ISSUER_KEY_FILE = 'jwt-issuer-key.json';

export interface GatewayProcess {
  env: NodeJS.ProcessEnv;
  port: number;
  url: string;
  /** What the gateway processes logged. */
  log: string;
  start(): Promise<void>;
  kill9(): Promise<void>;
  /** SIGTERM (a graceful shutdown); resolves with the exit code. */
  terminate(): Promise<number | null>;
  /**
   * Another gateway process on the same database and environment, with its own port and DATA_DIR
   * (the local issuer's key copied, so tokens work on both): a second instance. PostgreSQL only.
   */
  sibling(): Promise<GatewayProcess>;
  /** An admin command, in-process, on the gateway's data (the embedded database: only while it is down). */
  cli(args: string[]): Promise<string>;
  /** Work on the gateway's data through the app (closed again at once; the embedded database: only while it is down). */
  inspect<T>(work: (app: App) => Promise<T>): Promise<T>;
  rows<T>(sql: string, bindings?: unknown[]): Promise<T[]>;
  blobFiles(): Promise<{ blobs: string[]; partials: string[] }>;
  eventually(check: () => Promise<boolean>, what: string, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** Compile the sources into dist/ (the child process runs the compiled gateway). */
export function buildGateway(): void {
  const build = spawnSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', path.join(ROOT, 'tsconfig.build.json')], { encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`npm run build failed:\n${build.stdout}${build.stderr}`);
}

export async function createGatewayProcess(extraEnv: NodeJS.ProcessEnv = {}): Promise<GatewayProcess> {
  buildGateway();
  return gatewayProcessOn(await createTestDatabase(), extraEnv, true);
}

async function gatewayProcessOn(database: TestDatabase, extraEnv: NodeJS.ProcessEnv, ownsDatabase: boolean): Promise<GatewayProcess> {
  const workDir = await mkdtemp(path.join(tmpdir(), 'agw-crash-'));
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    DATA_DIR: path.join(workDir, 'data'),
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    JOBS_POLL_INTERVAL_MS: '100',
    ...(database.databaseUrl && { DATABASE_URL: database.databaseUrl }),
    ...extraEnv,
  };
  let child: ChildProcess | undefined;

  const gateway: GatewayProcess = {
    env,
    port,
    url: `http://127.0.0.1:${port}`,
    log: '',
    async start() {
      const started = spawn(process.execPath, [path.join(ROOT, 'bin/altinn-gateway.js'), 'serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      started.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      started.stdout!.on('data', (chunk: Buffer) => (gateway.log += chunk.toString()));
      child = started;
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline) {
        if (started.exitCode !== null) throw new Error(`the gateway exited (${started.exitCode}): ${stderr}`);
        const healthy = await fetch(`${gateway.url}/health`).then((r) => r.ok, () => false);
        if (healthy) return;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      throw new Error(`the gateway did not start: ${stderr}`);
    },
    async kill9() {
      const running = child!;
      child = undefined;
      const exited = new Promise((resolve) => running.once('exit', resolve));
      running.kill('SIGKILL');
      await exited;
    },
    async terminate() {
      const running = child!;
      child = undefined;
      const exited = new Promise<number | null>((resolve) => running.once('exit', (code) => resolve(code)));
      running.kill('SIGTERM');
      return exited;
    },
    async sibling() {
      if (!database.databaseUrl) throw new Error('a second gateway process needs DATABASE_URL (the embedded database is for one process)');
      const { PORT: _port, DATA_DIR: _dataDir, ...shared } = env;
      const twin = await gatewayProcessOn(database, shared, false);
      await mkdir(twin.env.DATA_DIR!, { recursive: true });
      await copyFile(path.join(env.DATA_DIR!, ISSUER_KEY_FILE), path.join(twin.env.DATA_DIR!, ISSUER_KEY_FILE));
      return twin;
    },
    async cli(args) {
      const stdout = new CapturedOutput();
      const stderr = new CapturedOutput();
      const code = await main(args, { stdin: process.stdin, stdout, stderr, env });
      if (code !== 0) throw new Error(`altinn-gateway ${args.join(' ')} failed: ${stderr.text}`);
      return stdout.text;
    },
    async inspect(work) {
      const app = await openApp(loadConfig(env), { migrate: false });
      try {
        return await work(app);
      } finally {
        await app.close();
      }
    },
    rows: (sql, bindings = []) => gateway.inspect(async (app) => (await app.db.raw(sql, bindings as never[])).rows),
    async blobFiles() {
      const root = path.join(env.DATA_DIR!, 'blobs');
      const blobs: string[] = [];
      for (const first of await readdir(root).catch(() => [])) {
        if (!/^[0-9a-f]{2}$/.test(first)) continue;
        for (const second of await readdir(path.join(root, first))) {
          for (const file of await readdir(path.join(root, first, second))) blobs.push(`${first}/${second}/${file}`);
        }
      }
      const partials = await readdir(path.join(root, 'tmp')).catch(() => []);
      return { blobs: blobs.sort(), partials };
    },
    async eventually(check, what, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while (!(await check())) {
        if (Date.now() > deadline) throw new Error(`not reached in time: ${what}\ngateway log:\n${gateway.log}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
    async close() {
      if (child) await gateway.kill9();
      if (ownsDatabase) await database.drop();
      await rm(workDir, { recursive: true, force: true });
    },
  };
  return gateway;
}
