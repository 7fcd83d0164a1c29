/**
 * scale-out-2x (issue 14): two gateway instances on one Postgres database and one blob store (the
 * file store under one DATA_DIR) against one instance, for the loads of list-500 (wrk,
 * GetDownloadQueueItems of 500 items, 16 connections) and formtask-10x1mb (node:http,
 * GetArchivedFormTaskBasicDQ with 10 MiB of MTOM attachments, 8 connections). With two instances
 * the same connections are split evenly: one load generator per instance with half of them, run at
 * the same time, their figures summed. CPU per request counts both gateway processes and every
 * Postgres backend of the database.
 *
 * Figures only, no target: on a 2-core machine, shared with the load generator and Postgres, two
 * instances cannot double the throughput; the ratio 2-instance ÷ 1-instance shows what a second
 * process costs or gains where there is no spare core.
 */
import { loadComparisons, summarize } from '../lib/compare';
import type { Archive, BenchContext } from '../lib/context';
import { CpuMeter } from '../lib/cpu';
import { createOwner, loadQueue } from '../lib/fixtures';
import { assertClean, runLoad, type LoadResult } from '../lib/load';
import { scenarioLogger } from '../lib/log';
import { ensureTools } from '../lib/metro';
import type { ChildServer } from '../lib/processes';
import type { Comparison, Scenario, ScenarioResult } from '../lib/results';
import { boundaryOf, countQueueItems, expectOk, getArchivedFormTask, getDownloadQueueItems, keepAliveAgent, send, splitMultipart } from '../lib/soap';
import { round } from '../lib/stats';
import { runWrk, WRK_THREADS } from '../lib/wrk';
import { archiveBenchFormTask, formTaskAttachments } from './formtask-10x1mb';

const log = scenarioLogger('scale-out-2x');

type Instances = '1 instance' | '2 instances';

/** One load against `servers` (one or two), each with an equal share of the connections, at the same time. */
type Load = (server: ChildServer, connections: number, databaseUrl: string | undefined) => Promise<LoadResult>;

export const scaleOut2x: Scenario = {
  name: 'scale-out-2x',
  title: 'Two gateway instances on one database against one: list-500 and formtask-10x1mb',
  async run(context: BenchContext): Promise<ScenarioResult> {
    if (context.db.kind !== 'postgres') {
      log('skipped: two gateway processes cannot share an embedded PGlite database (set DATABASE_URL)');
      return {
        scenario: 'scale-out-2x',
        title: this.title,
        params: {},
        comparisons: [],
        details: {},
        notes: ['Skipped: needs Postgres (two processes cannot open one embedded PGlite database); set DATABASE_URL.'],
      };
    }
    const seconds = context.quick ? 3 : 10;
    const rounds = context.quick ? 1 : 3;
    const warmupSeconds = context.quick ? 1 : 5;

    // An archive of its own: list-500 and formtask-10x1mb load the same owners into the main one.
    const first: Archive = await context.createArchive('scale-out');
    const second: Archive = { ...first, name: 'scale-out-second' };
    const inputs = await formTaskAttachments(context);
    log('loading 1,000 queued tasks and one form task with 10 attachments of 1 MiB');
    const { listOwner, formOwner, archiveReference } = await context.withArchive(async (app) => {
      const listOwner = await createOwner(app, '910000301', 'list');
      await loadQueue(app, listOwner, { count: 1000, purgedFraction: 0, metadataEvery: 10 });
      const { owner: formOwner, archiveReference } = await archiveBenchFormTask(app, inputs);
      await app.db.raw('ANALYZE form_tasks, download_queue_items, shipment_metadata, services');
      return { listOwner, formOwner, archiveReference };
    }, first);

    await ensureTools({ wrk: true, log });
    const a = await context.startGateway('scale-out-a', first);
    const b = await context.startGateway('scale-out-b', second);
    try {
      const listRequest = getDownloadQueueItems(listOwner.credentials);
      const formRequest = getArchivedFormTask(formOwner.credentials, archiveReference);
      const agent = keepAliveAgent();
      for (const [name, gateway] of [['A', a], ['B', b]] as const) {
        const list = expectOk(await send(gateway.baseUrl, listRequest, agent), `instance ${name} GetDownloadQueueItems`);
        if (countQueueItems(list.body.toString('utf8')) !== 500) throw new Error(`instance ${name} did not answer 500 items`);
        const form = expectOk(await send(gateway.baseUrl, formRequest, agent), `instance ${name} GetArchivedFormTaskBasicDQ`);
        const parts = splitMultipart(form.body, boundaryOf(form.headers['content-type']));
        if (parts.length !== 1 + inputs.length || parts.slice(1).some((p, i) => p.content.length !== inputs[i]!.sizeBytes)) {
          throw new Error(`instance ${name}: the form task's MTOM parts are not the 10 attachments`);
        }
      }
      agent.destroy();
      log('both instances answer the 500 items and the 10 attachments');

      const listLoad: Load = (server, connections, databaseUrl) =>
        runWrk({ baseUrl: server.baseUrl, request: listRequest, connections, durationSeconds: seconds, serverPid: server.pid, databaseUrl, workDir: context.workDir });
      const formLoad: Load = (server, connections, databaseUrl) =>
        runLoad({ baseUrl: server.baseUrl, request: formRequest, connections, durationSeconds: seconds, serverPid: server.pid, databaseUrl });

      const cases: { name: string; label: string; connections: number; load: Load; warm: (server: ChildServer) => Promise<LoadResult> }[] = [
        {
          name: 'list-500',
          label: 'list 500 items, concurrency 16',
          connections: 16,
          load: listLoad,
          warm: (server) => runWrk({ baseUrl: server.baseUrl, request: listRequest, connections: 8, durationSeconds: warmupSeconds, serverPid: server.pid, workDir: context.workDir }),
        },
        {
          name: 'formtask-10x1mb',
          label: '10 × 1 MiB, concurrency 8',
          connections: 8,
          load: formLoad,
          warm: (server) => runLoad({ baseUrl: server.baseUrl, request: formRequest, connections: 4, amount: context.quick ? 16 : 64, serverPid: server.pid }),
        },
      ];

      const comparisons: Comparison[] = [];
      const details: Record<string, unknown> = {};
      for (const c of cases) {
        for (const [name, gateway] of [['A', a], ['B', b]] as const) {
          log(`${c.name}: warm-up of instance ${name}`);
          assertClean(await c.warm(gateway), `${c.name} warm-up ${name}`);
        }
        const measured: Record<Instances, LoadResult[]> = { '1 instance': [], '2 instances': [] };
        for (let r = 1; r <= rounds; r++) {
          const order: Instances[] = r % 2 === 1 ? ['1 instance', '2 instances'] : ['2 instances', '1 instance'];
          for (const instances of order) {
            const result = instances === '1 instance' ? await c.load(a, c.connections, first.db.url) : await splitLoad(c.load, [a, b], c.connections, first.db.url!);
            assertClean(result, `${c.name} ${instances}`);
            measured[instances].push(result);
            log(
              `${c.name} round ${r}/${rounds} ${instances.padEnd(11)}: ${result.throughputRps} req/s, p50 ${result.latency.p50Ms} ms, p99 ${result.latency.p99Ms} ms, ` +
                `CPU ${result.cpuMsPerRequest} ms/request (gateways ${result.cpu.processMs} ms + Postgres ${result.cpu.databaseMs} ms), peak RSS ${(result.rss.peakBytes / 2 ** 20).toFixed(1)} MiB`,
            );
          }
        }
        const one = summarize(measured['1 instance']);
        const two = summarize(measured['2 instances']);
        details[c.name] = { ...measured, summary: { '1 instance': one, '2 instances': two } };
        comparisons.push(...loadComparisons(two, one, '1 instance', `${c.label}, 2 instances (half the connections each)`));
      }

      return {
        scenario: 'scale-out-2x',
        title: this.title,
        params: { secondsPerRound: seconds, rounds, listConnections: 16, formTaskConnections: 8, listLoadGenerator: `wrk -t${WRK_THREADS} per instance`, blobStore: 'file store, one DATA_DIR' },
        comparisons,
        details,
        notes: [
          'Ours = two gateway processes (same DATABASE_URL, same DATA_DIR, so the same file blob store), the baseline = one of them alone, under the same total concurrency; ratio = 2 instances ÷ 1 instance. No target: on 2 cores, shared with the load generators and Postgres, a second process cannot add a core.',
          'Two instances: one load generator per instance (list: a wrk process each, -c8; form task: a node:http closed loop each in the bench process, 4 connections), run at the same time for the same duration; requests and throughput summed; p50 and p99 the worse of the two instances; peak RSS the sum of the peaks of both processes (the memory of the deployment).',
          'CPU per request: both gateway processes plus every Postgres backend of the database (pg_stat_activity), over all requests of both.',
          `Figures are medians of ${rounds} round(s) of ${seconds} s, the order 1/2 instances alternating; each instance warmed first (list: ${warmupSeconds} s of wrk; form task: ${context.quick ? 16 : 64} requests).`,
        ],
      };
    } finally {
      await context.stopGateway(second);
      await context.stopGateway(first);
    }
  },
};

/** The same load split evenly over the servers, at the same time; one result for the whole. */
async function splitLoad(load: Load, servers: ChildServer[], connections: number, databaseUrl: string): Promise<LoadResult> {
  // The database's backends measured once for all (each load alone would count all of them).
  const database = await CpuMeter.start(process.pid, databaseUrl);
  const parts = await Promise.all(servers.map((server) => load(server, connections / servers.length, undefined)));
  const databaseMs = (await database.stop()).databaseMs;
  const requests = parts.reduce((n, p) => n + p.requests, 0);
  const processMs = parts.reduce((n, p) => n + p.cpu.processMs, 0);
  const durationSeconds = Math.max(...parts.map((p) => p.durationSeconds));
  const worst = (pick: (p: LoadResult) => number) => Math.max(...parts.map(pick));
  const sum = (pick: (p: LoadResult) => number) => parts.reduce((n, p) => n + pick(p), 0);
  const first = parts[0]!;
  return {
    connections,
    requests,
    durationSeconds,
    throughputRps: round(sum((p) => p.throughputRps), 1),
    bytesPerSecond: sum((p) => p.bytesPerSecond),
    meanResponseBytes: requests ? Math.round(sum((p) => p.meanResponseBytes * p.requests) / requests) : 0,
    latency: { ...first.latency, count: requests, p50Ms: worst((p) => p.latency.p50Ms), p90Ms: worst((p) => p.latency.p90Ms), p99Ms: worst((p) => p.latency.p99Ms), maxMs: worst((p) => p.latency.maxMs), meanMs: round(sum((p) => p.latency.meanMs * p.requests) / requests, 3) },
    non2xx: sum((p) => p.non2xx),
    errors: sum((p) => p.errors),
    timeouts: sum((p) => p.timeouts),
    statusCodes: {},
    // The memory of the deployment: both processes' figures added.
    rss: { beforeBytes: sum((p) => p.rss.beforeBytes), peakBytes: sum((p) => p.rss.peakBytes), afterBytes: sum((p) => p.rss.afterBytes), growthBytes: sum((p) => p.rss.growthBytes), samples: first.rss.samples },
    cpu: { processMs, databaseMs, totalMs: processMs + databaseMs },
    cpuMsPerRequest: requests ? round((processMs + databaseMs) / requests, 3) : NaN,
    // wrk processes: their CPU adds up; node:http loops share this process, whose CPU each counted whole.
    clientCpuMsPerRequest: first.client ? round(sum((p) => p.clientCpuMsPerRequest * p.requests) / requests, 3) : round(worst((p) => p.clientCpuMsPerRequest * p.requests) / requests, 3),
  };
}
