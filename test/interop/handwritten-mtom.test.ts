/**
 * Interop at the byte level: requests written out by hand the way Java stacks send them
 * (Spring-WS/SAAJ and CXF with MTOM on: multipart/related XOP for every call, WS-Addressing
 * headers), SOAP 1.2, dispatch without a SOAPAction, xop:Include in a request, and
 * mustUnderstand handling. Responses are read with the plain parser of test/helpers/soap-client.ts.
 */
import { randomUUID } from 'node:crypto';
import { archiveFormTasks, type ArchivedTaskResult } from '../../src/archive/archive-form-tasks';
import { bytesAttachment, newTask } from '../helpers/archive-fixtures';
import { createSoapOwner, generatedAttachment, generatedSha256, type SoapOwner } from '../helpers/fixtures';
import { startTestServer, type TestServer } from '../helpers/server';
import {
  altinnFaultOf,
  binaryOf,
  child,
  children,
  DQ_ACTION,
  DQ_PATH,
  faultString,
  NS,
  parseSoapResponse,
  post,
  sha256,
  text,
  type RawResponse,
  type SoapResult,
} from '../helpers/soap-client';

const WSA = 'http://www.w3.org/2005/08/addressing';
const WSSE = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd';
const GET_TASK = DQ_ACTION('GetArchivedFormTaskBasicDQ');
const GET_QUEUE = DQ_ACTION('GetDownloadQueueItems');

let server: TestServer;
let owner: SoapOwner;
let task: ArchivedTaskResult;
/** A task whose reference is four characters ("AR" + two digits): also a canonical base64 text. */
let fourCharTask: ArchivedTaskResult;
const crlfText = Buffer.from('hei\r\npå\r\ndeg\r\n', 'utf8');
const binarySize = 300_000;

beforeAll(async () => {
  server = await startTestServer();
  owner = await createSoapOwner(server.app);
  [task] = await archiveFormTasks(server.app, owner.serviceOwnerId, [
    newTask(owner, { attachments: [bytesAttachment('tekst.txt', crlfText, 'text_plain'), generatedAttachment('binær.bin', binarySize, 9)] }),
  ]);
  const more = await archiveFormTasks(server.app, owner.serviceOwnerId, Array.from({ length: 12 }, () => newTask(owner)));
  fourCharTask = more.find((r) => /^AR\d\d$/.test(r.archiveReference))!;
});
afterAll(() => server?.close());

// ---- request builders ----

function credentialsXml(prefix: string): string {
  return `<${prefix}:systemUserName>${owner.userName}</${prefix}:systemUserName><${prefix}:systemPassword>${owner.password}</${prefix}:systemPassword>`;
}

/** GetArchivedFormTaskBasicDQ as JAXB writes it (ns2 prefix, every argument present). */
function getTaskBody(archiveReferenceXml: string, envPrefix = 'SOAP-ENV'): string {
  return (
    `<${envPrefix}:Body><ns2:GetArchivedFormTaskBasicDQ xmlns:ns2="${NS.svc}">${credentialsXml('ns2')}` +
    `<ns2:archiveReference>${archiveReferenceXml}</ns2:archiveReference><ns2:languageID>1044</ns2:languageID>` +
    `<ns2:includeXmlNamespace>false</ns2:includeXmlNamespace></ns2:GetArchivedFormTaskBasicDQ></${envPrefix}:Body>`
  );
}

/** WS-Addressing 2005/08 as CXF adds it; Action marked mustUnderstand. */
function addressingHeaders(action: string, envPrefix = 'SOAP-ENV'): string {
  return (
    `<wsa:Action xmlns:wsa="${WSA}" ${envPrefix}:mustUnderstand="1">${action}</wsa:Action>` +
    `<wsa:MessageID xmlns:wsa="${WSA}">urn:uuid:${randomUUID()}</wsa:MessageID>` +
    `<wsa:To xmlns:wsa="${WSA}">${server.url}${DQ_PATH}</wsa:To>` +
    `<wsa:ReplyTo xmlns:wsa="${WSA}"><wsa:Address>http://www.w3.org/2005/08/addressing/anonymous</wsa:Address></wsa:ReplyTo>`
  );
}

function envelope(body: string, headers = '', version: '1.1' | '1.2' = '1.1', envPrefix = 'SOAP-ENV'): string {
  const ns = version === '1.1' ? NS.soap11 : NS.soap12;
  return (
    `<?xml version="1.0" encoding="UTF-8"?><${envPrefix}:Envelope xmlns:${envPrefix}="${ns}">` +
    (headers ? `<${envPrefix}:Header>${headers}</${envPrefix}:Header>` : '') +
    `${body}</${envPrefix}:Envelope>`
  );
}

interface MimePart {
  headers: Record<string, string>;
  body: string | Buffer;
}

/** A multipart/related body: `preamble` then each part, closed by the final delimiter. */
function multipart(boundary: string, parts: MimePart[], preamble = ''): Buffer {
  const chunks: Buffer[] = [Buffer.from(preamble)];
  for (const part of parts) {
    const head = Object.entries(part.headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    chunks.push(Buffer.from(`--${boundary}\r\n${head}\r\n`), Buffer.from(part.body), Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(chunks);
}

/** The styles two Java stacks use for the same MTOM request. */
const STYLES = {
  'Spring-WS / SAAJ (SoapUI)': {
    boundary: '----=_Part_0_1736287123.1700000000000',
    rootId: 'rootpart@soapui.org',
    preamble: '',
    transferEncoding: '8bit',
  },
  'Apache CXF': {
    boundary: `uuid:${randomUUID()}`,
    rootId: 'root.message@cxf.apache.org',
    preamble: '\r\n', // CXF starts the body with a CRLF before the first delimiter
    transferEncoding: 'binary',
  },
};

async function mtomCall(
  envelopeXml: string,
  options: {
    style?: keyof typeof STYLES;
    soapAction?: string;
    extraParts?: MimePart[];
    version?: '1.1' | '1.2';
    action12?: string;
    /** Send the body with Transfer-Encoding: chunked in small pieces (boundaries split across chunks), as CXF streams. */
    chunked?: boolean;
  } = {},
): Promise<SoapResult> {
  const style = STYLES[options.style ?? 'Spring-WS / SAAJ (SoapUI)'];
  const inner = options.version === '1.2' ? 'application/soap+xml' : 'text/xml';
  const action12 = options.action12 ? `; action="${options.action12}"` : '';
  const body = multipart(
    style.boundary,
    [
      {
        headers: {
          'Content-Type': `application/xop+xml; charset=UTF-8; type="${inner}"${action12}`,
          'Content-Transfer-Encoding': style.transferEncoding,
          'Content-ID': `<${style.rootId}>`,
        },
        body: envelopeXml,
      },
      ...(options.extraParts ?? []),
    ],
    style.preamble,
  );
  const headers: Record<string, string> = {
    'content-type':
      `multipart/related; type="application/xop+xml"; start="<${style.rootId}>"; start-info="${inner}"; ` + `boundary="${style.boundary}"${action12}`,
    'mime-version': '1.0',
  };
  if (options.soapAction !== undefined) headers.soapaction = options.soapAction;
  if (options.chunked) return parseSoapResponse(await postChunked(server.url + DQ_PATH, body, headers));
  return parseSoapResponse(await post(server.url + DQ_PATH, body, headers));
}

/** POST without Content-Length: the body goes out as a stream of 7-byte chunks, one per tick. */
async function postChunked(url: string, body: Buffer, headers: Record<string, string>): Promise<RawResponse> {
  let offset = 0;
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      await new Promise((resolve) => setImmediate(resolve));
      if (offset >= body.length) return controller.close();
      controller.enqueue(new Uint8Array(body.subarray(offset, offset + 7)));
      offset += 7;
    },
  });
  const init = { method: 'POST', body: stream, headers, duplex: 'half' } as RequestInit;
  const response = await fetch(url, init);
  return { status: response.status, headers: response.headers, body: Buffer.from(await response.arrayBuffer()) };
}

async function plainCall(envelopeXml: string, headers: Record<string, string>): Promise<SoapResult> {
  return parseSoapResponse(await post(server.url + DQ_PATH, envelopeXml, headers));
}

// ---- checks ----

/** A correct GetArchivedFormTaskBasicDQ answer for `task`, as MTOM, with both attachments' exact bytes. */
function expectTaskAnswer(result: SoapResult, version: '1.1' | '1.2' = '1.1'): void {
  if (result.status !== 200) throw new Error(`HTTP ${result.status}: ${result.rootXml.slice(0, 1500)}`);
  const inner = version === '1.1' ? 'text/xml' : 'application/soap+xml';
  const contentType = result.headers.get('content-type') ?? '';
  expect(contentType).toMatch(/^multipart\/related; type="application\/xop\+xml"; start="<[^>]+>"; /);
  expect(contentType).toContain(`start-info="${inner}"`);
  expect(result.envelope.ns).toBe(version === '1.1' ? NS.soap11 : NS.soap12);
  expect(result.bodyElement.local).toBe('GetArchivedFormTaskBasicDQResponse');
  const answer = child(result.bodyElement, 'GetArchivedFormTaskBasicDQResult');
  expect(text(answer, 'ArchiveReference')).toBe(task.archiveReference);
  const attachments = children(child(answer, 'Attachments'), 'ArchivedAttachmentDQBE');
  expect(attachments.map((a) => [Number(text(a, 'AttachmentId')), text(a, 'FileName')])).toEqual([
    [task.attachmentIds[0], 'tekst.txt'],
    [task.attachmentIds[1], 'binær.bin'],
  ]);
  const digests = attachments.map((a) => {
    const bytes = binaryOf(result, child(a, 'AttachmentData'))!;
    return { size: bytes.length, sha256: sha256(bytes) };
  });
  expect(digests).toEqual([
    { size: crlfText.length, sha256: sha256(crlfText) },
    { size: binarySize, sha256: generatedSha256(binarySize, 9) },
  ]);
}

function expectFault(result: SoapResult, code: string, version: '1.1' | '1.2' = '1.1'): void {
  expect(result.status).toBe(500);
  expect(result.bodyElement.local).toBe('Fault');
  if (version === '1.1') {
    expect(result.headers.get('content-type')).toBe('text/xml; charset=utf-8');
    expect(text(result.bodyElement, 'faultcode')).toBe(`s:${code}`);
    expect(result.rootXml).toContain(`xmlns:s="${NS.soap11}"`);
  } else {
    expect(result.headers.get('content-type')).toBe('application/soap+xml; charset=utf-8');
    expect(text(child(result.bodyElement, 'Code'), 'Value')).toBe(`s:${code}`);
    expect(result.rootXml).toContain(`xmlns:s="${NS.soap12}"`);
  }
}

async function queueCallWorks(): Promise<void> {
  const result = await plainCall(
    envelope(`<SOAP-ENV:Body><ns2:GetDownloadQueueItems xmlns:ns2="${NS.svc}">${credentialsXml('ns2')}</ns2:GetDownloadQueueItems></SOAP-ENV:Body>`),
    { 'content-type': 'text/xml; charset=utf-8', soapaction: `"${GET_QUEUE}"` },
  );
  expect(result.status).toBe(200);
  expect(children(child(result.bodyElement, 'GetDownloadQueueItemsResult'), 'DownloadQueueItemBE')[0]).toBeDefined();
  expect(text(children(child(result.bodyElement, 'GetDownloadQueueItemsResult'), 'DownloadQueueItemBE')[0]!, 'ArchiveReference')).toBe(
    task.archiveReference,
  );
}

// ---- tests ----

describe('hand-written MTOM requests as Java clients send them', () => {
  it.each(Object.keys(STYLES) as (keyof typeof STYLES)[])('%s: XOP multipart with WS-Addressing (mustUnderstand) is answered', async (style) => {
    const result = await mtomCall(envelope(getTaskBody(task.archiveReference), addressingHeaders(GET_TASK)), { style, soapAction: `"${GET_TASK}"` });
    expectTaskAnswer(result);
  });

  it('sent chunked in 7-byte pieces (no Content-Length, MIME boundaries split across chunks)', async () => {
    const result = await mtomCall(envelope(getTaskBody(task.archiveReference), addressingHeaders(GET_TASK)), {
      style: 'Apache CXF',
      soapAction: `"${GET_TASK}"`,
      chunked: true,
    });
    expectTaskAnswer(result);
  });

  it('a plain text/xml request with the same headers gets the same answer', async () => {
    const result = await plainCall(envelope(getTaskBody(task.archiveReference), addressingHeaders(GET_TASK)), {
      'content-type': 'text/xml; charset=UTF-8',
      soapaction: `"${GET_TASK}"`,
    });
    expectTaskAnswer(result);
  });

  it('MTOM with an empty SOAPAction is dispatched by wsa:Action', async () => {
    const result = await mtomCall(envelope(getTaskBody(task.archiveReference), addressingHeaders(GET_TASK)), { soapAction: '""' });
    expectTaskAnswer(result);
  });

  it('MTOM with an empty SOAPAction and a wsa:Action naming another operation than the body is a Client fault', async () => {
    const result = await mtomCall(envelope(getTaskBody(task.archiveReference), addressingHeaders(GET_QUEUE)), { soapAction: '""' });
    expectFault(result, 'Client');
    expect(faultString(result)).toContain(`The SOAPAction ${GET_QUEUE} does not match the body element`);
  });

  it('MTOM with neither SOAPAction nor wsa:Action is dispatched by the body element', async () => {
    const result = await mtomCall(envelope(getTaskBody(task.archiveReference)));
    expectTaskAnswer(result);
  });

  it('a MIME part nothing refers to is ignored', async () => {
    const result = await mtomCall(envelope(getTaskBody(task.archiveReference), addressingHeaders(GET_TASK)), {
      soapAction: `"${GET_TASK}"`,
      extraParts: [{ headers: { 'Content-Type': 'application/octet-stream', 'Content-ID': '<unused@client>' }, body: Buffer.from([0, 13, 10, 255]) }],
    });
    expectTaskAnswer(result);
  });
});

describe('xop:Include in a request', () => {
  // XOP: an xop:Include stands for the base64 text of the part's octets. Our operations take no
  // binary arguments, so the only thing to include is a string; its value is then that base64
  // text. A four-character archive reference such as AR12 is itself canonical base64 (3 octets),
  // which lets the include resolve to a real reference.
  it('is replaced by the base64 of the referenced part (Content-ID matched after percent-decoding the cid: URL)', async () => {
    expect(fourCharTask).toBeDefined();
    const octets = Buffer.from(fourCharTask.archiveReference, 'base64');
    expect(octets.toString('base64')).toBe(fourCharTask.archiveReference);
    const result = await mtomCall(envelope(getTaskBody(`<xop:Include xmlns:xop="${NS.xop}" href="cid:ref-1%40client.example"/>`), addressingHeaders(GET_TASK)), {
      soapAction: `"${GET_TASK}"`,
      extraParts: [
        { headers: { 'Content-Type': 'application/octet-stream', 'Content-Transfer-Encoding': 'binary', 'Content-ID': '<ref-1@client.example>' }, body: octets },
      ],
    });
    expect(result.status).toBe(200);
    expect(text(child(result.bodyElement, 'GetArchivedFormTaskBasicDQResult'), 'ArchiveReference')).toBe(fourCharTask.archiveReference);
  });

  it('a part holding the reference as text is read as its base64, which is no archive reference', async () => {
    const result = await mtomCall(envelope(getTaskBody(`<xop:Include xmlns:xop="${NS.xop}" href="cid:ref-2@client.example"/>`)), {
      extraParts: [{ headers: { 'Content-Type': 'text/plain', 'Content-ID': '<ref-2@client.example>' }, body: fourCharTask.archiveReference }],
    });
    expectFault(result, 'Client');
    expect(altinnFaultOf(result)?.errorId).toBe(5);
    expect(faultString(result)).toContain(Buffer.from(fourCharTask.archiveReference).toString('base64'));
  });

  it('a reference to a missing part is a Client fault', async () => {
    const result = await mtomCall(envelope(getTaskBody(`<xop:Include xmlns:xop="${NS.xop}" href="cid:nowhere@client.example"/>`)));
    expectFault(result, 'Client');
    expect(faultString(result)).toContain("xop:Include refers to a missing MIME part 'cid:nowhere@client.example'");
  });
});

describe('SOAP 1.2', () => {
  it('application/soap+xml with action= is answered as SOAP 1.2 MTOM', async () => {
    const result = await plainCall(envelope(getTaskBody(task.archiveReference, 'env'), '', '1.2', 'env'), {
      'content-type': `application/soap+xml; charset=utf-8; action="${GET_TASK}"`,
    });
    expectTaskAnswer(result, '1.2');
  });

  it('SOAP 1.2 inside MTOM (start-info="application/soap+xml") with WS-Addressing', async () => {
    const result = await mtomCall(envelope(getTaskBody(task.archiveReference, 'env'), addressingHeaders(GET_TASK, 'env'), '1.2', 'env'), {
      version: '1.2',
      action12: GET_TASK,
      style: 'Apache CXF',
    });
    expectTaskAnswer(result, '1.2');
  });

  it('without binary content the answer is a plain application/soap+xml envelope', async () => {
    const result = await plainCall(
      envelope(`<env:Body><ns2:GetDownloadQueueItems xmlns:ns2="${NS.svc}">${credentialsXml('ns2')}</ns2:GetDownloadQueueItems></env:Body>`, '', '1.2', 'env'),
      { 'content-type': 'application/soap+xml; charset=utf-8' }, // no action: dispatched by the body
    );
    expect(result.status).toBe(200);
    expect(result.headers.get('content-type')).toBe('application/soap+xml; charset=utf-8');
    expect(result.envelope.ns).toBe(NS.soap12);
    expect(result.bodyElement.local).toBe('GetDownloadQueueItemsResponse');
  });

  it('a fault is a SOAP 1.2 Fault (Sender) with the AltinnFault in Detail', async () => {
    const body = `<env:Body><ns2:GetDownloadQueueItems xmlns:ns2="${NS.svc}"><ns2:systemUserName>${owner.userName}</ns2:systemUserName>` +
      `<ns2:systemPassword>wrong</ns2:systemPassword></ns2:GetDownloadQueueItems></env:Body>`;
    const result = await plainCall(envelope(body, '', '1.2', 'env'), { 'content-type': `application/soap+xml; charset=utf-8; action="${GET_QUEUE}"` });
    expectFault(result, 'Sender', '1.2');
    expect(altinnFaultOf(result)?.errorId).toBe(989);
  });

  it('a SOAP 1.1 envelope sent as application/soap+xml is a VersionMismatch', async () => {
    const result = await plainCall(envelope(getTaskBody(task.archiveReference)), { 'content-type': `application/soap+xml; charset=utf-8; action="${GET_TASK}"` });
    expectFault(result, 'VersionMismatch', '1.2');
  });
});

describe('dispatch without SOAPAction', () => {
  it.each([
    ['an empty quoted SOAPAction ("")', '""'],
    ['an empty SOAPAction header', ''],
    ['no SOAPAction header', undefined],
  ])('%s: dispatched by the body element', async (_name, soapAction) => {
    const headers: Record<string, string> = { 'content-type': 'text/xml; charset=utf-8' };
    if (soapAction !== undefined) headers.soapaction = soapAction;
    const result = await plainCall(envelope(getTaskBody(task.archiveReference)), headers);
    expectTaskAnswer(result);
  });

  it('a SOAPAction naming another operation than the body is a Client fault', async () => {
    const result = await plainCall(envelope(getTaskBody(task.archiveReference)), { 'content-type': 'text/xml; charset=utf-8', soapaction: `"${GET_QUEUE}"` });
    expectFault(result, 'Client');
  });
});

describe('mustUnderstand', () => {
  const unknownHeader = (value: string, envPrefix = 'SOAP-ENV') =>
    `<x:Transaction xmlns:x="urn:example:unknown" ${envPrefix}:mustUnderstand="${value}">5</x:Transaction>`;

  it.each(['1', 'true'])('an unknown header with mustUnderstand="%s" is a MustUnderstand fault (HTTP 500); the next call works', async (value) => {
    const result = await plainCall(envelope(getTaskBody(task.archiveReference), addressingHeaders(GET_TASK) + unknownHeader(value)), {
      'content-type': 'text/xml; charset=utf-8',
      soapaction: `"${GET_TASK}"`,
    });
    expectFault(result, 'MustUnderstand');
    expect(faultString(result)).toContain('{urn:example:unknown}Transaction');
    expect(altinnFaultOf(result)).toBeUndefined();
    await queueCallWorks();
  });

  it('the same inside an MTOM request', async () => {
    const result = await mtomCall(envelope(getTaskBody(task.archiveReference), unknownHeader('1')), { soapAction: `"${GET_TASK}"`, style: 'Apache CXF' });
    expectFault(result, 'MustUnderstand');
    await queueCallWorks();
  });

  it('SOAP 1.2: env:MustUnderstand', async () => {
    const result = await plainCall(envelope(getTaskBody(task.archiveReference, 'env'), unknownHeader('true', 'env'), '1.2', 'env'), {
      'content-type': `application/soap+xml; charset=utf-8; action="${GET_TASK}"`,
    });
    expectFault(result, 'MustUnderstand', '1.2');
  });

  it('unknown headers without mustUnderstand (or ="0") and a WS-Security header with mustUnderstand="1" are accepted', async () => {
    const security =
      `<wsse:Security xmlns:wsse="${WSSE}" SOAP-ENV:mustUnderstand="1"><wsse:UsernameToken><wsse:Username>x</wsse:Username>` +
      `</wsse:UsernameToken></wsse:Security>`;
    const headers = addressingHeaders(GET_TASK) + security + unknownHeader('0') + '<y:Trace xmlns:y="urn:example:trace">abc</y:Trace>';
    const result = await mtomCall(envelope(getTaskBody(task.archiveReference), headers), { soapAction: `"${GET_TASK}"` });
    expectTaskAnswer(result);
  });
});
