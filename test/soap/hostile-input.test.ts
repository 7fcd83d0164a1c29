/**
 * Hostile and broken requests over real HTTP against one running gateway: each is answered with
 * HTTP 500 and a SOAP fault whose faultstring says what was wrong, echoes no secrets or server
 * paths, and leaves the server healthy: after every case a Test call and an authenticated
 * GetDownloadQueueItems still work. Oversized bodies are refused while the client is still sending.
 */
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { archiveFormTasks } from '../../src/archive/archive-form-tasks';
import { newTask } from '../helpers/archive-fixtures';
import { createSoapOwner, type SoapOwner } from '../helpers/fixtures';
import { startTestServer, type TestServer } from '../helpers/server';
import {
  altinnFaultOf,
  call,
  child,
  children,
  DQ_ACTION,
  DQ_PATH,
  envelope11,
  faultString,
  NS,
  operationXml,
  parseSoapResponse,
  text,
  type RawResponse,
  type SoapResult,
} from '../helpers/soap-client';

const TEST_ACTION = 'http://www.altinn.no/services/2009/10/IAltinnContractBase/Test';
const TEST_BODY = `<b:Test xmlns:b="${NS.base}"/>`;
const MiB = 1024 * 1024;

let server: TestServer;
let owner: SoapOwner;
let archiveReference: string;
/** Counts requests to a local HTTP server that an XXE payload points at. */
let xxeTarget: http.Server;
let xxeHits = 0;

/** Anything the server leaves unhandled (a crash in production). */
const unhandled: unknown[] = [];
const recordUnhandled = (error: unknown) => unhandled.push(error);

beforeAll(async () => {
  process.on('unhandledRejection', recordUnhandled);
  process.on('uncaughtException', recordUnhandled);
  server = await startTestServer();
  owner = await createSoapOwner(server.app);
  const [archived] = await archiveFormTasks(server.app, owner.serviceOwnerId, [newTask(owner)]);
  archiveReference = archived!.archiveReference;
  xxeTarget = http.createServer((_request, response) => {
    xxeHits += 1;
    response.end('<!ENTITY leaked "SECRET-FROM-XXE-TARGET">');
  });
  await new Promise<void>((resolve) => xxeTarget.listen(0, '127.0.0.1', resolve));
});

afterAll(async () => {
  process.off('unhandledRejection', recordUnhandled);
  process.off('uncaughtException', recordUnhandled);
  await new Promise((resolve) => xxeTarget.close(resolve));
  await server.close();
});

// ---- raw HTTP with full control (node:http, a fresh connection each time) ----

interface RawRequest {
  headers: Record<string, string | number>;
  body?: string | Buffer | Readable;
}

interface TimedResponse extends RawResponse {
  /** Request body bytes handed to the socket when the response headers arrived. */
  sentWhenAnswered: number;
  /** Whether the request body had been sent completely when the response headers arrived. */
  bodyDoneWhenAnswered: boolean;
  elapsedMs: number;
}

function send(request: RawRequest): Promise<TimedResponse> {
  const url = new URL(server.url + DQ_PATH);
  const started = Date.now();
  return new Promise((resolve, reject) => {
    let sent = 0;
    let bodyDone = false;
    let answered = false;
    const req = http.request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: request.headers, agent: false });
    req.on('response', (response) => {
      answered = true;
      const sentWhenAnswered = sent;
      const bodyDoneWhenAnswered = bodyDone;
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        if (request.body instanceof Readable) request.body.destroy();
        const headers = new Headers();
        for (const [name, value] of Object.entries(response.headers)) if (typeof value === 'string') headers.set(name, value);
        resolve({ status: response.statusCode!, headers, body: Buffer.concat(chunks), sentWhenAnswered, bodyDoneWhenAnswered, elapsedMs: Date.now() - started });
      });
      response.on('error', reject);
    });
    // Writing the rest of the body after the server answered and closed fails (EPIPE/ECONNRESET):
    // expected once the answer is in; the response's own 'error' still reports a cut-off answer.
    req.on('error', (error) => {
      if (!answered) reject(error);
    });
    const body = request.body;
    if (body instanceof Readable) {
      body.on('data', (chunk: Buffer) => {
        sent += chunk.length;
      });
      body.on('end', () => {
        bodyDone = true;
      });
      body.pipe(req);
    } else {
      if (body !== undefined) sent = Buffer.byteLength(body);
      req.end(body);
      bodyDone = true;
    }
  });
}

const XML_HEADERS = (action = TEST_ACTION) => ({ 'content-type': 'text/xml; charset=utf-8', soapaction: `"${action}"` });

// ---- expectations ----

const SECRETS_AND_PATHS = () => [
  owner.password,
  'SECRET-FROM-XXE-TARGET',
  'root:x:0:0', // /etc/passwd
  '/etc/passwd',
  process.cwd(),
  server.app.dataDir,
  'node_modules',
  '    at ', // a stack trace line
  ...(process.env.DATABASE_URL ? [process.env.DATABASE_URL] : []),
];

/** HTTP 500, a SOAP 1.1 Client fault with the expected message, nothing secret in it. */
function expectClientFault(response: RawResponse, message: string | RegExp): SoapResult {
  expect(response.status).toBe(500);
  expect(response.headers.get('content-type')).toBe('text/xml; charset=utf-8');
  const result = parseSoapResponse(response);
  expect(result.bodyElement).toMatchObject({ local: 'Fault', ns: NS.soap11 });
  expect(text(result.bodyElement, 'faultcode')).toBe('s:Client');
  if (typeof message === 'string') expect(faultString(result)).toBe(message);
  else expect(faultString(result)).toMatch(message);
  // Protocol faults carry no AltinnFault detail.
  expect(altinnFaultOf(result)).toBeUndefined();
  const wire = response.body.toString('utf8');
  for (const secret of SECRETS_AND_PATHS()) expect(wire).not.toContain(secret);
  return result;
}

/** The server still answers normal calls: Test, and an authenticated GetDownloadQueueItems. */
async function expectHealthy(): Promise<void> {
  const test = await call(server.url, DQ_PATH, TEST_ACTION, TEST_BODY);
  expect(test.status).toBe(200);
  expect(test.bodyElement).toMatchObject({ local: 'TestResponse', ns: NS.base });

  const items = await call(
    server.url,
    DQ_PATH,
    DQ_ACTION('GetDownloadQueueItems'),
    operationXml('GetDownloadQueueItems', { systemUserName: owner.userName, systemPassword: owner.password }),
  );
  expect(items.status).toBe(200);
  const list = children(child(items.bodyElement, 'GetDownloadQueueItemsResult'), 'DownloadQueueItemBE');
  expect(list.map((item) => text(item, 'ArchiveReference'))).toEqual([archiveReference]);
}

afterEach(async () => {
  await expectHealthy();
});

// ---- the cases ----

describe('entity attacks (DTDs are refused outright)', () => {
  test('XXE: an external entity pointing at file:///etc/passwd', async () => {
    const body =
      '<?xml version="1.0" encoding="utf-8"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>' +
      `<soapenv:Envelope xmlns:soapenv="${NS.soap11}"><soapenv:Body><o:GetDownloadQueueItems xmlns:o="${NS.svc}">` +
      `<o:systemUserName>&xxe;</o:systemUserName><o:systemPassword>${owner.password}</o:systemPassword>` +
      '</o:GetDownloadQueueItems></soapenv:Body></soapenv:Envelope>';
    const response = await send({ headers: XML_HEADERS(DQ_ACTION('GetDownloadQueueItems')), body });
    expectClientFault(response, 'XML with a DOCTYPE (DTD) is not accepted');
  });

  test('XXE: external entities (general and parameter) pointing at an http URL are never fetched', async () => {
    const target = `http://127.0.0.1:${(xxeTarget.address() as AddressInfo).port}`;
    const body =
      `<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY % remote SYSTEM "${target}/evil.dtd"> %remote; <!ENTITY xxe SYSTEM "${target}/xxe">]>` +
      `<soapenv:Envelope xmlns:soapenv="${NS.soap11}"><soapenv:Body><b:Test xmlns:b="${NS.base}">&xxe;&leaked;</b:Test></soapenv:Body></soapenv:Envelope>`;
    const response = await send({ headers: XML_HEADERS(), body });
    expectClientFault(response, 'XML with a DOCTYPE (DTD) is not accepted');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(xxeHits).toBe(0);
  });

  test('billion laughs (nested entity declarations) is refused quickly', async () => {
    let dtd = '<!ENTITY lol "lol">';
    for (let i = 1; i <= 9; i++) dtd += `<!ENTITY lol${i} "${`&lol${i === 1 ? '' : i - 1};`.repeat(10)}">`;
    const body = `<?xml version="1.0"?><!DOCTYPE lolz [${dtd}]>` + envelope11(`<b:Test xmlns:b="${NS.base}">&lol9;</b:Test>`).replace(/^<\?xml[^>]*>/, '');
    const response = await send({ headers: XML_HEADERS(), body });
    expectClientFault(response, 'XML with a DOCTYPE (DTD) is not accepted');
    expect(response.elapsedMs).toBeLessThan(2000);
    expect(response.body.length).toBeLessThan(4096);
  });

  test('an entity reference without any DTD is an undefined entity', async () => {
    const response = await send({ headers: XML_HEADERS(), body: envelope11(`<b:Test xmlns:b="${NS.base}">&xxe;</b:Test>`) });
    expectClientFault(response, /^Malformed XML: .*undefined entity/);
  });
});

describe('size and shape limits (SOAP_MAX_* defaults)', () => {
  test('10,000-deep nesting inside the Body', async () => {
    const deep = '<x>'.repeat(10_000) + '</x>'.repeat(10_000);
    const response = await send({ headers: XML_HEADERS(), body: envelope11(`<b:Test xmlns:b="${NS.base}">${deep}</b:Test>`) });
    expectClientFault(response, 'XML is nested deeper than 64 levels');
  });

  test('more elements than the limit (10,000)', async () => {
    const many = '<x/>'.repeat(10_001);
    const response = await send({ headers: XML_HEADERS(), body: envelope11(`<b:Test xmlns:b="${NS.base}">${many}</b:Test>`) });
    expectClientFault(response, 'XML has more than 10000 elements');
  });

  test('a huge text node (over 256 KiB, under the body limit)', async () => {
    const body = envelope11(operationXml('GetDownloadQueueItems', { systemUserName: 'u'.repeat(300 * 1024), systemPassword: owner.password }));
    expect(body.length).toBeLessThan(MiB);
    const response = await send({ headers: XML_HEADERS(DQ_ACTION('GetDownloadQueueItems')), body });
    expectClientFault(response, 'An XML text node is longer than 262144 characters');
  });

  /** `size` bytes of an envelope whose text never ends, sent in 64 KiB chunks with a pause between them. */
  function slowBody(size: number, pauseMs: number): Readable {
    const head = Buffer.from(`<soapenv:Envelope xmlns:soapenv="${NS.soap11}"><soapenv:Body><b:Test xmlns:b="${NS.base}"><!--`);
    const chunk = Buffer.alloc(64 * 1024, 'a');
    return Readable.from(
      (async function* () {
        yield head;
        for (let sent = head.length; sent < size; sent += chunk.length) {
          await new Promise((resolve) => setTimeout(resolve, pauseMs));
          yield chunk.subarray(0, Math.min(chunk.length, size - sent));
        }
      })(),
    );
  }

  test('a 5 MB body (limit 1 MiB) is refused by its Content-Length, before it is read', async () => {
    const size = 5 * 1000 * 1000;
    const response = await send({ headers: { ...XML_HEADERS(), 'content-length': size }, body: slowBody(size, 10) });
    expectClientFault(response, `The request is larger than ${MiB} bytes (Content-Length ${size})`);
    expect(response.bodyDoneWhenAnswered).toBe(false);
    expect(response.sentWhenAnswered).toBeLessThan(MiB);
  });

  test('a huge chunked body (no Content-Length) is refused the same way', async () => {
    const response = await send({ headers: { ...XML_HEADERS(), 'transfer-encoding': 'chunked' }, body: slowBody(50 * 1000 * 1000, 2) });
    expectClientFault(response, `XML document is larger than ${MiB} bytes`);
    expect(response.bodyDoneWhenAnswered).toBe(false);
    expect(response.sentWhenAnswered).toBeLessThan(2 * MiB);
  });

  test('an oversized MTOM body is refused while the client is still sending', async () => {
    const boundary = 'uuid:big';
    const head = Buffer.from(
      `--${boundary}\r\nContent-Type: application/xop+xml; charset=UTF-8; type="text/xml"\r\nContent-ID: <root>\r\n\r\n` +
        envelope11(TEST_BODY) +
        `\r\n--${boundary}\r\nContent-Type: application/octet-stream\r\nContent-ID: <big>\r\n\r\n`,
    );
    const chunk = Buffer.alloc(64 * 1024, 7);
    const body = Readable.from(
      (async function* () {
        yield head;
        for (let i = 0; i < 80; i++) {
          await new Promise((resolve) => setTimeout(resolve, 10));
          yield chunk;
        }
      })(),
    );
    const response = await send({
      headers: { 'content-type': `multipart/related; type="application/xop+xml"; boundary="${boundary}"; start="<root>"; start-info="text/xml"`, soapaction: `"${TEST_ACTION}"` },
      body,
    });
    expectClientFault(response, new RegExp(`(larger than|exceeds maximum allowed size of) ${MiB} bytes`));
    expect(response.bodyDoneWhenAnswered).toBe(false);
    expect(response.sentWhenAnswered).toBeLessThan(2 * MiB);
  });
});

describe('malformed requests', () => {
  test('malformed XML: an unclosed tag', async () => {
    const body = `<soapenv:Envelope xmlns:soapenv="${NS.soap11}"><soapenv:Body><b:Test xmlns:b="${NS.base}">`;
    expectClientFault(await send({ headers: XML_HEADERS(), body }), /^Malformed XML: .*unclosed tag: b:Test/);
  });

  test('truncated multipart: an MTOM body missing its closing boundary', async () => {
    const boundary = 'MIMEBoundary_1';
    const body =
      `--${boundary}\r\nContent-Type: application/xop+xml; charset=UTF-8; type="text/xml"\r\nContent-ID: <root>\r\n\r\n` +
      envelope11(TEST_BODY) +
      `\r\n--${boundary}\r\nContent-Type: application/octet-stream\r\nContent-ID: <p1>\r\n\r\nhalf an attachm`;
    const response = await send({
      headers: { 'content-type': `multipart/related; type="application/xop+xml"; boundary="${boundary}"; start="<root>"`, soapaction: `"${TEST_ACTION}"` },
      body,
    });
    expectClientFault(response, 'Malformed MTOM (multipart/related) request: Multipart stream not finished');
  });

  test('a multipart request with no boundary', async () => {
    const response = await send({ headers: { 'content-type': 'multipart/related; type="application/xop+xml"', soapaction: `"${TEST_ACTION}"` }, body: envelope11(TEST_BODY) });
    expectClientFault(response, 'The multipart/related request has no boundary parameter');
  });

  test('an unsupported content type (application/json)', async () => {
    const response = await send({ headers: { 'content-type': 'application/json', soapaction: `"${TEST_ACTION}"` }, body: '{"operation":"Test"}' });
    expectClientFault(response, "Unsupported Content-Type 'application/json'; expected text/xml, application/soap+xml or multipart/related (MTOM)");
  });

  test('an empty body', async () => {
    const response = await send({ headers: { ...XML_HEADERS(), 'content-length': 0 }, body: '' });
    expectClientFault(response, 'Malformed XML: 1:0: document must contain a root element.');
  });

  test('an empty body with no Content-Type', async () => {
    const response = await send({ headers: { 'content-length': 0 } });
    expectClientFault(response, 'The request has no Content-Type; expected text/xml, application/soap+xml or multipart/related');
  });

  test('a root element that is not a SOAP Envelope', async () => {
    const response = await send({ headers: XML_HEADERS(), body: `<?xml version="1.0"?><GetDownloadQueueItems xmlns="${NS.svc}"/>` });
    expectClientFault(response, `The request is not a SOAP envelope (root element is {${NS.svc}}GetDownloadQueueItems)`);
  });

  test('two elements in the Body', async () => {
    const response = await send({ headers: XML_HEADERS(), body: envelope11(TEST_BODY + TEST_BODY) });
    expectClientFault(response, 'The SOAP Body has more than one element');
  });

  test('an unknown operation', async () => {
    const action = DQ_ACTION('DeleteEverything');
    const response = await send({ headers: XML_HEADERS(action), body: envelope11(operationXml('DeleteEverything', { systemUserName: owner.userName })) });
    expectClientFault(response, `DownloadQueueExternalBasic has no operation for SOAPAction '${action}' or body element {${NS.svc}}DeleteEverything`);
  });

  test('a SOAPAction that does not match the body', async () => {
    const body = envelope11(operationXml('GetDownloadQueueItems', { systemUserName: owner.userName, systemPassword: owner.password }));
    const response = await send({ headers: XML_HEADERS(DQ_ACTION('PurgeItem')), body });
    expectClientFault(response, `The SOAPAction ${DQ_ACTION('PurgeItem')} does not match the body element {${NS.svc}}GetDownloadQueueItems`);
    // Nothing was purged: the item is still queued (checked by expectHealthy after this test).
  });

  test('control characters and bytes that are not UTF-8 in a member (the serviceCode filter) are Client faults, never database errors', async () => {
    const action = DQ_ACTION('GetDownloadQueueItems');
    const withServiceCode = (placeholder: string, bytes: Buffer) => {
      const [before, after] = envelope11(operationXml('GetDownloadQueueItems', { systemUserName: owner.userName, systemPassword: owner.password, serviceCode: placeholder })).split(placeholder);
      return Buffer.concat([Buffer.from(before!), bytes, Buffer.from(after!)]);
    };
    const cases: [Buffer, RegExp][] = [
      [Buffer.from('4711&#0;'), /^Malformed XML: .*malformed character entity/],
      [Buffer.from('4711&#x1;'), /^Malformed XML: .*malformed character entity/],
      [Buffer.from([0x34, 0x00]), /^Malformed XML: .*disallowed character/],
      [Buffer.from([0x34, 0xc3, 0x28]), /^Malformed XML: the document is not valid UTF-8/],
      [Buffer.from([0x34, 0xed, 0xa0, 0x80]), /^Malformed XML: the document is not valid UTF-8/],
    ];
    for (const [bytes, message] of cases) {
      expectClientFault(await send({ headers: XML_HEADERS(action), body: withServiceCode('SERVICECODE', bytes) }), message);
    }
  });

  test('a SOAP 1.2 request gets a SOAP 1.2 fault', async () => {
    const body = `<e:Envelope xmlns:e="${NS.soap12}"><e:Body><b:Test xmlns:b="${NS.base}"></e:Body></e:Envelope>`;
    const response = await send({ headers: { 'content-type': `application/soap+xml; charset=utf-8; action="${TEST_ACTION}"` }, body });
    expect(response.status).toBe(500);
    expect(response.headers.get('content-type')).toBe('application/soap+xml; charset=utf-8');
    const result = parseSoapResponse(response);
    expect(result.bodyElement).toMatchObject({ local: 'Fault', ns: NS.soap12 });
    expect(text(child(result.bodyElement, 'Code'), 'Value')).toBe('s:Sender');
    expect(faultString(result)).toMatch(/^Malformed XML: .*unexpected close tag/);
  });
});

describe('MTOM edge cases', () => {
  const mtomHeaders = (boundary: string, action: string) => ({
    'content-type': `multipart/related; type="application/xop+xml"; boundary="${boundary}"; start="<root.message@cxf.apache.org>"; start-info="text/xml"`,
    soapaction: `"${action}"`,
  });
  const rootHead = (boundary: string) =>
    `--${boundary}\r\nContent-Type: application/xop+xml; charset=UTF-8; type="text/xml"\r\nContent-Transfer-Encoding: binary\r\n` +
    'Content-ID: <root.message@cxf.apache.org>\r\n\r\n';

  test('an xop:Include with a malformed cid: URL is a Client fault, not an internal error', async () => {
    const boundary = 'uuid:1';
    const body =
      rootHead(boundary) +
      envelope11(`<b:Test xmlns:b="${NS.base}"><x:Include xmlns:x="${NS.xop}" href="cid:%zz"/></b:Test>`) +
      `\r\n--${boundary}--\r\n`;
    expectClientFault(await send({ headers: mtomHeaders(boundary, TEST_ACTION), body }), "xop:Include refers to a missing MIME part 'cid:%zz'");
  });

  test('not hostile: MTOM framed as CXF frames it (CRLF before the first boundary, none after the last) is answered', async () => {
    const boundary = 'uuid:0c6e1a52-4a39-4bd4-9d4f-7c1f2b3a4d5e';
    const body =
      '\r\n' +
      rootHead(boundary) +
      envelope11(operationXml('GetDownloadQueueItems', { systemUserName: owner.userName, systemPassword: owner.password })) +
      `\r\n--${boundary}--`;
    const response = await send({ headers: mtomHeaders(boundary, DQ_ACTION('GetDownloadQueueItems')), body });
    expect(response.status).toBe(200);
    const result = parseSoapResponse(response);
    const items = children(child(result.bodyElement, 'GetDownloadQueueItemsResult'), 'DownloadQueueItemBE');
    expect(items.map((item) => text(item, 'ArchiveReference'))).toEqual([archiveReference]);
  });
});

describe('connections that go away', () => {
  async function connectAndDrop(head: string, partialBody: string): Promise<void> {
    const url = new URL(server.url);
    const socket = net.connect(Number(url.port), url.hostname);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    socket.write(head + partialBody);
    await new Promise((resolve) => setTimeout(resolve, 50));
    socket.destroy();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }

  test('a client that disconnects mid-request (text/xml) leaves the server up', async () => {
    const body = envelope11(TEST_BODY);
    await connectAndDrop(
      `POST ${DQ_PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nSOAPAction: "${TEST_ACTION}"\r\nContent-Length: 100000\r\n\r\n`,
      body.slice(0, 60),
    );
  });

  test('a client that disconnects mid-request (MTOM, inside a binary part) leaves the server up', async () => {
    const boundary = 'b';
    const chunk = `--${boundary}\r\nContent-Type: application/octet-stream\r\nContent-ID: <p>\r\n\r\n${'z'.repeat(1000)}`;
    await connectAndDrop(
      `POST ${DQ_PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/related; type="application/xop+xml"; boundary=${boundary}\r\nTransfer-Encoding: chunked\r\n\r\n`,
      `${Buffer.byteLength(chunk).toString(16)}\r\n${chunk}\r\n`,
    );
  });

  test('a client that sends only part of the headers and disconnects leaves the server up', async () => {
    await connectAndDrop(`POST ${DQ_PATH} HTTP/1.1\r\nHost: x\r\nContent-Ty`, '');
  });

  test('several clients disconnecting at once while normal calls run', async () => {
    const drops = Array.from({ length: 10 }, () =>
      connectAndDrop(`POST ${DQ_PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nContent-Length: 5000000\r\n\r\n`, '<soapenv:Envelope'),
    );
    const calls = Array.from({ length: 5 }, () => call(server.url, DQ_PATH, TEST_ACTION, TEST_BODY));
    const [, results] = await Promise.all([Promise.all(drops), Promise.all(calls)]);
    for (const result of results) expect(result.status).toBe(200);
  });
});

test('nothing above left an unhandled rejection or exception behind', () => {
  expect(unhandled).toEqual([]);
});
