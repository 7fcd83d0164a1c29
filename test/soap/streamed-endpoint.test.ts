/**
 * The SOAP endpoint with an operation that streams its binary member (src/soap/endpoint.ts), over
 * real HTTP on a bare fastify: the operation reads the part while the client is still sending it
 * (the client sends the rest only once the operation has seen the first bytes), chunked and
 * MTOM-wrapped as Metro sends it, posted to `…svc?wsdl`; SOAP headers bound to parameters; a fault
 * raised before the part was read still reaches a client that writes its whole request first; the
 * WSDL at `?wsdl`/`?singleWsdl` in any case and on an alias path. With the request timeouts on, the
 * envelope must arrive within the body timeout, the streamed part only has to keep coming.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import fastify, { type FastifyInstance } from 'fastify';
import { createMetrics } from '../../src/observability/metrics';
import { registerBodyTimeouts, serverTimeoutOptions } from '../../src/request-timeouts';
import { registerPublicBaseUrl } from '../../src/services/public-base-url';
import { registerSoapEndpoint, type SoapEndpointDefinition } from '../../src/soap/endpoint';
import { altinnFault } from '../../src/soap/fault';
import { BROKER } from '../../src/soap/namespaces';
import { field, isInboundBinary } from '../../src/soap/schema';
import { parseXml, childElements, textContent, type XmlElement } from '../../src/xml/parser';

// A namespace the serializer has a prefix for (the broker's), declared through responseNamespaces.
const NS = BROKER.svc;
const SOAP11 = 'http://schemas.xmlsoap.org/soap/envelope/';
const XOP = 'http://www.w3.org/2004/08/xop/include';
const LIMITS = { maxRequestBytes: 16 * 1024, maxXmlDepth: 32, maxXmlElements: 200, maxXmlTextLength: 8 * 1024 };
const BOUNDARY = 'uuid:7f3c';
const CHUNK = 64 * 1024;

let server: FastifyInstance;
let baseUrl: string;
let wsdlDir: string;
/** Set by a test: resolves once the operation has read its first bytes. */
let firstBytesRead: () => void = () => {};

const endpoint = (wsdlFile: string): SoapEndpointDefinition => ({
  name: 'Streamed',
  path: '/Svc/Streamed.svc',
  aliases: ['/Svc/StreamedAlias.svc'],
  wsdlFile,
  responseNamespaces: [NS],
  mapError: () => undefined,
  operations: [
    {
      name: 'Put',
      soapAction: 'urn:put',
      request: { name: 'Put', ns: NS, type: { name: 't:Put', fields: [field('Data', NS, 'base64Binary', { streamed: true })] } },
      requestHeaders: [field('Who', NS, 'string', { nillable: true })],
      response: { name: 'PutResponse', ns: NS, type: { name: 't:PutResponse', fields: [field('Result', NS, 'string')] } },
      async handle(input) {
        if (input.Who !== 'allowed') throw altinnFault(989, 'Incorrect username/password');
        if (!isInboundBinary(input.Data)) throw altinnFault(0, 'no data');
        const hash = createHash('sha256');
        let size = 0;
        for await (const chunk of input.Data.open() as Readable) {
          if (size === 0) firstBytesRead();
          size += (chunk as Buffer).length;
          hash.update(chunk as Buffer);
        }
        return { Result: `${size}:${hash.digest('hex')}` };
      },
    },
  ],
});

beforeAll(async () => {
  wsdlDir = await mkdtemp(path.join(tmpdir(), 'agw-wsdl-'));
  const wsdlFile = path.join(wsdlDir, 'Streamed.wsdl');
  await writeFile(wsdlFile, '<definitions><address location="http://localhost:8080/Svc/Streamed.svc"/></definitions>');
  server = fastify({ logger: false });
  registerPublicBaseUrl(server, undefined); // as the gateway's server does: the WSDL's address comes from it
  registerSoapEndpoint(server, endpoint(wsdlFile), { limits: LIMITS, metrics: createMetrics() });
  baseUrl = await server.listen({ port: 0, host: '127.0.0.1' });
});

afterAll(async () => {
  await server.close();
  await rm(wsdlDir, { recursive: true, force: true });
});

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** POSTs a chunked body (no Content-Length, as Metro), produced by `body` as the server reads. */
function postChunked(pathAndQuery: string, headers: Record<string, string>, body: AsyncGenerator<Buffer>): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const url = new URL(pathAndQuery, baseUrl);
    const request = http.request(url, { method: 'POST', headers: { ...headers, 'transfer-encoding': 'chunked' } }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (c: Buffer) => chunks.push(c));
      response.on('end', () => resolve({ status: response.statusCode!, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') }));
      response.on('error', reject);
    });
    request.on('error', reject);
    void (async () => {
      try {
        for await (const chunk of body) if (!request.write(chunk)) await new Promise((r) => request.once('drain', r));
        request.end();
      } catch (error) {
        request.destroy(error as Error);
      }
    })();
  });
}

function envelope(who: string, data: string): string {
  return (
    `<S:Envelope xmlns:S="${SOAP11}"><S:Header><Who xmlns="${NS}">${who}</Who></S:Header>` +
    `<S:Body><t:Put xmlns:t="${NS}"><t:Data>${data}</t:Data></t:Put></S:Body></S:Envelope>`
  );
}

const MTOM_HEADERS = {
  'content-type': `multipart/related;start="<rootpart*1@example.jaxws.sun.com>";type="application/xop+xml";boundary="${BOUNDARY}";start-info="text/xml"`,
  soapaction: '"urn:put"',
};

async function* mtomBody(who: string, chunks: number, beforeRest: Promise<void>, sent: { bytes: number }): AsyncGenerator<Buffer> {
  yield Buffer.from(
    `--${BOUNDARY}\r\nContent-Id: <rootpart*1@example.jaxws.sun.com>\r\nContent-Type: application/xop+xml;charset=utf-8;type="text/xml"\r\n` +
      `Content-Transfer-Encoding: binary\r\n\r\n${envelope(who, `<xop:Include xmlns:xop="${XOP}" href="cid:bin-1@example.jaxws.sun.com"/>`)}` +
      `\r\n--${BOUNDARY}\r\nContent-Type: application/octet-stream\r\nContent-ID: <bin-1@example.jaxws.sun.com>\r\nContent-Transfer-Encoding: binary\r\n\r\n`,
  );
  for (let i = 0; i < chunks; i++) {
    // The rest only after the server has started reading: a server that buffered the part would never answer.
    if (i === 1) await beforeRest;
    sent.bytes += CHUNK;
    yield Buffer.alloc(CHUNK, i % 251);
  }
  yield Buffer.from(`\r\n--${BOUNDARY}--`);
}

function expectedResult(chunks: number): string {
  const hash = createHash('sha256');
  for (let i = 0; i < chunks; i++) hash.update(Buffer.alloc(CHUNK, i % 251));
  return `${chunks * CHUNK}:${hash.digest('hex')}`;
}

function bodyElementOf(reply: Reply): XmlElement {
  const envelopeElement = parseXml(reply.body);
  return childElements(childElements(envelopeElement).find((c) => c.local === 'Body')!)[0]!;
}

test('the part reaches the operation while the client is still sending it, far beyond the request limit, posted to ?wsdl', async () => {
  const readStarted = new Promise<void>((resolve) => (firstBytesRead = resolve));
  const chunks = 64; // 4 MiB against a 16 KiB request limit
  const reply = await postChunked('/Svc/Streamed.svc?wsdl', MTOM_HEADERS, mtomBody('allowed', chunks, readStarted, { bytes: 0 }));
  expect(reply.status).toBe(200);
  const response = bodyElementOf(reply);
  expect(response.local).toBe('PutResponse');
  expect(textContent(childElements(response)[0]!)).toBe(expectedResult(chunks));
  expect(reply.headers.connection).not.toBe('close');
});

test('a fault raised before the part is read still reaches a client that writes its whole request first', async () => {
  const sent = { bytes: 0 };
  const reply = await postChunked('/Svc/Streamed.svc', MTOM_HEADERS, mtomBody('someone else', 16, Promise.resolve(), sent));
  expect(reply.status).toBe(500);
  expect(sent.bytes).toBe(16 * CHUNK);
  const fault = bodyElementOf(reply);
  expect(fault.local).toBe('Fault');
  expect(reply.body).toContain('<f:ErrorID>989</f:ErrorID>');
  expect(reply.body).toContain('Incorrect username/password');
  // The rest was read and discarded: the connection can be reused.
  expect(reply.headers.connection).not.toBe('close');
});

test('the same request on the alias path, with inline base64 in plain text/xml', async () => {
  const data = Buffer.from('PK\u0003\u0004 small inline file\r\n', 'latin1');
  const reply = await postChunked(
    '/Svc/StreamedAlias.svc',
    { 'content-type': 'text/xml; charset=utf-8', soapaction: '"urn:put"' },
    (async function* () {
      yield Buffer.from(envelope('allowed', data.toString('base64')));
    })(),
  );
  expect(reply.status).toBe(200);
  expect(textContent(childElements(bodyElementOf(reply))[0]!)).toBe(`${data.length}:${createHash('sha256').update(data).digest('hex')}`);
});

test.each(['wsdl', 'WSDL', 'Wsdl', 'singleWsdl', 'SINGLEWSDL', 'singlewsdl'])('GET ?%s serves the WSDL with the caller\'s origin', async (query) => {
  for (const servicePath of ['/Svc/Streamed.svc', '/Svc/StreamedAlias.svc']) {
    const response = await fetch(`${baseUrl}${servicePath}?${query}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/xml; charset=utf-8');
    expect(await response.text()).toContain(`location="${baseUrl}/Svc/Streamed.svc"`);
  }
});

describe('time bounds (src/request-timeouts.ts): the envelope within the body timeout, then the part by its progress', () => {
  const TIMEOUTS = { headersMs: 1000, bodyMs: 600, streamedBodyStallMs: 400, keepAliveMs: 5000 };
  let timed: FastifyInstance;
  let timedUrl: string;
  const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  beforeAll(async () => {
    timed = fastify({ logger: false, ...serverTimeoutOptions(TIMEOUTS) });
    registerPublicBaseUrl(timed, undefined);
    registerBodyTimeouts(timed, TIMEOUTS);
    registerSoapEndpoint(timed, endpoint(path.join(wsdlDir, 'Streamed.wsdl')), { limits: LIMITS, metrics: createMetrics() });
    timedUrl = await timed.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(() => timed.close());

  const rootPart = () =>
    `--${BOUNDARY}\r\nContent-Id: <rootpart*1@example.jaxws.sun.com>\r\nContent-Type: application/xop+xml;charset=utf-8;type="text/xml"\r\n\r\n` +
    `${envelope('allowed', `<xop:Include xmlns:xop="${XOP}" href="cid:bin-1@example.jaxws.sun.com"/>`)}` +
    `\r\n--${BOUNDARY}\r\nContent-Type: application/octet-stream\r\nContent-ID: <bin-1@example.jaxws.sun.com>\r\n\r\n`;

  test('a part that keeps coming may take longer than the body timeout', async () => {
    const chunks = 12;
    const reply = await postChunked(
      `${timedUrl}/Svc/Streamed.svc`,
      MTOM_HEADERS,
      (async function* () {
        yield Buffer.from(rootPart());
        for (let i = 0; i < chunks; i++) {
          await pause(100); // 1.2 s in all: twice the body timeout
          yield Buffer.alloc(CHUNK, i % 251);
        }
        yield Buffer.from(`\r\n--${BOUNDARY}--`);
      })(),
    );
    expect(reply.status).toBe(200);
    expect(textContent(childElements(bodyElementOf(reply))[0]!)).toBe(expectedResult(chunks));
  });

  test.each([
    ['an envelope that does not arrive within the body timeout', () => rootPart().slice(0, 100)],
    ['a part that stalls', () => rootPart() + 'x'.repeat(4096)],
  ])('%s is cut with 408', async (_name, sentFirst) => {
    const started = Date.now();
    const reply = await postChunked(
      `${timedUrl}/Svc/Streamed.svc`,
      MTOM_HEADERS,
      (async function* () {
        yield Buffer.from(sentFirst());
        await pause(3000);
      })(),
    );
    expect(reply.status).toBe(408);
    expect(Date.now() - started).toBeLessThan(2000);
  });
});
