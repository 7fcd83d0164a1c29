/**
 * SOAP 1.1 requests formed by hand (as test/helpers/soap-client.ts does), and a plain keep-alive
 * HTTP client for sequential latency measurements.
 */
import http from 'node:http';
import { escapeText } from '../../src/xml/writer';

export const NS = {
  soap11: 'http://schemas.xmlsoap.org/soap/envelope/',
  svc: 'http://www.altinn.no/services/Archive/DownloadQueue/2012/08',
  so: 'http://www.altinn.no/services/Archive/ServiceOwnerArchive/2013/06',
  xsi: 'http://www.w3.org/2001/XMLSchema-instance',
};

export const DQ_PATH = '/ArchiveExternal/DownloadQueueExternalBasic.svc';
export const STREAMED_PATH = '/ArchiveExternal/ServiceOwnerArchiveExternalStreamedBasic.svc';
export const DQ_ACTION = (operation: string): string =>
  `http://www.altinn.no/services/Archive/DownloadQueue/2012/08/IDownloadQueueExternalBasic/${operation}`;
export const STREAMED_ACTION =
  'http://www.altinn.no/services/Archive/ServiceOwnerArchive/2013/06/IServiceOwnerArchiveExternalStreamedBasic/GetAttachmentDataStreamedBasic';

export interface Credentials {
  userName: string;
  password: string;
}

export function envelope(operation: string, ns: string, args: Record<string, string | number | boolean | null>): string {
  const members = Object.entries(args)
    .map(([k, v]) => (v === null ? `<o:${k} xsi:nil="true"/>` : `<o:${k}>${escapeText(String(v))}</o:${k}>`))
    .join('');
  return (
    `<?xml version="1.0" encoding="utf-8"?><soapenv:Envelope xmlns:soapenv="${NS.soap11}"><soapenv:Body>` +
    `<o:${operation} xmlns:o="${ns}" xmlns:xsi="${NS.xsi}">${members}</o:${operation}></soapenv:Body></soapenv:Envelope>`
  );
}

export interface SoapRequest {
  path: string;
  headers: Record<string, string>;
  body: string;
}

function soapRequest(path: string, action: string, body: string): SoapRequest {
  return { path, headers: { 'content-type': 'text/xml; charset=utf-8', soapaction: `"${action}"` }, body };
}

export function getDownloadQueueItems(c: Credentials, serviceCode: string | null = null): SoapRequest {
  const body = envelope('GetDownloadQueueItems', NS.svc, { systemUserName: c.userName, systemPassword: c.password, serviceCode });
  return soapRequest(DQ_PATH, DQ_ACTION('GetDownloadQueueItems'), body);
}

export function purgeItem(c: Credentials, archiveReference: string): SoapRequest {
  const body = envelope('PurgeItem', NS.svc, { systemUserName: c.userName, systemPassword: c.password, archiveReference });
  return soapRequest(DQ_PATH, DQ_ACTION('PurgeItem'), body);
}

export function getArchivedFormTask(c: Credentials, archiveReference: string): SoapRequest {
  const body = envelope('GetArchivedFormTaskBasicDQ', NS.svc, {
    systemUserName: c.userName,
    systemPassword: c.password,
    archiveReference,
    languageID: 1044,
    includeXmlNamespace: false,
  });
  return soapRequest(DQ_PATH, DQ_ACTION('GetArchivedFormTaskBasicDQ'), body);
}

export function getAttachmentStreamed(c: Credentials, attachmentId: number): SoapRequest {
  const body = envelope('GetAttachmentDataStreamedBasic', NS.so, { systemUserName: c.userName, systemPassword: c.password, attachmentId });
  return soapRequest(STREAMED_PATH, STREAMED_ACTION, body);
}

export interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** From sending the request to the last byte of the response. */
  ms: number;
}

/** One POST over `agent` (keep-alive), the whole response read. */
export function send(baseUrl: string, request: SoapRequest, agent: http.Agent): Promise<HttpResult> {
  const url = new URL(request.path, baseUrl);
  const body = Buffer.from(request.body, 'utf8');
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const req = http.request(
      url,
      { method: 'POST', agent, headers: { ...request.headers, 'content-length': String(body.length) } },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body: Buffer.concat(chunks),
            ms: Number(process.hrtime.bigint() - started) / 1e6,
          }),
        );
        response.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

export function keepAliveAgent(maxSockets = 1): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets });
}

/** Fail with the start of the body when a response is not a 200. */
export function expectOk(result: HttpResult, what: string): HttpResult {
  if (result.status !== 200) {
    throw new Error(`${what}: HTTP ${result.status}: ${result.body.subarray(0, 600).toString('utf8')}`);
  }
  return result;
}

/** Number of DownloadQueueItemBE elements in a GetDownloadQueueItems response, whatever the prefix. */
export function countQueueItems(xml: string): number {
  return (xml.match(/<(?:[\w.-]+:)?DownloadQueueItemBE[\s>]/g) ?? []).length;
}

export function firstArchiveReference(xml: string): string | undefined {
  return /<(?:[\w.-]+:)?ArchiveReference>(AR\d+)</.exec(xml)?.[1];
}

/**
 * Split an in-memory multipart/related body into its parts (for checking a response once,
 * not on the measured path).
 */
export function splitMultipart(body: Buffer, boundary: string): { headers: Record<string, string>; content: Buffer }[] {
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: { headers: Record<string, string>; content: Buffer }[] = [];
  let position = body.indexOf(delimiter);
  if (position < 0) throw new Error('multipart: no boundary found');
  for (;;) {
    position += delimiter.length;
    if (body.subarray(position, position + 2).toString() === '--') break;
    position += 2; // CRLF after the delimiter
    const headerEnd = body.indexOf('\r\n\r\n', position);
    if (headerEnd < 0) throw new Error('multipart: unterminated part headers');
    const headers: Record<string, string> = {};
    for (const line of body.subarray(position, headerEnd).toString('latin1').split('\r\n')) {
      const colon = line.indexOf(':');
      if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const next = body.indexOf(Buffer.concat([Buffer.from('\r\n'), delimiter]), headerEnd + 4);
    if (next < 0) throw new Error('multipart: missing closing delimiter');
    parts.push({ headers, content: body.subarray(headerEnd + 4, next) });
    position = next + 2;
  }
  return parts;
}

export function boundaryOf(contentType: string | undefined): string {
  const match = /boundary="?([^";]+)"?/i.exec(contentType ?? '');
  if (!match) throw new Error(`No multipart boundary in content-type '${contentType}'`);
  return match[1]!;
}

/** How many elements of each local name (prefixes ignored) an XML text holds. */
export function elementCounts(xml: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const match of xml.matchAll(/<(?:[\w.-]+:)?([\w.-]+)[\s/>]/g)) counts.set(match[1]!, (counts.get(match[1]!) ?? 0) + 1);
  return counts;
}

/** An XML text without element prefixes and namespace declarations: what differs between servers' spellings. */
function withoutPrefixes(xml: string): string {
  return xml.replace(/<(\/?)[\w.-]+:/g, '<$1').replace(/\s+xmlns(?::[\w.-]+)?="[^"]*"/g, '');
}

/**
 * Throw unless two answers have the same data: the same number of elements of every local name
 * (the SOAP envelope and XOP references aside, which are each server's own), and, prefixes and
 * namespace declarations removed (each server spells them its own way), sizes within `tolerance`
 * (a fraction) of each other.
 */
export function assertSameShape(what: string, expected: { name: string; xml: string }, actual: { name: string; xml: string }, tolerance: number): void {
  const own = new Set(['Envelope', 'Header', 'Body', 'Include']);
  const a = elementCounts(expected.xml);
  const b = elementCounts(actual.xml);
  const differences = [...new Set([...a.keys(), ...b.keys()])]
    .filter((name) => !own.has(name) && (a.get(name) ?? 0) !== (b.get(name) ?? 0))
    .map((name) => `${name}: ${expected.name} ${a.get(name) ?? 0}, ${actual.name} ${b.get(name) ?? 0}`);
  if (differences.length > 0) throw new Error(`${what}: ${actual.name} answers other elements than ${expected.name}: ${differences.join('; ')}`);
  const expectedBytes = Buffer.byteLength(withoutPrefixes(expected.xml));
  const actualBytes = Buffer.byteLength(withoutPrefixes(actual.xml));
  if (Math.abs(actualBytes / expectedBytes - 1) > tolerance) {
    throw new Error(
      `${what}: without prefixes and namespace declarations ${actual.name} answers ${actualBytes} bytes of XML, ` +
        `${expected.name} ${expectedBytes} (more than ${tolerance * 100}% apart)`,
    );
  }
}
