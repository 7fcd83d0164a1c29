/**
 * Wire-exactness against the REFERENCE contract: the Body child of real responses from a running
 * gateway is validated by lxml (libxml2's XML Schema validator) against the xs:schema elements of
 * Altinn's own DownloadQueueExternalBasic.wsdl (../shared/reference/altinn2), via
 * validate_against_reference.py. Element order, namespaces, nillability and types all count;
 * negative controls (members swapped, a member in the wrong namespace, nil where not nillable) show
 * the validation can fail.
 *
 * Needs /usr/bin/python3 with lxml (Debian package python3-lxml).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { archiveFormTasks } from '../../src/archive/archive-form-tasks';
import { soapEnvelope } from '../../src/soap/response-writer';
import { writeElement, XmlOutput } from '../../src/soap/serializer';
import { downloadQueueContract } from '../../src/services/download-queue/contract';
import { bytesAttachment, newTask } from '../helpers/archive-fixtures';
import { createSoapOwner, type SoapOwner } from '../helpers/fixtures';
import { startTestServer, type TestServer } from '../helpers/server';
import {
  altinnFaultOf,
  call,
  child,
  children,
  DQ_ACTION,
  DQ_PATH,
  isNilElement,
  NS,
  operationXml,
  text,
  type SoapResult,
} from '../helpers/soap-client';

const repoRoot = path.resolve(__dirname, '../..');
const REFERENCE_WSDL = path.join(path.resolve(repoRoot, '../shared/reference/altinn2'), 'DownloadQueueExternalBasic.wsdl');
const VALIDATOR = path.join(__dirname, 'validate_against_reference.py');
const PYTHON = '/usr/bin/python3';

interface ValidationDocument {
  name: string;
  envelope: string;
  /** MTOM parts by Content-ID, base64. */
  parts?: Record<string, string>;
  target?: 'body' | 'fault-detail';
}

interface ValidationResult {
  name: string;
  root: string | null;
  valid: boolean;
  errors: string[];
}

function validate(documents: ValidationDocument[]): { schemaNamespaces: string[]; results: Map<string, ValidationResult> } {
  const run = spawnSync(PYTHON, [VALIDATOR, REFERENCE_WSDL], { input: JSON.stringify({ documents }), encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (run.error) throw new Error(`Could not run ${PYTHON}: ${run.error.message} (CI needs the Debian packages python3 and python3-lxml)`);
  if (run.status !== 0) throw new Error(`${VALIDATOR} failed (${run.status}): ${run.stderr}`);
  const output = JSON.parse(run.stdout) as { schemaNamespaces: string[]; results: ValidationResult[] };
  return { schemaNamespaces: output.schemaNamespaces, results: new Map(output.results.map((r) => [r.name, r])) };
}

function documentOf(name: string, result: SoapResult, target: 'body' | 'fault-detail' = 'body'): ValidationDocument {
  return { name, envelope: result.rootXml, parts: Object.fromEntries([...result.parts].map(([id, bytes]) => [id, bytes.toString('base64')])), target };
}

/** Replace what `pattern` matches (the first match, or all with /g); fails the test if nothing matches. */
function tamper(source: string, pattern: RegExp, replacement: (...match: string[]) => string): string {
  const matches = source.match(new RegExp(pattern.source, pattern.flags.includes('g') ? pattern.flags : pattern.flags + 'g'));
  expect(matches?.length ?? 0).toBeGreaterThanOrEqual(1);
  const changed = source.replace(pattern, replacement as (substring: string, ...args: unknown[]) => string);
  expect(changed).not.toBe(source);
  return changed;
}

let server: TestServer;
let owner: SoapOwner;
let withEverything: { archiveReference: string };
let plain: { archiveReference: string };
let documents: ValidationDocument[];
let results: Map<string, ValidationResult>;
let schemaNamespaces: string[];
const responses: Record<string, SoapResult> = {};

const INLINE_LIMIT = 4096;

beforeAll(async () => {
  expect(existsSync(REFERENCE_WSDL)).toBe(true);
  // Attachments over 4 KiB are nil in GetArchivedFormTaskBasicDQ (fetched streamed), like Altinn's 30 MB rule.
  server = await startTestServer({ inlineAttachmentMaxBytes: INLINE_LIMIT });
  owner = await createSoapOwner(server.app);
  const tasks = await archiveFormTasks(server.app, owner.serviceOwnerId, [
    newTask(owner, {
      reporteeType: 'Organisation',
      caseId: 4711,
      forms: [
        { dataFormatId: '5703', dataFormatVersion: 34114, formData: '<Skjema xmlns:my="urn:my"><my:Felt>1 &lt; 2 &amp; æøå</my:Felt></Skjema>' },
        { dataFormatId: '4137', dataFormatVersion: 37001, formData: '<Under><Sum>10</Sum></Under>', parentIndex: 0 },
        { dataFormatId: '4138', dataFormatVersion: 37002, formData: '<Under2/>', parentIndex: 0 },
      ],
      approvers: [
        { approverId: '01017012345', approvedAt: new Date('2024-03-05T13:05:00Z'), securityLevel: 'sensitive' },
        { approverId: '02028012345', approvedAt: new Date('2024-03-05T13:06:00Z'), securityLevel: 'verySensitive' },
      ],
      attachments: [
        { ...bytesAttachment('kvittering.pdf', Buffer.from('%PDF-1.4\r\n%…\r\n'), 'application_pdf'), attachmentTypeName: 'Kvittering', attachmentTypeNameLanguage: 'nb' },
        bytesAttachment('data.bin', Buffer.from([0, 1, 2, 3, 13, 10])),
        bytesAttachment('stor.zip', Buffer.alloc(INLINE_LIMIT + 1, 7), 'application_zip'),
      ],
      shipmentMetadata: [
        { key: 'Avsender', value: 'Etat & co <test>' },
        { key: 'Tom', value: null },
      ],
    }),
    newTask(owner, { reporteeType: 'Person', reportee: '01017012345', attachments: [], approvers: [] }),
    newTask(owner, { shipmentMetadata: [{ key: 'Prioritet', value: 'høy' }] }),
  ]);
  expect(tasks).toHaveLength(3);
  [withEverything, plain] = [tasks[0]!, tasks[1]!];

  const credentials = { systemUserName: owner.userName, systemPassword: owner.password };
  responses.items = await call(server.url, DQ_PATH, DQ_ACTION('GetDownloadQueueItems'), operationXml('GetDownloadQueueItems', credentials));
  responses.formTask = await call(
    server.url,
    DQ_PATH,
    DQ_ACTION('GetArchivedFormTaskBasicDQ'),
    operationXml('GetArchivedFormTaskBasicDQ', { ...credentials, archiveReference: withEverything.archiveReference, languageID: 1044, includeXmlNamespace: false }),
  );
  responses.plainFormTask = await call(
    server.url,
    DQ_PATH,
    DQ_ACTION('GetArchivedFormTaskBasicDQ'),
    operationXml('GetArchivedFormTaskBasicDQ', { ...credentials, archiveReference: plain.archiveReference }),
  );
  responses.purge = await call(server.url, DQ_PATH, DQ_ACTION('PurgeItem'), operationXml('PurgeItem', { ...credentials, archiveReference: plain.archiveReference }));
  responses.fault = await call(
    server.url,
    DQ_PATH,
    DQ_ACTION('GetDownloadQueueItems'),
    operationXml('GetDownloadQueueItems', { systemUserName: owner.userName, systemPassword: 'wrong password' }),
  );
  responses.notFound = await call(
    server.url,
    DQ_PATH,
    DQ_ACTION('GetArchivedFormTaskBasicDQ'),
    operationXml('GetArchivedFormTaskBasicDQ', { ...credentials, archiveReference: 'AR999999999' }),
  );
  responses.test = await call(server.url, DQ_PATH, 'http://www.altinn.no/services/2009/10/IAltinnContractBase/Test', `<b:Test xmlns:b="${NS.base}"/>`);

  // The encrypted-key member cannot come from the archive yet: written by the same serializer and contract.
  const out = new XmlOutput('enc');
  writeElement(out, downloadQueueContract.GetArchivedFormTaskBasicDQ.response, {
    GetArchivedFormTaskBasicDQResult: {
      ArchiveReference: 'AR1',
      ArchiveTimeStamp: new Date('2024-03-05T13:05:00Z'),
      SOEncryptedSymmetricKey: { CertificateThumbprint: 'A'.repeat(40), EncryptedKey: Buffer.alloc(256, 1) },
      ServiceEditionCode: '1',
    },
  });
  const encryptedKeyEnvelope = soapEnvelope(out.toString(), '1.1');

  documents = [
    documentOf('GetDownloadQueueItemsResponse', responses.items),
    documentOf('GetArchivedFormTaskBasicDQResponse', responses.formTask),
    documentOf('GetArchivedFormTaskBasicDQResponse (no attachments or approvers)', responses.plainFormTask),
    documentOf('PurgeItemResponse', responses.purge),
    documentOf('AltinnFault (989)', responses.fault, 'fault-detail'),
    documentOf('AltinnFault (5)', responses.notFound, 'fault-detail'),
    documentOf('TestResponse', responses.test),
    { name: 'SOEncryptedSymmetricKey (serializer)', envelope: encryptedKeyEnvelope },
    // Negative controls: each must FAIL, or the validation proves nothing.
    {
      name: 'negative: ArchiveReference and ArchivedDate swapped',
      envelope: tamper(
        responses.items.rootXml,
        /(<dq:ArchiveReference>[^<]*<\/dq:ArchiveReference>)(<dq:ArchivedDate>[^<]*<\/dq:ArchivedDate>)/,
        (_all, reference, date) => `${date}${reference}`,
      ),
    },
    {
      name: 'negative: Key and Value of shipment metadata swapped',
      envelope: tamper(responses.items.rootXml, /(<sm:Key>[^<]*<\/sm:Key>)(<sm:Value>[^<]*<\/sm:Value>)/, (_all, key, value) => `${value}${key}`),
    },
    {
      name: 'negative: FileName and AttachmentType swapped',
      envelope: tamper(
        responses.formTask.rootXml,
        /(<ra:AttachmentType>[^<]*<\/ra:AttachmentType>)(<ra:FileName>[^<]*<\/ra:FileName>)/,
        (_all, type, name) => `${name}${type}`,
      ),
      parts: documentOf('', responses.formTask).parts,
    },
    {
      name: 'negative: CertificateThumbprint in ra instead of dq',
      envelope: tamper(encryptedKeyEnvelope, /dq:CertificateThumbprint/g, () => 'ra:CertificateThumbprint'),
    },
    {
      name: 'negative: nil ArchivedDate (not nillable)',
      envelope: tamper(responses.items.rootXml, /<dq:ArchivedDate>[^<]*<\/dq:ArchivedDate>/, () => '<dq:ArchivedDate xsi:nil="true"/>'),
    },
    {
      name: 'negative: ReporteeType outside the enumeration',
      envelope: tamper(responses.items.rootXml, /<dq:ReporteeType>Organisation<\/dq:ReporteeType>/, () => '<dq:ReporteeType>Company</dq:ReporteeType>'),
    },
  ];
  ({ schemaNamespaces, results } = validate(documents));
});

afterAll(async () => {
  await server?.close();
});

function expectValid(name: string, root: string): void {
  const result = results.get(name);
  expect(result).toBeDefined();
  // The errors are in the assertion so a failure says exactly what the schema objects to.
  expect({ name, valid: result!.valid, errors: result!.errors }).toEqual({ name, valid: true, errors: [] });
  expect(result!.root).toBe(root);
}

function expectInvalid(name: string, error: RegExp): void {
  const result = results.get(name)!;
  expect(result.valid).toBe(false);
  expect(result.errors.join('\n')).toMatch(error);
}

describe('the reference schemas', () => {
  test('every schema of the reference WSDL was loaded', () => {
    expect(schemaNamespaces).toEqual(
      expect.arrayContaining([NS.svc, NS.dq, NS.sm, NS.ra, NS.fault, NS.base, 'http://schemas.datacontract.org/2004/07/Altinn.Common.SBL.Enums.Archive']),
    );
  });
});

describe('real responses validate against the reference schemas', () => {
  test('GetDownloadQueueItemsResponse with several items, shipment metadata and nil metadata', () => {
    // What was validated really has the interesting shapes.
    const items = children(child(responses.items!.bodyElement, 'GetDownloadQueueItemsResult'), 'DownloadQueueItemBE');
    expect(items).toHaveLength(3);
    const metadata = items.map((item) => child(item, 'ShipmentMetadataList'));
    expect(children(metadata[0]!, 'ArchivedShipmentMetadata')).toHaveLength(2);
    expect(isNilElement(child(children(metadata[0]!, 'ArchivedShipmentMetadata')[1]!, 'Value'))).toBe(true);
    expect(isNilElement(metadata[1]!)).toBe(true);
    expect(text(items[1]!, 'ReporteeType')).toBe('Person');
    expectValid('GetDownloadQueueItemsResponse', `{${NS.svc}}GetDownloadQueueItemsResponse`);
  });

  test('GetArchivedFormTaskBasicDQResponse with sub forms, approvers, inline (XOP) and nil (large) attachments', () => {
    const result = child(responses.formTask!.bodyElement, 'GetArchivedFormTaskBasicDQResult');
    expect(responses.formTask!.headers.get('content-type')).toMatch(/^multipart\/related/);
    const forms = children(child(result, 'Forms'), 'ArchivedFormDQBE');
    expect(forms.map((f) => isNilElement(child(f, 'ParentReference')))).toEqual([true, false, false]);
    expect(children(child(result, 'Approvers'), 'ApproverDQBE')).toHaveLength(2);
    const attachments = children(child(result, 'Attachments'), 'ArchivedAttachmentDQBE');
    const data = attachments.map((a) => child(a, 'AttachmentData'));
    expect(data.map((d) => children(d, 'Include').length)).toEqual([1, 1, 0]);
    expect(isNilElement(data[2]!)).toBe(true);
    expect(responses.formTask!.parts.size).toBe(2);
    expect(isNilElement(child(result, 'SOEncryptedSymmetricKey'))).toBe(true);
    expectValid('GetArchivedFormTaskBasicDQResponse', `{${NS.svc}}GetArchivedFormTaskBasicDQResponse`);
  });

  test('GetArchivedFormTaskBasicDQResponse with empty lists', () => {
    const result = child(responses.plainFormTask!.bodyElement, 'GetArchivedFormTaskBasicDQResult');
    expect(children(child(result, 'Attachments'), 'ArchivedAttachmentDQBE')).toHaveLength(0);
    expect(children(child(result, 'Approvers'), 'ApproverDQBE')).toHaveLength(0);
    expectValid('GetArchivedFormTaskBasicDQResponse (no attachments or approvers)', `{${NS.svc}}GetArchivedFormTaskBasicDQResponse`);
  });

  test('PurgeItemResponse', () => {
    expect(text(responses.purge!.bodyElement, 'PurgeItemResult')).toBe('OK');
    expectValid('PurgeItemResponse', `{${NS.svc}}PurgeItemResponse`);
  });

  test("a fault's AltinnFault detail", () => {
    expect(responses.fault!.status).toBe(500);
    expect(altinnFaultOf(responses.fault!)?.errorId).toBe(989);
    expect(altinnFaultOf(responses.notFound!)?.errorId).toBe(5);
    expectValid('AltinnFault (989)', `{${NS.fault}}AltinnFault`);
    expectValid('AltinnFault (5)', `{${NS.fault}}AltinnFault`);
  });

  test('TestResponse', () => {
    expectValid('TestResponse', `{${NS.base}}TestResponse`);
  });

  test('a non-nil SOEncryptedSymmetricKey (element in ra, children in dq) as the contract writes it', () => {
    expectValid('SOEncryptedSymmetricKey (serializer)', `{${NS.svc}}GetArchivedFormTaskBasicDQResponse`);
  });
});

describe('negative controls: the validation can fail', () => {
  test('two members swapped', () => {
    expectInvalid('negative: ArchiveReference and ArchivedDate swapped', /ArchiveReference': This element is not expected/);
    expectInvalid('negative: Key and Value of shipment metadata swapped', /Key': This element is not expected/);
    expectInvalid('negative: FileName and AttachmentType swapped', /AttachmentType': This element is not expected/);
  });

  test('a member in the namespace of its type instead of its declaring schema', () => {
    expectInvalid('negative: CertificateThumbprint in ra instead of dq', /CertificateThumbprint': This element is not expected/);
  });

  test('nil where the schema does not allow it, and a value outside an enumeration', () => {
    expectInvalid('negative: nil ArchivedDate (not nillable)', /ArchivedDate': The element is not 'nillable'/);
    expectInvalid('negative: ReporteeType outside the enumeration', /ReporteeType.*(enumeration|not an element of the set)/);
  });
});
