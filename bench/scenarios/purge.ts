/**
 * purge (issue 5, scenario 5): PurgeItem throughput at concurrency 16, each call purging a
 * different queued item. Baseline (the database's limit): the same use case, purgeItem() from
 * src/archive, called in-process at the same concurrency on the same kind of rows, with no HTTP,
 * SOAP or authentication: the ratio is what the HTTP/SOAP layer costs.
 */
import { purgeItem } from '../../src/archive/purge-item';
import type { BenchContext } from '../lib/context';
import { createOwner, loadQueue } from '../lib/fixtures';
import { CpuMeter } from '../lib/cpu';
import { assertClean, runLoad } from '../lib/load';
import { scenarioLogger } from '../lib/log';
import type { Scenario, ScenarioResult } from '../lib/results';
import { expectOk, keepAliveAgent, purgeItem as purgeRequest, send } from '../lib/soap';
import { round, summarizeLatencies } from '../lib/stats';

const log = scenarioLogger('purge');

export const purge: Scenario = {
  name: 'purge',
  title: 'PurgeItem throughput, concurrency 16',
  async run(context: BenchContext): Promise<ScenarioResult> {
    const connections = 16;
    const perSide = context.quick ? 2000 : 20_000;
    const warmup = 50;

    log(`loading ${(2 * perSide + warmup).toLocaleString('en')} queued tasks`);
    const { owner, firstTaskId, baseline } = await context.withArchive(async (app) => {
      const owner = await createOwner(app, '910000501', 'purge');
      const load = await loadQueue(app, owner, { count: 2 * perSide + warmup, purgedFraction: 0, metadataEvery: 0 });
      await app.db.raw('ANALYZE form_tasks, download_queue_items');

      // Baseline first, on the first `perSide` items: purgeItem() in this process, 16 at a time.
      log(`baseline: purgeItem() in-process, ${perSide.toLocaleString('en')} items, concurrency ${connections}`);
      const latencies: number[] = [];
      let next = load.firstTaskId;
      const last = load.firstTaskId + perSide - 1;
      const cpu = await CpuMeter.start(process.pid, context.db.url);
      const started = process.hrtime.bigint();
      await Promise.all(
        Array.from({ length: connections }, async () => {
          while (next <= last) {
            const id = next++;
            const t = process.hrtime.bigint();
            await purgeItem(app, { serviceOwnerId: owner.serviceOwnerId, systemUserId: owner.systemUserId, archiveReference: `AR${id}` });
            latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
          }
        }),
      );
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const cpuUsed = await cpu.stop();
      return { owner, firstTaskId: load.firstTaskId + perSide, baseline: { throughputRps: round(perSide / seconds, 1), latency: summarizeLatencies(latencies), seconds, cpu: cpuUsed, cpuMsPerRequest: round(cpuUsed.totalMs / perSide, 3) } };
    });
    log(`baseline: ${baseline.throughputRps} purges/s, p50 ${baseline.latency.p50Ms} ms, p99 ${baseline.latency.p99Ms} ms`);

    const gateway = await context.startGateway('purge');
    try {
      // Warm-up (and the one password KDF) on the next `warmup` items, one at a time.
      const agent = keepAliveAgent();
      for (let i = 0; i < warmup; i++) {
        const response = expectOk(await send(gateway.baseUrl, purgeRequest(owner.credentials, `AR${firstTaskId + i}`), agent), 'PurgeItem warm-up');
        if (!response.body.toString('utf8').includes('>OK<')) throw new Error(`PurgeItem answered ${response.body.toString('utf8').slice(0, 300)}`);
      }
      agent.destroy();
      const start = firstTaskId + warmup;
      log(`gateway: PurgeItem over HTTP, ${perSide.toLocaleString('en')} items, concurrency ${connections}`);
      const ours = await runLoad({
        baseUrl: gateway.baseUrl,
        request: (i) => purgeRequest(owner.credentials, `AR${start + i}`),
        connections,
        amount: perSide,
        serverPid: gateway.pid,
        databaseUrl: context.db.url,
      });
      assertClean(ours, 'PurgeItem');
      log(`gateway: ${ours.throughputRps} purges/s, p50 ${ours.latency.p50Ms} ms, p99 ${ours.latency.p99Ms} ms, peak RSS ${(ours.rss.peakBytes / 2 ** 20).toFixed(1)} MiB`);

      const remaining = await context.withArchive(async (app) =>
        Number((await app.db('download_queue_items').where({ service_owner_id: owner.serviceOwnerId }).whereNull('purged_at').count<{ n: number }[]>('* as n'))[0]!.n),
      );
      if (remaining !== 0) throw new Error(`${remaining} items were left unpurged`);

      const ratio = ours.throughputRps / baseline.throughputRps;
      return {
        scenario: 'purge',
        title: this.title,
        params: { connections, itemsPerSide: perSide, warmupCalls: warmup, gatewayDbPool: context.db.kind === 'postgres' ? 10 : 1 },
        comparisons: [
          {
            measure: `PurgeItem throughput, concurrency ${connections}`,
            ours: ours.throughputRps,
            unit: 'req/s',
            baseline: { name: 'purgeItem() in-process (no HTTP/SOAP)', value: baseline.throughputRps },
            ratio: round(ratio, 2),
            ratioMeaning: 'ours ÷ baseline',
          },
          {
            measure: `PurgeItem p50 latency, concurrency ${connections}`,
            ours: ours.latency.p50Ms,
            unit: 'ms',
            baseline: { name: 'purgeItem() in-process (no HTTP/SOAP)', value: baseline.latency.p50Ms },
            ratio: round(ours.latency.p50Ms / baseline.latency.p50Ms, 2),
            ratioMeaning: 'ours ÷ baseline, lower is better',
          },
          {
            measure: `PurgeItem p99 latency, concurrency ${connections}`,
            ours: ours.latency.p99Ms,
            unit: 'ms',
            baseline: { name: 'purgeItem() in-process (no HTTP/SOAP)', value: baseline.latency.p99Ms },
            ratio: round(ours.latency.p99Ms / baseline.latency.p99Ms, 2),
            ratioMeaning: 'ours ÷ baseline, lower is better',
          },
          {
            measure: 'CPU per purge (process + its Postgres backends)',
            ours: ours.cpuMsPerRequest,
            unit: 'ms',
            baseline: { name: 'purgeItem() in-process (no HTTP/SOAP)', value: baseline.cpuMsPerRequest },
            ratio: round(ours.cpuMsPerRequest / baseline.cpuMsPerRequest, 2),
            ratioMeaning: 'ours ÷ baseline, lower is better',
          },
          { measure: 'gateway peak RSS under that load', ours: round(ours.rss.peakBytes / 2 ** 20, 1), unit: 'MiB' },
        ],
        details: { ours, baseline },
        notes: [
          'Every call purges a different queued item (all answered "OK"; afterwards none of the owner\'s items is left unpurged).',
          'Baseline: purgeItem() from src/archive called in the benchmark process with the same database pool size as the gateway, 16 calls in flight, on other items of the same owner: the cost of the database work alone.',
          'No issue-5 target for this scenario; each purge is a committed (durable) UPDATE, so the figure mostly reflects the commit rate of the database.',
        ],
      };
    } finally {
      await context.stopGateway();
    }
  },
};
