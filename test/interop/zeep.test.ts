/**
 * Interop: python3-zeep, generated from Altinn's REFERENCE WSDLs (../shared/reference/altinn2/) with
 * only the host changed, runs the documented DownloadQueue loop against the gateway
 * (test/interop/zeep_client.py). Every attachment's sha256 and size, the forms, approvers and queue
 * items zeep reports are compared with what was archived; the queue must be empty afterwards.
 *
 * Needs Debian's python3-zeep (`apt-get install python3-zeep`) under /usr/bin/python3, or set
 * ZEEP_PYTHON to an interpreter that has zeep.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { archiveFormTasks, type NewFormTask } from '../../src/archive/archive-form-tasks';
import { listQueue } from '../../src/archive/list-queue';
import { bytesAttachment, newTask } from '../helpers/archive-fixtures';
import { createSoapOwner, generatedAttachment, generatedSha256, type SoapOwner } from '../helpers/fixtures';
import { startTestServer, type TestServer } from '../helpers/server';

const REPO_ROOT = path.resolve(__dirname, '../..');
const REFERENCE_DIR = path.resolve(REPO_ROOT, '../shared/reference/altinn2');
const PYTHON = process.env.ZEEP_PYTHON || '/usr/bin/python3';
const SCRIPT = path.join(__dirname, 'zeep_client.py');
const MiB = 1024 * 1024;

// ---- what zeep_client.py prints ----

interface ZeepAttachment {
  AttachmentId: number;
  ArchiveReference: string;
  FileName: string;
  AttachmentType: string;
  AttachmentTypeName: string | null;
  IsEncrypted: boolean;
  via: 'inline' | 'streamed';
  file: string;
  size: number;
  sha256: string;
}

interface ZeepTask {
  ArchiveReference: string;
  ArchiveTimeStamp: string;
  ServiceCode: string;
  ServiceEditionCode: string;
  Reportee: string;
  CaseID: number;
  AttachmentsInResponse: number;
  FormsInResponse: number;
  SOEncryptedSymmetricKey: unknown;
  Forms: { DataFormatID: string; DataFormatVersionID: number; FormData: string; Reference: string; ParentReference: string | null }[];
  Approvers: { ApproverID: string; SecurityLevel: string; ApprovedTimeStamp: string }[];
  Attachments: ZeepAttachment[];
}

interface ZeepSummary {
  zeepVersion: string;
  problems: string[];
  error?: string;
  traceback?: string;
  timingsMs: Record<string, number>;
  wsdl: { downloadQueue: string; streamed: string };
  serviceAddresses: { downloadQueue: string; streamed: string };
  test: { result: unknown; streamedResult: unknown };
  queue: {
    ArchiveReference: string;
    ArchivedDate: string;
    ReporteeID: string;
    ReporteeType: string;
    ServiceCode: string;
    ServiceEditionCode: number;
    ShipmentMetadata: { Key: string; Value: string | null }[] | null;
  }[];
  tasks: Record<string, ZeepTask>;
  attachments: Record<string, { sha256: string; size: number; via: 'inline' | 'streamed' }>;
  pdf?: { archiveReference: string; type: string; size: number | null; head: string | null };
  purged: Record<string, string>;
  queueAfterPurge: string[] | null;
  fault: { raised: string | null; message?: string; code?: string; altinnFault?: Record<string, string | null> | null };
  documentsLoaded: string[];
  posts: { address: string; soapAction: string | null; status: number; contentType: string | null }[];
}

interface ZeepRun {
  summary: ZeepSummary;
  exitCode: number | null;
  stderr: string;
  ms: number;
}

function runZeepClient(input: Record<string, unknown>, timeoutMs = 90_000): Promise<ZeepRun> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, [SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', reject);
    child.on('close', (exitCode) => {
      clearTimeout(timer);
      const text = Buffer.concat(stdout).toString('utf8');
      const errorText = Buffer.concat(stderr).toString('utf8');
      try {
        resolve({ summary: JSON.parse(text) as ZeepSummary, exitCode, stderr: errorText, ms: Date.now() - started });
      } catch {
        reject(new Error(`zeep_client.py (exit ${exitCode}) did not print JSON.\nstdout:\n${text.slice(0, 4000)}\nstderr:\n${errorText.slice(0, 4000)}`));
      }
    });
    child.stdin.end(JSON.stringify(input));
  });
}

/** The run must have completed without problems; show zeep's own words when it did not. */
function expectCleanRun(run: ZeepRun): ZeepSummary {
  const { summary } = run;
  if (summary.error || run.exitCode !== 0) {
    throw new Error(`zeep_client.py failed (exit ${run.exitCode}): ${summary.error ?? ''}\n${summary.traceback ?? ''}\n` +
      `problems: ${JSON.stringify(summary.problems)}\nstderr:\n${run.stderr.slice(0, 4000)}`);
  }
  expect(summary.problems).toEqual([]);
  return summary;
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** What an attachment should look like on the client: its archived bytes' digest and size. */
interface Expected {
  attachmentId?: number;
  fileName: string;
  attachmentType: string;
  size: number;
  sha256: string;
  via: 'inline' | 'streamed';
}

function expectAttachments(task: ZeepTask, expected: Expected[]): void {
  expect(task.Attachments.map((a) => a.AttachmentId)).toEqual(expected.map((e) => e.attachmentId));
  for (const [index, want] of expected.entries()) {
    const got = task.Attachments[index]!;
    expect({ id: got.AttachmentId, FileName: got.FileName, AttachmentType: got.AttachmentType, via: got.via, size: got.size, sha256: got.sha256 }).toEqual({
      id: want.attachmentId,
      FileName: want.fileName,
      AttachmentType: want.attachmentType,
      via: want.via,
      size: want.size,
      sha256: want.sha256,
    });
    expect(got.ArchiveReference).toBe(task.ArchiveReference);
    expect(got.IsEncrypted).toBe(false);
  }
}

/** Hash the files zeep wrote, independently of the script's own hashing. */
async function expectFilesOnDisk(task: ZeepTask): Promise<void> {
  for (const attachment of task.Attachments) {
    const bytes = await readFile(attachment.file);
    expect({ file: attachment.file, size: bytes.length, sha256: sha256(bytes) }).toEqual({
      file: attachment.file,
      size: attachment.size,
      sha256: attachment.sha256,
    });
  }
}

beforeAll(() => {
  const probe = spawnSync(PYTHON, ['-c', 'import zeep, sys; sys.stdout.write(zeep.__version__)'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    throw new Error(`${PYTHON} cannot import zeep (${(probe.stderr || String(probe.error)).trim()}). ` +
      'Install python3-zeep (apt-get install python3-zeep) or set ZEEP_PYTHON to a python with zeep.');
  }
});

describe('python3-zeep built from the reference WSDLs', () => {
  let server: TestServer;
  let outDir: string;
  beforeAll(async () => {
    // A low inline limit sends a 5 MB attachment through the streamed service, as a > 30 MB one would be.
    server = await startTestServer({ inlineAttachmentMaxBytes: 2 * MiB });
    outDir = await mkdtemp(path.join(tmpdir(), 'agw-zeep-'));
  });
  afterAll(async () => {
    await server?.close();
    if (outDir) await rm(outDir, { recursive: true, force: true });
  });

  it('runs the documented loop: queue, tasks, inline and streamed MTOM attachments, PDF, purge, fault', async () => {
    const owner = await createSoapOwner(server.app);
    const otherOwner = await createSoapOwner(server.app);

    // Text that ends (and one that starts) with CRLF: zeep strips CR/LF at both ends of a part
    // marked exactly `Content-Transfer-Encoding: binary`: these bytes survive because we send `Binary`.
    const crlfText = Buffer.from('Linje 1: ære være\r\nLinje 2\r\n', 'utf8');
    const crlfBothEnds = Buffer.from('\r\n\r\nmidt\r\n\n', 'utf8');
    const mainForm = '<Skjema xmlns="urn:no:test:skjema" versjon="1"><Navn>Ærlig &amp; Øst &lt;AS&gt;</Navn><Beløp valuta="NOK">1200</Beløp></Skjema>';
    const subForm = '<Vedlegg><Tekst>underskjema "sitat" \'apostrof\'</Tekst></Vedlegg>';
    const taskA: NewFormTask = newTask(owner, {
      reportee: '910000001',
      reporteeType: 'Organisation',
      caseId: 4711,
      forms: [
        { dataFormatId: '5703', dataFormatVersion: 34114, formData: mainForm },
        { dataFormatId: '5704', dataFormatVersion: 34115, formData: subForm, parentIndex: 0 },
      ],
      approvers: [
        { approverId: '01017012345', approvedAt: new Date('2024-03-05T13:05:00Z'), securityLevel: 'sensitive' },
        { approverId: '02029012345', approvedAt: new Date('2024-03-06T08:30:15.250Z'), securityLevel: 'verySensitive' },
      ],
      attachments: [
        bytesAttachment('kvittering.txt', crlfText, 'text_plain'),
        bytesAttachment('crlf-begge-ender.txt', crlfBothEnds, 'text_plain'),
        generatedAttachment('data.bin', 1_000_000, 2),
        generatedAttachment('stor.bin', 5 * MiB, 3),
      ],
      shipmentMetadata: [
        { key: 'Kanal', value: 'Portal' },
        { key: 'Tom', value: null },
      ],
    });
    const taskB: NewFormTask = newTask(owner, { reportee: '01017012345', reporteeType: 'Person' });
    const [a, b] = await archiveFormTasks(server.app, owner.serviceOwnerId, [taskA, taskB]);
    const [foreign] = await archiveFormTasks(server.app, otherOwner.serviceOwnerId, [newTask(otherOwner)]);
    const [idText, idCrlf, idData, idBig] = a!.attachmentIds;

    const run = await runZeepClient({ baseUrl: server.url, userName: owner.userName, password: owner.password, outDir, referenceDir: REFERENCE_DIR });
    const summary = expectCleanRun(run);

    // Built from the reference files, addresses untouched (altinn.no); the transport moved the host only.
    expect(summary.wsdl).toEqual({
      downloadQueue: path.join(REFERENCE_DIR, 'DownloadQueueExternalBasic.wsdl'),
      streamed: path.join(REFERENCE_DIR, 'ServiceOwnerArchiveExternalStreamedBasic.wsdl'),
    });
    expect(summary.serviceAddresses).toEqual({
      downloadQueue: 'https://www.altinn.no/ArchiveExternal/DownloadQueueExternalBasic.svc',
      streamed: 'https://www.altinn.no/ArchiveExternal/ServiceOwnerArchiveExternalStreamedBasic.svc',
    });
    // The streamed reference WSDL's remote schemas came from our ?xsd=xsd0..4.
    expect([...summary.documentsLoaded].sort()).toEqual(
      [0, 1, 2, 3, 4].map((n) => `${server.url}/ArchiveExternal/ServiceOwnerArchiveExternalStreamedBasic.svc?xsd=xsd${n}`),
    );
    expect(summary.posts.every((p) => p.address.startsWith(server.url + '/ArchiveExternal/'))).toBe(true);
    expect(summary.test).toEqual({ result: null, streamedResult: null });

    // The queue: the caller's items only, oldest first.
    expect(summary.queue.map((item) => item.ArchiveReference)).toEqual([a!.archiveReference, b!.archiveReference]);
    expect(summary.queue.map((item) => item.ArchiveReference)).not.toContain(foreign!.archiveReference);
    const [itemA, itemB] = summary.queue;
    expect(itemA).toMatchObject({ ReporteeID: '910000001', ReporteeType: 'Organisation', ServiceCode: owner.serviceCode, ServiceEditionCode: 1 });
    expect(itemA!.ShipmentMetadata).toEqual([
      { Key: 'Kanal', Value: 'Portal' },
      { Key: 'Tom', Value: null },
    ]);
    expect(itemB).toMatchObject({ ReporteeID: '01017012345', ReporteeType: 'Person', ServiceCode: owner.serviceCode, ServiceEditionCode: 1 });
    // The server sends <ShipmentMetadataList xsi:nil="true"/>; zeep turns a nil list type into an
    // instance with an empty list (and an EMPTY list element into None), so nil reads as [] here.
    expect(itemB!.ShipmentMetadata).toEqual([]);

    // The tasks.
    const zeepA = summary.tasks[a!.archiveReference]!;
    expect(zeepA).toMatchObject({
      ArchiveReference: a!.archiveReference,
      ServiceCode: owner.serviceCode,
      ServiceEditionCode: '1',
      Reportee: '910000001',
      CaseID: 4711,
      FormsInResponse: 2,
      AttachmentsInResponse: 3,
    });
    expect(new Date(zeepA.ArchiveTimeStamp).getTime()).toBe(new Date(itemA!.ArchivedDate).getTime());
    expect(zeepA.Forms).toEqual([
      { DataFormatID: '5703', DataFormatVersionID: 34114, FormData: mainForm, Reference: a!.formReferences[0], ParentReference: null },
      { DataFormatID: '5704', DataFormatVersionID: 34115, FormData: subForm, Reference: a!.formReferences[1], ParentReference: a!.formReferences[0] },
    ]);
    expect(zeepA.Approvers.map((x) => ({ ...x, ApprovedTimeStamp: new Date(x.ApprovedTimeStamp).toISOString() }))).toEqual([
      { ApproverID: '01017012345', SecurityLevel: 'sensitive', ApprovedTimeStamp: '2024-03-05T13:05:00.000Z' },
      { ApproverID: '02029012345', SecurityLevel: 'verySensitive', ApprovedTimeStamp: '2024-03-06T08:30:15.250Z' },
    ]);
    expectAttachments(zeepA, [
      { attachmentId: idText, fileName: 'kvittering.txt', attachmentType: 'text_plain', size: crlfText.length, sha256: sha256(crlfText), via: 'inline' },
      { attachmentId: idCrlf, fileName: 'crlf-begge-ender.txt', attachmentType: 'text_plain', size: crlfBothEnds.length, sha256: sha256(crlfBothEnds), via: 'inline' },
      { attachmentId: idData, fileName: 'data.bin', attachmentType: 'application_octet-stream', size: 1_000_000, sha256: generatedSha256(1_000_000, 2), via: 'inline' },
      { attachmentId: idBig, fileName: 'stor.bin', attachmentType: 'application_octet-stream', size: 5 * MiB, sha256: generatedSha256(5 * MiB, 3), via: 'streamed' },
    ]);
    await expectFilesOnDisk(zeepA);
    expect(summary.attachments).toEqual({
      [idText!]: { sha256: sha256(crlfText), size: crlfText.length, via: 'inline' },
      [idCrlf!]: { sha256: sha256(crlfBothEnds), size: crlfBothEnds.length, via: 'inline' },
      [idData!]: { sha256: generatedSha256(1_000_000, 2), size: 1_000_000, via: 'inline' },
      [idBig!]: { sha256: generatedSha256(5 * MiB, 3), size: 5 * MiB, via: 'streamed' },
    });
    // Sent as xsi:nil; zeep's reading of a nil complex element is an instance with every member None.
    expect(zeepA.SOEncryptedSymmetricKey).toEqual({ CertificateThumbprint: null, EncryptedKey: null });

    const zeepB = summary.tasks[b!.archiveReference]!;
    expect(zeepB).toMatchObject({ ArchiveReference: b!.archiveReference, Reportee: '01017012345', CaseID: 0, FormsInResponse: 1, AttachmentsInResponse: 0, Attachments: [] });
    expect(zeepB.Forms).toEqual([
      { DataFormatID: '5703', DataFormatVersionID: 34114, FormData: '<Skjema><Felt>verdi</Felt></Skjema>', Reference: b!.formReferences[0], ParentReference: null },
    ]);

    // The answers with binary content came as MTOM (multipart/related), the others as plain XML.
    const contentTypes = (action: string) =>
      summary.posts.filter((p) => p.soapAction?.endsWith(`/${action}"`) && p.status === 200).map((p) => p.contentType?.split(';')[0]);
    expect(contentTypes('GetArchivedFormTaskBasicDQ')).toEqual(['multipart/related', 'text/xml']); // task B has no attachments
    expect(contentTypes('GetAttachmentDataStreamedBasic')).toEqual(['multipart/related']);
    expect(contentTypes('GetFormSetPdfBasic')).toEqual(['multipart/related']);
    expect(contentTypes('GetDownloadQueueItems')).toEqual(['text/xml', 'text/xml']);

    expect(summary.pdf).toMatchObject({ archiveReference: a!.archiveReference, type: 'bytes', head: expect.stringMatching(/^%PDF-1\.\d/) });
    expect(summary.pdf!.size).toBeGreaterThan(500);

    // Purged: "OK" each, and the queue is empty — by zeep's second call and in the database.
    expect(summary.purged).toEqual({ [a!.archiveReference]: 'OK', [b!.archiveReference]: 'OK' });
    // An empty <GetDownloadQueueItemsResult/> reads as None in zeep (see above).
    expect(summary.queueAfterPurge).toBeNull();
    expect(await listQueue(server.app, { serviceOwnerId: owner.serviceOwnerId, limit: 500 })).toEqual([]);
    expect((await listQueue(server.app, { serviceOwnerId: otherOwner.serviceOwnerId, limit: 500 })).map((i) => i.archiveReference)).toEqual([
      foreign!.archiveReference,
    ]);

    // The wrong password: zeep raised zeep.exceptions.Fault with an AltinnFault 989 in its detail.
    expect(summary.fault.raised).toBe('zeep.exceptions.Fault');
    expect(summary.fault.altinnFault).toMatchObject({ ErrorID: '989', ErrorGuid: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    expect(summary.fault.message).toBe(summary.fault.altinnFault!.AltinnErrorMessage);
    expect(summary.fault.code).toMatch(/(^|:)Client$/);
    const faultPost = summary.posts[summary.posts.length - 1]!;
    expect(faultPost.status).toBe(500);
  });

  it('the real 30 MiB limit: exactly 30 MiB travels inline, one byte more goes through the streamed service', async () => {
    const limitServer = await startTestServer(); // default INLINE_ATTACHMENT_MAX_BYTES = 30 MiB
    const limitOut = await mkdtemp(path.join(tmpdir(), 'agw-zeep-30-'));
    try {
      expect(limitServer.app.config.inlineAttachmentMaxBytes).toBe(30 * MiB);
      const owner: SoapOwner = await createSoapOwner(limitServer.app);
      const [task] = await archiveFormTasks(limitServer.app, owner.serviceOwnerId, [
        newTask(owner, { attachments: [generatedAttachment('30MiB.bin', 30 * MiB, 5), generatedAttachment('30MiB+1.bin', 30 * MiB + 1, 6)] }),
      ]);
      const run = await runZeepClient({ baseUrl: limitServer.url, userName: owner.userName, password: owner.password, outDir: limitOut, referenceDir: REFERENCE_DIR });
      const summary = expectCleanRun(run);
      const zeepTask = summary.tasks[task!.archiveReference]!;
      expect(zeepTask.AttachmentsInResponse).toBe(1);
      expectAttachments(zeepTask, [
        { attachmentId: task!.attachmentIds[0], fileName: '30MiB.bin', attachmentType: 'application_octet-stream', size: 30 * MiB, sha256: generatedSha256(30 * MiB, 5), via: 'inline' },
        { attachmentId: task!.attachmentIds[1], fileName: '30MiB+1.bin', attachmentType: 'application_octet-stream', size: 30 * MiB + 1, sha256: generatedSha256(30 * MiB + 1, 6), via: 'streamed' },
      ]);
      await expectFilesOnDisk(zeepTask);
      expect(summary.purged).toEqual({ [task!.archiveReference]: 'OK' });
      expect(await listQueue(limitServer.app, { serviceOwnerId: owner.serviceOwnerId, limit: 500 })).toEqual([]);
    } finally {
      await limitServer.close();
      await rm(limitOut, { recursive: true, force: true });
    }
  });
});
