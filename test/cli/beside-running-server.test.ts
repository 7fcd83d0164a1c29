/**
 * Admin commands beside a running `serve` on the embedded database: the server offers its PGlite
 * on a unix socket in DATA_DIR, and the CLI (a separate process) goes through it instead of being
 * refused. Both run as the compiled program, as an operator runs them.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DEMO } from '../../src/demo/seed';
import { freePort, runProcess, type ProcessRun } from '../helpers/processes';
import { call, DQ_ACTION, DQ_PATH, operationXml } from '../helpers/soap-client';

const ROOT = path.resolve(__dirname, '../..');
const BIN = path.join(ROOT, 'bin/altinn-gateway.js');

let workDir: string;
let env: NodeJS.ProcessEnv;
let url: string;
let gateway: ChildProcess;
let gatewayLog = '';
let gatewayStdout = '';
let gatewayStderr = '';

function cli(args: string[], stdin = ''): Promise<ProcessRun> {
  return runProcess(process.execPath, [BIN, ...args], { env, stdin });
}

beforeAll(async () => {
  // The child processes run the compiled program: compile the sources as they are now.
  const build = spawnSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', path.join(ROOT, 'tsconfig.build.json')], { encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`npm run build failed:\n${build.stdout}${build.stderr}`);
  workDir = await mkdtemp(path.join(tmpdir(), 'agw-beside-'));
  const port = await freePort();
  // The embedded database whatever the test run uses: that is where admin commands were refused.
  env = { PATH: process.env.PATH, DATA_DIR: path.join(workDir, 'data'), PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info' };
  url = `http://127.0.0.1:${port}`;
  gateway = spawn(process.execPath, [BIN, 'serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  gateway.stdout!.on('data', (chunk: Buffer) => {
    gatewayLog += chunk.toString('utf8');
    gatewayStdout += chunk.toString('utf8');
  });
  gateway.stderr!.on('data', (chunk: Buffer) => {
    gatewayLog += chunk.toString('utf8');
    gatewayStderr += chunk.toString('utf8');
  });
  // A first start creates the database and seeds the demo: longer than waitFor's patience on a busy machine.
  const giveUpAt = Date.now() + 120_000;
  while ((await fetch(`${url}/health`).catch(() => undefined))?.ok !== true) {
    if (Date.now() > giveUpAt || gateway.exitCode !== null) throw new Error(`the gateway did not start:\n${gatewayLog}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}, 240_000);

afterAll(async () => {
  if (gateway && gateway.exitCode === null) {
    const exited = new Promise((resolve) => gateway.once('exit', resolve));
    gateway.kill('SIGTERM');
    await exited;
  }
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

it('logs JSON lines on stdout and prints the demo instructions on stderr', async () => {
  await new Promise((resolve) => setTimeout(resolve, 200)); // the banner follows the first /health answer
  expect(gatewayStderr).toContain(`Demo: service owner ${DEMO.orgNumber}`);
  const lines = gatewayStdout.trimEnd().split('\n');
  expect(lines.length).toBeGreaterThan(0);
  for (const line of lines) expect(() => JSON.parse(line)).not.toThrow();
  expect(gatewayStdout).not.toContain('Demo: service owner');
});

it('offers the database on a socket only its own user can reach', () => {
  const directory = path.join(env.DATA_DIR!, 'admin-socket');
  expect(fs.statSync(directory).mode & 0o777).toBe(0o700);
  const socket = fs.statSync(path.join(directory, '.s.PGSQL.5432'));
  expect(socket.isSocket()).toBe(true);
  expect(socket.mode & 0o777).toBe(0o600);
});

it('runs admin commands while the server runs, and a new system user can call at once', async () => {
  const added = await cli(['system-user', 'add', '--owner', DEMO.orgNumber, '--user', 'ops-beside'], 'beside-password-1\n');
  expect({ code: added.code, stderr: added.stderr }).toEqual({ code: 0, stderr: '' });
  expect(added.stdout).toContain("Added system user 'ops-beside'");

  const keys = await cli(['apikey', 'list']);
  expect({ code: keys.code, stderr: keys.stderr }).toEqual({ code: 0, stderr: '' });
  expect(keys.stdout).toContain(`${DEMO.apiClientName}\tcreated `);

  // The server answers from the same database in the meantime, and knows the new user.
  const result = await call(url, DQ_PATH, DQ_ACTION('GetDownloadQueueItems'),
    operationXml('GetDownloadQueueItems', { systemUserName: 'ops-beside', systemPassword: 'beside-password-1', serviceCode: DEMO.serviceCode }));
  expect(result.status).toBe(200);
  expect(result.bodyElement.local).toBe('GetDownloadQueueItemsResponse');
}, 120_000);

it('rolls back what a command leaves unfinished, and the server goes on', async () => {
  // A client that dies inside a transaction: its insert must not survive, and must not block the server.
  const script = `
    const { Client } = require('pg');
    const client = new Client({ host: ${JSON.stringify(path.join(env.DATA_DIR!, 'admin-socket'))}, port: 5432, user: 'postgres', database: 'postgres' });
    client.connect()
      .then(() => client.query('BEGIN'))
      .then(() => client.query("INSERT INTO service_owners (org_number, name) VALUES ('999999999', 'Halfway AS')"))
      .then(() => process.kill(process.pid, 'SIGKILL'));
  `;
  const killed = spawnSync(process.execPath, ['-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  expect(killed.signal).toBe('SIGKILL');
  expect((await fetch(`${url}/health`)).status).toBe(200);
  const listed = await cli(['system-user', 'add', '--owner', '999999999', '--user', 'never'], 'never-password-1\n');
  expect(listed.stderr).toContain('No service owner with organisation number 999999999');
}, 120_000);
