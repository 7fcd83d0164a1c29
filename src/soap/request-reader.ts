/**
 * Reads a SOAP request body into an envelope tree, as it streams in and never beyond the size
 * limit. Accepts SOAP 1.1 (`text/xml`), SOAP 1.2 (`application/soap+xml`) and MTOM
 * (`multipart/related; type="application/xop+xml"`, which Spring-WS/CXF/Metro clients with MTOM on
 * send for every call, even without binary content).
 *
 * `openSoapRequest` reads only up to the end of the MTOM root part (the envelope); the parts after
 * it stay unread until the operation is known. An operation that takes a binary member as a stream
 * gets that part's bytes as they arrive (`RequestAttachments.open`), and the size limit applies to
 * the XML and to parts held in memory, never to a streamed part (its consumer bounds it). Every
 * other operation has the remaining parts read into memory, within the limit, and each
 * `xop:Include` replaced by the base64 of its part (`inlineAll`): what `readSoapRequest` does.
 * Those replacements count against the limit too (each Include is a copy of its part).
 */
import { Readable } from 'node:stream';
import * as contentType from 'content-type';
import type { Limits } from '../config';
import { XmlRejectedError, XmlTreeParser, type XmlElement } from '../xml/parser';
import { clientFault, SoapFault } from './fault';
import { MultipartFormatError, MultipartStreamReader, type PartHead } from './multipart-reader';
import { XOP } from './namespaces';

export type SoapVersion = '1.1' | '1.2';

export interface SoapRequest {
  envelope: XmlElement;
  soapVersion: SoapVersion;
  /** SOAPAction header (1.1) or the `action` media-type parameter (1.2), unquoted; '' when absent. */
  action: string;
  mtom: boolean;
}

/** The MTOM parts after the root, not read yet. */
export interface RequestAttachments {
  /**
   * Reads every part not read yet into memory (within the request limit) and replaces each
   * `xop:Include` under `element` with the base64 text of the part it names.
   */
  inlineAll(element: XmlElement): Promise<void>;
  /**
   * The content of the part an `xop:Include` href names, as it arrives. Parts before it are held in
   * memory (within the limit). A missing part makes the stream fail with a Client fault.
   */
  open(href: string): Readable;
  /**
   * Reads and discards what the client is still sending, up to `maxBytes`: true when the body was
   * read to its end (the connection can be reused, and a client that writes its whole request
   * before it reads sees our answer).
   */
  discardRest(maxBytes: number): Promise<boolean>;
}

export interface OpenedSoapRequest extends SoapRequest {
  attachments: RequestAttachments;
}

interface ParsedMediaType {
  type: string;
  parameters: Record<string, string>;
}

/** Most parts in one MTOM request, and the largest header block of a part. */
const MAX_PARTS = 100;
const MAX_PART_HEADER_BYTES = 16 * 1024;
const MAX_PREAMBLE_BYTES = 16 * 1024;

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

/** Reads the whole request, every xop:Include resolved to base64 text (bounded by the limit). */
export async function readSoapRequest(
  body: AsyncIterable<Buffer>,
  headers: { contentType?: string; soapAction?: string },
  limits: Limits,
): Promise<SoapRequest> {
  const { attachments, ...request } = await openSoapRequest(body, headers, limits);
  await attachments.inlineAll(request.envelope);
  return request;
}

/** Reads the request up to the end of its envelope; the MTOM parts after it are left to `attachments`. */
export async function openSoapRequest(
  body: AsyncIterable<Buffer>,
  headers: { contentType?: string; soapAction?: string },
  limits: Limits,
): Promise<OpenedSoapRequest> {
  const media = parseMediaType(headers.contentType);
  try {
    const direct = versionOf(media.type);
    if (direct) {
      const parser = new XmlTreeParser(xmlLimits(limits, limits.maxRequestBytes));
      for await (const chunk of body) parser.write(chunk);
      const action = direct === '1.1' ? unquote(headers.soapAction) : unquote(media.parameters.action);
      return { envelope: parser.end(), soapVersion: direct, action, mtom: false, attachments: NO_ATTACHMENTS };
    }
    if (media.type === 'multipart/related') return await openMtomRequest(body, media, headers, limits);
  } catch (error) {
    throw asFault(error);
  }
  throw clientFault(`Unsupported Content-Type '${media.type}'; expected text/xml, application/soap+xml or multipart/related (MTOM)`);
}

function xmlLimits(limits: Limits, maxBytes: number): ConstructorParameters<typeof XmlTreeParser>[0] {
  return { maxBytes, maxDepth: limits.maxXmlDepth, maxElements: limits.maxXmlElements, maxTextLength: limits.maxXmlTextLength, maxAttributes: 64 };
}

function asFault(error: unknown): unknown {
  if (error instanceof XmlRejectedError) return clientFault(error.message);
  if (error instanceof MultipartFormatError) return clientFault(`Malformed MTOM (multipart/related) request: ${error.message}`);
  return error;
}

const NO_ATTACHMENTS: RequestAttachments = {
  inlineAll: async (element) => resolveXopIncludes(element, () => undefined, 0),
  open: (href) => failingStream(missingPart(href)),
  discardRest: async () => true,
};

async function openMtomRequest(
  body: AsyncIterable<Buffer>,
  media: ParsedMediaType,
  headers: { soapAction?: string },
  limits: Limits,
): Promise<OpenedSoapRequest> {
  const { boundary, start, type } = media.parameters;
  if (!boundary) throw clientFault('The multipart/related request has no boundary parameter');
  if (type && type.toLowerCase() !== 'application/xop+xml') {
    throw clientFault(`Unsupported multipart/related type '${type}'; expected application/xop+xml (MTOM)`);
  }
  const reader = new MultipartStreamReader(body, boundary, {
    maxHeaderBytes: MAX_PART_HEADER_BYTES,
    maxParts: MAX_PARTS,
    maxPreambleBytes: MAX_PREAMBLE_BYTES,
  });
  const attachments = new MtomAttachments(reader, limits.maxRequestBytes);

  // The root is the part `start` names, else the first; parts before it are held for later.
  const rootId = start ? stripAngles(start) : undefined;
  let root: { head: PartHead; content: Buffer } | undefined;
  for (;;) {
    const head = await reader.nextPart();
    if (!head) break;
    const content = await attachments.readWhole();
    if (rootId === undefined || contentIdOf(head) === rootId) {
      root = { head, content };
      break;
    }
    attachments.hold(head, content);
  }
  if (!root) throw clientFault(rootId ? `The MTOM request has no part with Content-ID <${rootId}> (the start parameter)` : 'The MTOM request has no parts');

  const rootMedia = parseMediaType(root.head.headers['content-type']);
  // The inner type may carry parameters, e.g. CXF's `type="application/soap+xml; action=\"…\""`.
  const innerHeader = rootMedia.parameters.type ?? media.parameters['start-info'];
  const inner = innerHeader ? parseMediaType(innerHeader) : { type: '', parameters: {} as Record<string, string> };
  const soapVersion = rootMedia.type === 'application/xop+xml' ? versionOf(inner.type) : versionOf(rootMedia.type);
  if (!soapVersion) throw clientFault(`The MTOM root part has an unsupported type '${rootMedia.type}; type=${inner.type}'`);

  const xml = new XmlTreeParser(xmlLimits(limits, limits.maxRequestBytes));
  xml.write(root.content);
  const envelope = xml.end();

  const action =
    unquote(headers.soapAction) || unquote(inner.parameters.action) || unquote(rootMedia.parameters.action) || unquote(media.parameters.action);
  return { envelope, soapVersion, action, mtom: true, attachments };
}

/** The parts of an MTOM request after (and any before) its root. */
class MtomAttachments implements RequestAttachments {
  /** Parts read into memory, by Content-ID. */
  private readonly held = new Map<string, Buffer>();
  /** Bytes held in memory so far (root included), against the request limit. */
  private heldBytes = 0;

  constructor(
    private readonly reader: MultipartStreamReader,
    private readonly maxBytes: number,
  ) {}

  /** The current part's content, in memory, counted against the limit. */
  async readWhole(): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for (let chunk = await this.reader.readContent(); chunk; chunk = await this.reader.readContent()) {
      this.heldBytes += chunk.length;
      if (this.heldBytes > this.maxBytes) throw clientFault(`The request is larger than ${this.maxBytes} bytes`);
      chunks.push(chunk);
    }
    return Buffer.concat(chunks);
  }

  hold(head: PartHead, content: Buffer): void {
    const id = contentIdOf(head);
    if (id !== undefined) this.held.set(id, content);
  }

  async inlineAll(element: XmlElement): Promise<void> {
    try {
      for (let head = await this.reader.nextPart(); head; head = await this.reader.nextPart()) this.hold(head, await this.readWhole());
      // An epilogue after the closing boundary is read too: left in the socket it would look like the next request.
      if (!(await this.reader.discardRest(Math.max(0, this.maxBytes - this.heldBytes)))) {
        throw clientFault(`The request is larger than ${this.maxBytes} bytes`);
      }
    } catch (error) {
      throw asFault(error);
    }
    resolveXopIncludes(element, (id) => this.held.get(id), this.maxBytes);
  }

  open(href: string): Readable {
    const id = contentIdOfHref(href);
    const held = this.held.get(id);
    if (held) return Readable.from([held], { objectMode: false });
    let located = false;
    return new PartStream(async () => {
      try {
        if (!located) {
          await this.advanceTo(id, href);
          located = true;
        }
        return await this.reader.readContent();
      } catch (error) {
        throw asFault(error);
      }
    });
  }

  private async advanceTo(id: string, href: string): Promise<void> {
    for (;;) {
      const head = await this.reader.nextPart();
      if (!head) throw missingPart(href);
      if (contentIdOf(head) === id) return;
      this.hold(head, await this.readWhole());
    }
  }

  discardRest(maxBytes: number): Promise<boolean> {
    return this.reader.discardRest(maxBytes);
  }
}

/** A part's content as a Readable, pulled slice by slice (never faster than its consumer reads). */
class PartStream extends Readable {
  constructor(private readonly next: () => Promise<Buffer | null>) {
    super();
  }

  override _read(): void {
    this.next().then(
      (chunk) => {
        if (!this.destroyed) this.push(chunk);
      },
      (error: unknown) => this.destroy(error as Error),
    );
  }
}

function failingStream(error: Error): Readable {
  return new Readable({
    read() {
      this.destroy(error);
    },
  });
}

function missingPart(href: string): SoapFault {
  return new SoapFault('Client', `xop:Include refers to a missing MIME part '${href}'`);
}

function contentIdOf(head: PartHead): string | undefined {
  const id = head.headers['content-id'];
  return id === undefined ? undefined : stripAngles(id);
}

/** A cid: URL's Content-ID (RFC 2392: URL-encoded); taken as written when it is not valid percent-encoding. */
function contentIdOfHref(href: string): string {
  const value = href.replace(/^cid:/i, '');
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

function stripAngles(id: string): string {
  return id.trim().replace(/^<(.*)>$/, '$1');
}

/** The href of an element that is an `xop:Include`, else undefined. */
export function xopIncludeHref(element: XmlElement): string | undefined {
  if (element.ns !== XOP || element.local !== 'Include') return undefined;
  return element.attributes.find((a) => a.local === 'href' && a.ns === '')?.value ?? '';
}

/**
 * Replace each `<xop:Include href="cid:…"/>` with the base64 text of the part it names (XOP §3).
 * Each Include makes its own copy, so what they resolve to is counted against the request limit
 * (`maxBytes`, in decoded bytes): many Includes of one part would otherwise grow memory far beyond
 * the bytes received, before the caller is even authenticated.
 */
function resolveXopIncludes(element: XmlElement, partById: (id: string) => Buffer | undefined, maxBytes: number): void {
  let resolvedBytes = 0;
  const resolve = (parent: XmlElement): void => {
    parent.children = parent.children.map((child) => {
      if (typeof child === 'string') return child;
      const href = xopIncludeHref(child);
      if (href !== undefined) {
        const part = partById(contentIdOfHref(href));
        if (!part) throw missingPart(href);
        resolvedBytes += part.length;
        if (resolvedBytes > maxBytes) {
          throw clientFault(`The xop:Include elements of the request resolve to more than ${maxBytes} bytes (the request limit)`);
        }
        return part.toString('base64');
      }
      resolve(child);
      return child;
    });
  };
  resolve(element);
}
