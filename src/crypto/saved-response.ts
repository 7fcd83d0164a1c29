/**
 * A SOAP response saved to a file, as a service owner keeps it: the raw MTOM body (its boundary
 * given by the Content-Type or read from the first line), or plain XML. Binary members resolve to
 * byte sources (an MTOM part's range in the file, inline base64, or, in an `archive export`
 * folder, the file beside the XML that the xop:Include names) that stream without loading.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import * as contentType from 'content-type';
import { childElements, isNil, parseXml, textContent, XOP_NS, type XmlElement, type XmlLimits } from '../xml/parser';
import { indexMultipartFile, openPart, readPart, sniffBoundary, type FilePart } from '../soap/multipart-file';

export class SavedResponseError extends Error {
  override name = 'SavedResponseError';
}

export interface ByteSource {
  /** Where the bytes are, for messages. */
  description: string;
  open(): Readable;
}

export interface SavedResponse {
  envelope: XmlElement;
  /** The bytes of a base64Binary member: undefined when it is nil. */
  binaryOf(element: XmlElement): ByteSource | undefined;
}

// The owner's own file: form data and inline attachments can be large.
const SAVED_RESPONSE_LIMITS: XmlLimits = {
  maxBytes: 2 * 1024 * 1024 * 1024,
  maxDepth: 64,
  maxElements: 10_000_000,
  maxTextLength: 1024 * 1024 * 1024,
  maxAttributes: 64,
};

export async function readSavedResponse(file: string, options: { contentType?: string } = {}): Promise<SavedResponse> {
  const media = options.contentType ? parseContentType(options.contentType) : undefined;
  const boundary = media?.type === 'multipart/related' ? media.parameters.boundary : media ? undefined : await sniffBoundary(file);
  if (media?.type === 'multipart/related' && !boundary) throw new SavedResponseError('The Content-Type has no boundary parameter');
  if (boundary) return readMultipartResponse(file, boundary, media?.parameters.start);

  const envelope = parseXml(await fs.promises.readFile(file), SAVED_RESPONSE_LIMITS);
  return { envelope, binaryOf: (element) => binaryOf(element, undefined, file) };
}

async function readMultipartResponse(file: string, boundary: string, start: string | undefined): Promise<SavedResponse> {
  const parts = await indexMultipartFile(file, boundary);
  const contentId = (part: FilePart) => stripAngles(part.headers['content-id'] ?? '');
  const rootId = start ? stripAngles(start) : undefined;
  const root = rootId ? parts.find((part) => contentId(part) === rootId) : parts[0];
  if (!root) throw new SavedResponseError(rootId ? `No MIME part with Content-ID <${rootId}>` : 'The multipart message has no parts');
  const envelope = parseXml(await readPart(file, root), SAVED_RESPONSE_LIMITS);
  const byId = new Map(parts.map((part) => [contentId(part), part]));
  return { envelope, binaryOf: (element) => binaryOf(element, byId, file) };
}

function binaryOf(element: XmlElement, parts: Map<string, FilePart> | undefined, file: string): ByteSource | undefined {
  if (isNil(element)) return undefined;
  const include = childElements(element).find((c) => c.local === 'Include' && c.ns === XOP_NS);
  if (!include) {
    const bytes = Buffer.from(textContent(element).replace(/\s+/g, ''), 'base64');
    return { description: `inline ${element.local}`, open: () => Readable.from([bytes]) };
  }
  const href = include.attributes.find((a) => a.local === 'href' && a.ns === '')?.value ?? '';
  const id = decodeCid(href.replace(/^cid:/i, ''));
  const part = parts?.get(id);
  if (part) return { description: `MIME part <${id}>`, open: () => openPart(file, part) };
  return besideFile(file, id, href);
}

/** In an export folder, a Content-ID is the path of the attachment file relative to the XML. */
function besideFile(xmlFile: string, id: string, href: string): ByteSource {
  const dir = path.dirname(path.resolve(xmlFile));
  const candidate = path.resolve(dir, id);
  if (!candidate.startsWith(dir + path.sep) || !fs.existsSync(candidate)) {
    throw new SavedResponseError(`xop:Include ${href} names no part of the message and no file beside it`);
  }
  return { description: candidate, open: () => fs.createReadStream(candidate, { highWaterMark: 256 * 1024 }) };
}

function parseContentType(value: string): { type: string; parameters: Record<string, string> } {
  try {
    return contentType.parse(value);
  } catch {
    throw new SavedResponseError(`The Content-Type '${value}' could not be parsed`);
  }
}

function stripAngles(id: string): string {
  return id.trim().replace(/^<(.*)>$/, '$1');
}

function decodeCid(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** The first element with this local name, depth first. */
export function findElement(root: XmlElement, local: string): XmlElement | undefined {
  if (root.local === local) return root;
  for (const child of childElements(root)) {
    const found = findElement(child, local);
    if (found) return found;
  }
  return undefined;
}

/** A SOAP Fault's message, when the saved response is a fault. */
export function faultMessage(envelope: XmlElement): string | undefined {
  const fault = findElement(envelope, 'Fault');
  if (!fault) return undefined;
  const reason = findElement(fault, 'faultstring') ?? findElement(fault, 'Text');
  return reason ? textContent(reason).trim() : 'SOAP Fault';
}
