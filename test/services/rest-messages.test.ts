/**
 * The end-user REST messages API, the whole path over real HTTP (issue 4): create a form task →
 * add a sub form → a base64 attachment and a 100 MB streamed one → PUT sign=false ("Signering") →
 * the signing PUT ("Sendt og arkivert") → the task is on the service owner's DownloadQueue (SOAP
 * GetDownloadQueueItems), and python3-zeep, built from Altinn's REFERENCE WSDLs, gets the same
 * forms, the approver with its security level, and the attachments byte for byte.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { generatedBytes, generatedSha256 } from '../helpers/fixtures';
import { call, child, children, DQ_ACTION, DQ_PATH, operationXml, text } from '../helpers/soap-client';
import { createRestFixture, expectNoOrphanBlobs, MAIN_FORM, messageBody, PERSON, SUB_FORM, type RestFixture } from '../messages/rest-helpers';

const PYTHON = process.env.ZEEP_PYTHON || '/usr/bin/python3';
const ZEEP_CLIENT = path.resolve(__dirname, '../interop/zeep_client.py');
const BIG = 100 * 1024 * 1024;

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** zeep_client.py (the interop test's client) against the gateway; its JSON summary. */
function runZeep(input: Record<string, unknown>): Promise<{ summary: any; exitCode: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, [ZEEP_CLIENT], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = setTimeout(() => child.kill('SIGKILL'), 240_000);
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (exitCode) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      try {
        resolve({ summary: JSON.parse(stdout), exitCode, stderr });
      } catch {
        reject(new Error(`zeep_client.py (exit ${exitCode}) printed no JSON:\n${stdout.slice(0, 3000)}\n${stderr.slice(0, 3000)}`));
      }
    });
    child.stdin.end(JSON.stringify(input));
  });
}

let fixture: RestFixture;
let outDir: string;

beforeAll(async () => {
  const probe = spawnSync(PYTHON, ['-c', 'import zeep'], { encoding: 'utf8' });
  if (probe.status !== 0) throw new Error(`${PYTHON} cannot import zeep: install python3-zeep (or set ZEEP_PYTHON)`);
  fixture = await createRestFixture();
  outDir = await mkdtemp(path.join(tmpdir(), 'agw-rest-zeep-'));
});

afterAll(async () => {
  await fixture?.close();
  if (outDir) await rm(outDir, { recursive: true, force: true });
});

it('create → sub form → base64 and 100 MB streamed attachments → Signering → signed and archived → DownloadQueue → zeep', async () => {
  const { owner, call: api } = fixture;
  const receipt = Buffer.from('Kvittering: ære være Øst\r\nLinje 2\r\n', 'utf8');

  // 1. Create, still being filled in.
  const created = await api('POST', '/api/my/messages?complete=false', { body: messageBody(owner) });
  expect(created.status).toBe(201);
  const location = created.headers.get('location')!;
  expect(location).toMatch(new RegExp(`^${fixture.server.url}/api/my/messages/a[0-9]+$`));
  expect(created.headers.get('content-type')).toBe('application/hal+json; charset=utf-8');
  expect(created.json).toMatchObject({ MessageId: location.split('/').pop(), Status: 'Utfylling', ServiceCode: owner.serviceCode, ArchiveReference: null });

  // 2. A sub form; its id comes back in Location.
  const sub = await api('POST', `${location}/forms`, { body: { Type: 'SubForm', DataFormatId: '5704', DataFormatVersion: '34115', FormData: SUB_FORM } });
  expect(sub.status).toBe(201);
  expect(sub.headers.get('location')).toBe(`${location}/forms/${sub.json.FormId}`);
  const formData = await api('GET', `${sub.headers.get('location')}/formdata`);
  expect(formData.status).toBe(200);
  expect(formData.text).toBe(SUB_FORM);

  // 3. A small attachment as base64, and a 100 MB one streamed (generated as it is sent).
  const small = await api('POST', `${location}/attachments?language=1044`, {
    body: { FileName: 'kvittering.txt', AttachmentType: 'Vedlegg', Data: receipt.toString('base64') },
  });
  expect(small.status).toBe(201);
  expect(small.json).toMatchObject({ FileName: 'kvittering.txt', AttachmentType: 'Vedlegg', MimeType: 'text/plain', FileSize: receipt.length, Sha256: sha256(receipt), Language: '1044' });
  const big = await api('POST', `${location}/attachments/streamedattachment?fileName=${encodeURIComponent('stor fil.bin')}&attachmentType=Stordata`, {
    rawBody: Readable.from(generatedBytes(BIG, 7)),
  });
  expect(big.status).toBe(201);
  expect(big.headers.get('location')).toBe(`${location}/attachments/${big.json.AttachmentId}`);
  expect(big.json).toMatchObject({ FileName: 'stor fil.bin', AttachmentType: 'Stordata', MimeType: 'application/octet-stream', FileSize: BIG, Sha256: generatedSha256(BIG, 7) });

  // 4. PUT with sign=false: the forms are replaced (main and sub form), the attachments kept; "Signering".
  const forSigning = await api('PUT', `${location}?sign=false`, {
    body: {
      Type: 'FormTask',
      ServiceCode: owner.serviceCode,
      ServiceEdition: owner.serviceEditionCode,
      _embedded: {
        forms: [
          { Type: 'MainForm', DataFormatId: '5703', DataFormatVersion: '34114', FormData: MAIN_FORM },
          { Type: 'SubForm', DataFormatId: '5704', DataFormatVersion: '34115', FormData: SUB_FORM },
        ],
      },
    },
  });
  expect(forSigning.status).toBe(200);
  expect(forSigning.json.Status).toBe('Signering');
  expect(forSigning.json._embedded.forms.map((f: any) => f.Type)).toEqual(['MainForm', 'SubForm']);
  expect(forSigning.json._embedded.attachments.map((a: any) => a.FileName)).toEqual(['kvittering.txt', 'stor fil.bin']);
  const draftBlobKeys = await fixture.server.app.db('message_attachments').orderBy('id').pluck('blob_key');

  // Not on the queue before it is signed.
  const before = await call(fixture.server.url, DQ_PATH, DQ_ACTION('GetDownloadQueueItems'),
    operationXml('GetDownloadQueueItems', { systemUserName: owner.userName, systemPassword: owner.password }));
  expect(children(child(before.bodyElement, 'GetDownloadQueueItemsResult'), 'DownloadQueueItemBE')).toHaveLength(0);

  // 5. The signing PUT (complete and sign default to true), by the same person logged in at level 3.
  const signed = await api('PUT', location, { body: {}, token: await fixture.token(3) });
  expect(signed.status).toBe(200);
  expect(signed.json).toMatchObject({ Status: 'Sendt og arkivert', LastChangedBy: PERSON });
  const archiveReference: string = signed.json.ArchiveReference;
  expect(archiveReference).toMatch(/^AR[0-9]+$/);
  expect(signed.json._links.sign).toBeUndefined();

  // Clear service: the archive points at the very blobs that were staged (no copy), and no blob is orphaned.
  expect(await fixture.server.app.db('attachments').orderBy('position').pluck('blob_key')).toEqual(draftBlobKeys);
  expect(await fixture.server.app.db('message_attachments').pluck('id')).toEqual([]);
  expect(await fixture.server.app.db('message_forms').pluck('id')).toEqual([]);
  await expectNoOrphanBlobs(fixture);

  // 6. SOAP: the service owner's queue lists it.
  const queue = await call(fixture.server.url, DQ_PATH, DQ_ACTION('GetDownloadQueueItems'),
    operationXml('GetDownloadQueueItems', { systemUserName: owner.userName, systemPassword: owner.password }));
  const items = children(child(queue.bodyElement, 'GetDownloadQueueItemsResult'), 'DownloadQueueItemBE');
  expect(items.map((item) => ({
    ArchiveReference: text(item, 'ArchiveReference'),
    ReporteeID: text(item, 'ReporteeID'),
    ReporteeType: text(item, 'ReporteeType'),
    ServiceCode: text(item, 'ServiceCode'),
  }))).toEqual([{ ArchiveReference: archiveReference, ReporteeID: PERSON, ReporteeType: 'Person', ServiceCode: owner.serviceCode }]);

  // 7. zeep from the reference WSDL: same forms, the approver with its security level, attachments byte for byte.
  const run = await runZeep({ baseUrl: fixture.server.url, userName: owner.userName, password: owner.password, outDir, serviceCode: owner.serviceCode });
  if (run.summary.error || run.exitCode !== 0) throw new Error(`zeep failed: ${run.summary.error}\n${run.summary.traceback}\n${JSON.stringify(run.summary.problems)}\n${run.stderr}`);
  const task = run.summary.tasks[archiveReference];
  expect(task).toBeDefined();
  expect(task.Reportee).toBe(PERSON);
  expect(task.Forms.map((f: any) => ({ id: f.DataFormatID, v: f.DataFormatVersionID, data: f.FormData, parent: f.ParentReference }))).toEqual([
    { id: '5703', v: 34114, data: MAIN_FORM, parent: null },
    { id: '5704', v: 34115, data: SUB_FORM, parent: task.Forms[0].Reference },
  ]);
  expect(task.Approvers).toEqual([{ ApproverID: PERSON, SecurityLevel: 'sensitive', ApprovedTimeStamp: expect.any(String) }]);
  expect(task.Attachments.map((a: any) => ({ FileName: a.FileName, AttachmentType: a.AttachmentType, AttachmentTypeName: a.AttachmentTypeName, IsEncrypted: a.IsEncrypted, via: a.via, size: a.size, sha256: a.sha256 }))).toEqual([
    { FileName: 'kvittering.txt', AttachmentType: 'text_plain', AttachmentTypeName: 'Vedlegg', IsEncrypted: false, via: 'inline', size: receipt.length, sha256: sha256(receipt) },
    { FileName: 'stor fil.bin', AttachmentType: 'application_octet-stream', AttachmentTypeName: 'Stordata', IsEncrypted: false, via: 'streamed', size: BIG, sha256: generatedSha256(BIG, 7) },
  ]);
  // The files zeep wrote, hashed here independently.
  for (const attachment of task.Attachments) {
    const bytes = await readFile(attachment.file);
    expect(sha256(bytes)).toBe(attachment.sha256);
  }
  expect(run.summary.purged[archiveReference]).toBe('OK');

  // 8. The message itself: archived, its content now read from the archive.
  const after = await api('GET', location);
  expect(after.status).toBe(200);
  expect(after.json).toMatchObject({ Status: 'Sendt og arkivert', ArchiveReference: archiveReference, ArchivedDate: expect.any(String) });
  expect(after.json._embedded.attachments.map((a: any) => a.Sha256)).toEqual([sha256(receipt), generatedSha256(BIG, 7)]);
  const mainFormId = after.json._embedded.forms[0].FormId;
  const archivedForm = await api('GET', `${location}/forms/${mainFormId}/formdata`);
  expect(archivedForm.text).toBe(MAIN_FORM);
  const listed = await api('GET', '/api/my/messages', { headers: { accept: 'application/json' } });
  expect(listed.headers.get('content-type')).toBe('application/json; charset=utf-8');
  expect(listed.json._embedded.messages.map((m: any) => [m.MessageId, m.Status])).toEqual([[location.split('/').pop(), 'Sendt og arkivert']]);
}, 300_000);

it('reads back draft attachment bytes and forms while a message is in progress', async () => {
  const { owner, call: api } = fixture;
  const created = await api('POST', '/api/my/messages?complete=false', {
    body: messageBody(owner, { attachments: [{ FileName: 'a.pdf', AttachmentType: 'Vedlegg', Data: Buffer.from('%PDF-1.4 test').toString('base64') }] }),
  });
  expect(created.status).toBe(201);
  const location = created.headers.get('location')!;
  const attachment = created.json._embedded.attachments[0];
  const data = await fetch(attachment._links.attachmentdata.href, { headers: { apikey: fixture.apiKey, authorization: `Bearer ${await fixture.token()}` } });
  expect(data.status).toBe(200);
  expect(data.headers.get('content-type')).toBe('application/pdf');
  expect(Buffer.from(await data.arrayBuffer()).toString()).toBe('%PDF-1.4 test');
  const forms = await api('GET', `${location}/forms`);
  expect(forms.json._embedded.forms).toHaveLength(1);
  const form = await api('GET', forms.json._embedded.forms[0]._links.self.href);
  expect(form.json).toMatchObject({ Type: 'MainForm', DataFormatId: '5703', DataFormatVersion: 34114, FormData: MAIN_FORM });
  // Replace the main form's data, then remove the attachment.
  const replaced = await api('PUT', form.json._links.self.href, { body: { DataFormatId: '5703', DataFormatVersion: 34114, FormData: '<Skjema><Ny/></Skjema>' } });
  expect(replaced.status).toBe(200);
  expect(replaced.json.FormData).toBe('<Skjema><Ny/></Skjema>');
  const removed = await api('DELETE', attachment._links.self.href);
  expect(removed.status).toBe(204);
  expect((await api('GET', `${location}/attachments`)).json._embedded.attachments).toEqual([]);
  await expectNoOrphanBlobs(fixture);
});
