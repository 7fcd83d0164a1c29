/**
 * Running the gateway and its baselines under the same load, in turn (so slow phases of a noisy
 * machine hit all), and summarising: median throughput and latency over the rounds, worst peak RSS.
 */
import { assertClean, type LoadResult } from './load';
import type { ChildServer } from './processes';
import type { Comparison } from './results';
import { median, round } from './stats';

/**
 * Every server warmed up, then `rounds` rounds in which each is measured in turn, the order
 * rotating from round to round (A B C, B C A, …; with two: B A, A B, …) so that a slow phase of a
 * shared machine does not always hit the same server. Failed requests fail the run.
 */
export async function loadRounds<Side extends string>(
  servers: Record<Side, ChildServer>,
  options: {
    rounds: number;
    log(message: string): void;
    warmUp(server: ChildServer, side: Side): Promise<void>;
    measure(server: ChildServer, side: Side): Promise<LoadResult>;
  },
): Promise<Record<Side, LoadResult[]>> {
  const sides = Object.keys(servers) as Side[];
  for (const side of sides) await options.warmUp(servers[side], side);
  const result = Object.fromEntries(sides.map((side) => [side, [] as LoadResult[]])) as Record<Side, LoadResult[]>;
  const width = Math.max(...sides.map((side) => side.length));
  for (let r = 1; r <= options.rounds; r++) {
    const order = sides.map((_, i) => sides[(i + r) % sides.length]!);
    for (const side of order) {
      const measured = await options.measure(servers[side], side);
      assertClean(measured, side);
      result[side].push(measured);
      const client = measured.client;
      options.log(
        `round ${r}/${options.rounds} ${side.padEnd(width)}: ${measured.throughputRps} req/s, ` +
          `p50 ${measured.latency.p50Ms} ms, p99 ${measured.latency.p99Ms} ms, CPU ${measured.cpuMsPerRequest} ms/request ` +
          `(client ${measured.clientCpuMsPerRequest}${client ? `, ${client.tool} ${client.coresUsed} cores` : ''}), ` +
          `peak RSS ${(measured.rss.peakBytes / 2 ** 20).toFixed(1)} MiB, ${(measured.meanResponseBytes / 1024).toFixed(0)} KiB/response`,
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

/**
 * The standard rows: throughput (with a target ratio), p50, p99 (optionally with the target
 * "ours ≤ baseline's"), CPU per request, peak RSS.
 */
export function loadComparisons(
  ours: Summary,
  baseline: Summary,
  baselineName: string,
  label: string,
  targets: { throughput?: number; p99AtMostBaseline?: boolean } = {},
  withDatabase = true,
  /** Which of our servers, when a scenario measures more than one (e.g. "gateway with WORKERS=2"). */
  oursName?: string,
): Comparison[] {
  const which = oursName ? `, ${oursName}` : '';
  const throughputTarget = targets.throughput;
  const ratio = ours.throughputRps / baseline.throughputRps;
  return [
    {
      measure: `throughput, ${label}${which}`,
      ours: ours.throughputRps,
      unit: 'req/s',
      baseline: { name: baselineName, value: baseline.throughputRps },
      ratio: round(ratio, 2),
      ratioMeaning: 'ours ÷ baseline',
      ...(throughputTarget !== undefined && { target: `≥ ${throughputTarget}`, met: ratio >= throughputTarget }),
    },
    {
      measure: `p50 latency, ${label}${which}`,
      ours: ours.p50Ms,
      unit: 'ms',
      baseline: { name: baselineName, value: baseline.p50Ms },
      ratio: round(ours.p50Ms / baseline.p50Ms, 2),
      ratioMeaning: 'ours ÷ baseline, lower is better',
    },
    {
      measure: `p99 latency, ${label}${which}`,
      ours: ours.p99Ms,
      unit: 'ms',
      baseline: { name: baselineName, value: baseline.p99Ms },
      ratio: round(ours.p99Ms / baseline.p99Ms, 2),
      ratioMeaning: 'ours ÷ baseline, lower is better',
      ...(targets.p99AtMostBaseline && { target: '≤ 1', met: ours.p99Ms <= baseline.p99Ms }),
    },
    {
      measure: `server CPU per request${withDatabase ? ' (ours incl. its Postgres backends)' : ''}${which}`,
      ours: ours.cpuMsPerRequest,
      unit: 'ms',
      baseline: { name: baselineName, value: baseline.cpuMsPerRequest },
      ratio: round(ours.cpuMsPerRequest / baseline.cpuMsPerRequest, 2),
      ratioMeaning: 'ours ÷ baseline, lower is better',
    },
    {
      measure: `server peak RSS under that load${which}`,
      ours: ours.peakRssMiB,
      unit: 'MiB',
      baseline: { name: baselineName, value: baseline.peakRssMiB },
      ratio: round(ours.peakRssMiB / baseline.peakRssMiB, 2),
      ratioMeaning: 'ours ÷ baseline, lower is better',
    },
  ];
}
