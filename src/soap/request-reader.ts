/**
 * Reads a SOAP request body into an envelope tree, as it streams in and never beyond the size
 * limit. Accepts SOAP 1.1 (`text/xml`), SOAP 1.2 (`application/soap+xml`) and MTOM
 * (`multipart/related; type="application/xop+xml"`, which Spring-WS/CXF clients with MTOM on send
 * for every call); in MTOM, `xop:Include` references are resolved from the other parts.
 */
import * as contentType from 'content-type';
import { MultipartParser, MultipartParseError, type MultipartPart } from '@remix-run/multipart-parser';
import type { Limits } from '../config';
import { XmlRejectedError, XmlTreeParser, type XmlElement } from '../xml/parser';
import { clientFault, SoapFault } from './fault';
import { XOP } from './namespaces';

export type SoapVersion = '1.1' | '1.2';

export interface SoapRequest {
  envelope: XmlElement;
  soapVersion: SoapVersion;
  /** SOAPAction header (1.1) or the `action` media-type parameter (1.2), unquoted; '' when absent. */
  action: string;
  mtom: boolean;
}

interface ParsedMediaType {
  type: string;
  parameters: Record<string, string>;
}

function parseMediaType(header: string | undefined): ParsedMediaType {
  if (!header) throw clientFault('The request has no Content-Type; expected text/xml, application/soap+xml or multipart/related');
  try {
    return contentType.parse(header);
  } catch {
    throw clientFault(`The Content-Type '${header}' could not be parsed`);
  }
}

function versionOf(mediaType: string): SoapVersion | undefined {
  if (mediaType === 'text/xml') return '1.1';
  if (mediaType === 'application/soap+xml') return '1.2';
  return undefined;
}

function unquote(value: string | undefined): string {
  return (value ?? '').trim().replace(/^"(.*)"$/, '$1');
}

export async function readSoapRequest(
  body: AsyncIterable<Buffer>,
  headers: { contentType?: string; soapAction?: string },
  limits: Limits,
): Promise<SoapRequest> {
  const media = parseMediaType(headers.contentType);
  const xmlLimits = {
    maxBytes: limits.maxRequestBytes,
    maxDepth: limits.maxXmlDepth,
    maxElements: limits.maxXmlElements,
    maxTextLength: limits.maxXmlTextLength,
    maxAttributes: 64,
  };
  try {
    const direct = versionOf(media.type);
    if (direct) {
      const parser = new XmlTreeParser(xmlLimits);
      for await (const chunk of body) parser.write(chunk);
      const action = direct === '1.1' ? unquote(headers.soapAction) : unquote(media.parameters.action);
      return { envelope: parser.end(), soapVersion: direct, action, mtom: false };
    }
    if (media.type === 'multipart/related') return await readMtomRequest(body, media, headers, limits, xmlLimits);
  } catch (error) {
    if (error instanceof XmlRejectedError) throw clientFault(error.message);
    if (error instanceof MultipartParseError) throw clientFault(`Malformed MTOM (multipart/related) request: ${error.message}`);
    throw error;
  }
  throw clientFault(`Unsupported Content-Type '${media.type}'; expected text/xml, application/soap+xml or multipart/related (MTOM)`);
}

async function readMtomRequest(
  body: AsyncIterable<Buffer>,
  media: ParsedMediaType,
  headers: { soapAction?: string },
  limits: Limits,
  xmlLimits: ConstructorParameters<typeof XmlTreeParser>[0],
): Promise<SoapRequest> {
  const { boundary, start, type } = media.parameters;
  if (!boundary) throw clientFault('The multipart/related request has no boundary parameter');
  if (type && type.toLowerCase() !== 'application/xop+xml') {
    throw clientFault(`Unsupported multipart/related type '${type}'; expected application/xop+xml (MTOM)`);
  }
  const parser = new MultipartParser(boundary, {
    maxHeaderSize: 16 * 1024,
    maxFileSize: limits.maxRequestBytes,
    maxTotalSize: limits.maxRequestBytes,
    maxParts: 100,
  });
  const parts: MultipartPart[] = [];
  let received = 0;
  // RFC 2046 allows a preamble before the first boundary (CXF starts every body with CRLF) and an
  // epilogue after the closing one (e.g. its CRLF arriving in a later chunk); the parser takes neither.
  let preamble: Buffer | undefined = Buffer.alloc(0);
  let finished = false;
  for await (const chunk of body) {
    received += chunk.length;
    if (received > limits.maxRequestBytes) throw clientFault(`The request is larger than ${limits.maxRequestBytes} bytes`);
    if (finished) continue;
    let data = chunk;
    if (preamble) {
      data = Buffer.concat([preamble, chunk]);
      const at = data.indexOf(`--${boundary}`);
      if (at === -1 && data.length < 16 * 1024) {
        preamble = data;
        continue;
      }
      preamble = undefined;
      if (at > 0) data = data.subarray(at);
    }
    for (const part of parser.write(data)) parts.push(part);
    finished = isFinished(parser);
  }
  if (preamble?.length) for (const part of parser.write(preamble)) parts.push(part);
  parser.finish();

  const rootId = start ? stripAngles(start) : undefined;
  const root = rootId ? parts.find((p) => stripAngles(p.headers['content-id'] ?? '') === rootId) : parts[0];
  if (!root) throw clientFault(rootId ? `The MTOM request has no part with Content-ID <${rootId}> (the start parameter)` : 'The MTOM request has no parts');

  const rootMedia = parseMediaType(root.headers['content-type']);
  // The inner type may carry parameters, e.g. CXF's `type="application/soap+xml; action=\"…\""`.
  const innerHeader = rootMedia.parameters.type ?? media.parameters['start-info'];
  const inner = innerHeader ? parseMediaType(innerHeader) : { type: '', parameters: {} as Record<string, string> };
  const innerType = inner.type;
  const soapVersion = rootMedia.type === 'application/xop+xml' ? versionOf(innerType) : versionOf(rootMedia.type);
  if (!soapVersion) throw clientFault(`The MTOM root part has an unsupported type '${rootMedia.type}; type=${innerType}'`);

  const xml = new XmlTreeParser(xmlLimits);
  for (const chunk of root.content) xml.write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  const envelope = xml.end();
  resolveXopIncludes(envelope, parts);

  const action =
    unquote(headers.soapAction) || unquote(inner.parameters.action) || unquote(rootMedia.parameters.action) || unquote(media.parameters.action);
  return { envelope, soapVersion, action, mtom: true };
}

function isFinished(parser: MultipartParser): boolean {
  try {
    parser.finish();
    return true;
  } catch {
    return false;
  }
}

/** A cid: URL's Content-ID (RFC 2392: URL-encoded); taken as written when it is not valid percent-encoding. */
function decodeCid(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

function stripAngles(id: string): string {
  return id.trim().replace(/^<(.*)>$/, '$1');
}

/** Replace each `<xop:Include href="cid:…"/>` with the base64 text of the part it names (XOP §3). */
function resolveXopIncludes(element: XmlElement, parts: MultipartPart[]): void {
  element.children = element.children.map((child) => {
    if (typeof child === 'string') return child;
    if (child.ns === XOP && child.local === 'Include') {
      const href = child.attributes.find((a) => a.local === 'href' && a.ns === '')?.value ?? '';
      const id = decodeCid(href.replace(/^cid:/i, ''));
      const part = parts.find((p) => stripAngles(p.headers['content-id'] ?? '') === id);
      if (!part) throw new SoapFault('Client', `xop:Include refers to a missing MIME part '${href}'`);
      return Buffer.from(part.bytes).toString('base64');
    }
    resolveXopIncludes(child, parts);
    return child;
  });
}
