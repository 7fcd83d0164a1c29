/**
 * formtask-10x1mb (issue 5, scenario 2): GetArchivedFormTaskBasicDQ of a task with 10 attachments
 * of 1 MiB, which the gateway sends as MTOM parts streamed from the blob store, at concurrency 8;
 * against the node-soap server returning the same task with the attachments inline as base64.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { archiveFormTasks } from '../../src/archive/archive-form-tasks';
import type { ArchivedFormTask } from '../../src/archive/types';
import { getFormTask } from '../../src/archive/get-form-task';
import { FileBlobStore } from '../../src/storage/blob-store';
import { archivedFormTaskValue } from '../../src/services/download-queue/archived-form-task';
import type { NodeSoapFixture } from '../baselines/node-soap-server';
import { loadComparisons, loadSideBySide, summarize } from '../lib/compare';
import type { BenchContext } from '../lib/context';
import { createOwner } from '../lib/fixtures';
import { deterministicFile, type InputFile } from '../lib/input-files';
import { scenarioLogger } from '../lib/log';
import type { Scenario, ScenarioResult } from '../lib/results';
import { boundaryOf, expectOk, getArchivedFormTask, keepAliveAgent, send, splitMultipart } from '../lib/soap';
import { MIB } from '../lib/stats';

const log = scenarioLogger('formtask-10x1mb');
const ATTACHMENTS = 10;

export const formtask10x1mb: Scenario = {
  name: 'formtask-10x1mb',
  title: 'GetArchivedFormTaskBasicDQ with 10 attachments of 1 MiB, concurrency 8',
  async run(context: BenchContext): Promise<ScenarioResult> {
    const connections = 8;
    const seconds = context.quick ? 3 : 10;
    const rounds = context.quick ? 1 : 3;

    const inputs: InputFile[] = [];
    for (let i = 0; i < ATTACHMENTS; i++) inputs.push(await deterministicFile(context.cacheDir, `attachment${i}`, MIB, `formtask-${i}`));

    log(`archiving one form task with ${ATTACHMENTS} attachments of 1 MiB through the write path`);
    const { owner, archiveReference, fixture } = await context.withArchive(async (app) => {
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
      const task = await getFormTask(app, { serviceOwnerId: owner.serviceOwnerId, archiveReference: archived!.archiveReference });
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

    const gateway = await context.startGateway('formtask-10x1mb');
    const nodeSoap = await context.startBaseline('node-soap-formtask', 'node-soap-server.js', [fixtureFile]);
    try {
      const request = getArchivedFormTask(owner.credentials, archiveReference);
      const expected = inputs.map((i) => i.sha256);
      const agent = keepAliveAgent();
      const ours = expectOk(await send(gateway.baseUrl, request, agent), 'gateway GetArchivedFormTaskBasicDQ');
      const parts = splitMultipart(ours.body, boundaryOf(ours.headers['content-type']));
      const oursHashes = parts.slice(1).map((p) => sha256(p.content));
      if (JSON.stringify(oursHashes) !== JSON.stringify(expected)) throw new Error('gateway: the MTOM parts differ from the attachments');
      const theirs = expectOk(await send(nodeSoap.baseUrl, request, agent), 'node-soap GetArchivedFormTaskBasicDQ');
      const inline = [...theirs.body.toString('utf8').matchAll(/AttachmentData>([A-Za-z0-9+/=\s]+)</g)].map((m) => sha256(Buffer.from(m[1]!, 'base64')));
      if (JSON.stringify(inline) !== JSON.stringify(expected)) throw new Error('node-soap: the inline attachments differ from the input');
      agent.destroy();
      const sizes = { gateway: ours.body.length, 'node-soap': theirs.body.length };
      log(`both return the 10 attachments intact (gateway MTOM ${(sizes.gateway / MIB).toFixed(1)} MiB, node-soap base64 ${(sizes['node-soap'] / MIB).toFixed(1)} MiB)`);

      const measured = await loadSideBySide(
        { ours: gateway, baseline: nodeSoap },
        { request, connections, durationSeconds: seconds },
        { rounds, warmupRequests: context.quick ? 16 : 64, log, databaseUrl: { ours: context.db.url } },
      );
      const summaryOurs = summarize(measured.ours);
      const summaryBaseline = summarize(measured.baseline);
      return {
        scenario: 'formtask-10x1mb',
        title: this.title,
        params: { attachments: ATTACHMENTS, attachmentBytes: MIB, connections, secondsPerRound: seconds, rounds, responseBytes: sizes },
        comparisons: loadComparisons(summaryOurs, summaryBaseline, 'node-soap, inline base64', `10 × 1 MiB, concurrency ${connections}`, { throughput: 3 }),
        details: { ours: measured.ours, baseline: measured.baseline, summary: { ours: summaryOurs, baseline: summaryBaseline } },
        notes: [
          'Gateway: the task read from Postgres on every call, each blob size checked, the 10 attachments streamed from the blob store as MTOM/XOP parts.',
          'Baseline: node-soap from our WSDL, the same task values from memory, the attachment bytes held in memory and base64-encoded into the XML on every call (node-soap cannot send MTOM).',
          'Both responses checked once before the load: every attachment byte-identical (sha256).',
          `Figures are medians of ${rounds} round(s) of ${seconds} s per server, rounds alternating which server goes first; peak RSS is the highest sample of any round.`,
        ],
      };
    } finally {
      await nodeSoap.stop();
      await context.stopGateway();
    }
  },
};

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
