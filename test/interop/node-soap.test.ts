/**
 * Interop: node-soap (the `soap` package) generated at run time from OUR ?wsdl runs the documented
 * loop — GetDownloadQueueItems, GetArchivedFormTaskBasicDQ, GetAttachmentDataStreamedBasic (a
 * second client from the streamed ?wsdl), PurgeItem — and the bytes it gets are compared by sha256
 * with what was archived. A client with `forceMTOM: true` shows we accept MTOM requests from a real
 * client.
 *
 * How node-soap 1.13 treats MTOM responses (what these tests rely on, and pin down):
 * - Only with the client option `parseResponseAttachments: true` does it read the response as
 *   bytes and split a multipart/related answer (utils.parseMTOMResp, on formidable's
 *   MultipartParser). The root part is parsed as the envelope; the other parts come back as the
 *   5th element of the `…Async` result array (`{ parts: [{ headers, body: Buffer }] }`).
 * - It does NOT resolve XOP: a binary member comes back as `{ Include: { attributes: { href:
 *   'cid:…' } } }`; the caller matches the (percent-decoded) href to a part's `content-id` header.
 * - A nil member (xsi:nil="true") is left out of the result object (the property is absent).
 * - Without `parseResponseAttachments` the multipart body is decoded as UTF-8 text and a regex cuts
 *   the Envelope out of it: the result still has the xop:Include reference, but the bytes are gone
 *   (see the test that shows it).
 * - parseMTOMResp grows each part with Buffer.concat on every formidable 'partData' event (one at
 *   every CR byte in binary content), so it is quadratic: measured here, a 5 MB part takes
 *   ~1.2 s and a 20 MiB part ~38 s. That is why these tests stay at a few MB; a node-soap integration
 *   fetching > 30 MB attachments would want its own multipart parsing.
 * - parseMTOMResp loads formidable with `import('formidable')`. Jest's CommonJS runtime cannot run a
 *   dynamic import without --experimental-vm-modules, so inside jest it fails with "A dynamic import
 *   callback was invoked without --experimental-vm-modules". Below, the function is replaced by an
 *   identical copy that `require`s formidable's CommonJS build — and one test runs the UNPATCHED
 *   node-soap in a plain Node child process to show it extracts the same bytes.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import path from 'node:path';
import * as soap from 'soap';
import { archiveFormTasks, type ArchivedTaskResult, type NewFormTask } from '../../src/archive/archive-form-tasks';
import { listQueue } from '../../src/archive/list-queue';
import { bytesAttachment, newTask } from '../helpers/archive-fixtures';
import { createSoapOwner, generatedAttachment, generatedSha256, type SoapOwner } from '../helpers/fixtures';
import { startTestServer, type TestServer } from '../helpers/server';

const DQ_PATH = '/ArchiveExternal/DownloadQueueExternalBasic.svc';
const STREAMED_PATH = '/ArchiveExternal/ServiceOwnerArchiveExternalStreamedBasic.svc';
const MiB = 1024 * 1024;

// ---- node-soap's parseMTOMResp, made loadable under jest (see the header comment) ----

type MtomParts = soap.IMTOMAttachments;
type ParseMtom = (payload: Buffer, boundary: string, callback: (error: unknown, response?: MtomParts) => void) => unknown;

interface FormidableParser {
  initWithBoundary(boundary: string): void;
  on(event: 'data', listener: (event: { name: string; buffer: Buffer; start: number; end: number }) => void): void;
  write(buffer: Buffer): number;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const soapUtils = require('soap/lib/utils') as { parseMTOMResp: ParseMtom };
const originalParseMtom = soapUtils.parseMTOMResp;
const needsShim = /import\(['"]formidable['"]\)/.test(originalParseMtom.toString());

/** node-soap 1.13.0's parseMTOMResp line for line, with require() in place of import(). */
const parseMtomWithRequire: ParseMtom = (payload, boundary, callback) => {
  try {
    // formidable is node-soap's dependency; resolve it from there.
    const formidablePath = require.resolve('formidable', { paths: [path.dirname(require.resolve('soap'))] });
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { MultipartParser } = require(formidablePath) as { MultipartParser: new () => FormidableParser };
    const resp: { parts: { body: Buffer | null; headers: Record<string, string> }[] } = { parts: [] };
    let headerName = '';
    let headerValue = '';
    let data = Buffer.alloc(0);
    let partIndex = 0;
    const parser = new MultipartParser();
    parser.initWithBoundary(boundary);
    parser.on('data', ({ name, buffer, start, end }) => {
      switch (name) {
        case 'partBegin':
          resp.parts[partIndex] = { body: null, headers: {} };
          data = Buffer.from('');
          break;
        case 'headerField':
          headerName = buffer.slice(start, end).toString();
          break;
        case 'headerValue':
          headerValue = buffer.slice(start, end).toString();
          break;
        case 'headerEnd':
          resp.parts[partIndex]!.headers[headerName.toLowerCase()] = headerValue;
          break;
        case 'partData':
          data = Buffer.concat([data, buffer.slice(start, end)]);
          break;
        case 'partEnd':
          resp.parts[partIndex]!.body = data;
          partIndex++;
          break;
      }
    });
    parser.write(payload);
    return callback(null, resp as MtomParts);
  } catch (error) {
    return callback(error);
  }
};

beforeAll(() => {
  if (needsShim) soapUtils.parseMTOMResp = parseMtomWithRequire;
});
afterAll(() => {
  soapUtils.parseMTOMResp = originalParseMtom;
});

// ---- helpers ----

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * The bytes of a base64Binary member as node-soap returns it: absent/null when nil, an
 * `{ Include: { attributes: { href } } }` resolved against the MTOM parts, or inline base64 text.
 */
function bytesOf(value: unknown, attachments: MtomParts | undefined): Buffer | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string') return Buffer.from(value, 'base64');
  const href = (value as { Include?: { attributes?: { href?: string } } }).Include?.attributes?.href;
  if (!href) throw new Error(`Not a binary value: ${JSON.stringify(value)}`);
  const contentId = `<${decodeURIComponent(href.replace(/^cid:/i, ''))}>`;
  const part = attachments?.parts.find((p) => p.headers['content-id'] === contentId);
  if (!part) throw new Error(`node-soap returned no MTOM part ${contentId} (parts: ${JSON.stringify(attachments?.parts.map((p) => p.headers))})`);
  return part.body;
}

/** A list member as node-soap gives it: absent (nil or empty), one object, or an array. */
function listOf<T>(wrapper: unknown, member: string): T[] {
  if (!wrapper || typeof wrapper !== 'object') return [];
  const items = (wrapper as Record<string, unknown>)[member];
  if (items === undefined || items === null) return [];
  return (Array.isArray(items) ? items : [items]) as T[];
}

interface ArchivedFixture {
  owner: SoapOwner;
  withAttachments: ArchivedTaskResult;
  plain: ArchivedTaskResult;
  /** Per attachment id: what the client must end up with. */
  expected: Map<number, { fileName: string; size: number; sha256: string; inline: boolean }>;
  mainForm: string;
}

const crlfText = Buffer.from('Første linje\r\nSiste linje\r\n', 'utf8');

/** A fresh owner with two queued tasks: one with a CRLF text, 1 MB inline and a 3 MiB streamed attachment. */
async function archiveFixture(server: TestServer): Promise<ArchivedFixture> {
  const owner = await createSoapOwner(server.app);
  const mainForm = '<Skjema><Navn>Blåbær &amp; Co</Navn><Tall>42</Tall></Skjema>';
  const withAttachments: NewFormTask = newTask(owner, {
    caseId: 17,
    forms: [{ dataFormatId: '4711', dataFormatVersion: 1, formData: mainForm }],
    attachments: [
      bytesAttachment('notat.txt', crlfText, 'text_plain'),
      generatedAttachment('middels.bin', 1_000_000, 11),
      generatedAttachment('stor.bin', 3 * MiB, 12),
    ],
    shipmentMetadata: [{ key: 'Kilde', value: 'node-soap' }],
  });
  const [a, b] = await archiveFormTasks(server.app, owner.serviceOwnerId, [withAttachments, newTask(owner, { reportee: '01017012345', reporteeType: 'Person' })]);
  const inlineLimit = server.app.config.inlineAttachmentMaxBytes;
  const expected = new Map<number, { fileName: string; size: number; sha256: string; inline: boolean }>();
  const specs = [
    { fileName: 'notat.txt', size: crlfText.length, sha256: sha256(crlfText) },
    { fileName: 'middels.bin', size: 1_000_000, sha256: generatedSha256(1_000_000, 11) },
    { fileName: 'stor.bin', size: 3 * MiB, sha256: generatedSha256(3 * MiB, 12) },
  ];
  specs.forEach((spec, index) => expected.set(a!.attachmentIds[index]!, { ...spec, inline: spec.size <= inlineLimit }));
  return { owner, withAttachments: a!, plain: b!, expected, mainForm };
}

/** `…Async` calls resolve to [result, rawResponse, soapHeader, rawRequest, mtomAttachments]. */
type AsyncResult = [Record<string, unknown>, unknown, unknown, string, MtomParts | undefined];

async function call(client: soap.Client, operation: string, args: Record<string, unknown>, options?: Record<string, unknown>): Promise<AsyncResult> {
  return (await client[`${operation}Async`](args, options)) as AsyncResult;
}

interface QueueItem {
  ArchiveReference: string;
  ArchivedDate: Date;
  ReporteeID: string;
  ReporteeType: string;
  ServiceCode: string;
  ServiceEditionCode: number;
  ShipmentMetadataList?: unknown;
}

interface AttachmentObject {
  AttachmentId: number;
  FileName: string;
  AttachmentType: string;
  IsEncrypted: boolean;
  ArchiveReference: string;
  AttachmentData?: unknown;
}

describe('node-soap client from our ?wsdl', () => {
  let server: TestServer;
  beforeAll(async () => {
    // 3 MiB goes through the streamed service here, as a > 30 MB attachment does by default.
    server = await startTestServer({ inlineAttachmentMaxBytes: 2 * MiB });
  });
  afterAll(() => server?.close());

  const clients = async (options: soap.IOptions = { parseResponseAttachments: true }) => ({
    dq: await soap.createClientAsync(`${server.url}${DQ_PATH}?wsdl`, options),
    streamed: await soap.createClientAsync(`${server.url}${STREAMED_PATH}?wsdl`, options),
  });

  it('runs the documented loop with MTOM attachments compared by sha256', async () => {
    const fx = await archiveFixture(server);
    const credentials = { systemUserName: fx.owner.userName, systemPassword: fx.owner.password };
    const { dq, streamed } = await clients();

    // The WSDL's address is the origin we fetched it from.
    expect(dq.describe()).toHaveProperty('DownloadQueueExternalBasic.BasicHttpBinding_IDownloadQueueExternalBasic.GetArchivedFormTaskBasicDQ');
    const [testResult] = await call(dq, 'Test', {});
    expect(testResult).toBeNull(); // empty TestResponse
    expect(dq.lastEndpoint).toBe(`${server.url}${DQ_PATH}`);

    const [queue] = await call(dq, 'GetDownloadQueueItems', credentials);
    const items = listOf<QueueItem>(queue.GetDownloadQueueItemsResult, 'DownloadQueueItemBE');
    expect(items.map((i) => i.ArchiveReference)).toEqual([fx.withAttachments.archiveReference, fx.plain.archiveReference]);
    expect(items[0]).toMatchObject({ ReporteeID: '910000001', ReporteeType: 'Organisation', ServiceCode: fx.owner.serviceCode, ServiceEditionCode: 1 });
    expect(items[0]!.ArchivedDate).toBeInstanceOf(Date);
    expect(items[0]!.ShipmentMetadataList).toEqual({ ArchivedShipmentMetadata: [{ Key: 'Kilde', Value: 'node-soap' }] });
    expect(items[1]).toMatchObject({ ReporteeID: '01017012345', ReporteeType: 'Person' });
    expect(items[1]).not.toHaveProperty('ShipmentMetadataList'); // nil → left out by node-soap

    const received = new Map<number, { size: number; sha256: string; via: string }>();
    for (const item of items) {
      const [response, , , , parts] = await call(dq, 'GetArchivedFormTaskBasicDQ', { ...credentials, archiveReference: item.ArchiveReference, languageID: 1044 });
      const task = response.GetArchivedFormTaskBasicDQResult as Record<string, unknown>;
      expect(task.ArchiveReference).toBe(item.ArchiveReference);
      expect(new Date(task.ArchiveTimeStamp as Date).getTime()).toBe(item.ArchivedDate.getTime());
      for (const attachment of listOf<AttachmentObject>(task.Attachments, 'ArchivedAttachmentDQBE')) {
        let bytes = bytesOf(attachment.AttachmentData, parts);
        let via = 'inline';
        if (bytes === null) {
          expect(attachment).not.toHaveProperty('AttachmentData'); // nil
          const [streamedResponse, , , , streamedParts] = await call(streamed, 'GetAttachmentDataStreamedBasic', { ...credentials, attachmentId: attachment.AttachmentId });
          bytes = bytesOf(streamedResponse.GetAttachmentDataStreamedBasicResult, streamedParts);
          via = 'streamed';
        }
        expect(attachment.ArchiveReference).toBe(item.ArchiveReference);
        expect(attachment.FileName).toBe(fx.expected.get(attachment.AttachmentId)?.fileName);
        received.set(attachment.AttachmentId, { size: bytes!.length, sha256: sha256(bytes!), via });
      }
      if (item.ArchiveReference === fx.withAttachments.archiveReference) {
        expect(task).toMatchObject({ CaseID: 17, FormsInResponse: 1, AttachmentsInResponse: 2, ServiceCode: fx.owner.serviceCode, ServiceEditionCode: '1', Reportee: '910000001' });
        expect(listOf(task.Forms, 'ArchivedFormDQBE')).toEqual([
          { DataFormatID: '4711', DataFormatVersionID: 1, FormData: fx.mainForm, Reference: fx.withAttachments.formReferences[0] },
        ]);
        expect(listOf(task.Approvers, 'ApproverDQBE')).toEqual([
          { ApproverID: '01017012345', SecurityLevel: 'sensitive', ApprovedTimeStamp: new Date('2024-03-05T13:05:00Z') },
        ]);
        expect(task).not.toHaveProperty('SOEncryptedSymmetricKey'); // nil
      } else {
        expect(task).toMatchObject({ Reportee: '01017012345', AttachmentsInResponse: 0, FormsInResponse: 1 });
        expect(listOf(task.Attachments, 'ArchivedAttachmentDQBE')).toEqual([]);
      }
    }
    expect(Object.fromEntries(received)).toEqual(
      Object.fromEntries([...fx.expected].map(([id, e]) => [id, { size: e.size, sha256: e.sha256, via: e.inline ? 'inline' : 'streamed' }])),
    );
    expect([...received.values()].map((r) => r.via)).toEqual(['inline', 'inline', 'streamed']);

    const [pdfResponse, , , , pdfParts] = await call(dq, 'GetFormSetPdfBasic', {
      systemName: fx.owner.userName,
      systemPassword: fx.owner.password,
      archiveReference: fx.withAttachments.archiveReference,
      languageId: 1044,
    });
    const pdf = bytesOf(pdfResponse.GetFormSetPdfBasicResult, pdfParts)!;
    expect(pdf.subarray(0, 5).toString('latin1')).toBe('%PDF-');

    for (const item of items) {
      const [purged] = await call(dq, 'PurgeItem', { ...credentials, archiveReference: item.ArchiveReference });
      expect(purged).toEqual({ PurgeItemResult: 'OK' });
    }
    const [after] = await call(dq, 'GetDownloadQueueItems', credentials);
    // The server sends an empty <GetDownloadQueueItemsResult></GetDownloadQueueItemsResult>; node-soap reads it as null.
    expect(after).toEqual({ GetDownloadQueueItemsResult: null });
    expect(await listQueue(server.app, { serviceOwnerId: fx.owner.serviceOwnerId, limit: 500 })).toEqual([]);
  });

  it('a wrong password rejects with the HTTP 500 fault and its AltinnFault 989', async () => {
    const owner = await createSoapOwner(server.app);
    const { dq } = await clients();
    const error = (await call(dq, 'GetDownloadQueueItems', { systemUserName: owner.userName, systemPassword: 'not-the-password' }).then(
      () => undefined,
      (e: unknown) => e,
    )) as { response?: { status: number }; root?: { Envelope: { Body: { Fault: Record<string, unknown> } } } } | undefined;
    expect(error).toBeDefined();
    expect(error!.response?.status).toBe(500);
    const fault = error!.root!.Envelope.Body.Fault as { faultcode: string; detail: { AltinnFault: Record<string, string> } };
    expect(fault.faultcode).toBe('s:Client');
    // node-soap reads fault details untyped: ErrorID is the text "989".
    expect(fault.detail.AltinnFault).toMatchObject({ ErrorID: '989', AltinnErrorMessage: expect.any(String), ErrorGuid: expect.stringMatching(/^[0-9a-f-]{36}$/) });
  });

  it('accepts every request as MTOM (forceMTOM: true), with and without extra MIME parts', async () => {
    const fx = await archiveFixture(server);
    const credentials = { systemUserName: fx.owner.userName, systemPassword: fx.owner.password };
    const { dq, streamed } = await clients();
    const mtom = { forceMTOM: true };
    const sentAsMtom = (client: soap.Client) => {
      const contentType = String(client.lastRequestHeaders?.['Content-Type'] ?? '');
      expect(contentType).toMatch(/^multipart\/related; type="application\/xop\+xml"; start="<[^>]+>"; start-info="text\/xml"; boundary=/);
    };

    const [queue] = await call(dq, 'GetDownloadQueueItems', credentials, mtom);
    sentAsMtom(dq);
    const references = listOf<QueueItem>(queue.GetDownloadQueueItemsResult, 'DownloadQueueItemBE').map((i) => i.ArchiveReference);
    expect(references).toEqual([fx.withAttachments.archiveReference, fx.plain.archiveReference]);

    const [response, , , rawRequest, parts] = await call(dq, 'GetArchivedFormTaskBasicDQ', { ...credentials, archiveReference: references[0] }, mtom);
    sentAsMtom(dq);
    expect(rawRequest).toContain('<archiveReference>'); // the envelope node-soap put in the root part
    const attachments = listOf<AttachmentObject>((response.GetArchivedFormTaskBasicDQResult as Record<string, unknown>).Attachments, 'ArchivedAttachmentDQBE');
    for (const attachment of attachments) {
      const want = fx.expected.get(attachment.AttachmentId)!;
      let bytes = bytesOf(attachment.AttachmentData, parts);
      if (!want.inline) {
        expect(bytes).toBeNull();
        const [streamedResponse, , , , streamedParts] = await call(streamed, 'GetAttachmentDataStreamedBasic', { ...credentials, attachmentId: attachment.AttachmentId }, mtom);
        sentAsMtom(streamed);
        bytes = bytesOf(streamedResponse.GetAttachmentDataStreamedBasicResult, streamedParts);
      }
      expect({ id: attachment.AttachmentId, size: bytes!.length, sha256: sha256(bytes!) }).toEqual({ id: attachment.AttachmentId, size: want.size, sha256: want.sha256 });
    }
    expect(attachments).toHaveLength(3);

    // node-soap's `attachments` option adds MIME parts (Content-Transfer-Encoding: binary) that
    // nothing in the envelope refers to: they are ignored.
    const [purged] = await call(dq, 'PurgeItem', { ...credentials, archiveReference: references[0] }, {
      forceMTOM: true,
      attachments: [{ mimetype: 'application/octet-stream', contentId: 'extra@node-soap', name: 'extra.bin', body: Buffer.from([0, 1, 2, 13, 10]) }],
    });
    sentAsMtom(dq);
    expect(purged).toEqual({ PurgeItemResult: 'OK' });
    const [purgedToo] = await call(dq, 'PurgeItem', { ...credentials, archiveReference: references[1] }, mtom);
    expect(purgedToo).toEqual({ PurgeItemResult: 'OK' });
    expect(await listQueue(server.app, { serviceOwnerId: fx.owner.serviceOwnerId, limit: 500 })).toEqual([]);
  });

  it('SOAP 1.2 (forceSoap12Headers) is answered as SOAP 1.2, faults included', async () => {
    const fx = await archiveFixture(server);
    const { dq } = await clients({ parseResponseAttachments: true, forceSoap12Headers: true });
    const [response, , , , parts] = await call(dq, 'GetArchivedFormTaskBasicDQ', {
      systemUserName: fx.owner.userName,
      systemPassword: fx.owner.password,
      archiveReference: fx.withAttachments.archiveReference,
    });
    expect(String(dq.lastRequestHeaders?.['Content-Type'])).toMatch(/^application\/soap\+xml; charset=utf-8; action="[^"]+\/GetArchivedFormTaskBasicDQ"$/);
    const contentType = String(dq.lastResponseHeaders?.['content-type']);
    expect(contentType).toMatch(/^multipart\/related;/);
    expect(contentType).toContain('start-info="application/soap+xml"');
    const text = listOf<AttachmentObject>((response.GetArchivedFormTaskBasicDQResult as Record<string, unknown>).Attachments, 'ArchivedAttachmentDQBE')[0]!;
    expect(sha256(bytesOf(text.AttachmentData, parts)!)).toBe(sha256(crlfText));
    // lastResponse is the root part: a SOAP 1.2 envelope.
    expect(String(dq.lastResponse)).toMatch(/^<s:Envelope xmlns:s="http:\/\/www\.w3\.org\/2003\/05\/soap-envelope"/);

    const error = (await call(dq, 'PurgeItem', { systemUserName: fx.owner.userName, systemPassword: 'wrong', archiveReference: 'AR1' }).then(
      () => undefined,
      (e: unknown) => e,
    )) as { response?: { status: number }; root?: { Envelope: { Body: { Fault: { Code: { Value: string }; Detail: { AltinnFault: { ErrorID: string } } } } } } };
    expect(error.response?.status).toBe(500);
    expect(error.root!.Envelope.Body.Fault.Code.Value).toBe('s:Sender');
    expect(error.root!.Envelope.Body.Fault.Detail.AltinnFault.ErrorID).toBe('989');
  });

  it('without parseResponseAttachments node-soap keeps the xop:Include but loses the bytes', async () => {
    const fx = await archiveFixture(server);
    const { dq } = await clients({});
    const [response, , , , parts] = await call(dq, 'GetArchivedFormTaskBasicDQ', {
      systemUserName: fx.owner.userName,
      systemPassword: fx.owner.password,
      archiveReference: fx.withAttachments.archiveReference,
    });
    const attachments = listOf<AttachmentObject>((response.GetArchivedFormTaskBasicDQResult as Record<string, unknown>).Attachments, 'ArchivedAttachmentDQBE');
    // The envelope was cut out of the multipart text, so the call "works"...
    expect(attachments.map((a) => a.FileName)).toEqual(['notat.txt', 'middels.bin', 'stor.bin']);
    expect(attachments[0]!.AttachmentData).toEqual({ Include: { attributes: { href: expect.stringMatching(/^cid:.+%40altinn-gateway$/) } } });
    // ...but no parts are returned, and the raw response is the multipart body decoded as text.
    expect(parts).toBeUndefined();
    expect(typeof dq.lastResponse).toBe('string');
    expect(() => bytesOf(attachments[0]!.AttachmentData, parts)).toThrow(/no MTOM part/);
  });

  it('unpatched node-soap in plain Node (its own import of formidable) gets the same bytes', async () => {
    const fx = await archiveFixture(server);
    const script = `
      const { createHash } = require('node:crypto');
      const soap = require(${JSON.stringify(require.resolve('soap'))});
      const [url, user, password, reference] = process.argv.slice(1);
      const hash = (b) => ({ size: b.length, sha256: createHash('sha256').update(b).digest('hex') });
      const bytes = (value, att) => {
        const id = '<' + decodeURIComponent(value.Include.attributes.href.slice(4)) + '>';
        return att.parts.find((p) => p.headers['content-id'] === id).body;
      };
      (async () => {
        const dq = await soap.createClientAsync(url + ${JSON.stringify(DQ_PATH)} + '?wsdl', { parseResponseAttachments: true });
        const streamed = await soap.createClientAsync(url + ${JSON.stringify(STREAMED_PATH)} + '?wsdl', { parseResponseAttachments: true });
        const creds = { systemUserName: user, systemPassword: password };
        const [task, , , , att] = await dq.GetArchivedFormTaskBasicDQAsync({ ...creds, archiveReference: reference });
        const out = {};
        for (const a of [].concat(task.GetArchivedFormTaskBasicDQResult.Attachments.ArchivedAttachmentDQBE)) {
          if (a.AttachmentData) { out[a.AttachmentId] = { ...hash(bytes(a.AttachmentData, att)), via: 'inline' }; continue; }
          const [s, , , , satt] = await streamed.GetAttachmentDataStreamedBasicAsync({ ...creds, attachmentId: a.AttachmentId });
          out[a.AttachmentId] = { ...hash(bytes(s.GetAttachmentDataStreamedBasicResult, satt)), via: 'streamed' };
        }
        process.stdout.write(JSON.stringify(out));
      })().catch((e) => { console.error(e); process.exit(1); });`;
    const output = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, ['-e', script, server.url, fx.owner.userName, fx.owner.password, fx.withAttachments.archiveReference]);
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`node-soap child exited ${code}: ${stderr}`))));
    });
    expect(JSON.parse(output)).toEqual(
      Object.fromEntries([...fx.expected].map(([id, e]) => [String(id), { size: e.size, sha256: e.sha256, via: e.inline ? 'inline' : 'streamed' }])),
    );
  });
});
