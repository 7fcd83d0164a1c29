/**
 * Load generation: a closed loop at a fixed concurrency: N keep-alive connections (node:http,
 * whose parser is llhttp, the same as undici's), each sending its next request as soon as the
 * previous response has been read to the end and discarded. Every response's latency is recorded
 * and the server's RSS sampled throughout. Plus sequential and interleaved clients for latency.
 *
 * Not autocannon: measured on this machine, its HTTP client tops out at ~280 req/s for 200 KB
 * bodies and ~1.5 req/s for 10 MB bodies against a plain Node server that node:http (and
 * undici) drive at ~1,700-2,400 req/s and ~68 req/s: it would have measured itself.
 */
import http from 'node:http';
import { CpuMeter, type CpuSummary } from './cpu';
import { RssSampler, type RssSummary } from './rss';
import { expectOk, keepAliveAgent, send, type SoapRequest } from './soap';
import { round, summarizeLatencies, type LatencySummary } from './stats';

export interface LoadOptions {
  baseUrl: string;
  /** The same request every time, or one built per request (e.g. a different item to purge). */
  request: SoapRequest | ((index: number) => SoapRequest);
  connections: number;
  /** Run for this long… */
  durationSeconds?: number;
  /** …or until this many requests have completed. */
  amount?: number;
  /** Server process whose RSS is sampled while the load runs. */
  serverPid: number;
  /** The server's database: its Postgres backends' CPU time is added to the server's. */
  databaseUrl?: string | undefined;
}

export interface LoadResult {
  connections: number;
  requests: number;
  durationSeconds: number;
  throughputRps: number;
  /** Response body bytes per second. */
  bytesPerSecond: number;
  meanResponseBytes: number;
  latency: LatencySummary;
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodes: Record<string, number>;
  rss: RssSummary;
  cpu: CpuSummary;
  /** Server CPU (process + its database backends) per completed request. */
  cpuMsPerRequest: number;
  /** CPU of this process (the load generator) per completed request: its share of the machine. */
  clientCpuMsPerRequest: number;
  /** An external load generator's own figures (wrk); absent for this module's node:http client. */
  client?: ExternalClient;
}

/** What an external load generator spent: its CPU time over the run, and that in cores. */
export interface ExternalClient {
  tool: 'wrk';
  threads: number;
  cpuMs: number;
  /** cpuMs ÷ wall time: near `threads` means the load generator, not the server, set the pace. */
  coresUsed: number;
  /** Its own latency distribution, as printed. */
  latencyDistribution: string;
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const perRequest = typeof options.request === 'function' ? options.request : undefined;
  const fixed = typeof options.request === 'function' ? undefined : encode(options.request);
  const base = new URL(options.baseUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.connections });
  const latencies: number[] = [];
  const statusCodes: Record<string, number> = {};
  let issued = 0;
  let bytes = 0;
  let errors = 0;
  let timeouts = 0;
  let stopping = false;
  const sampler = RssSampler.start(options.serverPid);
  const cpuMeter = await CpuMeter.start(options.serverPid, options.databaseUrl);
  const clientCpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  const timer = options.amount === undefined ? setTimeout(() => (stopping = true), (options.durationSeconds ?? 10) * 1000) : undefined;

  const one = (request: EncodedRequest): Promise<void> =>
    new Promise((resolve) => {
      const t0 = process.hrtime.bigint();
      const req = http.request(
        { host: base.hostname, port: base.port, path: request.path, method: 'POST', agent, headers: request.headers },
        (res) => {
          res.on('data', (chunk: Buffer) => (bytes += chunk.length));
          res.on('end', () => {
            latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
            const code = String(res.statusCode);
            statusCodes[code] = (statusCodes[code] ?? 0) + 1;
            resolve();
          });
          res.on('error', () => {
            errors++;
            resolve();
          });
        },
      );
      req.setTimeout(60_000, () => {
        timeouts++;
        req.destroy(new Error('timeout'));
      });
      req.on('error', () => {
        errors++;
        resolve();
      });
      req.end(request.body);
    });

  await Promise.all(
    Array.from({ length: options.connections }, async () => {
      while (!stopping && (options.amount === undefined || issued < options.amount)) {
        const index = issued++;
        await one(perRequest ? encode(perRequest(index)) : fixed!);
      }
    }),
  );
  clearTimeout(timer);
  const durationSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  agent.destroy();
  const clientUsage = process.cpuUsage(clientCpu);
  const cpu = await cpuMeter.stop();
  const rss = await sampler.stop();
  const completed = latencies.length;
  const non2xx = Object.entries(statusCodes).reduce((n, [code, count]) => (code.startsWith('2') ? n : n + count), 0);
  return {
    connections: options.connections,
    requests: completed,
    durationSeconds: round(durationSeconds, 3),
    throughputRps: round(completed / durationSeconds, 1),
    bytesPerSecond: Math.round(bytes / durationSeconds),
    meanResponseBytes: completed ? Math.round(bytes / completed) : 0,
    latency: summarizeLatencies(latencies),
    non2xx,
    errors,
    timeouts,
    statusCodes,
    rss,
    cpu,
    cpuMsPerRequest: completed ? round(cpu.totalMs / completed, 3) : NaN,
    clientCpuMsPerRequest: completed ? round((clientUsage.user + clientUsage.system) / 1000 / completed, 3) : NaN,
  };
}

interface EncodedRequest {
  path: string;
  headers: Record<string, string>;
  body: Buffer;
}

function encode(request: SoapRequest): EncodedRequest {
  const body = Buffer.from(request.body, 'utf8');
  return { path: request.path, headers: { ...request.headers, 'content-length': String(body.length) }, body };
}

/** Throw when a load run saw failures: a fast error is not a fast answer. */
export function assertClean(result: LoadResult, what: string): void {
  if (result.non2xx > 0 || result.errors > 0 || result.timeouts > 0 || result.requests === 0) {
    throw new Error(
      `${what}: ${result.requests} responses, ${result.non2xx} non-2xx (${JSON.stringify(result.statusCodes)}), ` +
        `${result.errors} errors, ${result.timeouts} timeouts`,
    );
  }
}

export interface SequentialResult {
  latency: LatencySummary;
  latenciesMs: number[];
}

/** `warmup` unmeasured calls, then `count` measured ones, one at a time over one keep-alive connection. */
export async function runSequential(
  baseUrl: string,
  request: SoapRequest,
  options: { warmup: number; count: number; check?(body: Buffer): void },
): Promise<SequentialResult> {
  const agent = keepAliveAgent(1);
  try {
    for (let i = 0; i < options.warmup; i++) {
      const r = expectOk(await send(baseUrl, request, agent), 'warm-up call');
      if (i === 0) options.check?.(r.body);
    }
    const latenciesMs: number[] = [];
    for (let i = 0; i < options.count; i++) {
      const r = expectOk(await send(baseUrl, request, agent), 'measured call');
      latenciesMs.push(r.ms);
    }
    return { latency: summarizeLatencies(latenciesMs), latenciesMs };
  } finally {
    agent.destroy();
  }
}


export interface InterleavedTarget {
  baseUrl: string;
  request: SoapRequest;
  check?(body: Buffer): void;
}

/**
 * Sequential calls to several servers in turn (A B, B A, A B, …), each over its own keep-alive
 * connection: a noisy neighbour's slow moments then hit every target alike. Returns, per target,
 * the first call's latency (cold: password KDF, plan cache) and the measured calls' summary.
 */
export async function runInterleaved(
  targets: InterleavedTarget[],
  options: { warmup: number; count: number },
): Promise<{ firstCallMs: number; latency: LatencySummary; latenciesMs: number[] }[]> {
  const agents = targets.map(() => keepAliveAgent(1));
  try {
    const results = targets.map(() => ({ firstCallMs: 0, latenciesMs: [] as number[] }));
    for (const [i, target] of targets.entries()) {
      const first = expectOk(await send(target.baseUrl, target.request, agents[i]!), 'first call');
      results[i]!.firstCallMs = first.ms;
      target.check?.(first.body);
    }
    for (let round = 0; round < options.warmup + options.count; round++) {
      const order = targets.map((_, i) => i);
      if (round % 2 === 1) order.reverse();
      for (const i of order) {
        const response = expectOk(await send(targets[i]!.baseUrl, targets[i]!.request, agents[i]!), 'measured call');
        if (round >= options.warmup) results[i]!.latenciesMs.push(response.ms);
      }
    }
    return results.map((r) => ({ ...r, latency: summarizeLatencies(r.latenciesMs) }));
  } finally {
    for (const agent of agents) agent.destroy();
  }
}
