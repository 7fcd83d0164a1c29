/**
 * Running the gateway and a baseline under the same load, alternately (so slow phases of a noisy
 * machine hit both), and summarising: median throughput and latency over the rounds, worst peak RSS.
 */
import { assertClean, runLoad, type LoadOptions, type LoadResult } from './load';
import type { ChildServer } from './processes';
import type { Comparison } from './results';
import { median, round } from './stats';

export interface SideBySide {
  ours: LoadResult[];
  baseline: LoadResult[];
}

export async function loadSideBySide(
  servers: { ours: ChildServer; baseline: ChildServer },
  load: Omit<LoadOptions, 'baseUrl' | 'serverPid' | 'databaseUrl'>,
  options: { rounds: number; warmupRequests: number; log(message: string): void; databaseUrl?: { ours?: string; baseline?: string } },
): Promise<SideBySide> {
  for (const [side, server] of Object.entries(servers)) {
    options.log(`warm-up ${side === 'ours' ? 'gateway' : 'baseline'} (${options.warmupRequests} requests)`);
    const warm = await runLoad({ ...load, amount: options.warmupRequests, baseUrl: server.baseUrl, serverPid: server.pid });
    assertClean(warm, `${side} warm-up`);
  }
  const result: SideBySide = { ours: [], baseline: [] };
  for (let r = 1; r <= options.rounds; r++) {
    const order = r % 2 === 1 ? (['baseline', 'ours'] as const) : (['ours', 'baseline'] as const);
    for (const side of order) {
      const server = servers[side];
      const measured = await runLoad({ ...load, baseUrl: server.baseUrl, serverPid: server.pid, databaseUrl: options.databaseUrl?.[side] });
      assertClean(measured, side);
      result[side].push(measured);
      options.log(
        `round ${r}/${options.rounds} ${side === 'ours' ? 'gateway ' : 'baseline'}: ${measured.throughputRps} req/s, ` +
          `p50 ${measured.latency.p50Ms} ms, p99 ${measured.latency.p99Ms} ms, CPU ${measured.cpuMsPerRequest} ms/request (client ${measured.clientCpuMsPerRequest}), peak RSS ${(measured.rss.peakBytes / 2 ** 20).toFixed(1)} MiB, ` +
          `${(measured.meanResponseBytes / 1024).toFixed(0)} KiB/response`,
      );
    }
  }
  return result;
}

export interface Summary {
  throughputRps: number;
  p50Ms: number;
  p99Ms: number;
  peakRssMiB: number;
  cpuMsPerRequest: number;
}

export function summarize(results: LoadResult[]): Summary {
  return {
    throughputRps: round(median(results.map((r) => r.throughputRps)), 1),
    p50Ms: round(median(results.map((r) => r.latency.p50Ms)), 2),
    p99Ms: round(median(results.map((r) => r.latency.p99Ms)), 2),
    peakRssMiB: round(Math.max(...results.map((r) => r.rss.peakBytes)) / 2 ** 20, 1),
    cpuMsPerRequest: round(median(results.map((r) => r.cpuMsPerRequest)), 3),
  };
}

/** The standard rows: throughput (with a target ratio), p50, p99, CPU per request, peak RSS. */
export function loadComparisons(
  ours: Summary,
  baseline: Summary,
  baselineName: string,
  label: string,
  throughputTarget?: number,
  withDatabase = true,
): Comparison[] {
  const ratio = ours.throughputRps / baseline.throughputRps;
  return [
    {
      measure: `throughput, ${label}`,
      ours: ours.throughputRps,
      unit: 'req/s',
      baseline: { name: baselineName, value: baseline.throughputRps },
      ratio: round(ratio, 2),
      ratioMeaning: 'ours ÷ baseline',
      ...(throughputTarget !== undefined && { target: `≥ ${throughputTarget}`, met: ratio >= throughputTarget }),
    },
    {
      measure: `p50 latency, ${label}`,
      ours: ours.p50Ms,
      unit: 'ms',
      baseline: { name: baselineName, value: baseline.p50Ms },
      ratio: round(ours.p50Ms / baseline.p50Ms, 2),
      ratioMeaning: 'ours ÷ baseline, lower is better',
    },
    {
      measure: `p99 latency, ${label}`,
      ours: ours.p99Ms,
      unit: 'ms',
      baseline: { name: baselineName, value: baseline.p99Ms },
      ratio: round(ours.p99Ms / baseline.p99Ms, 2),
      ratioMeaning: 'ours ÷ baseline, lower is better',
    },
    {
      measure: `server CPU per request${withDatabase ? ' (ours incl. its Postgres backends)' : ''}`,
      ours: ours.cpuMsPerRequest,
      unit: 'ms',
      baseline: { name: baselineName, value: baseline.cpuMsPerRequest },
      ratio: round(ours.cpuMsPerRequest / baseline.cpuMsPerRequest, 2),
      ratioMeaning: 'ours ÷ baseline, lower is better',
    },
    {
      measure: `server peak RSS under that load`,
      ours: ours.peakRssMiB,
      unit: 'MiB',
      baseline: { name: baselineName, value: baseline.peakRssMiB },
      ratio: round(ours.peakRssMiB / baseline.peakRssMiB, 2),
      ratioMeaning: 'ours ÷ baseline, lower is better',
    },
  ];
}
