/**
 * list-500 (issue 5, scenario 1; issue 13): GetDownloadQueueItems returning 500 items at
 * concurrency 16, load from wrk, against a node-soap server built from our WSDL and a Metro
 * (JAX-WS RI) server generated from Altinn's reference WSDL, both serving the same 500 items from
 * memory.
 */
import fs from 'node:fs';
import path from 'node:path';
import { listQueue } from '../../src/archive/list-queue';
import type { NodeSoapFixture } from '../baselines/node-soap-server';
import { loadComparisons, loadRounds, summarize } from '../lib/compare';
import { GATEWAY_X2, gatewayX2Note, type BenchContext } from '../lib/context';
import { createOwner, loadQueue } from '../lib/fixtures';
import { assertClean } from '../lib/load';
import { scenarioLogger } from '../lib/log';
import { ensureTools, prepareMetro, startMetro } from '../lib/metro';
import type { ChildServer } from '../lib/processes';
import type { Scenario, ScenarioResult } from '../lib/results';
import { assertSameShape, countQueueItems, expectOk, getDownloadQueueItems, keepAliveAgent, send } from '../lib/soap';
import { runWrk, WRK_THREADS } from '../lib/wrk';

const log = scenarioLogger('list-500');
/** How far the answers' sizes (prefixes and namespace declarations aside) may differ. */
const SIZE_TOLERANCE = 0.03;

export const list500: Scenario = {
  name: 'list-500',
  title: 'GetDownloadQueueItems returning 500 items, concurrency 16',
  async run(context: BenchContext): Promise<ScenarioResult> {
    const connections = 16;
    const seconds = context.quick ? 3 : 10;
    const rounds = context.quick ? 1 : 3;
    const warmupSeconds = context.quick ? 1 : 5;

    log('loading 1,000 queued tasks (shipment metadata on every 10th)');
    const { owner, fixture } = await context.withArchive(async (app) => {
      const owner = await createOwner(app, '910000301', 'list');
      await loadQueue(app, owner, { count: 1000, purgedFraction: 0, metadataEvery: 10 });
      await app.db.raw('ANALYZE form_tasks, download_queue_items, shipment_metadata, services');
      const items = await listQueue(app, { serviceOwnerId: owner.serviceOwnerId, serviceCode: null, limit: 500 });
      const fixture: NodeSoapFixture = {
        credentials: owner.credentials,
        queueItems: items.map((item) => ({
          ArchiveReference: item.archiveReference,
          ArchivedDate: item.archivedAt.toISOString(),
          ReporteeID: item.reporteeId,
          ReporteeType: item.reporteeType,
          ServiceCode: item.serviceCode,
          ServiceEditionCode: item.serviceEditionCode,
          ...(item.shipmentMetadata && {
            ShipmentMetadataList: { ArchivedShipmentMetadata: item.shipmentMetadata.map((m) => ({ Key: m.key, Value: m.value })) },
          }),
        })),
      };
      return { owner, fixture };
    });
    const fixtureFile = path.join(context.workDir, 'node-soap-list-500.json');
    fs.writeFileSync(fixtureFile, JSON.stringify(fixture));

    await ensureTools({ wrk: true, log });
    const metroBuild = await prepareMetro(context, log);
    const gateway = await context.startGateway('list-500');
    // Beside it, the same gateway with WORKERS=2 (node:cluster; several processes need Postgres).
    const gatewayX2 = context.db.kind === 'postgres' ? await context.startGateway('list-500-x2', context.main, 2) : undefined;
    const nodeSoap = await context.startBaseline('node-soap-list', 'node-soap-server.js', [fixtureFile]);
    let metro: ChildServer | undefined;
    try {
      const request = getDownloadQueueItems(owner.credentials);
      const agent = keepAliveAgent();
      const answer = async (side: string, server: ChildServer) => {
        const response = expectOk(await send(server.baseUrl, request, agent), `${side} GetDownloadQueueItems`);
        const xml = response.body.toString('utf8');
        const items = countQueueItems(xml);
        if (items !== 500) throw new Error(`${side} answered ${items} items, expected 500`);
        return { name: side, xml, bytes: response.body.length };
      };
      const ours = await answer('gateway', gateway);
      const answers = [ours, ...(gatewayX2 ? [await answer(GATEWAY_X2, gatewayX2)] : []), await answer('node-soap', nodeSoap)];
      if (!('skipped' in metroBuild)) {
        // Metro serves the gateway's own 500 items, read from this very answer.
        metro = await startMetro(context, metroBuild, 'metro-list', owner.credentials, ours.xml);
        const theirs = await answer('metro', metro);
        assertSameShape('GetDownloadQueueItems', ours, theirs, SIZE_TOLERANCE);
        answers.push(theirs);
      }
      agent.destroy();
      const sizes = Object.fromEntries(answers.map((a) => [a.name, a.bytes]));
      log(`all answer 500 items (${answers.map((a) => `${a.name} ${(a.bytes / 1024).toFixed(0)} KiB`).join(', ')})`);

      const servers: Record<string, ChildServer> = { gateway, ...(gatewayX2 && { [GATEWAY_X2]: gatewayX2 }), 'node-soap': nodeSoap, ...(metro && { metro }) };
      const measured = await loadRounds(servers, {
        rounds,
        log,
        warmUp: async (server, side) => {
          log(`warm-up ${side} (${warmupSeconds} s of wrk)`);
          const warm = await runWrk({ baseUrl: server.baseUrl, request, connections, durationSeconds: warmupSeconds, serverPid: server.pid, workDir: context.workDir });
          assertClean(warm, `${side} warm-up`);
        },
        measure: (server, side) =>
          runWrk({
            baseUrl: server.baseUrl,
            request,
            connections,
            durationSeconds: seconds,
            serverPid: server.pid,
            databaseUrl: side.startsWith('gateway') ? context.db.url : undefined,
            workDir: context.workDir,
          }),
      });
      const summary = Object.fromEntries(Object.entries(measured).map(([side, results]) => [side, summarize(results)]));
      const label = `500 items, concurrency ${connections}`;
      const wrkCores = Object.fromEntries(
        Object.entries(measured).map(([side, results]) => [side, Math.max(...results.map((r) => r.client?.coresUsed ?? NaN))]),
      );
      const wrkBusiest = Math.max(...Object.values(wrkCores));
      return {
        scenario: 'list-500',
        title: this.title,
        params: { items: 500, connections, secondsPerRound: seconds, rounds, loadGenerator: `wrk -t${WRK_THREADS}`, responseBytes: sizes },
        comparisons: [
          ...loadComparisons(summary.gateway!, summary['node-soap']!, 'node-soap, from memory', label, { throughput: 3 }),
          ...(summary.metro ? loadComparisons(summary.gateway!, summary.metro, 'Metro (JAX-WS RI), from memory', label, { throughput: 1, p99AtMostBaseline: true }) : []),
          ...(summary.metro && summary[GATEWAY_X2]
            ? loadComparisons(summary[GATEWAY_X2], summary.metro, 'Metro (JAX-WS RI), from memory', label, { throughput: 1, p99AtMostBaseline: true }, true, 'gateway with WORKERS=2')
            : []),
        ],
        details: { ...measured, summary, wrkCoresUsed: wrkCores },
        notes: [
          'Baseline: node-soap (soap.listen) built from wsdl/DownloadQueueExternalBasic.wsdl, returning the same 500 items (read from the archive once at start) from memory, credentials compared in memory.',
          summary.metro
            ? 'Baseline: Metro (JAX-WS RI 2.3, Debian libjaxws-java, OpenJDK 17): classes generated by wsimport from the reference WSDL (../shared/reference/altinn2), bench/baselines/metro/DownloadQueueServer.java published with javax.xml.ws.Endpoint on the JDK HTTP server (16 worker threads, -Dsun.net.httpserver.nodelay=true, @MTOM), serving the gateway\'s own 500 items (unmarshalled once from its answer) from memory; its answer checked to hold the same elements as the gateway\'s and, prefixes and namespace declarations aside, to be within ' + `${SIZE_TOLERANCE * 100}% of its size.`
            : `Metro baseline left out: ${'skipped' in metroBuild ? metroBuild.skipped : ''}.`,
          gatewayX2Note(gatewayX2 !== undefined),
          'The gateway reads the 500 items from Postgres on every call (partial index, joins, shipment metadata), authenticates from its verified-credentials cache, and writes schema-ordered XML.',
          `Load: wrk (-t${WRK_THREADS} -c${connections}, a Lua script POSTing the SOAP request), a ${warmupSeconds} s warm-up per server first; latency percentiles are wrk's. wrk used at most ${wrkBusiest} of a core${wrkBusiest > 0.8 * WRK_THREADS ? ' (WARNING: near its limit, it may have set the pace)' : ', so it did not set the pace'}; its CPU per request is the "client" figure in latest.json.`,
          `Figures are medians of ${rounds} round(s) of ${seconds} s per server, the order of the servers rotating from round to round; peak RSS is the highest sample of any round.`,
        ],
      };
    } finally {
      await metro?.stop();
      await nodeSoap.stop();
      await context.stopGateway();
    }
  },
};
