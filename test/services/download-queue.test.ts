/**
 * DownloadQueueExternalBasic over real HTTP against a real database: every operation, each fault
 * path, the 500-item cap and ordering, owner isolation, purge visibility, form data presentation.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { archiveFormTasks } from '../../src/archive/archive-form-tasks';
import { parseArchiveReference } from '../../src/archive/archive-reference';
import { buildServer } from '../../src/server';
import { childElements, textContent } from '../../src/xml/parser';
import { bytesAttachment, newTask } from '../helpers/archive-fixtures';
import { createSoapOwner, type SoapOwner } from '../helpers/fixtures';
import { startTestServer, type TestServer } from '../helpers/server';
import {
  altinnFaultOf,
  binaryOf,
  call,
  child,
  children,
  DQ_ACTION,
  DQ_PATH,
  faultString,
  isNilElement,
  NS,
  operationXml,
  sha256,
  text,
  type SoapResult,
} from '../helpers/soap-client';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ auth: { maxFailedAttempts: 3, lockSeconds: 60, verifiedCacheSeconds: 60 } });
});
afterAll(() => server.close());

function dq(operation: string, args: Record<string, string | number | boolean | null | undefined>): Promise<SoapResult> {
  return call(server.url, DQ_PATH, DQ_ACTION(operation), operationXml(operation, args));
}

const credentials = (owner: SoapOwner) => ({ systemUserName: owner.userName, systemPassword: owner.password });

async function queueItems(owner: SoapOwner, serviceCode?: string) {
  const result = await dq('GetDownloadQueueItems', { ...credentials(owner), serviceCode });
  expect(result.status).toBe(200);
  expect(result.bodyElement.local).toBe('GetDownloadQueueItemsResponse');
  expect(result.bodyElement.ns).toBe(NS.svc);
  const list = child(result.bodyElement, 'GetDownloadQueueItemsResult', NS.svc);
  return children(list, 'DownloadQueueItemBE');
}

function expectAltinnFault(result: SoapResult, errorId: number, message?: RegExp | string) {
  expect(result.status).toBe(500);
  expect(result.headers.get('content-type')).toMatch(/^text\/xml/);
  const fault = altinnFaultOf(result);
  expect(fault).toBeDefined();
  expect(fault!.errorId).toBe(errorId);
  if (message) expect(fault!.message).toMatch(message);
  expect(faultString(result)).toBe(fault!.message);
  return fault!;
}

describe('Test', () => {
  it('answers an empty TestResponse in the base namespace', async () => {
    const result = await call(server.url, DQ_PATH, 'http://www.altinn.no/services/2009/10/IAltinnContractBase/Test', operationXml('Test', {}, NS.base));
    expect(result.status).toBe(200);
    expect(result.bodyElement.local).toBe('TestResponse');
    expect(result.bodyElement.ns).toBe(NS.base);
    expect(childElements(result.bodyElement)).toHaveLength(0);
  });
});

describe('GetDownloadQueueItems', () => {
  it('lists items with every member in schema order, nil metadata when there is none', async () => {
    const owner = await createSoapOwner(server.app);
    await archiveFormTasks(server.app, owner.serviceOwnerId, [
      newTask(owner, { reportee: '01017012345', reporteeType: 'Person' }),
      newTask(owner, { shipmentMetadata: [{ key: 'Saksnummer', value: '2026/17' }, { key: 'Tom', value: null }] }),
    ]);
    const [first, second] = await queueItems(owner);
    expect(childElements(first!).map((c) => `${c.ns === NS.dq ? 'dq' : c.ns}:${c.local}`)).toEqual([
      'dq:ArchiveReference',
      'dq:ArchivedDate',
      'dq:ReporteeID',
      'dq:ReporteeType',
      'dq:ServiceCode',
      'dq:ServiceEditionCode',
      'dq:ShipmentMetadataList',
    ]);
    expect(text(first!, 'ReporteeID')).toBe('01017012345');
    expect(text(first!, 'ReporteeType')).toBe('Person');
    expect(text(first!, 'ServiceCode')).toBe(owner.serviceCode);
    expect(text(first!, 'ServiceEditionCode')).toBe('1');
    expect(isNilElement(child(first!, 'ShipmentMetadataList'))).toBe(true);

    const metadata = children(child(second!, 'ShipmentMetadataList'), 'ArchivedShipmentMetadata');
    expect(metadata.map((m) => [text(m, 'Key'), isNilElement(child(m, 'Value')) ? null : text(m, 'Value')])).toEqual([
      ['Saksnummer', '2026/17'],
      ['Tom', null],
    ]);
    expect(metadata[0]!.ns).toBe(NS.sm);
    expect(child(metadata[0]!, 'Key').ns).toBe(NS.sm);
  });

  it('returns at most 500 items, oldest first, and filters by service code', async () => {
    const owner = await createSoapOwner(server.app, { extraServiceCodes: [`X${Date.now() % 100000}`] });
    const base = Date.parse('2025-01-01T00:00:00Z');
    // Archived out of order: the listing must sort by archive time, not by id.
    const tasks = Array.from({ length: 510 }, (_, i) => newTask(owner, { archivedAt: new Date(base + ((i * 7919) % 510) * 60_000) }));
    await archiveFormTasks(server.app, owner.serviceOwnerId, tasks);
    const extraCode = (await server.app.db('services').where({ service_owner_id: owner.serviceOwnerId }).whereNot({ service_code: owner.serviceCode }).first('service_code')).service_code as string;
    await archiveFormTasks(server.app, owner.serviceOwnerId, [
      newTask({ serviceCode: extraCode, serviceEditionCode: 1 }, { archivedAt: new Date(base - 86_400_000) }),
    ]);

    const items = await queueItems(owner);
    expect(items).toHaveLength(500);
    const times = items.map((i) => Date.parse(text(i, 'ArchivedDate')));
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    expect(text(items[0]!, 'ServiceCode')).toBe(extraCode); // the oldest of all

    const filtered = await queueItems(owner, extraCode);
    expect(filtered.map((i) => text(i, 'ServiceCode'))).toEqual([extraCode]);
    const main = await queueItems(owner, owner.serviceCode);
    expect(main).toHaveLength(500);
    expect(main.every((i) => text(i, 'ServiceCode') === owner.serviceCode)).toBe(true);
    expect(await queueItems(owner, 'NoSuchService')).toHaveLength(0);
  });

  it('writes each item once and keeps it for every gateway process; a missing or stale one is rebuilt', async () => {
    const owner = await createSoapOwner(server.app);
    const tasks = await archiveFormTasks(server.app, owner.serviceOwnerId, [
      newTask(owner, { shipmentMetadata: [{ key: 'Merknad', value: 'a < b & c\r\nd' }, { key: 'Tom', value: null }] }),
      newTask(owner),
      newTask(owner),
    ]);
    const ids = tasks.map((t) => parseArchiveReference(t.archiveReference)!);
    const stored = () =>
      server.app.db('queue_item_fragments').whereIn('form_task_id', ids).orderBy('form_task_id').select<{ fragment: string; format: string }[]>('fragment', 'format');
    const list = async (url: string, serviceCode?: string) => {
      const result = await call(url, DQ_PATH, DQ_ACTION('GetDownloadQueueItems'), operationXml('GetDownloadQueueItems', { ...credentials(owner), serviceCode }));
      expect(result.status).toBe(200);
      return result;
    };
    // Another gateway process on the same database: its own memory, the same stored fragments.
    const otherProcess = async <T>(work: (url: string) => Promise<T>): Promise<T> => {
      const other = buildServer(server.app, { logger: false });
      try {
        return await work(await other.listen({ port: 0, host: '127.0.0.1' }));
      } finally {
        await other.close();
      }
    };

    const firstResult = await list(server.url);
    const items = children(child(firstResult.bodyElement, 'GetDownloadQueueItemsResult', NS.svc), 'DownloadQueueItemBE');
    expect(items.map((i) => text(i, 'ArchiveReference'))).toEqual(tasks.map((t) => t.archiveReference));
    expect(text(children(child(items[0]!, 'ShipmentMetadataList'), 'ArchivedShipmentMetadata')[0]!, 'Value')).toBe('a < b & c\r\nd');
    const first = firstResult.body.toString('utf8');
    const kept = await stored();
    expect(kept.every((r) => first.includes(r.fragment))).toBe(true);
    expect(kept).toHaveLength(3);
    expect(new Set(kept.map((r) => r.format)).size).toBe(1);
    expect((await list(server.url)).body.toString('utf8')).toBe(first);
    expect((await list(server.url, owner.serviceCode)).body.toString('utf8')).toBe(first);

    // Another process serves what is stored, not a copy of its own.
    const marked = kept[2]!.fragment.replace(owner.serviceCode, `${owner.serviceCode}-stored`);
    await server.app.db('queue_item_fragments').where({ form_task_id: ids[2] }).update({ fragment: marked });
    expect((await otherProcess((url) => list(url))).body.toString('utf8')).toBe(first.replace(kept[2]!.fragment, marked));
    await server.app.db('queue_item_fragments').where({ form_task_id: ids[2] }).update({ fragment: kept[2]!.fragment });

    // As archived before fragments were kept, and as kept in an older format: both are rebuilt and stored.
    await server.app.db('queue_item_fragments').where({ form_task_id: ids[0] }).delete();
    await server.app.db('queue_item_fragments').where({ form_task_id: ids[1] }).update({ fragment: '<dq:Stale/>', format: 'older' });
    expect((await otherProcess((url) => list(url))).body.toString('utf8')).toBe(first);
    expect(await stored()).toEqual(kept);
  });

  it('shows only the calling owner’s items', async () => {
    const ownerA = await createSoapOwner(server.app);
    const ownerB = await createSoapOwner(server.app);
    const [a] = await archiveFormTasks(server.app, ownerA.serviceOwnerId, [newTask(ownerA)]);
    const [b] = await archiveFormTasks(server.app, ownerB.serviceOwnerId, [newTask(ownerB)]);
    expect((await queueItems(ownerA)).map((i) => text(i, 'ArchiveReference'))).toEqual([a!.archiveReference]);
    expect((await queueItems(ownerB)).map((i) => text(i, 'ArchiveReference'))).toEqual([b!.archiveReference]);
    // Filtering on another owner's service code gives nothing, not their items.
    expect(await queueItems(ownerB, ownerA.serviceCode)).toHaveLength(0);
  });

  it('refuses wrong and missing credentials with ErrorID 989, and locks after repeated failures', async () => {
    const owner = await createSoapOwner(server.app);
    expectAltinnFault(await dq('GetDownloadQueueItems', { systemUserName: owner.userName, systemPassword: 'wrong' }), 989, /Invalid system user name or password/);
    expectAltinnFault(await dq('GetDownloadQueueItems', { systemUserName: 'nobody-here', systemPassword: owner.password }), 989, /Invalid system user name or password/);
    expectAltinnFault(await dq('GetDownloadQueueItems', {}), 989);
    expectAltinnFault(await dq('GetDownloadQueueItems', { systemUserName: null, systemPassword: null }), 989);
    expectAltinnFault(await dq('GetDownloadQueueItems', { systemUserName: owner.userName, systemPassword: 'wrong again' }), 989, /Invalid/);
    // The third consecutive failure (maxFailedAttempts = 3) locks the name from this address.
    expectAltinnFault(await dq('GetDownloadQueueItems', { systemUserName: owner.userName, systemPassword: 'wrong' }), 989, /^Too many failed logins/);
    // An unknown name is counted and locked alike: the same fault, the same text.
    for (let attempt = 0; attempt < 3; attempt++) await dq('GetDownloadQueueItems', { systemUserName: 'nobody-here', systemPassword: 'wrong' });
    const unknownLocked = expectAltinnFault(await dq('GetDownloadQueueItems', { systemUserName: 'nobody-here', systemPassword: 'wrong' }), 989, /^Too many failed logins/);
    const knownLocked = expectAltinnFault(await dq('GetDownloadQueueItems', { systemUserName: owner.userName, systemPassword: 'wrong' }), 989, /^Too many failed logins/);
    expect(unknownLocked.message.replace(/after .*/, '')).toBe(knownLocked.message.replace(/after .*/, ''));
    // Locked: the right password is refused too, saying so.
    expectAltinnFault(await dq('GetDownloadQueueItems', credentials(owner)), 989, /^Too many failed logins for this system user name from this address: try again after /);
  });
});

describe('PurgeItem', () => {
  it('answers OK, removes the item from the queue, and keeps the task retrievable', async () => {
    const owner = await createSoapOwner(server.app);
    const [first, second] = await archiveFormTasks(server.app, owner.serviceOwnerId, [newTask(owner), newTask(owner)]);
    const result = await dq('PurgeItem', { ...credentials(owner), archiveReference: first!.archiveReference });
    expect(result.status).toBe(200);
    expect(text(result.bodyElement, 'PurgeItemResult')).toBe('OK');
    expect((await queueItems(owner)).map((i) => text(i, 'ArchiveReference'))).toEqual([second!.archiveReference]);

    const task = await dq('GetArchivedFormTaskBasicDQ', { ...credentials(owner), archiveReference: first!.archiveReference });
    expect(text(child(task.bodyElement, 'GetArchivedFormTaskBasicDQResult'), 'ArchiveReference')).toBe(first!.archiveReference);

    const again = await dq('PurgeItem', { ...credentials(owner), archiveReference: first!.archiveReference });
    expectAltinnFault(again, 0, /already been purged/);
  });

  it('answers another owner’s reference exactly like one that does not exist', async () => {
    const ownerA = await createSoapOwner(server.app);
    const ownerB = await createSoapOwner(server.app);
    const [a] = await archiveFormTasks(server.app, ownerA.serviceOwnerId, [newTask(ownerA)]);
    const nonexistent = `AR${a!.archiveReference.slice(2) + '99'}`;
    const foreign = expectAltinnFault(await dq('PurgeItem', { ...credentials(ownerB), archiveReference: a!.archiveReference }), 5);
    const missing = expectAltinnFault(await dq('PurgeItem', { ...credentials(ownerB), archiveReference: nonexistent }), 5);
    expect(foreign.message.replace(a!.archiveReference, 'REF')).toBe(missing.message.replace(nonexistent, 'REF'));
    // …and ownerA's item is still queued.
    expect((await queueItems(ownerA)).map((i) => text(i, 'ArchiveReference'))).toEqual([a!.archiveReference]);

    const getForeign = expectAltinnFault(await dq('GetArchivedFormTaskBasicDQ', { ...credentials(ownerB), archiveReference: a!.archiveReference }), 5);
    const getMissing = expectAltinnFault(await dq('GetArchivedFormTaskBasicDQ', { ...credentials(ownerB), archiveReference: nonexistent }), 5);
    expect(getForeign.message.replace(a!.archiveReference, 'REF')).toBe(getMissing.message.replace(nonexistent, 'REF'));
  });

  it('requires an archive reference', async () => {
    const owner = await createSoapOwner(server.app);
    expectAltinnFault(await dq('PurgeItem', credentials(owner)), 0, 'The parameter archiveReference is required');
  });

  it('records exactly one purge when two consumers purge the same item at once', async () => {
    const owner = await createSoapOwner(server.app);
    const [task] = await archiveFormTasks(server.app, owner.serviceOwnerId, [newTask(owner)]);
    await queueItems(owner); // credentials verified once, so both purges race on the UPDATE itself
    const results = await Promise.all(
      Array.from({ length: 6 }, () => dq('PurgeItem', { ...credentials(owner), archiveReference: task!.archiveReference })),
    );
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    for (const r of results.filter((r) => r.status !== 200)) expectAltinnFault(r, 0, /already been purged/);
    const rows = await server.app.db('download_queue_items').where({ form_task_id: Number(task!.archiveReference.slice(2)) });
    expect(rows).toHaveLength(1);
    expect(rows[0].purged_at).toBeInstanceOf(Date);
  });
});

describe('GetArchivedFormTaskBasicDQ', () => {
  const formWithMyFields =
    '<?xml version="1.0" encoding="utf-8"?><Skjema xmlns:my="http://schemas.microsoft.com/office/infopath/2003/myXSD" skjemanummer="1"><my:Hjelp>x</my:Hjelp><Navn>Åse</Navn></Skjema>';

  it('returns forms, sub forms, approvers and attachments, every member in schema order', async () => {
    const owner = await createSoapOwner(server.app);
    const pdfBytes = Buffer.from('%PDF-1.4 fake but bytes\r\n');
    const [task] = await archiveFormTasks(server.app, owner.serviceOwnerId, [
      newTask(owner, {
        caseId: 42,
        forms: [
          { dataFormatId: '5703', dataFormatVersion: 34114, formData: formWithMyFields },
          { dataFormatId: '5704', dataFormatVersion: 1, formData: '<Under a="&quot;"><Felt>1 &lt; 2</Felt></Under>', parentIndex: 0 },
        ],
        approvers: [
          { approverId: '01017012345', approvedAt: new Date('2026-03-01T10:00:00Z'), securityLevel: 'sensitive' },
          { approverId: '02027012345', approvedAt: new Date('2026-03-02T10:00:00Z'), securityLevel: 'verySensitive' },
        ],
        attachments: [bytesAttachment('kvittering.pdf', pdfBytes, 'application_pdf'), bytesAttachment('tom.txt', Buffer.alloc(0))],
      }),
    ]);
    const result = await dq('GetArchivedFormTaskBasicDQ', { ...credentials(owner), archiveReference: task!.archiveReference, languageID: 1044 });
    expect(result.status).toBe(200);
    expect(result.headers.get('content-type')).toMatch(/^multipart\/related; type="application\/xop\+xml"; start="<[^>]+>"; start-info="text\/xml"; boundary=/);
    const taskElement = child(result.bodyElement, 'GetArchivedFormTaskBasicDQResult', NS.svc);
    expect(childElements(taskElement).map((c) => c.local)).toEqual([
      'Approvers', 'ArchiveReference', 'ArchiveTimeStamp', 'Attachments', 'AttachmentsInResponse', 'CaseID', 'CorrelationReference',
      'Forms', 'FormsInResponse', 'Reportee', 'SOEncryptedSymmetricKey', 'ServiceCode', 'ServiceEditionCode',
    ]);
    expect(childElements(taskElement).every((c) => c.ns === NS.ra)).toBe(true);
    expect(text(taskElement, 'CaseID')).toBe('42');
    expect(text(taskElement, 'FormsInResponse')).toBe('2');
    expect(text(taskElement, 'AttachmentsInResponse')).toBe('2');
    expect(text(taskElement, 'ServiceEditionCode')).toBe('1');
    expect(isNilElement(child(taskElement, 'SOEncryptedSymmetricKey'))).toBe(true);

    const approvers = children(child(taskElement, 'Approvers'), 'ApproverDQBE');
    expect(approvers.map((a) => [text(a, 'ApproverID'), text(a, 'SecurityLevel'), text(a, 'ApprovedTimeStamp')])).toEqual([
      ['01017012345', 'sensitive', '2026-03-01T10:00:00.000Z'],
      ['02027012345', 'verySensitive', '2026-03-02T10:00:00.000Z'],
    ]);

    const [main, sub] = children(child(taskElement, 'Forms'), 'ArchivedFormDQBE');
    expect(childElements(main!).map((c) => c.local)).toEqual(['DataFormatID', 'DataFormatVersionID', 'FormData', 'ParentReference', 'Reference']);
    expect(isNilElement(child(main!, 'ParentReference'))).toBe(true);
    expect(text(sub!, 'ParentReference')).toBe(text(main!, 'Reference'));
    // FormData is escaped XML text; the my: field and its namespace declaration are gone by default.
    expect(text(main!, 'FormData')).toBe('<?xml version="1.0" encoding="utf-8"?><Skjema skjemanummer="1"><Navn>Åse</Navn></Skjema>');
    expect(text(sub!, 'FormData')).toBe('<Under a="&quot;"><Felt>1 &lt; 2</Felt></Under>');
    expect(result.rootXml).toContain('<ra:FormData>&lt;Under a="&amp;quot;"&gt;');

    const attachments = children(child(taskElement, 'Attachments'), 'ArchivedAttachmentDQBE');
    expect(childElements(attachments[0]!).map((c) => c.local)).toEqual([
      'ArchiveReference', 'AttachmentData', 'AttachmentType', 'FileName', 'IsEncrypted', 'AttachmentId', 'AttachmentTypeName', 'AttachmentTypeNameLanguage',
    ]);
    expect(text(attachments[0]!, 'FileName')).toBe('kvittering.pdf');
    expect(text(attachments[0]!, 'AttachmentType')).toBe('application_pdf');
    expect(text(attachments[0]!, 'IsEncrypted')).toBe('false');
    expect(text(attachments[0]!, 'AttachmentId')).toBe(String(task!.attachmentIds[0]));
    expect(isNilElement(child(attachments[0]!, 'AttachmentTypeName'))).toBe(true);
    expect(sha256(binaryOf(result, child(attachments[0]!, 'AttachmentData'))!)).toBe(sha256(pdfBytes));
    expect(binaryOf(result, child(attachments[1]!, 'AttachmentData'))!.length).toBe(0);

    const withNamespaces = await dq('GetArchivedFormTaskBasicDQ', { ...credentials(owner), archiveReference: task!.archiveReference, includeXmlNamespace: true });
    const mainWithNs = children(child(child(withNamespaces.bodyElement, 'GetArchivedFormTaskBasicDQResult'), 'Forms'), 'ArchivedFormDQBE')[0]!;
    expect(text(mainWithNs, 'FormData')).toBe(formWithMyFields);
  });

  it('answers a task without attachments as plain XML with empty lists', async () => {
    const owner = await createSoapOwner(server.app);
    const [task] = await archiveFormTasks(server.app, owner.serviceOwnerId, [newTask(owner, { approvers: [] })]);
    const result = await dq('GetArchivedFormTaskBasicDQ', { ...credentials(owner), archiveReference: task!.archiveReference });
    expect(result.headers.get('content-type')).toBe('text/xml; charset=utf-8');
    const taskElement = child(result.bodyElement, 'GetArchivedFormTaskBasicDQResult');
    expect(childElements(child(taskElement, 'Approvers'))).toHaveLength(0);
    expect(isNilElement(child(taskElement, 'Approvers'))).toBe(false);
    expect(text(taskElement, 'AttachmentsInResponse')).toBe('0');
    expect(text(taskElement, 'CaseID')).toBe('0');
  });

  it('faults on a malformed integer argument and a missing reference', async () => {
    const owner = await createSoapOwner(server.app);
    const bad = await dq('GetArchivedFormTaskBasicDQ', { ...credentials(owner), archiveReference: 'AR1', languageID: 'norsk' as unknown as number });
    expect(bad.status).toBe(500);
    expect(faultString(bad)).toBe("Member languageID must be an xs:int, got 'norsk'");
    expectAltinnFault(await dq('GetArchivedFormTaskBasicDQ', credentials(owner)), 0, 'The parameter archiveReference is required');
    expectAltinnFault(await dq('GetArchivedFormTaskBasicDQ', { ...credentials(owner), archiveReference: 'not-a-reference' }), 5);
  });
});

describe('GetFormSetPdfBasic', () => {
  it('returns a real PDF of the form set as an MTOM part, filtered by data format', async () => {
    const owner = await createSoapOwner(server.app);
    const [task] = await archiveFormTasks(server.app, owner.serviceOwnerId, [
      newTask(owner, {
        forms: [
          { dataFormatId: '5703', dataFormatVersion: 34114, formData: '<Skjema><Navn>Blåbær Øyvind</Navn></Skjema>' },
          { dataFormatId: '5704', dataFormatVersion: 2, formData: '<Under><Felt>annet</Felt></Under>', parentIndex: 0 },
        ],
      }),
    ]);
    const args = { systemName: owner.userName, systemPassword: owner.password, archiveReference: task!.archiveReference, languageId: 1044 };
    const result = await dq('GetFormSetPdfBasic', args);
    expect(result.status).toBe(200);
    const pdf = binaryOf(result, child(result.bodyElement, 'GetFormSetPdfBasicResult'))!;
    expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');
    expect(pdf.subarray(-6).toString()).toMatch(/%%EOF\s*$/);

    const filtered = await dq('GetFormSetPdfBasic', { ...args, dataFormatId: '5704', dataFormatVersion: 2 });
    expect(binaryOf(filtered, child(filtered.bodyElement, 'GetFormSetPdfBasicResult'))!.subarray(0, 5).toString()).toBe('%PDF-');
    expectAltinnFault(await dq('GetFormSetPdfBasic', { ...args, dataFormatId: '9999' }), 0, /has no form with dataFormatId '9999'/);

    const missing = await dq('GetFormSetPdfBasic', { systemName: owner.userName, systemPassword: owner.password, languageId: 1044 });
    expect(missing.status).toBe(500);
    expect(faultString(missing)).toBe('The request element GetFormSetPdfBasic is missing required member archiveReference');
  });

  it('prints Sami (1083) with its letters and the attachments, and refuses a language it has no texts for', async () => {
    const owner = await createSoapOwner(server.app);
    const [task] = await archiveFormTasks(server.app, owner.serviceOwnerId, [
      newTask(owner, {
        forms: [{ dataFormatId: '5703', dataFormatVersion: 34114, formData: '<Skovvi><Namma>Ŋuvvos Čáhppes Đ Ŧ</Namma></Skovvi>' }],
        attachments: [bytesAttachment('Mielddus Ŋ.pdf', Buffer.from('%PDF-1.4 x'), 'application_pdf')],
      }),
    ]);
    const args = { systemName: owner.userName, systemPassword: owner.password, archiveReference: task!.archiveReference, languageId: 1083 };
    const result = await dq('GetFormSetPdfBasic', args);
    expect(result.status).toBe(200);
    const dir = await mkdtemp(path.join(tmpdir(), 'agw-pdf-'));
    try {
      await writeFile(path.join(dir, 'form-set.pdf'), binaryOf(result, child(result.bodyElement, 'GetFormSetPdfBasicResult'))!);
      const text = execFileSync('pdftotext', ['-enc', 'UTF-8', path.join(dir, 'form-set.pdf'), '-'], { encoding: 'utf8' }).replace(/\s+/g, ' ');
      expect(text).toContain('Skovvi / Namma: Ŋuvvos Čáhppes Đ Ŧ');
      expect(text).toContain('Mielddusat');
      expect(text).toContain('Mielddus Ŋ.pdf: application_pdf, 10 byte');
      expect(text).toContain('sihkkarvuođadássi 3 (hearki)');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }

    expectAltinnFault(
      await dq('GetFormSetPdfBasic', { ...args, languageId: 9999 }),
      0,
      /^languageId 9999 is not supported; use one of 1033 \(English\), 1044 \(Norwegian Bokmål\), 1083 \(Northern Sami\), 2068 \(Norwegian Nynorsk\)$/,
    );
  });
});

describe('operations around the SOAP endpoint', () => {
  it('serves our WSDL with the address of the host the client used', async () => {
    const response = await fetch(`${server.url}${DQ_PATH}?wsdl`);
    expect(response.status).toBe(200);
    const wsdl = await response.text();
    expect(wsdl).toContain(`location="${server.url}${DQ_PATH}"`);
    expect(wsdl).toContain('OptimizedMimeSerialization');
  });

  it('has /health and Prometheus /metrics counting SOAP calls', async () => {
    expect(await (await fetch(`${server.url}/health`)).json()).toEqual({ status: 'ok', database: 'ok' });
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/altinn_gateway_soap_requests_total\{endpoint="DownloadQueueExternalBasic",operation="GetDownloadQueueItems",outcome="ok"\} \d+/);
    expect(metrics).toMatch(/altinn_gateway_soap_requests_total\{[^}]*outcome="Client"\} \d+/);
  });

  it('echoes a request id', async () => {
    const response = await fetch(`${server.url}/health`, { headers: { 'x-request-id': 'abc-123' } });
    expect(response.headers.get('x-request-id')).toBe('abc-123');
  });
});

describe('textContent of a fault', () => {
  it('is the AltinnFault message in the faultstring', async () => {
    const result = await dq('PurgeItem', { systemUserName: 'x', systemPassword: 'y', archiveReference: 'AR1' });
    expect(textContent(result.bodyElement)).toContain('Invalid system user name or password');
  });
});
