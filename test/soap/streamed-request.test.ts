/**
 * Requests whose binary member is streamed (src/soap/request-reader.ts openSoapRequest, envelope.ts
 * decodeRequest/decodeHeaders): the MTOM part reaches the operation as a stream, outside the request
 * limit, pulled only as it is read; inline base64 works too (within the XML limits); SOAP headers
 * bound to parameters are found by QName in any order, nil allowed, each with its own namespace
 * declarations as Metro writes them; unknown members are skipped.
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Limits } from '../../src/config';
import { decodeHeaders, decodeRequest, openEnvelope } from '../../src/soap/envelope';
import { SoapFault } from '../../src/soap/fault';
import { openSoapRequest } from '../../src/soap/request-reader';
import { field, hasStreamedMember, isInboundBinary, type ElementDescriptor } from '../../src/soap/schema';
import { brokerBasicContract, brokerStreamedContract } from '../../src/services/broker-soap/contract';
import { parseXml } from '../../src/xml/parser';

const SOAP11 = 'http://schemas.xmlsoap.org/soap/envelope/';
const SVC = 'http://www.altinn.no/services/ServiceEngine/Broker/2015/06';
const BS = 'http://schemas.altinn.no/services/ServiceEngine/Broker/2015/06';
const XOP = 'http://www.w3.org/2004/08/xop/include';
const XSI = 'http://www.w3.org/2001/XMLSchema-instance';
const LIMITS: Limits = { maxRequestBytes: 64 * 1024, maxXmlDepth: 32, maxXmlElements: 500, maxXmlTextLength: 32 * 1024 };

const upload = brokerStreamedContract.UploadFileStreamedBasic;

/** The five upload headers as Metro writes them: WSDL order, each declaring its own namespace, a null as xsi:nil. */
function metroHeaders(values: Record<string, string | null>): string {
  return ['FileName', 'Reference', 'Reportee', 'SystemPassword', 'SystemUserName']
    .map((name) =>
      values[name] === null
        ? `<${name} xmlns="${SVC}" xmlns:xsi="${XSI}" xsi:nil="true"/>`
        : `<${name} xmlns="${SVC}">${values[name]}</${name}>`,
    )
    .join('');
}

function uploadEnvelope(headers: string, dataStream: string): string {
  return (
    `<?xml version="1.0" ?><S:Envelope xmlns:S="${SOAP11}"><S:Header>${headers}</S:Header><S:Body>` +
    `<StreamedPayloadBasicBE xmlns="${SVC}"><DataStream>${dataStream}</DataStream></StreamedPayloadBasicBE></S:Body></S:Envelope>`
  );
}

const BOUNDARY = 'uuid:0b3b9a3e-6d2f-4f6e-9b1a-3c2d1e0f9a8b';
const MTOM_TYPE =
  `multipart/related;start="<rootpart*0b3b9a3e@example.jaxws.sun.com>";type="application/xop+xml";boundary="${BOUNDARY}";start-info="text/xml"`;

/** An MTOM body as Metro frames it, the binary part produced by `binary` (pulled lazily, counted). */
function metroUpload(envelopeXml: string, binary: () => AsyncGenerator<Buffer>): { body: AsyncGenerator<Buffer>; sent: () => number } {
  let sent = 0;
  async function* body(): AsyncGenerator<Buffer> {
    const head = Buffer.from(
      `--${BOUNDARY}\r\nContent-Id: <rootpart*0b3b9a3e@example.jaxws.sun.com>\r\nContent-Type: application/xop+xml;charset=utf-8;type="text/xml"\r\n` +
        `Content-Transfer-Encoding: binary\r\n\r\n${envelopeXml}\r\n--${BOUNDARY}\r\nContent-Type: application/octet-stream\r\n` +
        `Content-ID: <a1b2c3@example.jaxws.sun.com>\r\nContent-Transfer-Encoding: binary\r\n\r\n`,
    );
    sent += head.length;
    yield head;
    for await (const chunk of binary()) {
      sent += chunk.length;
      yield chunk;
    }
    yield Buffer.from(`\r\n--${BOUNDARY}--`);
  }
  return { body: body(), sent: () => sent };
}

async function sha256Of(stream: Readable): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { sha256: hash.digest('hex'), size };
}

describe('a streamed binary member', () => {
  const include = `<xop:Include xmlns:xop="${XOP}" href="cid:a1b2c3@example.jaxws.sun.com"/>`;
  const headers = metroHeaders({ FileName: 'sbd.zip', Reference: 'ref-1', Reportee: '991825827', SystemPassword: 'pw', SystemUserName: 'user' });

  test('the descriptors say which operations stream', () => {
    expect(hasStreamedMember(upload.request.type)).toBe(true);
    expect(hasStreamedMember(brokerStreamedContract.DownloadFileStreamedBasic.request.type)).toBe(false);
    expect(hasStreamedMember(brokerBasicContract.InitiateBrokerServiceBasic.request.type)).toBe(false);
  });

  test('an MTOM part 100 times the request limit arrives whole, pulled only as it is read', async () => {
    const chunk = Buffer.alloc(64 * 1024);
    const count = 100;
    const expected = createHash('sha256');
    let consumed = 0;
    const { body, sent } = metroUpload(uploadEnvelope(headers, include), async function* () {
      for (let i = 0; i < count; i++) {
        chunk.fill(i);
        expected.update(chunk);
        // The reader never runs far ahead of what the operation has read.
        expect(sent() - consumed).toBeLessThan(4 * chunk.length + 4096);
        yield Buffer.from(chunk);
      }
    });
    const request = await openSoapRequest(body, { contentType: MTOM_TYPE, soapAction: '"urn:upload"' }, LIMITS);
    const { bodyElement, headerElements } = openEnvelope(request.envelope, request.soapVersion);
    const input = {
      ...decodeRequest(bodyElement, upload.request, { attachments: request.attachments }),
      ...decodeHeaders(headerElements, upload.headers),
    };
    expect(input).toMatchObject({ FileName: 'sbd.zip', Reference: 'ref-1', Reportee: '991825827', SystemPassword: 'pw', SystemUserName: 'user' });
    expect(isInboundBinary(input.DataStream)).toBe(true);
    const stream = (input.DataStream as { open(): Readable }).open();
    stream.on('data', (data: Buffer) => (consumed += data.length));
    const { sha256, size } = await sha256Of(stream);
    expect(size).toBe(count * chunk.length);
    expect(sha256).toBe(expected.digest('hex'));
    expect(await request.attachments.discardRest(1024)).toBe(true);
  });

  test('the root part is still bound by the request limit', async () => {
    const big = uploadEnvelope(`${headers}<X xmlns="urn:x">${'x'.repeat(30_000)}</X><Y xmlns="urn:x">${'y'.repeat(30_000)}</Y><Z xmlns="urn:x">${'z'.repeat(30_000)}</Z>`, include);
    const { body } = metroUpload(big, async function* () {
      yield Buffer.from('PK');
    });
    const fault = await openSoapRequest(body, { contentType: MTOM_TYPE }, LIMITS).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(fault).toBeInstanceOf(SoapFault);
    expect((fault as SoapFault).message).toBe(`The request is larger than ${LIMITS.maxRequestBytes} bytes`);
  });

  test('inline base64 is accepted as a stream too, within the XML limits', async () => {
    const bytes = Buffer.from('PK\u0003\u0004 inline payload\r\n', 'latin1');
    const xml = uploadEnvelope(headers, bytes.toString('base64'));
    const request = await openSoapRequest((async function* () { yield Buffer.from(xml); })(), { contentType: 'text/xml; charset=utf-8' }, LIMITS);
    const { bodyElement } = openEnvelope(request.envelope, '1.1');
    const input = decodeRequest(bodyElement, upload.request, { attachments: request.attachments });
    const { sha256 } = await sha256Of((input.DataStream as { open(): Readable }).open());
    expect(sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
  });

  test('an Include naming a part that never comes makes the stream fail with a Client fault', async () => {
    const xml = uploadEnvelope(headers, `<xop:Include xmlns:xop="${XOP}" href="cid:missing@x"/>`);
    const { body } = metroUpload(xml, async function* () {
      yield Buffer.from('PK\u0003\u0004');
    });
    const request = await openSoapRequest(body, { contentType: MTOM_TYPE }, LIMITS);
    const input = decodeRequest(openEnvelope(request.envelope, '1.1').bodyElement, upload.request, { attachments: request.attachments });
    const error = await sha256Of((input.DataStream as { open(): Readable }).open()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(SoapFault);
    expect((error as SoapFault).message).toBe("xop:Include refers to a missing MIME part 'cid:missing@x'");
  });

  test('an Include in a member that is not streamed is refused', () => {
    const descriptor: ElementDescriptor = { name: 'StreamedPayloadBasicBE', ns: SVC, type: { name: 'x', fields: [field('DataStream', SVC, 'base64Binary')] } };
    const element = openEnvelope(
      // No attachments were given: the member would have had its part resolved to base64 before decoding.
      parseEnvelope(uploadEnvelope(headers, include)),
      '1.1',
    ).bodyElement;
    expect(() => decodeRequest(element, descriptor)).toThrow('Member DataStream cannot be an xop:Include');
  });
});

describe('SOAP headers bound to parameters', () => {
  const bound = upload.headers;

  function headersOf(xml: string) {
    const { headerElements } = openEnvelope(parseEnvelope(uploadEnvelope(xml, 'UEs=')), '1.1', (ns, local) => ns === SVC && bound.some((h) => h.name === local));
    return decodeHeaders(headerElements, bound);
  }

  test('found by QName in any order, nil as null, absent as null, unknown headers ignored', () => {
    const reordered =
      `<h:SystemUserName xmlns:h="${SVC}">u</h:SystemUserName><Other xmlns="urn:other">x</Other>` +
      `<h:Reportee xmlns:h="${SVC}">991825827</h:Reportee><h:FileName xmlns:h="${SVC}" xmlns:i="${XSI}" i:nil="true"/>` +
      `<h:SystemPassword xmlns:h="${SVC}">p</h:SystemPassword>`;
    expect(headersOf(reordered)).toEqual({ FileName: null, Reference: null, Reportee: '991825827', SystemPassword: 'p', SystemUserName: 'u' });
  });

  test('a bound header may carry mustUnderstand; an unknown one with it is still refused', () => {
    const understood = `<h:Reference xmlns:h="${SVC}" xmlns:s="${SOAP11}" s:mustUnderstand="1">r</h:Reference>`;
    expect(headersOf(understood).Reference).toBe('r');
    const unknown = `<h:Other xmlns:h="urn:other" xmlns:s="${SOAP11}" s:mustUnderstand="1">r</h:Other>`;
    expect(() => headersOf(unknown)).toThrow(expect.objectContaining({ code: 'MustUnderstand' }));
  });

  test('a header given twice is refused', () => {
    const twice = `<Reference xmlns="${SVC}">a</Reference><Reference xmlns="${SVC}">b</Reference>`;
    expect(() => headersOf(twice)).toThrow('The SOAP header Reference is given more than once');
  });
});

describe('the broker contract decoded as real clients send it', () => {
  const initiate = brokerBasicContract.InitiateBrokerServiceBasic.request;

  test("the integrasjonspunkt's ArrayOfFile in Manifest is read like FileList; other unknown members are skipped", () => {
    const body =
      `<ns2:InitiateBrokerServiceBasic xmlns="${BS}" xmlns:ns2="${SVC}"><ns2:systemUserName>u</ns2:systemUserName><ns2:systemPassword>p</ns2:systemPassword>` +
      `<ns2:brokerServiceInitiation><Manifest><ExternalServiceCode>4192</ExternalServiceCode><ExternalServiceEditionCode>270815</ExternalServiceEditionCode>` +
      `<ArrayOfFile><File><FileName>sbd.zip</FileName></File></ArrayOfFile><SomethingNew>ignored</SomethingNew>` +
      `<Reportee>991825827</Reportee><SendersReference>2b7b3d52-1c59-4a8e-9bd8-5a43c7b4f3ab</SendersReference></Manifest>` +
      `<RecipientList><Recipient><PartyNumber>974760673</PartyNumber></Recipient></RecipientList></ns2:brokerServiceInitiation></ns2:InitiateBrokerServiceBasic>`;
    const decoded = decodeRequest(openEnvelope(parseEnvelope(`<S:Envelope xmlns:S="${SOAP11}"><S:Body>${body}</S:Body></S:Envelope>`), '1.1').bodyElement, initiate);
    expect(decoded.brokerServiceInitiation).toEqual({
      Manifest: {
        ExternalServiceCode: '4192',
        ExternalServiceEditionCode: 270815,
        FileList: null,
        ArrayOfFile: { File: [{ CheckSum: null, FileName: 'sbd.zip' }] },
        PropertyList: null,
        Reportee: '991825827',
        SendersReference: '2b7b3d52-1c59-4a8e-9bd8-5a43c7b4f3ab',
      },
      RecipientList: { Recipient: [{ PartyNumber: '974760673' }] },
    });
  });
});

function parseEnvelope(xml: string) {
  return parseXml(xml);
}
