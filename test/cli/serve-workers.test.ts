/**
 * `serve` with WORKERS=2: two worker processes answer on one port, a killed one is replaced, and
 * SIGTERM to the primary ends them all with exit 0. Several processes need a PostgreSQL server (the
 * embedded database is refused with WORKERS > 1: serve-start-failure.test.ts): without DATABASE_URL it is skipped.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { freePort } from '../helpers/processes';
import { describeOnPostgres } from '../helpers/postgres-only';
import { CLI_FROM_SOURCE, runCliProcess } from '../helpers/spawn-cli';

jest.setTimeout(180_000);

describeOnPostgres('test/cli/serve-workers.test.ts', 'several server processes need one PostgreSQL server')('serve with WORKERS=2', () => {

  let workDir: string;
  let database: TestDatabase;
  beforeAll(async () => {
    workDir = await mkdtemp(path.join(tmpdir(), 'agw-workers-'));
    database = await createTestDatabase(process.env.DATABASE_URL!);
  });
  afterAll(async () => {
    await database.drop();
    await rm(workDir, { recursive: true, force: true });
  });

  interface LogLine {
    msg?: string;
    workerPid?: number;
  }

  /** The pid of the process answering /metrics on a fresh connection (round-robin: the next worker each time). */
  function answeringPid(port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, path: '/metrics', agent: false }, (response) => {
          let body = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => (body += chunk));
          response.on('end', () => {
            const match = /altinn_gateway_process_info\{pid="(\d+)"\} 1/.exec(body);
            if (response.statusCode === 200 && match) resolve(Number(match[1]));
            else reject(new Error(`no pid in /metrics (status ${response.statusCode})`));
          });
        })
        .on('error', reject);
    });
  }

  async function answeringPids(port: number, tries = 12): Promise<Set<number>> {
    const pids = new Set<number>();
    for (let i = 0; i < tries; i++) pids.add(await answeringPid(port));
    return pids;
  }

  function isAlive(pid: number): boolean {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }

  async function until<T>(what: string, probe: () => T | undefined, timeoutMs = 90_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = probe();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  it('serves from two workers on one port, replaces a killed worker, and stops all on SIGTERM with exit 0', async () => {
    const port = await freePort();
    const primary: ChildProcess = spawn(process.execPath, [CLI_FROM_SOURCE, 'serve'], {
      env: { PATH: process.env.PATH, DATA_DIR: workDir, DATABASE_URL: database.databaseUrl, WORKERS: '2', HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines: LogLine[] = [];
    let pending = '';
    primary.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const parts = (pending + chunk).split('\n');
      pending = parts.pop()!;
      for (const part of parts) if (part.startsWith('{')) lines.push(JSON.parse(part) as LogLine);
    });
    let stderr = '';
    primary.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => primary.once('exit', (code, signal) => resolve({ code, signal })));
    const readyPids = () => lines.filter((line) => line.msg === 'worker ready').map((line) => line.workerPid!);

    try {
      const first = await until('two ready workers', () => (readyPids().length >= 2 ? readyPids() : undefined));
      expect(new Set(first).size).toBe(2);
      expect(first).not.toContain(primary.pid);
      expect(await answeringPids(port)).toEqual(new Set(first));

      const [killed, survivor] = first as [number, number];
      process.kill(killed, 'SIGKILL');
      const replacement = await until('a replacement worker', () => readyPids().find((pid) => !first.includes(pid)));
      expect(lines.find((line) => line.msg === 'worker exited' && line.workerPid === killed)).toBeDefined();
      expect(await answeringPids(port)).toEqual(new Set([survivor, replacement]));

      primary.kill('SIGTERM');
      expect(await exited).toEqual({ code: 0, signal: null });
      expect([survivor, replacement].filter(isAlive)).toEqual([]);
    } catch (error) {
      primary.kill('SIGKILL');
      throw new Error(`${String(error)}\nstderr:\n${stderr}`);
    }
  });

  it('exits 1 when its port is taken, as one process does, with no worker left behind', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const result = await runCliProcess(['serve'], { DATA_DIR: workDir, DATABASE_URL: database.databaseUrl, WORKERS: '2', HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'info' });
      expect(result).toMatchObject({ timedOut: false, code: 1 });
      expect(result.stderr).toMatch(/EADDRINUSE/);
      const started = result.stdout
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as LogLine)
        .filter((line) => line.msg === 'worker started')
        .map((line) => line.workerPid!);
      expect(started).toHaveLength(2);
      expect(started.filter(isAlive)).toEqual([]);
    } finally {
      blocker.close();
    }
  });
});
