/**
 * queue-scale: GetDownloadQueueItems returning 500 items from a small archive (10,000 tasks) and a
 * large one (1,000,000), half of each purged, to show that listing cost does not grow with the
 * archive. The two archives are two fresh databases, each served by its own gateway process, and
 * they are measured side by side: sequential calls alternate between the two (one keep-alive
 * connection each), and the concurrency-8 rounds alternate too, so the machine's noisy moments
 * hit both alike. Data is loaded with set-based SQL (lib/fixtures.ts).
 *
 * Purges are applied as UPDATEs after loading, as PurgeItem does, so the partial queue index holds
 * dead entries until VACUUM: both archives are measured right after the purges (before VACUUM) and
 * after VACUUM ANALYZE (the state autovacuum leaves; the headline figures).
 */
import type { BenchContext, Archive } from '../lib/context';
import { createOwner, loadQueue, vacuumAnalyze, type BenchOwner, type QueueLoadResult } from '../lib/fixtures';
import { assertClean, runInterleaved, runLoad, type LoadResult } from '../lib/load';
import { scenarioLogger } from '../lib/log';
import type { ChildServer } from '../lib/processes';
import type { Scenario, ScenarioResult } from '../lib/results';
import { countQueueItems, firstArchiveReference, getDownloadQueueItems } from '../lib/soap';
import { median, round, type LatencySummary } from '../lib/stats';

const log = scenarioLogger('queue-scale');

interface Side {
  label: string;
  tasks: number;
  archive: Archive;
  owner: BenchOwner;
  load: QueueLoadResult;
}

interface SideResult {
  tasks: number;
  load: QueueLoadResult;
  beforeVacuum: LatencySummary;
  sequential: LatencySummary;
  firstCallMs: number;
  concurrent: LoadResult[];
  concurrentRps: number;
  concurrentP50Ms: number;
  concurrentP99Ms: number;
  concurrentCpuMsPerRequest: number;
}

export const queueScale: Scenario = {
  name: 'queue-scale',
  title: 'GetDownloadQueueItems (500 items) against the size of the archive',
  async run(context: BenchContext): Promise<ScenarioResult> {
    const embedded = context.db.kind === 'pglite';
    const largeSize = context.quick ? 50_000 : embedded ? 200_000 : 1_000_000;
    const smallSize = 10_000;
    const warmup = context.quick ? 10 : 20;
    const calls = context.quick ? 100 : 200;
    const concurrentSeconds = context.quick ? 2 : 5;
    const concurrentRounds = context.quick ? 1 : 2;
    if (embedded && !context.quick) log(`embedded PGlite: the large archive is scaled down to ${largeSize.toLocaleString('en')} tasks`);

    const sides: Side[] = [];
    for (const [index, tasks] of [smallSize, largeSize].entries()) {
      const label = tasks.toLocaleString('en');
      const archive = await context.createArchive(`queue-${tasks}`);
      log(`loading ${label} archived tasks into a fresh database (half purged, shipment metadata on every 10th)`);
      const { owner, load } = await context.withArchive(async (app) => {
        const owner = await createOwner(app, `91000020${index}`, `queue${index}`);
        const load = await loadQueue(app, owner, {
          count: tasks,
          purgedFraction: 0.5,
          metadataEvery: 10,
          onProgress: (done, total) => total >= 200_000 && log(`  ${done.toLocaleString('en')} / ${total.toLocaleString('en')} tasks inserted`),
        });
        await app.db.raw('ANALYZE form_tasks, download_queue_items, shipment_metadata, services');
        return { owner, load };
      }, archive);
      log(`${label}: loaded in ${load.seconds.toFixed(1)} s; ${load.pending.toLocaleString('en')} pending; oldest pending AR${load.firstPendingTaskId}`);
      sides.push({ label, tasks, archive, owner, load });
    }
    const [small, large] = sides as [Side, Side];

    const targets = (gateways: ChildServer[]) =>
      sides.map((side, i) => ({
        baseUrl: gateways[i]!.baseUrl,
        request: getDownloadQueueItems(side.owner.credentials),
        check: (body: Buffer) => {
          const xml = body.toString('utf8');
          const items = countQueueItems(xml);
          const first = firstArchiveReference(xml);
          if (items !== 500 || first !== `AR${side.load.firstPendingTaskId}`) {
            throw new Error(`${side.label} tasks: expected 500 items from AR${side.load.firstPendingTaskId}, got ${items} from ${first}`);
          }
        },
      }));

    try {
      // Right after the purges: dead entries in the partial index until VACUUM.
      let gateways = await Promise.all(sides.map((side) => context.startGateway(`queue-${side.tasks}-unvacuumed`, side.archive)));
      const before = await runInterleaved(targets(gateways), { warmup, count: calls });
      log(`before VACUUM: p50 ${before[0]!.latency.p50Ms} ms (${small.label}) vs ${before[1]!.latency.p50Ms} ms (${large.label})`);
      for (const side of sides) await context.stopGateway(side.archive);

      log('VACUUM ANALYZE both');
      for (const side of sides) await context.withArchive((app) => vacuumAnalyze(app), side.archive);
      gateways = await Promise.all(sides.map((side) => context.startGateway(`queue-${side.tasks}`, side.archive)));
      const after = await runInterleaved(targets(gateways), { warmup, count: calls });
      for (const [i, side] of sides.entries()) {
        log(`${side.label} tasks: p50 ${after[i]!.latency.p50Ms} ms, p99 ${after[i]!.latency.p99Ms} ms (sequential, ${calls} calls; first call ${after[i]!.firstCallMs.toFixed(1)} ms)`);
      }

      const concurrent: LoadResult[][] = [[], []];
      for (let r = 1; r <= concurrentRounds; r++) {
        const order = r % 2 === 1 ? [0, 1] : [1, 0];
        for (const i of order) {
          const result = await runLoad({ baseUrl: gateways[i]!.baseUrl, request: targets(gateways)[i]!.request, connections: 8, durationSeconds: concurrentSeconds, serverPid: gateways[i]!.pid, databaseUrl: sides[i]!.archive.db.url });
          assertClean(result, `GetDownloadQueueItems at concurrency 8 (${sides[i]!.label} tasks)`);
          concurrent[i]!.push(result);
          log(`${sides[i]!.label} tasks, concurrency 8: ${result.throughputRps} req/s, p50 ${result.latency.p50Ms} ms, p99 ${result.latency.p99Ms} ms, CPU ${result.cpuMsPerRequest} ms/request`);
        }
      }

      const results: SideResult[] = sides.map((side, i) => ({
        tasks: side.tasks,
        load: side.load,
        beforeVacuum: before[i]!.latency,
        sequential: after[i]!.latency,
        firstCallMs: round(after[i]!.firstCallMs, 2),
        concurrent: concurrent[i]!,
        concurrentRps: round(median(concurrent[i]!.map((c) => c.throughputRps)), 1),
        concurrentP50Ms: round(median(concurrent[i]!.map((c) => c.latency.p50Ms)), 2),
        concurrentP99Ms: round(median(concurrent[i]!.map((c) => c.latency.p99Ms)), 2),
        concurrentCpuMsPerRequest: round(median(concurrent[i]!.map((c) => c.cpuMsPerRequest)), 3),
      }));
      const [s, l] = results as [SideResult, SideResult];
      const p50Ratio = l.sequential.p50Ms / s.sequential.p50Ms;
      const versus = { name: `same, ${small.label} tasks`, ratioMeaning: `${large.label} ÷ ${small.label}` };
      return {
        scenario: 'queue-scale',
        title: this.title,
        params: {
          sizes: [smallSize, largeSize],
          purged: '50% (oldest)',
          warmupCalls: warmup,
          measuredCalls: calls,
          concurrency: 8,
          concurrentRounds,
          concurrentSeconds,
          database: context.db.kind,
        },
        comparisons: [
          {
            measure: `p50 latency, ${large.label} tasks vs ${small.label} (sequential, ${calls} calls each)`,
            ours: l.sequential.p50Ms,
            unit: 'ms',
            baseline: { name: versus.name, value: s.sequential.p50Ms },
            ratio: round(p50Ratio, 2),
            ratioMeaning: versus.ratioMeaning,
            target: '≤ 1.5',
            met: p50Ratio <= 1.5,
          },
          {
            measure: `p99 latency, ${large.label} tasks vs ${small.label} (sequential)`,
            ours: l.sequential.p99Ms,
            unit: 'ms',
            baseline: { name: versus.name, value: s.sequential.p99Ms },
            ratio: round(l.sequential.p99Ms / s.sequential.p99Ms, 2),
            ratioMeaning: versus.ratioMeaning,
          },
          {
            measure: `throughput at concurrency 8, ${large.label} tasks vs ${small.label}`,
            ours: l.concurrentRps,
            unit: 'req/s',
            baseline: { name: versus.name, value: s.concurrentRps },
            ratio: round(l.concurrentRps / s.concurrentRps, 2),
            ratioMeaning: versus.ratioMeaning,
          },
          {
            measure: `CPU per request (gateway + its Postgres backends), ${large.label} tasks vs ${small.label}`,
            ours: l.concurrentCpuMsPerRequest,
            unit: 'ms',
            baseline: { name: versus.name, value: s.concurrentCpuMsPerRequest },
            ratio: round(l.concurrentCpuMsPerRequest / s.concurrentCpuMsPerRequest, 2),
            ratioMeaning: versus.ratioMeaning,
          },
          {
            measure: `p50 latency right after purging half, before VACUUM, ${large.label} vs ${small.label}`,
            ours: l.beforeVacuum.p50Ms,
            unit: 'ms',
            baseline: { name: versus.name, value: s.beforeVacuum.p50Ms },
            ratio: round(l.beforeVacuum.p50Ms / s.beforeVacuum.p50Ms, 2),
            ratioMeaning: versus.ratioMeaning,
          },
          {
            measure: `gateway peak RSS at concurrency 8, ${large.label} tasks`,
            ours: round(Math.max(...l.concurrent.map((c) => c.rss.peakBytes)) / 2 ** 20, 1),
            unit: 'MiB',
          },
        ],
        details: { sizes: results },
        notes: [
          'Data loaded with set-based SQL (INSERT … SELECT generate_series) into form_tasks, download_queue_items and shipment_metadata (2 entries on every 10th task); the oldest half then purged by one UPDATE, as PurgeItem would; ANALYZE. The listing reads only these tables (no forms/attachments rows needed).',
          'Each size is its own fresh database with its own gateway process; sequential calls alternate between the two (A B, B A, …) and so do the concurrency rounds. Every response is checked: 500 items, the first being the oldest unpurged task.',
          'Headline figures after VACUUM ANALYZE (the state autovacuum leaves); the "before VACUUM" row shows the effect of the dead partial-index entries that purges leave until then.',
          ...(embedded ? [`Embedded PGlite: the large archive is ${large.label} tasks, not 1,000,000.`] : []),
        ],
      };
    } finally {
      for (const side of sides) await context.stopGateway(side.archive);
    }
  },
};
