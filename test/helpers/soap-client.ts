/**
 * A deliberately plain SOAP client for tests: it builds envelopes by hand and parses responses
 * with the same hardened parser and a general multipart parser, so tests see exactly the wire.
 */
import { createHash } from 'node:crypto';
import { MultipartParser } from '@remix-run/multipart-parser';
import * as contentType from 'content-type';
import { childElements, parseXml, textContent, type XmlElement } from '../../src/xml/parser';
import { escapeText } from '../../src/xml/writer';

export const NS = {
  soap11: 'http://schemas.xmlsoap.org/soap/envelope/',
  soap12: 'http://www.w3.org/2003/05/soap-envelope',
  svc: 'http://www.altinn.no/services/Archive/DownloadQueue/2012/08',
  dq: 'http://schemas.altinn.no/services/Archive/DownloadQueue/2012/08',
  sm: 'http://schemas.altinn.no/services/Archive/DownloadQueue/2019/01',
  ra: 'http://schemas.altinn.no/services/Archive/ReporteeArchive/2012/08',
  fault: 'http://www.altinn.no/services/common/fault/2009/10',
  base: 'http://www.altinn.no/services/2009/10',
  so: 'http://www.altinn.no/services/Archive/ServiceOwnerArchive/2013/06',
  xsi: 'http://www.w3.org/2001/XMLSchema-instance',
  xop: 'http://www.w3.org/2004/08/xop/include',
};

export const DQ_PATH = '/ArchiveExternal/DownloadQueueExternalBasic.svc';
export const STREAMED_PATH = '/ArchiveExternal/ServiceOwnerArchiveExternalStreamedBasic.svc';
export const DQ_ACTION = (op: string) => `http://www.altinn.no/services/Archive/DownloadQueue/2012/08/IDownloadQueueExternalBasic/${op}`;
export const STREAMED_ACTION =
  'http://www.altinn.no/services/Archive/ServiceOwnerArchive/2013/06/IServiceOwnerArchiveExternalStreamedBasic/GetAttachmentDataStreamedBasic';

/** `<svc:Op><svc:a>1</svc:a>…</svc:Op>`; null values become xsi:nil, undefined ones are omitted. */
export function operationXml(operation: string, args: Record<string, string | number | boolean | null | undefined>, ns = NS.svc): string {
  const members = Object.entries(args)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => (v === null ? `<o:${k} xsi:nil="true"/>` : `<o:${k}>${escapeText(String(v))}</o:${k}>`))
    .join('');
  return `<o:${operation} xmlns:o="${ns}" xmlns:xsi="${NS.xsi}">${members}</o:${operation}>`;
}

export function envelope11(bodyXml: string, headerXml = ''): string {
  return `<?xml version="1.0" encoding="utf-8"?><soapenv:Envelope xmlns:soapenv="${NS.soap11}">` +
    (headerXml ? `<soapenv:Header>${headerXml}</soapenv:Header>` : '') + `<soapenv:Body>${bodyXml}</soapenv:Body></soapenv:Envelope>`;
}

export interface RawResponse {
  status: number;
  headers: Headers;
  body: Buffer;
}

export async function post(url: string, body: string | Buffer, headers: Record<string, string>): Promise<RawResponse> {
  const response = await fetch(url, { method: 'POST', body, headers });
  return { status: response.status, headers: response.headers, body: Buffer.from(await response.arrayBuffer()) };
}

export interface SoapResult extends RawResponse {
  envelope: XmlElement;
  /** The Body's first element (response wrapper or Fault). */
  bodyElement: XmlElement;
  /** MTOM parts by Content-ID (without angle brackets). */
  parts: Map<string, Buffer>;
  rootXml: string;
}

/** POST a SOAP 1.1 call and parse the answer (plain XML or MTOM). */
export async function call(baseUrl: string, path: string, soapAction: string, bodyXml: string): Promise<SoapResult> {
  const raw = await post(baseUrl + path, envelope11(bodyXml), { 'content-type': 'text/xml; charset=utf-8', soapaction: `"${soapAction}"` });
  return parseSoapResponse(raw);
}

export function parseSoapResponse(raw: RawResponse): SoapResult {
  const media = contentType.parse(raw.headers.get('content-type') ?? '');
  const parts = new Map<string, Buffer>();
  let rootXml: string;
  if (media.type === 'multipart/related') {
    const parser = new MultipartParser(media.parameters.boundary!, { maxFileSize: 2 ** 31, maxTotalSize: 2 ** 31 });
    const all = [...parser.write(raw.body)];
    parser.finish();
    for (const part of all) parts.set((part.headers['content-id'] ?? '').replace(/^<|>$/g, ''), Buffer.from(part.bytes));
    const rootId = (media.parameters.start ?? '').replace(/^<|>$/g, '');
    rootXml = parts.get(rootId)!.toString('utf8');
    parts.delete(rootId);
  } else {
    rootXml = raw.body.toString('utf8');
  }
  const envelope = parseXml(rootXml, { maxBytes: 2 ** 30, maxDepth: 64, maxElements: 1e6, maxTextLength: 2 ** 30, maxAttributes: 64 });
  const body = childElements(envelope).find((c) => c.local === 'Body')!;
  return { ...raw, envelope, bodyElement: childElements(body)[0]!, parts, rootXml };
}

// ---- reading results ----

export function child(element: XmlElement, local: string, ns?: string): XmlElement {
  const found = childElements(element).find((c) => c.local === local && (ns === undefined || c.ns === ns));
  if (!found) throw new Error(`No child ${local} in ${element.local}`);
  return found;
}

export function children(element: XmlElement, local: string): XmlElement[] {
  return childElements(element).filter((c) => c.local === local);
}

export function text(element: XmlElement, local: string): string {
  return textContent(child(element, local));
}

export function isNilElement(element: XmlElement): boolean {
  return element.attributes.some((a) => a.ns === NS.xsi && a.local === 'nil' && a.value === 'true');
}

/** The AltinnFault of a fault response, or undefined. */
export function altinnFaultOf(result: SoapResult): { errorId: number; message: string } | undefined {
  if (result.bodyElement.local !== 'Fault') return undefined;
  const detail = childElements(result.bodyElement).find((c) => c.local === 'detail' || c.local === 'Detail');
  const fault = detail && childElements(detail).find((c) => c.local === 'AltinnFault');
  if (!fault) return undefined;
  return { errorId: Number(text(fault, 'ErrorID')), message: text(fault, 'AltinnErrorMessage') };
}

export function faultString(result: SoapResult): string {
  const f = result.bodyElement;
  const direct = childElements(f).find((c) => c.local === 'faultstring');
  return direct ? textContent(direct) : textContent(child(child(f, 'Reason'), 'Text'));
}

/** Bytes of an AttachmentData-like element: its XOP part, or inline base64. */
export function binaryOf(result: SoapResult, element: XmlElement): Buffer | null {
  if (isNilElement(element)) return null;
  const include = childElements(element).find((c) => c.local === 'Include' && c.ns === NS.xop);
  if (include) {
    const href = include.attributes.find((a) => a.local === 'href')!.value;
    const part = result.parts.get(decodeURIComponent(href.replace(/^cid:/, '')));
    if (!part) throw new Error(`No MTOM part for ${href}`);
    return part;
  }
  return Buffer.from(textContent(element), 'base64');
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
