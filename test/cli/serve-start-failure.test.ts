/**
 * A `serve` that cannot start exits non-zero with the reason on stderr, promptly, and frees the
 * embedded database's lock: a supervisor restarts it, and the next start (or an admin command) is not refused.
 */
import fs from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { freePort } from '../helpers/processes';
import { startS3Server } from '../helpers/s3-server';
import { runCliProcess } from '../helpers/spawn-cli';

let workDir: string;
let database: TestDatabase;
let env: NodeJS.ProcessEnv;
beforeAll(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), 'agw-serve-fail-'));
  database = await createTestDatabase();
  env = { DATA_DIR: workDir, LOG_LEVEL: 'warn', ...(database.databaseUrl && { DATABASE_URL: database.databaseUrl }) };
});
afterAll(async () => {
  await database.drop();
  await rm(workDir, { recursive: true, force: true });
});

it('exits 1 when its port is taken, saying so, with the embedded lock released', async () => {
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const port = (blocker.address() as net.AddressInfo).port;
  try {
    const result = await runCliProcess(['serve'], { ...env, HOST: '127.0.0.1', PORT: String(port) });
    expect(result).toMatchObject({ timedOut: false, code: 1 });
    expect(result.stderr).toMatch(/EADDRINUSE/);
    expect(fs.existsSync(path.join(workDir, 'pgdata.lock'))).toBe(false);
  } finally {
    blocker.close();
  }
});

describe('configuration refused before anything is opened: one line per wrong variable, exit 1', () => {
  it.each([
    [{ PORT: '99999' }, ["error: PORT must be an integer from 0 to 65535, got '99999'"]],
    [{ DATABASE_URL: '', WORKERS: '2' }, ["error: WORKERS must be 1 with the embedded database (set DATABASE_URL for more), got '2'"]],
    [{ WORKERS: '0' }, ["error: WORKERS must be an integer from 1 to 64, got '0'"]],
    [{ LOG_LEVEL: 'verbose' }, ["error: LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got 'verbose'"]],
    [
      { DATABASE_URL: 'garbage', PORT: 'http' },
      ["error: PORT must be an integer from 0 to 65535, got 'http'", "error: DATABASE_URL must be a postgres://user:password@host:5432/database URL, got 'garbage'"],
    ],
  ])('%j', async (wrong, lines) => {
    const dataDir = path.join(workDir, 'refused');
    const result = await runCliProcess(['serve'], { ...env, DATA_DIR: dataDir, ...wrong });
    expect(result).toMatchObject({ timedOut: false, code: 1 });
    expect(result.stderr.trim().split('\n')).toEqual(lines);
    expect(fs.existsSync(dataDir)).toBe(false); // nothing opened, no lock taken
  });

  it('reads .env in the working directory; the environment overrides it', async () => {
    const cwd = await mkdtemp(path.join(tmpdir(), 'agw-envfile-'));
    try {
      fs.writeFileSync(path.join(cwd, '.env'), '# settings\nLOG_LEVEL=verbose\nPORT="70000"\n');
      const result = await runCliProcess(['serve'], { DATA_DIR: path.join(cwd, 'data'), PORT: '8080' }, { cwd });
      expect(result).toMatchObject({ timedOut: false, code: 1 });
      expect(result.stderr.trim().split('\n')).toEqual(["error: LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got 'verbose'"]);
    } finally {
      await rm(cwd, { recursive: true, force: true });
    }
  });
});

it('retries an unreachable PostgreSQL for DATABASE_CONNECT_RETRY_SECONDS, logging each attempt, then exits 1', async () => {
  const port = await freePort(); // nobody listens there: connections are refused
  const started = Date.now();
  const result = await runCliProcess(['serve'], {
    DATA_DIR: workDir,
    LOG_LEVEL: 'warn',
    DATABASE_URL: `postgres://gateway:secret@127.0.0.1:${port}/archive`,
    DATABASE_CONNECT_RETRY_SECONDS: '2',
  });
  expect(result).toMatchObject({ timedOut: false, code: 1 });
  expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
  expect(result.stderr).toMatch(new RegExp(`^error: Cannot reach PostgreSQL at 127\\.0\\.0\\.1:${port}/archive \\(tried for 2 s, \\d+ attempts\\): .*ECONNREFUSED`, 'm'));
  const lines = result.stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line) as { msg: string; attempt?: number });
  const retries = lines.filter((line) => line.attempt !== undefined);
  expect(retries.length).toBeGreaterThanOrEqual(2);
  expect(retries[0]).toMatchObject({ attempt: 1, msg: `cannot reach PostgreSQL at 127.0.0.1:${port}/archive yet, retrying` });
  expect(result.stdout + result.stderr).not.toContain('secret');
});

it('exits 1 at once when the blob store cannot be used, naming it and the reason', async () => {
  const s3 = await startS3Server();
  try {
    const result = await runCliProcess(['serve'], {
      ...env,
      PORT: '0',
      BLOB_STORE_URL: 's3://no-such-bucket',
      AWS_ENDPOINT_URL: s3.endpoint,
      AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
    });
    expect(result).toMatchObject({ timedOut: false, code: 1 });
    expect(result.stderr).toMatch(/error: The blob store s3:\/\/no-such-bucket\/ at http:\/\/127\.0\.0\.1:\d+\/? cannot be used: .*bucket/i);
    expect(fs.existsSync(path.join(workDir, 'pgdata.lock'))).toBe(false);
  } finally {
    await s3.stop();
  }
});
