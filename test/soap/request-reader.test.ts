/**
 * Reading SOAP request bodies (src/soap/request-reader.ts): plain SOAP 1.1 and 1.2, MTOM as the
 * Java stacks send it (with and without `start`, with a preamble, SOAP 1.2 inner types with an
 * action), xop:Include resolution, and the limits, enforced while the body streams in.
 */
import type { Limits } from '../../src/config';
import { decodeRequest, openEnvelope } from '../../src/soap/envelope';
import { SoapFault } from '../../src/soap/fault';
import { readSoapRequest, type SoapRequest } from '../../src/soap/request-reader';
import { field, type ElementDescriptor } from '../../src/soap/schema';
import { childElements, textContent } from '../../src/xml/parser';

const SOAP11 = 'http://schemas.xmlsoap.org/soap/envelope/';
const SOAP12 = 'http://www.w3.org/2003/05/soap-envelope';
const SVC = 'http://www.altinn.no/services/Archive/DownloadQueue/2012/08';
const XOP = 'http://www.w3.org/2004/08/xop/include';

const LIMITS: Limits = { maxRequestBytes: 64 * 1024, maxXmlDepth: 16, maxXmlElements: 200, maxXmlTextLength: 8 * 1024 };

function env(envNs: string, body: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?><e:Envelope xmlns:e="${envNs}"><e:Body>${body}</e:Body></e:Envelope>`;
}

const PURGE = `<o:PurgeItem xmlns:o="${SVC}"><o:archiveReference>AR42</o:archiveReference></o:PurgeItem>`;

/** The body as an async iterable of chunks of `chunkSize` bytes (a network body arrives in pieces). */
async function* chunked(body: string | Buffer, chunkSize = 7): AsyncGenerator<Buffer> {
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
  for (let i = 0; i < bytes.length; i += chunkSize) yield bytes.subarray(i, i + chunkSize);
}

function read(body: string | Buffer, headers: { contentType?: string; soapAction?: string }, limits = LIMITS): Promise<SoapRequest> {
  return readSoapRequest(chunked(body), headers, limits);
}

async function faultOf(promise: Promise<unknown>): Promise<SoapFault> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SoapFault);
  return error as SoapFault;
}

function bodyLocal(request: SoapRequest): string {
  return openEnvelope(request.envelope, request.soapVersion).bodyElement.local;
}

// ---- MTOM building ----

interface Part {
  headers: Record<string, string>;
  body: string | Buffer;
}

function multipart(boundary: string, parts: Part[], options: { preamble?: string; closing?: string } = {}): Buffer {
  const chunks: Buffer[] = [Buffer.from(options.preamble ?? '')];
  parts.forEach((part, i) => {
    const head = Object.entries(part.headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
    chunks.push(Buffer.from(`${i === 0 && !options.preamble ? '' : '\r\n'}--${boundary}\r\n${head}\r\n`), Buffer.from(part.body));
  });
  chunks.push(Buffer.from(options.closing ?? `\r\n--${boundary}--\r\n`));
  return Buffer.concat(chunks);
}

const rootPart = (xml: string, contentId = '<root@client>', inner = 'text/xml'): Part => ({
  headers: { 'Content-Type': `application/xop+xml; charset=UTF-8; type="${inner}"`, 'Content-Transfer-Encoding': 'binary', 'Content-ID': contentId },
  body: xml,
});

const MTOM_CT = (boundary: string, extra = '') => `multipart/related; type="application/xop+xml"; boundary="${boundary}"${extra}`;

describe('plain SOAP', () => {
  test('text/xml is SOAP 1.1 with the SOAPAction header as action (quotes removed)', async () => {
    const request = await read(env(SOAP11, PURGE), { contentType: 'text/xml; charset=utf-8', soapAction: '"urn:purge"' });
    expect(request).toMatchObject({ soapVersion: '1.1', action: 'urn:purge', mtom: false });
    expect(bodyLocal(request)).toBe('PurgeItem');
  });

  test('an unquoted, empty or absent SOAPAction', async () => {
    expect((await read(env(SOAP11, PURGE), { contentType: 'text/xml', soapAction: 'urn:purge' })).action).toBe('urn:purge');
    expect((await read(env(SOAP11, PURGE), { contentType: 'text/xml', soapAction: '""' })).action).toBe('');
    expect((await read(env(SOAP11, PURGE), { contentType: 'text/xml' })).action).toBe('');
  });

  test('application/soap+xml is SOAP 1.2 with the action media-type parameter (the SOAPAction header is not used)', async () => {
    const request = await read(env(SOAP12, PURGE), {
      contentType: 'application/soap+xml; charset=utf-8; action="urn:purge12"',
      soapAction: '"urn:ignored"',
    });
    expect(request).toMatchObject({ soapVersion: '1.2', action: 'urn:purge12', mtom: false });
    expect(bodyLocal(request)).toBe('PurgeItem');
    expect((await read(env(SOAP12, PURGE), { contentType: 'application/soap+xml' })).action).toBe('');
  });

  test('media type names are case-insensitive', async () => {
    expect((await read(env(SOAP11, PURGE), { contentType: 'Text/XML; Charset=UTF-8' })).soapVersion).toBe('1.1');
  });

  test('a body arriving one byte at a time, with multi-byte characters split, is read exactly', async () => {
    const body = env(SOAP11, `<o:PurgeItem xmlns:o="${SVC}"><o:archiveReference>Blåbær 😀</o:archiveReference></o:PurgeItem>`);
    const request = await readSoapRequest(chunked(body, 1), { contentType: 'text/xml' }, LIMITS);
    const purge = openEnvelope(request.envelope, '1.1').bodyElement;
    expect(textContent(childElements(purge)[0]!)).toBe('Blåbær 😀');
  });

  test('bytes that are not UTF-8 are a Client fault (XML 1.0: a fatal error), never read as U+FFFD', async () => {
    const [before, after] = env(SOAP11, `<o:PurgeItem xmlns:o="${SVC}"><o:archiveReference>AR#</o:archiveReference></o:PurgeItem>`).split('#');
    const invalid = [
      Buffer.from([0xff]), // never in UTF-8
      Buffer.from([0xc3, 0x28]), // a lead byte without its continuation
      Buffer.from([0xed, 0xa0, 0x80]), // an encoded surrogate
      Buffer.from([0xc0, 0xaf]), // an overlong '/'
    ];
    for (const bytes of invalid) {
      const body = Buffer.concat([Buffer.from(before!), bytes, Buffer.from(after!)]);
      const f = await faultOf(readSoapRequest(chunked(body, 1), { contentType: 'text/xml' }, LIMITS));
      expect(f.code).toBe('Client');
      expect(f.message).toMatch(/^Malformed XML: the document is not valid UTF-8 \(in or before byte \d+\)$/);
    }
    // A multi-byte character cut off by the end of the body.
    const truncated = Buffer.concat([Buffer.from(env(SOAP11, PURGE)), Buffer.from([0xe2, 0x82])]);
    expect((await faultOf(read(truncated, { contentType: 'text/xml' }))).message).toMatch(/not valid UTF-8/);
    // The same in an MTOM root part.
    const root = Buffer.concat([Buffer.from(before!), Buffer.from([0xff]), Buffer.from(after!)]);
    const mtom = multipart('b', [{ ...rootPart(''), body: root }]);
    expect((await faultOf(read(mtom, { contentType: MTOM_CT('b') }))).message).toMatch(/not valid UTF-8/);
  });
});

describe('Content-Type problems', () => {
  test('no Content-Type', async () => {
    expect((await faultOf(read(env(SOAP11, PURGE), {}))).message).toBe(
      'The request has no Content-Type; expected text/xml, application/soap+xml or multipart/related',
    );
  });

  test('a Content-Type that is not a media type at all', async () => {
    expect((await faultOf(read(env(SOAP11, PURGE), { contentType: 'not a media type' }))).message).toBe(
      "Unsupported Content-Type 'not a media type'; expected text/xml, application/soap+xml or multipart/related (MTOM)",
    );
  });

  test('an unsupported Content-Type is refused without reading the body', async () => {
    let pulled = 0;
    async function* body() {
      pulled += 1;
      yield Buffer.from('{}');
    }
    const f = await faultOf(readSoapRequest(body(), { contentType: 'application/json' }, LIMITS));
    expect(f.code).toBe('Client');
    expect(f.message).toBe("Unsupported Content-Type 'application/json'; expected text/xml, application/soap+xml or multipart/related (MTOM)");
    expect(pulled).toBe(0);
  });

  test('multipart/related without a boundary, or of another type than XOP', async () => {
    expect((await faultOf(read('x', { contentType: 'multipart/related; type="application/xop+xml"' }))).message).toBe(
      'The multipart/related request has no boundary parameter',
    );
    expect((await faultOf(read('x', { contentType: 'multipart/related; type="text/xml"; boundary=b' }))).message).toBe(
      "Unsupported multipart/related type 'text/xml'; expected application/xop+xml (MTOM)",
    );
  });
});

describe('MTOM', () => {
  const B = 'uuid:3f1c2a77-7d2e-4a55-9a07-1b2c3d4e5f60';

  test('Spring-WS style: start and start-info given, every call multipart even without binary content', async () => {
    const body = multipart(B, [rootPart(env(SOAP11, PURGE), '<0.urn:uuid:abc@apache.org>')]);
    const request = await read(body, {
      contentType: MTOM_CT(B, '; start="<0.urn:uuid:abc@apache.org>"; start-info="text/xml"'),
      soapAction: '"urn:purge"',
    });
    expect(request).toMatchObject({ soapVersion: '1.1', action: 'urn:purge', mtom: true });
    expect(bodyLocal(request)).toBe('PurgeItem');
  });

  test('the root part is the one named by start, wherever it is', async () => {
    const body = multipart(B, [
      { headers: { 'Content-Type': 'application/octet-stream', 'Content-ID': '<bin@x>' }, body: Buffer.from([1, 2, 3]) },
      rootPart(env(SOAP11, PURGE), '<main@x>'),
    ]);
    const request = await read(body, { contentType: MTOM_CT(B, '; start="<main@x>"') });
    expect(bodyLocal(request)).toBe('PurgeItem');
  });

  test('without start the first part is the root; its type parameter or start-info gives the SOAP version', async () => {
    const body = multipart(B, [rootPart(env(SOAP11, PURGE))]);
    expect((await read(body, { contentType: MTOM_CT(B) })).soapVersion).toBe('1.1');
    const noInnerType: Part = { headers: { 'Content-Type': 'application/xop+xml; charset=UTF-8' }, body: env(SOAP12, PURGE) };
    const request = await read(multipart(B, [noInnerType]), { contentType: MTOM_CT(B, '; start-info="application/soap+xml"') });
    expect(request.soapVersion).toBe('1.2');
  });

  test('CXF style: the body starts with CRLF before the first boundary and the closing boundary has no CRLF', async () => {
    // CXF's AttachmentSerializer writes "\r\n--boundary" first; RFC 2046 allows any preamble.
    const body = multipart(B, [rootPart(env(SOAP11, PURGE), '<root.message@cxf.apache.org>')], {
      preamble: '\r\n',
      closing: `\r\n--${B}--`,
    });
    const request = await read(body, { contentType: MTOM_CT(B, '; start="<root.message@cxf.apache.org>"; start-info="text/xml"') });
    expect(bodyLocal(request)).toBe('PurgeItem');
  });

  test('an epilogue after the closing boundary, arriving in chunks of its own, is ignored', async () => {
    const body = multipart(B, [rootPart(env(SOAP11, PURGE))], { closing: `\r\n--${B}--` });
    async function* pieces() {
      yield body; // ends exactly with the closing delimiter
      yield Buffer.from('\r\n');
      yield Buffer.from('epilogue text a client may add\r\n');
    }
    expect(bodyLocal(await readSoapRequest(pieces(), { contentType: MTOM_CT(B) }, LIMITS))).toBe('PurgeItem');
  });

  test('a textual preamble before the first boundary is skipped', async () => {
    const body = multipart(B, [rootPart(env(SOAP11, PURGE))], { preamble: 'This is a multi-part message in MIME format.\r\n' });
    expect(bodyLocal(await read(body, { contentType: MTOM_CT(B) }))).toBe('PurgeItem');
  });

  test('SOAP 1.2 in MTOM as CXF writes it: the inner type carries the action (escaped quotes)', async () => {
    const root: Part = {
      headers: {
        'Content-Type': 'application/xop+xml; charset=UTF-8; type="application/soap+xml; action=\\"urn:purge12\\""',
        'Content-ID': '<root.message@cxf.apache.org>',
      },
      body: env(SOAP12, PURGE),
    };
    const request = await read(multipart(B, [root]), {
      contentType: MTOM_CT(B, '; start="<root.message@cxf.apache.org>"; start-info="application/soap+xml; action=\\"urn:purge12\\""'),
    });
    expect(request).toMatchObject({ soapVersion: '1.2', action: 'urn:purge12', mtom: true });
  });

  test('the root part may also be plain text/xml (multipart/related without XOP packaging of the root)', async () => {
    const root: Part = { headers: { 'Content-Type': 'text/xml; charset=UTF-8' }, body: env(SOAP11, PURGE) };
    expect((await read(multipart(B, [root]), { contentType: MTOM_CT(B) })).soapVersion).toBe('1.1');
  });

  test('problems with the parts are Client faults', async () => {
    const ok = multipart(B, [rootPart(env(SOAP11, PURGE), '<r@x>')]);
    expect((await faultOf(read(ok, { contentType: MTOM_CT(B, '; start="<other@x>"') }))).message).toBe(
      'The MTOM request has no part with Content-ID <other@x> (the start parameter)',
    );
    const badRoot: Part = { headers: { 'Content-Type': 'application/xop+xml; type="application/json"' }, body: '{}' };
    expect((await faultOf(read(multipart(B, [badRoot]), { contentType: MTOM_CT(B) }))).message).toMatch(
      /^The MTOM root part has an unsupported type 'application\/xop\+xml; type=application\/json/,
    );
    const truncated = multipart(B, [rootPart(env(SOAP11, PURGE))], { closing: `\r\n--${B}\r\nContent-ID: <p@x>\r\n\r\nhalf a part` });
    expect((await faultOf(read(truncated, { contentType: MTOM_CT(B) }))).message).toBe(
      'Malformed MTOM (multipart/related) request: Multipart stream not finished',
    );
    const noBoundaryInBody = Buffer.from(env(SOAP11, PURGE));
    expect((await faultOf(read(noBoundaryInBody, { contentType: MTOM_CT(B) }))).message).toMatch(/^Malformed MTOM \(multipart\/related\) request: /);
    const badXml = multipart(B, [rootPart('<e:Envelope xmlns:e="urn:x"><unclosed></e:Envelope>')]);
    expect((await faultOf(read(badXml, { contentType: MTOM_CT(B) }))).message).toMatch(/^Malformed XML: /);
  });

  describe('xop:Include', () => {
    const bytes = Buffer.concat([Buffer.from('\r\n'), Buffer.from(Array.from({ length: 256 }, (_, i) => i)), Buffer.from('--not-a-boundary\r\n')]);
    const descriptor: ElementDescriptor = {
      name: 'Upload',
      ns: SVC,
      type: { name: 'svc:Upload', fields: [field('name', SVC, 'string', { nillable: true }), field('data', SVC, 'base64Binary', { nillable: true })] },
    };
    const upload = (href: string) =>
      env(SOAP11, `<o:Upload xmlns:o="${SVC}"><o:name>f.bin</o:name><o:data><xop:Include xmlns:xop="${XOP}" href="${href}"/></o:data></o:Upload>`);
    const binaryPart = (contentId: string): Part => ({
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Transfer-Encoding': 'binary', 'Content-ID': contentId },
      body: bytes,
    });

    test('an Include is replaced by the base64 of the part it names (cid: URL-decoded), bytes exact', async () => {
      const body = multipart(B, [rootPart(upload('cid:file-1%40client.example')), binaryPart('<file-1@client.example>')]);
      const request = await read(body, { contentType: MTOM_CT(B, '; start="<root@client>"') });
      const element = openEnvelope(request.envelope, '1.1').bodyElement;
      const data = childElements(element)[1]!;
      expect(childElements(data)).toHaveLength(0);
      expect(textContent(data)).toBe(bytes.toString('base64'));
      expect(decodeRequest(element, descriptor)).toEqual({ name: 'f.bin', data: bytes });
    });

    test('a Content-ID without angle brackets and an href that is not percent-encoded', async () => {
      const body = multipart(B, [rootPart(upload('cid:file-2@client')), binaryPart('file-2@client')]);
      const element = openEnvelope((await read(body, { contentType: MTOM_CT(B) })).envelope, '1.1').bodyElement;
      expect(decodeRequest(element, descriptor).data).toEqual(bytes);
    });

    test('what the Includes resolve to counts against the request limit: many Includes of one part are refused, not copied', async () => {
      const part = Buffer.alloc(20 * 1024, 7);
      const includes = `<xop:Include xmlns:xop="${XOP}" href="cid:p@x"/>`;
      const many = env(SOAP11, `<o:Upload xmlns:o="${SVC}"><o:name>f.bin</o:name>${`<o:data>${includes}</o:data>`.repeat(4)}</o:Upload>`);
      const file: Part = { headers: { 'Content-Type': 'application/octet-stream', 'Content-ID': '<p@x>' }, body: part };
      const f = await faultOf(read(multipart(B, [rootPart(many), file]), { contentType: MTOM_CT(B) }));
      expect(f.code).toBe('Client');
      expect(f.message).toBe(`The xop:Include elements of the request resolve to more than ${LIMITS.maxRequestBytes} bytes (the request limit)`);

      // One Include of a part near the limit is still fine.
      const nearLimit: Part = { ...file, body: Buffer.alloc(LIMITS.maxRequestBytes - 2048, 7) };
      const one = env(SOAP11, `<o:Upload xmlns:o="${SVC}"><o:name>f.bin</o:name><o:data>${includes}</o:data></o:Upload>`);
      const request = await read(multipart(B, [rootPart(one), nearLimit]), { contentType: MTOM_CT(B) });
      expect(decodeRequest(openEnvelope(request.envelope, '1.1').bodyElement, descriptor).data).toEqual(nearLimit.body);
    });

    test('an Include naming a missing part is a Client fault', async () => {
      const body = multipart(B, [rootPart(upload('cid:nope@x')), binaryPart('<other@x>')]);
      const f = await faultOf(read(body, { contentType: MTOM_CT(B) }));
      expect(f.code).toBe('Client');
      expect(f.message).toBe("xop:Include refers to a missing MIME part 'cid:nope@x'");
    });

    test('an href with a malformed percent-escape is a Client fault, not an internal error', async () => {
      const body = multipart(B, [rootPart(upload('cid:%zz')), binaryPart('<other@x>')]);
      const f = await faultOf(read(body, { contentType: MTOM_CT(B) }));
      expect(f.code).toBe('Client');
      expect(f.message).toBe("xop:Include refers to a missing MIME part 'cid:%zz'");
    });
  });
});

describe('limits, enforced as the body streams', () => {
  /** An endless body: the reader must stop pulling once a limit is crossed. */
  function endless(prefix: string, filler: string): { body: AsyncGenerator<Buffer>; pulled: () => number } {
    let bytes = 0;
    async function* body(): AsyncGenerator<Buffer> {
      const head = Buffer.from(prefix);
      bytes += head.length;
      yield head;
      const chunk = Buffer.from(filler.repeat(Math.ceil(4096 / filler.length)));
      for (;;) {
        bytes += chunk.length;
        yield chunk;
      }
    }
    return { body: body(), pulled: () => bytes };
  }

  test('text/xml: an endless body is refused once it passes maxRequestBytes', async () => {
    const { body, pulled } = endless(`<e:Envelope xmlns:e="${SOAP11}"><e:Body><x>`, '<!-- padding -->');
    const f = await faultOf(readSoapRequest(body, { contentType: 'text/xml' }, LIMITS));
    expect(f.message).toBe(`XML document is larger than ${LIMITS.maxRequestBytes} bytes`);
    expect(pulled()).toBeLessThan(LIMITS.maxRequestBytes + 8192);
  });

  test('MTOM: an endless body is refused once it passes maxRequestBytes', async () => {
    const B = 'b';
    const { body, pulled } = endless(`--${B}\r\nContent-Type: application/xop+xml; type="text/xml"\r\n\r\n`, 'x');
    const f = await faultOf(readSoapRequest(body, { contentType: MTOM_CT(B) }, LIMITS));
    expect(f.message).toMatch(new RegExp(`(larger than|exceeds maximum allowed size of) ${LIMITS.maxRequestBytes} bytes`));
    expect(pulled()).toBeLessThan(LIMITS.maxRequestBytes + 8192);
  });

  test('MTOM: an endless preamble is refused too', async () => {
    const { body, pulled } = endless('', 'preamble ');
    const f = await faultOf(readSoapRequest(body, { contentType: MTOM_CT('b') }, LIMITS));
    expect(f.message).toMatch(/^Malformed MTOM \(multipart\/related\) request: |larger than/);
    expect(pulled()).toBeLessThan(LIMITS.maxRequestBytes + 8192);
  });

  test('text/xml: an endlessly deep body is refused at maxXmlDepth', async () => {
    const { body, pulled } = endless(`<e:Envelope xmlns:e="${SOAP11}"><e:Body>`, '<a>');
    expect((await faultOf(readSoapRequest(body, { contentType: 'text/xml' }, LIMITS))).message).toBe('XML is nested deeper than 16 levels');
    expect(pulled()).toBeLessThan(16 * 1024);
  });

  test.each([
    ['maxXmlElements', env(SOAP11, `<x>${'<y/>'.repeat(200)}</x>`), 'XML has more than 200 elements'],
    ['maxXmlTextLength', env(SOAP11, `<x>${'t'.repeat(8 * 1024 + 1)}</x>`), 'An XML text node is longer than 8192 characters'],
    ['maxXmlDepth', env(SOAP11, `${'<x>'.repeat(15)}${'</x>'.repeat(15)}`), 'XML is nested deeper than 16 levels'],
  ])('%s (text/xml)', async (_limit, body, message) => {
    const f = await faultOf(read(body, { contentType: 'text/xml' }));
    expect(f.code).toBe('Client');
    expect(f.message).toBe(message);
  });

  test('the same XML limits apply to the MTOM root part', async () => {
    const B = 'b';
    const deep = multipart(B, [rootPart(env(SOAP11, `${'<x>'.repeat(15)}${'</x>'.repeat(15)}`))]);
    expect((await faultOf(read(deep, { contentType: MTOM_CT(B) }))).message).toBe('XML is nested deeper than 16 levels');
    const many = multipart(B, [rootPart(env(SOAP11, `<x>${'<y/>'.repeat(200)}</x>`))]);
    expect((await faultOf(read(many, { contentType: MTOM_CT(B) }))).message).toBe('XML has more than 200 elements');
  });

  test('just under the limits is accepted', async () => {
    const body = env(SOAP11, `<x>${'<y/>'.repeat(197)}${'t'.repeat(8 * 1024)}</x>`); // Envelope, Body, x + 197 = 200 elements
    const request = await read(body, { contentType: 'text/xml' });
    expect(childElements(openEnvelope(request.envelope, '1.1').bodyElement)).toHaveLength(197);
  });
});
