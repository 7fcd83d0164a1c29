/**
 * Child server processes (the gateway and the baselines, node or java): spawned with their own port, output
 * captured to a log file, considered ready when an HTTP GET answers 200, stopped with SIGTERM
 * (SIGKILL after a grace period). Every live child is stopped if the benchmark itself is
 * interrupted.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';

export interface ChildServer {
  name: string;
  pid: number;
  port: number;
  baseUrl: string;
  logFile: string;
  /** Stop the process and wait for it to exit. */
  stop(): Promise<void>;
  readonly exited: boolean;
}

const live = new Set<ChildServer>();

/** Stop every child still running (on error or interrupt). */
export async function stopAllChildren(): Promise<void> {
  await Promise.allSettled([...live].map((child) => child.stop()));
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface SpawnServerOptions {
  name: string;
  /** Arguments to node (script and its arguments, node flags first), or to `command`. */
  nodeArgs: string[];
  /** Another program than node (e.g. java for the Metro baseline). */
  command?: string;
  env: NodeJS.ProcessEnv;
  port: number;
  /** Path answered with 200 once the server is ready. */
  readyPath: string;
  logFile: string;
  cwd?: string;
  readyTimeoutMs?: number;
}

export async function spawnServer(options: SpawnServerOptions): Promise<ChildServer> {
  const logStream = fs.createWriteStream(options.logFile, { flags: 'a' });
  const child: ChildProcess = spawn(options.command ?? process.execPath, options.nodeArgs, {
    cwd: options.cwd,
    env: options.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.pipe(logStream, { end: false });
  child.stderr!.pipe(logStream, { end: false });
  let exited = false;
  const exitPromise = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      resolve();
    }),
  );

  const baseUrl = `http://127.0.0.1:${options.port}`;
  const server: ChildServer = {
    name: options.name,
    pid: child.pid!,
    port: options.port,
    baseUrl,
    logFile: options.logFile,
    get exited() {
      return exited;
    },
    stop: async () => {
      if (!exited) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
        await exitPromise;
        clearTimeout(timer);
      }
      live.delete(server);
      await new Promise<void>((resolve) => logStream.end(resolve));
    },
  };
  live.add(server);

  const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
  for (;;) {
    if (exited) {
      await server.stop();
      throw new Error(`${options.name} exited during start-up; its output:\n${tail(options.logFile)}`);
    }
    if ((await httpStatus(`${baseUrl}${options.readyPath}`)) === 200) return server;
    if (Date.now() > deadline) {
      await server.stop();
      throw new Error(`${options.name} did not become ready in time; its output:\n${tail(options.logFile)}`);
    }
    await sleep(100);
  }
}

function httpStatus(url: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const request = http.get(url, { agent: false }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode));
    });
    request.on('error', () => resolve(undefined));
    request.setTimeout(2000, () => request.destroy());
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function tail(file: string, lines = 30): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no output)';
  }
}
