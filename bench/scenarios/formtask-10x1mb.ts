/**
 * formtask-10x1mb (issue 5, scenario 2): GetArchivedFormTaskBasicDQ of a task with 10 attachments
 * of 1 MiB, which the gateway sends as MTOM parts streamed from the blob store, at concurrency 8;
 * against the node-soap server returning the same task with the attachments inline as base64, and
 * a Metro (JAX-WS RI) server generated from Altinn's reference WSDL sending them as MTOM from memory
 * (issue 13).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { archiveFormTasks } from '../../src/archive/archive-form-tasks';
import type { ArchivedFormTask } from '../../src/archive/types';
import { getFormTask } from '../../src/archive/get-form-task';
import { FileBlobStore } from '../../src/storage/blob-store';
import type { App } from '../../src/app';
import { archivedFormTaskValue } from '../../src/services/download-queue/archived-form-task';
import type { NodeSoapFixture } from '../baselines/node-soap-server';
import { loadComparisons, loadRounds, summarize } from '../lib/compare';
import { GATEWAY_X2, gatewayX2Note, type BenchContext } from '../lib/context';
import { createOwner, type BenchOwner } from '../lib/fixtures';
import { deterministicFile, type InputFile } from '../lib/input-files';
import { assertClean, runLoad } from '../lib/load';
import { scenarioLogger } from '../lib/log';
import { prepareMetro, startMetro } from '../lib/metro';
import type { ChildServer } from '../lib/processes';
import type { Scenario, ScenarioResult } from '../lib/results';
import { assertSameShape, boundaryOf, expectOk, getArchivedFormTask, keepAliveAgent, send, splitMultipart } from '../lib/soap';
import { MIB } from '../lib/stats';

const log = scenarioLogger('formtask-10x1mb');
const ATTACHMENTS = 10;
/** How far the XML parts' sizes (prefixes and namespace declarations aside) may differ. */
const SIZE_TOLERANCE = 0.03;

export const formtask10x1mb: Scenario = {
  name: 'formtask-10x1mb',
  title: 'GetArchivedFormTaskBasicDQ with 10 attachments of 1 MiB, concurrency 8',
  async run(context: BenchContext): Promise<ScenarioResult> {
    const connections = 8;
    const seconds = context.quick ? 3 : 10;
    const rounds = context.quick ? 1 : 3;

    const inputs = await formTaskAttachments(context);

    log(`archiving one form task with ${ATTACHMENTS} attachments of 1 MiB through the write path`);
    const { owner, archiveReference, fixture } = await context.withArchive(async (app) => {
      const { owner, archiveReference } = await archiveBenchFormTask(app, inputs);
      const task = await getFormTask(app, { serviceOwnerId: owner.serviceOwnerId, archiveReference });
      const blobs = app.blobs as FileBlobStore;
      // The same values the gateway writes (src/services/download-queue/archived-form-task.ts), as node-soap takes them.
      const fixture: NodeSoapFixture = {
        credentials: owner.credentials,
        queueItems: [],
        formTask: {
          archiveReference: task.archiveReference,
          attachmentFiles: task.attachments.map((a) => blobs.pathOf(a.blobKey)),
          result: nodeSoapResult(task),
        },
      };
      return { owner, archiveReference: task.archiveReference, fixture };
    });
    const fixtureFile = path.join(context.workDir, 'node-soap-formtask.json');
    fs.writeFileSync(fixtureFile, JSON.stringify(fixture));

    const metroBuild = await prepareMetro(context, log);
    const gateway = await context.startGateway('formtask-10x1mb');
    // Beside it, the same gateway with WORKERS=2 (node:cluster; several processes need Postgres).
    const gatewayX2 = context.db.kind === 'postgres' ? await context.startGateway('formtask-10x1mb-x2', context.main, 2) : undefined;
    const nodeSoap = await context.startBaseline('node-soap-formtask', 'node-soap-server.js', [fixtureFile]);
    let metro: ChildServer | undefined;
    try {
      // Metro answers with MTOM only to a client that says it takes it, as a Metro client with MTOM on does.
      const plain = getArchivedFormTask(owner.credentials, archiveReference);
      const request = { ...plain, headers: { ...plain.headers, accept: 'application/xop+xml, text/xml' } };
      const expected = inputs.map((i) => i.sha256);
      const agent = keepAliveAgent();
      const mtomAnswer = async (side: string, server: ChildServer) => {
        const response = expectOk(await send(server.baseUrl, request, agent), `${side} GetArchivedFormTaskBasicDQ`);
        const parts = splitMultipart(response.body, boundaryOf(response.headers['content-type']));
        if (JSON.stringify(parts.slice(1).map((p) => sha256(p.content))) !== JSON.stringify(expected)) {
          throw new Error(`${side}: the MTOM parts differ from the attachments`);
        }
        return { name: side, xml: parts[0]!.content.toString('utf8'), bytes: response.body.length };
      };
      const ours = await mtomAnswer('gateway', gateway);
      if (gatewayX2) await mtomAnswer(GATEWAY_X2, gatewayX2);
      const theirs = expectOk(await send(nodeSoap.baseUrl, request, agent), 'node-soap GetArchivedFormTaskBasicDQ');
      const inline = [...theirs.body.toString('utf8').matchAll(/AttachmentData>([A-Za-z0-9+/=\s]+)</g)].map((m) => sha256(Buffer.from(m[1]!, 'base64')));
      if (JSON.stringify(inline) !== JSON.stringify(expected)) throw new Error('node-soap: the inline attachments differ from the input');
      const sizes: Record<string, number> = { gateway: ours.bytes, 'node-soap': theirs.body.length };
      if (!('skipped' in metroBuild)) {
        // Metro serves the gateway's own task (its XML part, read once) with the same 10 files' bytes in memory.
        metro = await startMetro(context, metroBuild, 'metro-formtask', owner.credentials, ours.xml, fixture.formTask!.attachmentFiles);
        const metroAnswer = await mtomAnswer('metro', metro);
        assertSameShape('GetArchivedFormTaskBasicDQ', ours, metroAnswer, SIZE_TOLERANCE);
        sizes.metro = metroAnswer.bytes;
      }
      agent.destroy();
      log(
        `all return the 10 attachments intact (gateway MTOM ${(sizes.gateway! / MIB).toFixed(1)} MiB, node-soap base64 ${(sizes['node-soap']! / MIB).toFixed(1)} MiB` +
          `${sizes.metro ? `, Metro MTOM ${(sizes.metro / MIB).toFixed(1)} MiB` : ''})`,
      );

      const warmupRequests = context.quick ? 16 : 64;
      const load = { request, connections, durationSeconds: seconds };
      const servers: Record<string, ChildServer> = { gateway, ...(gatewayX2 && { [GATEWAY_X2]: gatewayX2 }), 'node-soap': nodeSoap, ...(metro && { metro }) };
      const measured = await loadRounds(servers, {
        rounds,
        log,
        warmUp: async (server, side) => {
          log(`warm-up ${side} (${warmupRequests} requests)`);
          assertClean(await runLoad({ ...load, amount: warmupRequests, baseUrl: server.baseUrl, serverPid: server.pid }), `${side} warm-up`);
        },
        measure: (server, side) =>
          runLoad({ ...load, baseUrl: server.baseUrl, serverPid: server.pid, databaseUrl: side.startsWith('gateway') ? context.db.url : undefined }),
      });
      const summary = Object.fromEntries(Object.entries(measured).map(([side, results]) => [side, summarize(results)]));
      const label = `10 × 1 MiB, concurrency ${connections}`;
      return {
        scenario: 'formtask-10x1mb',
        title: this.title,
        params: { attachments: ATTACHMENTS, attachmentBytes: MIB, connections, secondsPerRound: seconds, rounds, responseBytes: sizes },
        comparisons: [
          ...loadComparisons(summary.gateway!, summary['node-soap']!, 'node-soap, inline base64', label, { throughput: 3 }),
          ...(summary.metro ? loadComparisons(summary.gateway!, summary.metro, 'Metro (JAX-WS RI), MTOM', label, { throughput: 1 }) : []),
          ...(summary.metro && summary[GATEWAY_X2]
            ? loadComparisons(summary[GATEWAY_X2], summary.metro, 'Metro (JAX-WS RI), MTOM', label, { throughput: 1 }, true, 'gateway with WORKERS=2')
            : []),
        ],
        details: { ...measured, summary },
        notes: [
          gatewayX2Note(gatewayX2 !== undefined),
          'Gateway: the task read from Postgres on every call, each blob size checked, the 10 attachments streamed from the blob store as MTOM/XOP parts.',
          'Baseline: node-soap from our WSDL, the same task values from memory, the attachment bytes held in memory and base64-encoded into the XML on every call (node-soap cannot send MTOM).',
          summary.metro
            ? 'Baseline: Metro (JAX-WS RI 2.3, Debian libjaxws-java, OpenJDK 17) generated by wsimport from the reference WSDL, @MTOM, on the JDK HTTP server (16 worker threads, -Dsun.net.httpserver.nodelay=true): the gateway\'s own task (its XML part, unmarshalled once) with the 10 attachments\' bytes in memory, sent as MTOM parts.'
            : `Metro baseline left out: ${'skipped' in metroBuild ? metroBuild.skipped : ''}.`,
          `Every response checked once before the load: every attachment byte-identical (sha256); Metro's XML part holds the same elements as the gateway's and, prefixes and namespace declarations aside, is within ${SIZE_TOLERANCE * 100}% of its size. The request says it takes MTOM (Accept: application/xop+xml), as a Metro client with MTOM on does; the gateway and node-soap ignore that.`,
          `Load: node:http keep-alive connections (better suited than wrk to 10 MiB bodies); figures are medians of ${rounds} round(s) of ${seconds} s per server, the order of the servers rotating from round to round; peak RSS is the highest sample of any round.`,
        ],
      };
    } finally {
      await metro?.stop();
      await nodeSoap.stop();
      await context.stopGateway();
    }
  },
};

/** The ten attachments (deterministic, cached). */
export async function formTaskAttachments(context: BenchContext): Promise<InputFile[]> {
  const inputs: InputFile[] = [];
  for (let i = 0; i < ATTACHMENTS; i++) inputs.push(await deterministicFile(context.cacheDir, `attachment${i}`, MIB, `formtask-${i}`));
  return inputs;
}

/** The bench's form task (two forms, two approvers, the attachments) archived through the write path. */
export async function archiveBenchFormTask(app: App, inputs: InputFile[]): Promise<{ owner: BenchOwner; archiveReference: string }> {
  const owner = await createOwner(app, '910000401', 'formtask');
  const [archived] = await archiveFormTasks(app, owner.serviceOwnerId, [
    {
      serviceCode: owner.serviceCode,
      serviceEditionCode: owner.serviceEditionCode,
      reportee: '910000401',
      reporteeType: 'Organisation',
      caseId: 42,
      forms: [
        { dataFormatId: '4711', dataFormatVersion: 1, formData: '<Skjema><Navn>Bench AS</Navn><Belop>1000</Belop></Skjema>' },
        { dataFormatId: '4712', dataFormatVersion: 1, formData: '<Vedlegg><Beskrivelse>Underskjema</Beskrivelse></Vedlegg>', parentIndex: 0 },
      ],
      approvers: [
        { approverId: '01017012345', approvedAt: new Date('2024-03-05T13:05:00Z'), securityLevel: 'sensitive' },
        { approverId: '02027012345', approvedAt: new Date('2024-03-05T13:06:00Z'), securityLevel: 'notSensitive' },
      ],
      attachments: inputs.map((input, i) => ({
        fileName: `vedlegg-${i}.bin`,
        attachmentType: 'application_octet-stream',
        attachmentTypeName: 'Bench',
        open: () => fs.createReadStream(input.path),
      })),
      shipmentMetadata: [{ key: 'source', value: 'bench' }],
    },
  ]);
  return { owner, archiveReference: archived!.archiveReference };
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * The gateway's own ArchivedFormTaskDQBE values, as JSON for the node-soap baseline: dates as ISO
 * text, and every attachment inline (the baseline base64-encodes them all), none left nil.
 */
function nodeSoapResult(task: ArchivedFormTask): NonNullable<NodeSoapFixture['formTask']>['result'] {
  const value = JSON.parse(JSON.stringify(archivedFormTaskValue(task, { includeXmlNamespace: false, attachmentData: () => null }))) as NonNullable<NodeSoapFixture['formTask']>['result'];
  value.AttachmentsInResponse = task.attachments.length;
  if (value.SOEncryptedSymmetricKey === null) delete value.SOEncryptedSymmetricKey;
  return value;
}
