/**
 * Response bodies (src/soap/response-writer.ts): plain envelopes and MTOM multipart/related
 * messages, parsed back with an independent multipart parser. The declared Content-Length must be
 * exactly the bytes produced, binary parts are marked `Content-Transfer-Encoding: Binary` (zeep
 * strips CR/LF from parts marked exactly `binary`), and a part that delivers fewer or more bytes
 * than declared fails the stream.
 */
import { Readable } from 'node:stream';
import { MultipartParser, type MultipartPart } from '@remix-run/multipart-parser';
import * as contentType from 'content-type';
import { mtomResponse, plainResponse, soapEnvelope, type SoapHttpResponse } from '../../src/soap/response-writer';
import type { BinaryPart } from '../../src/soap/schema';
import type { OutboundPart } from '../../src/soap/serializer';
import { childElements, parseXml } from '../../src/xml/parser';

const SOAP11 = 'http://schemas.xmlsoap.org/soap/envelope/';
const SOAP12 = 'http://www.w3.org/2003/05/soap-envelope';

const ENVELOPE = soapEnvelope(
  '<svc:Result>æøå<svc:Data><xop:Include href="cid:p.1%40altinn-gateway"/></svc:Data></svc:Result>',
  '1.1',
);

async function collect(body: SoapHttpResponse['body']): Promise<Buffer> {
  if (Buffer.isBuffer(body)) return body;
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function part(bytes: Buffer, options: { contentType?: string; declaredSize?: number | null; chunkSize?: number } = {}): BinaryPart {
  const chunkSize = options.chunkSize ?? 1000;
  return {
    kind: 'binary',
    contentType: options.contentType ?? 'application/octet-stream',
    sizeBytes: options.declaredSize === null ? undefined : (options.declaredSize ?? bytes.length),
    open: () => {
      const chunks: Buffer[] = [];
      for (let i = 0; i < bytes.length; i += chunkSize) chunks.push(bytes.subarray(i, i + chunkSize));
      return Readable.from(chunks);
    },
  };
}

interface ParsedMtom {
  media: { type: string; parameters: Record<string, string> };
  parts: MultipartPart[];
}

function parseMtom(response: SoapHttpResponse, bytes: Buffer): ParsedMtom {
  const media = contentType.parse(response.contentType);
  const parser = new MultipartParser(media.parameters.boundary!, { maxFileSize: 2 ** 30, maxTotalSize: 2 ** 30 });
  const parts = [...parser.write(bytes)];
  parser.finish(); // throws unless the closing boundary is there
  return { media, parts };
}

/** Bytes that would break naive handling: leading/trailing CR/LF, every byte value, boundary-like lines. */
function awkwardBytes(size: number, seed: number): Buffer {
  const body = Buffer.alloc(size);
  for (let i = 0; i < size; i++) body[i] = (i * 131 + seed * 7 + (i >> 5)) & 0xff;
  return Buffer.concat([Buffer.from('\r\n'), Buffer.from('\r\n--uuid:looks-like-a-boundary\r\n'), body, Buffer.from('\r\n\r\n')]);
}

describe('plainResponse and soapEnvelope', () => {
  test('SOAP 1.1: text/xml with the exact UTF-8 byte length', async () => {
    const response = plainResponse(ENVELOPE, '1.1');
    expect(response.contentType).toBe('text/xml; charset=utf-8');
    const bytes = await collect(response.body);
    expect(response.contentLength).toBe(bytes.length);
    expect(bytes.length).toBeGreaterThan(ENVELOPE.length); // æøå are two bytes each
    expect(bytes.toString('utf8')).toBe(ENVELOPE);
  });

  test('SOAP 1.2: application/soap+xml and the 1.2 envelope namespace', async () => {
    const xml = soapEnvelope('<base:TestResponse/>', '1.2');
    const response = plainResponse(xml, '1.2');
    expect(response.contentType).toBe('application/soap+xml; charset=utf-8');
    const root = parseXml(await collect(response.body));
    expect(root).toMatchObject({ local: 'Envelope', ns: SOAP12 });
    expect(childElements(childElements(root)[0]!)[0]).toMatchObject({ local: 'TestResponse', ns: 'http://www.altinn.no/services/2009/10' });
  });

  test('the envelope declares every response prefix once, so the body parses with namespaces', () => {
    const root = parseXml(ENVELOPE);
    expect(root).toMatchObject({ name: 's:Envelope', ns: SOAP11 });
    const result = childElements(childElements(root)[0]!)[0]!;
    expect(result.ns).toBe('http://www.altinn.no/services/Archive/DownloadQueue/2012/08');
    expect(childElements(childElements(result)[0]!)[0]!.ns).toBe('http://www.w3.org/2004/08/xop/include');
  });
});

describe('mtomResponse', () => {
  const first = awkwardBytes(70_000, 1);
  const second = awkwardBytes(5, 2);
  const empty = Buffer.alloc(0);
  const outbound = (parts: BinaryPart[]): OutboundPart[] => parts.map((p, i) => ({ contentId: `p.${i + 1}@altinn-gateway`, part: p }));

  test('framing: root part first (named by start), then each binary part with its Content-ID, bytes exact', async () => {
    const response = mtomResponse(ENVELOPE, outbound([part(first, { contentType: 'application/pdf' }), part(second), part(empty)]), '1.1');
    const bytes = await collect(response.body);
    const { media, parts } = parseMtom(response, bytes);

    expect(media.type).toBe('multipart/related');
    expect(media.parameters).toMatchObject({ type: 'application/xop+xml', 'start-info': 'text/xml' });
    expect(parts).toHaveLength(4);
    const [root, ...binary] = parts;
    expect(`<${root!.headers['content-id']!.replace(/^<|>$/g, '')}>`).toBe(media.parameters.start);
    expect(contentType.parse(root!.headers['content-type']!)).toMatchObject({
      type: 'application/xop+xml',
      parameters: { charset: 'utf-8', type: 'text/xml' },
    });
    expect(Buffer.from(root!.bytes).toString('utf8')).toBe(ENVELOPE);

    expect(binary.map((p) => p.headers['content-id'])).toEqual(['<p.1@altinn-gateway>', '<p.2@altinn-gateway>', '<p.3@altinn-gateway>']);
    expect(binary.map((p) => p.headers['content-type'])).toEqual(['application/pdf', 'application/octet-stream', 'application/octet-stream']);
    expect(Buffer.from(binary[0]!.bytes).equals(first)).toBe(true);
    expect(Buffer.from(binary[1]!.bytes).equals(second)).toBe(true);
    expect(binary[2]!.bytes.length).toBe(0);
  });

  test('Content-Length is exactly the number of bytes produced', async () => {
    for (const parts of [[part(first)], [part(first), part(second), part(empty)], [part(empty)], []]) {
      const response = mtomResponse(ENVELOPE, outbound(parts), '1.1');
      const bytes = await collect(response.body);
      expect(response.contentLength).toBe(bytes.length);
    }
  });

  test('no Content-Length when a part size is unknown; the body is still complete', async () => {
    const response = mtomResponse(ENVELOPE, outbound([part(first), part(second, { declaredSize: null })]), '1.1');
    expect(response.contentLength).toBeUndefined();
    const { parts } = parseMtom(response, await collect(response.body));
    expect(Buffer.from(parts[2]!.bytes).equals(second)).toBe(true);
  });

  test('binary parts are marked Content-Transfer-Encoding: Binary (not 7bit by default; not the lower-case value zeep strips CR/LF from)', async () => {
    const response = mtomResponse(ENVELOPE, outbound([part(first), part(second)]), '1.1');
    const bytes = await collect(response.body);
    const { parts } = parseMtom(response, bytes);
    for (const binary of parts.slice(1)) expect(binary.headers['content-transfer-encoding']).toBe('Binary');
    // Checked on the raw wire as well: exactly that spelling, once per binary part.
    expect(bytes.toString('latin1').match(/Content-Transfer-Encoding: Binary\r\n/g)).toHaveLength(2);
    expect(bytes.toString('latin1').match(/Content-Transfer-Encoding: binary/g)).toBeNull();
    expect(parts[0]!.headers['content-transfer-encoding']).toBe('8bit');
  });

  test('SOAP 1.2 MTOM declares application/soap+xml as start-info and inner type', async () => {
    const xml = soapEnvelope('<base:TestResponse/>', '1.2');
    const response = mtomResponse(xml, outbound([part(second)]), '1.2');
    const { media, parts } = parseMtom(response, await collect(response.body));
    expect(media.parameters['start-info']).toBe('application/soap+xml');
    expect(contentType.parse(parts[0]!.headers['content-type']!).parameters.type).toBe('application/soap+xml');
  });

  test('each response has its own boundary, which does not occur in the content', async () => {
    const a = mtomResponse(ENVELOPE, outbound([part(first)]), '1.1');
    const b = mtomResponse(ENVELOPE, outbound([part(first)]), '1.1');
    const boundaryA = contentType.parse(a.contentType).parameters.boundary!;
    expect(boundaryA).not.toBe(contentType.parse(b.contentType).parameters.boundary);
    expect(first.includes(boundaryA)).toBe(false);
  });

  test('onBinaryBytes reports the binary bytes written per part', async () => {
    const counts: number[] = [];
    const response = mtomResponse(ENVELOPE, outbound([part(first), part(second)]), '1.1', { onBinaryBytes: (n) => counts.push(n) });
    await collect(response.body);
    expect(counts).toEqual([first.length, second.length]);
  });

  test('parts are opened lazily and streamed: nothing is read before the body is, and not all at once', async () => {
    let opened = 0;
    let produced = 0;
    const big: BinaryPart = {
      kind: 'binary',
      contentType: 'application/octet-stream',
      sizeBytes: 64 * 1024 * 1024,
      open: () => {
        opened += 1;
        return (async function* () {
          for (let i = 0; i < 1024; i++) {
            produced += 1;
            yield Buffer.alloc(64 * 1024, i & 0xff);
          }
        })();
      },
    };
    const response = mtomResponse(ENVELOPE, outbound([big]), '1.1');
    expect(opened).toBe(0);
    const body = response.body as Readable;
    let seen = 0;
    for await (const chunk of body) {
      seen += (chunk as Buffer).length;
      if (seen > 1024 * 1024) break; // a client that stops after 1 MiB
    }
    expect(opened).toBe(1);
    expect(produced).toBeLessThan(64); // far from the 1024 chunks of the whole part
  });

  test('a part whose stream yields fewer bytes than declared errors the stream (no silently short file)', async () => {
    const response = mtomResponse(ENVELOPE, outbound([part(first, { declaredSize: first.length + 10 })]), '1.1');
    await expect(collect(response.body)).rejects.toThrow(`Binary part p.1@altinn-gateway had ${first.length} bytes, expected ${first.length + 10}`);
  });

  test('a part whose stream yields more bytes than declared errors the stream too', async () => {
    const response = mtomResponse(ENVELOPE, outbound([part(second), part(first, { declaredSize: 100 })]), '1.1');
    await expect(collect(response.body)).rejects.toThrow(`Binary part p.2@altinn-gateway had ${first.length} bytes, expected 100`);
  });

  test('a part whose source fails errors the stream', async () => {
    const failing: BinaryPart = {
      kind: 'binary',
      contentType: 'application/octet-stream',
      sizeBytes: 10,
      open: () =>
        (async function* () {
          yield Buffer.from('12345');
          throw new Error('disk gone');
        })(),
    };
    const response = mtomResponse(ENVELOPE, outbound([failing]), '1.1');
    await expect(collect(response.body)).rejects.toThrow('disk gone');
  });
});
