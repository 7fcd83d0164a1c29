/**
 * list-500 (issue 5, scenario 1): GetDownloadQueueItems returning 500 items at concurrency 16,
 * against a node-soap server built from our WSDL serving the same 500 items from memory.
 */
import fs from 'node:fs';
import path from 'node:path';
import { listQueue } from '../../src/archive/list-queue';
import type { NodeSoapFixture } from '../baselines/node-soap-server';
import { loadComparisons, loadSideBySide, summarize } from '../lib/compare';
import type { BenchContext } from '../lib/context';
import { createOwner, loadQueue } from '../lib/fixtures';
import { scenarioLogger } from '../lib/log';
import type { Scenario, ScenarioResult } from '../lib/results';
import { countQueueItems, expectOk, getDownloadQueueItems, keepAliveAgent, send } from '../lib/soap';

const log = scenarioLogger('list-500');

export const list500: Scenario = {
  name: 'list-500',
  title: 'GetDownloadQueueItems returning 500 items, concurrency 16',
  async run(context: BenchContext): Promise<ScenarioResult> {
    const connections = 16;
    const seconds = context.quick ? 3 : 10;
    const rounds = context.quick ? 1 : 3;

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

    const gateway = await context.startGateway('list-500');
    const nodeSoap = await context.startBaseline('node-soap-list', 'node-soap-server.js', [fixtureFile]);
    try {
      const request = getDownloadQueueItems(owner.credentials);
      const agent = keepAliveAgent();
      const sizes: Record<string, number> = {};
      for (const [side, server] of [['gateway', gateway], ['node-soap', nodeSoap]] as const) {
        const response = expectOk(await send(server.baseUrl, request, agent), `${side} GetDownloadQueueItems`);
        const items = countQueueItems(response.body.toString('utf8'));
        if (items !== 500) throw new Error(`${side} answered ${items} items, expected 500`);
        sizes[side] = response.body.length;
      }
      agent.destroy();
      log(`both answer 500 items (gateway ${(sizes.gateway! / 1024).toFixed(0)} KiB, node-soap ${(sizes['node-soap']! / 1024).toFixed(0)} KiB)`);

      const measured = await loadSideBySide(
        { ours: gateway, baseline: nodeSoap },
        { request, connections, durationSeconds: seconds },
        { rounds, warmupRequests: context.quick ? 100 : 400, log, databaseUrl: { ours: context.db.url } },
      );
      const ours = summarize(measured.ours);
      const baseline = summarize(measured.baseline);
      return {
        scenario: 'list-500',
        title: this.title,
        params: { items: 500, connections, secondsPerRound: seconds, rounds, responseBytes: sizes },
        comparisons: loadComparisons(ours, baseline, 'node-soap, from memory', `500 items, concurrency ${connections}`, 3),
        details: { ours: measured.ours, baseline: measured.baseline, summary: { ours, baseline } },
        notes: [
          'Baseline: node-soap (soap.listen) built from wsdl/DownloadQueueExternalBasic.wsdl, returning the same 500 items (read from the archive once at start) from memory, credentials compared in memory.',
          'The gateway reads the 500 items from Postgres on every call (partial index, joins, shipment metadata), authenticates from its verified-credentials cache, and writes schema-ordered XML.',
          `Figures are medians of ${rounds} round(s) of ${seconds} s per server, rounds alternating which server goes first; peak RSS is the highest sample of any round.`,
        ],
      };
    } finally {
      await nodeSoap.stop();
      await context.stopGateway();
    }
  },
};
