/**
 * A real clamd (Debian package `clamav-daemon`) for tests, in its own temporary directory, listening on a unix socket
 * and on a free TCP port of 127.0.0.1. No signatures can be downloaded here, so the helper writes its own database:
 * one body signature that finds the EICAR test file anywhere in a stream.
 *
 * Usage:
 *   const clamd = await startTestClamd();              // resolves once clamd answers PING on both sockets
 *   createClamdScanner(clamd.unixUrl) / createClamdScanner(clamd.tcpUrl)
 *   await clamd.stop(); … await clamd.start();         // same socket path and port again
 *   await clamd.close();                                // stops it and removes the directory
 *
 * `config` overrides or adds clamd.conf settings, e.g. `{ StreamMaxLength: '1M' }`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** The EICAR anti-virus test file (68 bytes): harmless, and detected as a virus by every scanner. */
export const EICAR = Buffer.from('X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*', 'latin1');

/** What clamd calls EICAR with this database: ClamAV appends ".UNOFFICIAL" to signatures that are not its own. */
export const EICAR_SIGNATURE = 'Eicar-Test-Signature.UNOFFICIAL';

export interface TestClamd {
  readonly socketPath: string;
  /** `unix:///…/clamd.sock` */
  readonly unixUrl: string;
  readonly port: number;
  /** `tcp://127.0.0.1:<port>` */
  readonly tcpUrl: string;
  readonly running: boolean;
  /** Milliseconds from spawning clamd to its first PONG, for the latest start. */
  readonly startupMs: number;
  /** clamd's recent output (it logs to stdout in the foreground). */
  output(): string;
  /** Starts clamd again after stop(), on the same socket path and port. */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Stops clamd and removes its directory. */
  close(): Promise<void>;
}

export interface TestClamdOptions {
  /** clamd.conf settings that replace or add to the defaults below. */
  config?: Record<string, string>;
}

const CLAMD_CANDIDATES = ['/usr/sbin/clamd', '/usr/local/sbin/clamd'];
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 15_000;
const OUTPUT_KEEP_BYTES = 64 * 1024;

export function findClamd(): string {
  const pathDirs = (process.env.PATH ?? '').split(path.delimiter).filter(Boolean);
  const candidates = [...CLAMD_CANDIDATES, ...pathDirs.map((dir) => path.join(dir, 'clamd'))];
  const found = candidates.find((candidate) => existsSync(candidate));
  if (!found) {
    throw new Error(
      `clamd not found (looked for ${CLAMD_CANDIDATES.join(', ')} and on PATH): ` +
        'install the Debian package clamav-daemon (apt-get install clamav-daemon)',
    );
  }
  return found;
}

export async function startTestClamd(options: TestClamdOptions = {}): Promise<TestClamd> {
  const binary = findClamd();
  const dir = await mkdtemp(path.join(tmpdir(), 'agw-clamd-'));
  try {
    const databaseDir = path.join(dir, 'db');
    const temporaryDir = path.join(dir, 'tmp');
    await mkdir(databaseDir);
    await mkdir(temporaryDir);
    // A body signature (.ndb: name:target type:offset:hex bytes): type 0 = any file, offset * = anywhere.
    await writeFile(path.join(databaseDir, 'test.ndb'), `Eicar-Test-Signature:0:*:${EICAR.toString('hex')}\n`);
    const socketPath = path.join(dir, 'clamd.sock');
    const port = await freeLoopbackPort();
    const settings: Record<string, string> = {
      Foreground: 'yes',
      LocalSocket: socketPath,
      TCPSocket: String(port),
      TCPAddr: '127.0.0.1',
      DatabaseDirectory: databaseDir,
      TemporaryDirectory: temporaryDir,
      // What the gateway's operators are told to set: long streams accepted, and files beyond the scan limits
      // answered "Heuristics.Limits.Exceeded… FOUND" rather than OK.
      StreamMaxLength: '4000M',
      AlertExceedsMax: 'yes',
      // No log file and no syslog: clamd logs to stdout in the foreground, which the helper keeps.
      LogSyslog: 'no',
      ...options.config,
    };
    const configPath = path.join(dir, 'clamd.conf');
    await writeFile(configPath, Object.entries(settings).map(([key, value]) => `${key} ${value}\n`).join(''));
    const clamd = new ClamdProcess(binary, configPath, dir, socketPath, port);
    await clamd.start();
    return clamd;
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

class ClamdProcess implements TestClamd {
  readonly unixUrl: string;
  readonly tcpUrl: string;
  startupMs = 0;
  private child?: ChildProcess;
  private exited?: Promise<void>;
  private log = '';
  private readonly killOnExit = () => this.child?.kill('SIGKILL');

  constructor(
    private readonly binary: string,
    private readonly configPath: string,
    private readonly dir: string,
    readonly socketPath: string,
    readonly port: number,
  ) {
    this.unixUrl = `unix://${socketPath}`;
    this.tcpUrl = `tcp://127.0.0.1:${port}`;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  output(): string {
    return this.log;
  }

  async start(): Promise<void> {
    if (this.child) throw new Error('clamd is already running');
    // A socket file left by a killed clamd would make it refuse to start.
    await rm(this.socketPath, { force: true });
    const startedAt = performance.now();
    const child = spawn(this.binary, [`--config-file=${this.configPath}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    const keep = (data: Buffer) => {
      this.log = (this.log + data.toString('utf8')).slice(-OUTPUT_KEEP_BYTES);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    let exitedEarly = false;
    this.exited = new Promise((resolve) => {
      child.once('error', (error) => {
        this.log += `\n${error.message}`;
      });
      child.once('close', () => {
        exitedEarly = true;
        resolve();
      });
    });
    // Should jest end without close(), clamd must not outlive it.
    process.once('exit', this.killOnExit);
    const deadline = Date.now() + START_TIMEOUT_MS;
    try {
      while (!(await pingAnswers({ path: this.socketPath }))) {
        if (exitedEarly) throw new Error('clamd exited during start');
        if (Date.now() > deadline) throw new Error(`clamd did not answer PING within ${START_TIMEOUT_MS} ms`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      this.startupMs = performance.now() - startedAt;
      if (!(await pingAnswers({ host: '127.0.0.1', port: this.port }))) {
        throw new Error(`clamd answers on its unix socket but not on TCP port ${this.port}`);
      }
    } catch (error) {
      await this.stop();
      throw new Error(`${(error as Error).message}; its output:\n${this.log}`);
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await this.exited;
      clearTimeout(timer);
    }
    process.off('exit', this.killOnExit);
    this.child = undefined;
  }

  async close(): Promise<void> {
    await this.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** True if something answers "zPING" with "PONG" (kept apart from the client under test). */
function pingAnswers(target: net.NetConnectOpts): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.createConnection(target);
    let received = '';
    socket.setTimeout(5_000);
    socket.on('connect', () => socket.write('zPING\0'));
    socket.on('data', (data) => (received += data.toString('latin1')));
    socket.on('timeout', () => socket.destroy());
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(received === 'PONG\0'));
  });
}

async function freeLoopbackPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
