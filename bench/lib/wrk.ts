/**
 * Load from wrk (Debian package `wrk`, C, event loop per thread) for the small-response scenarios
 * (issue 13): a closed loop at a fixed concurrency like runLoad's, but the client's cost per
 * request is a fraction of node:http's, so a fast server is not held back by the load generator on
 * this 2-core machine. A Lua script sends the SOAP POST; its done() prints wrk's exact figures
 * (requests, bytes, errors, latency percentiles in µs) and wrk's own /proc/self/stat, so its CPU
 * time is reported beside the server's: if wrk took most of a core, it was the bottleneck.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { CpuMeter, statCpuMs } from './cpu';
import type { ExternalClient, LoadResult } from './load';
import { WRK } from './metro';
import { RssSampler } from './rss';
import type { SoapRequest } from './soap';
import { round } from './stats';

export interface WrkOptions {
  baseUrl: string;
  request: SoapRequest;
  connections: number;
  durationSeconds: number;
  /** wrk threads (event loops); each serves connections ÷ threads connections. */
  threads?: number;
  serverPid: number;
  /** The server's database: its Postgres backends' CPU time is added to the server's. */
  databaseUrl?: string | undefined;
  /** Where the Lua script and request body are written. */
  workDir: string;
}

export type WrkResult = LoadResult & { client: ExternalClient };

interface WrkFigures {
  durationUs: number;
  requests: number;
  bytes: number;
  connect: number;
  read: number;
  write: number;
  status: number;
  timeout: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  maxUs: number;
  meanUs: number;
}

/**
 * One event loop: at 16 connections and ~200 KB answers it uses a fraction of a core (reported
 * per run), leaving the other core to the server and Postgres.
 */
export const WRK_THREADS = 1;

let scripts = 0;

function luaScript(request: SoapRequest, bodyFile: string): string {
  const headers = Object.entries(request.headers)
    .map(([name, value]) => `wrk.headers[${JSON.stringify(name)}] = ${JSON.stringify(value)}`)
    .join('\n');
  // JSON string syntax is valid Lua for these (ASCII, escaped quotes and backslashes).
  return `wrk.method = "POST"
wrk.path = ${JSON.stringify(request.path)}
${headers}
local file = assert(io.open(${JSON.stringify(bodyFile)}, "rb"))
wrk.body = file:read("*a")
file:close()

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"durationUs":%d,"requests":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,' ..
    '"p50Us":%d,"p90Us":%d,"p99Us":%d,"maxUs":%d,"meanUs":%.1f}\\n',
    summary.duration, summary.requests, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
  local stat = assert(io.open("/proc/self/stat", "r"))
  io.write("WRK_STAT " .. stat:read("*l") .. "\\n")
  stat:close()
end
`;
}

export async function runWrk(options: WrkOptions): Promise<WrkResult> {
  const threads = options.threads ?? WRK_THREADS;
  const id = ++scripts;
  const bodyFile = path.join(options.workDir, `wrk-${id}.body`);
  const scriptFile = path.join(options.workDir, `wrk-${id}.lua`);
  fs.writeFileSync(bodyFile, options.request.body);
  fs.writeFileSync(scriptFile, luaScript(options.request, bodyFile));

  const sampler = RssSampler.start(options.serverPid);
  const cpuMeter = await CpuMeter.start(options.serverPid, options.databaseUrl);
  const args = [
    `-t${threads}`, `-c${options.connections}`, `-d${options.durationSeconds}s`, '--timeout', '60s', '--latency',
    '-s', scriptFile, `${options.baseUrl}${options.request.path}`,
  ];
  const { stdout, code } = await new Promise<{ stdout: string; code: number | null }>((resolve, reject) => {
    const child = spawn(WRK, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.once('error', reject);
    child.once('close', (exitCode) => resolve({ stdout: out, code: exitCode }));
  });
  const cpu = await cpuMeter.stop();
  const rss = await sampler.stop();
  fs.rmSync(bodyFile, { force: true });
  fs.rmSync(scriptFile, { force: true });

  const resultLine = /^WRK_RESULT (.*)$/m.exec(stdout)?.[1];
  const statLine = /^WRK_STAT (.*)$/m.exec(stdout)?.[1];
  if (code !== 0 || !resultLine || !statLine) throw new Error(`wrk ${args.join(' ')} failed (exit ${code}):\n${stdout}`);
  const f = JSON.parse(resultLine) as WrkFigures;
  const seconds = f.durationUs / 1e6;
  const clientCpuMs = statCpuMs(statLine);
  const socketErrors = f.connect + f.read + f.write;
  const ms = (us: number) => round(us / 1000, 3);
  return {
    connections: options.connections,
    requests: f.requests,
    durationSeconds: round(seconds, 3),
    throughputRps: round(f.requests / seconds, 1),
    bytesPerSecond: Math.round(f.bytes / seconds),
    // wrk counts header bytes too; per response that is a few hundred bytes of 200 KB.
    meanResponseBytes: f.requests ? Math.round(f.bytes / f.requests) : 0,
    latency: { count: f.requests, p50Ms: ms(f.p50Us), p90Ms: ms(f.p90Us), p99Ms: ms(f.p99Us), maxMs: ms(f.maxUs), meanMs: ms(f.meanUs) },
    non2xx: f.status,
    errors: socketErrors,
    timeouts: f.timeout,
    statusCodes: {},
    rss,
    cpu,
    cpuMsPerRequest: f.requests ? round(cpu.totalMs / f.requests, 3) : NaN,
    clientCpuMsPerRequest: f.requests ? round(clientCpuMs / f.requests, 3) : NaN,
    client: {
      tool: 'wrk',
      threads,
      cpuMs: Math.round(clientCpuMs),
      coresUsed: round(clientCpuMs / 1000 / seconds, 2),
      latencyDistribution: /Latency Distribution[\s\S]*?99%\s+\S+/.exec(stdout)?.[0] ?? '',
    },
  };
}
