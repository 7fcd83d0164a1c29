/**
 * Schema-ordered XML writing. Every member of a complex type is written, in sequence order, with
 * `xsi:nil="true"` for nulls on nillable members, as WCF does: generated Java clients call
 * getValue() on nillable members without null checks, and WCF clients depend on the order.
 * Binary values become XOP includes; their parts are collected for the MTOM writer.
 */
import { createHash } from 'node:crypto';
import { escapeText } from '../xml/writer';
import { ALL_PREFIXES, RESPONSE_PREFIXES } from './namespaces';
import { isBinaryPart, type BinaryPart, type ComplexType, type ElementDescriptor, type FieldDescriptor, type SimpleType } from './schema';

export interface OutboundPart {
  contentId: string;
  part: BinaryPart;
}

/** Collects output chunks (text, or bytes kept from an earlier response) and the binary parts referenced from them. */
export class XmlOutput {
  readonly chunks: (string | Buffer)[] = [];
  readonly parts: OutboundPart[] = [];

  constructor(private readonly contentIdPrefix: string) {}

  push(text: string | Buffer): void {
    this.chunks.push(text);
  }

  addPart(part: BinaryPart): string {
    const contentId = `${this.contentIdPrefix}.${this.parts.length + 1}@altinn-gateway`;
    this.parts.push({ contentId, part });
    return contentId;
  }

  toString(): string {
    return this.chunks.map((c) => (typeof c === 'string' ? c : c.toString('utf8'))).join('');
  }

  /**
   * The output between `head` and `tail` as UTF-8, the form it is sent in: kept bytes are copied
   * once, not decoded and encoded again with the text around them.
   */
  toBuffer(head: string, tail: string): Buffer {
    const buffers: Buffer[] = [];
    let text: string[] = [head];
    for (const chunk of this.chunks) {
      if (typeof chunk === 'string') {
        text.push(chunk);
      } else {
        if (text.length > 0) buffers.push(Buffer.from(text.join('')));
        buffers.push(chunk);
        text = [];
      }
    }
    text.push(tail);
    buffers.push(Buffer.from(text.join('')));
    return buffers.length === 1 ? buffers[0]! : Buffer.concat(buffers);
  }
}

export function qualifiedName(ns: string, local: string): string {
  const prefix = ALL_PREFIXES[ns];
  if (!prefix) throw new Error(`No response prefix registered for namespace ${ns}`);
  return `${prefix}:${local}`;
}

interface Tags {
  open: string;
  close: string;
  nil: string;
  empty: string;
}

// Descriptors are static; their tags are built once rather than for every element written.
const tagCache = new WeakMap<object, Tags>();

function tagsOf(descriptor: { ns: string; name: string }): Tags {
  let tags = tagCache.get(descriptor);
  if (!tags) {
    const name = qualifiedName(descriptor.ns, descriptor.name);
    tags = { open: `<${name}>`, close: `</${name}>`, nil: `<${name} xsi:nil="true"/>`, empty: `<${name}/>` };
    tagCache.set(descriptor, tags);
  }
  return tags;
}

/**
 * An element this writer produced earlier (`serializeMember`), written again as is. Lets a door
 * keep the XML of data that never changes (e.g. an archived queue item) instead of rebuilding it
 * per response. Its prefixes are the ones every response Envelope declares (NAMESPACE_DECLARATIONS).
 */
export interface SerializedXml {
  kind: 'serialized-xml';
  /** UTF-8 bytes or text. */
  xml: Buffer | string;
}

export function serializedXml(xml: Buffer | string): SerializedXml {
  return { kind: 'serialized-xml', xml };
}

function isSerializedXml(value: unknown): value is SerializedXml {
  return typeof value === 'object' && value !== null && (value as SerializedXml).kind === 'serialized-xml';
}

/**
 * One member's element (one item of a repeated member) as XML, for `serializedXml` later. A value
 * with binary parts cannot be kept this way: its content IDs belong to one response.
 */
export function serializeMember(member: FieldDescriptor, value: unknown): string {
  const out = new XmlOutput('kept');
  writeField(out, member, value);
  if (out.parts.length > 0) throw new Error(`${member.name}: a value with binary parts cannot be serialized ahead of its response`);
  return out.toString();
}

/**
 * Bump when this writer's output for the same value changes (escaping, formats, defaults): stored
 * fragments of an older format are then rebuilt rather than served.
 */
const WRITER_VERSION = 1;

/**
 * Identifies the XML `serializeMember(member, …)` writes: the member's descriptor, the response
 * prefixes and the writer's version. A fragment kept under another format is stale.
 */
export function serializedFormat(member: FieldDescriptor): string {
  const hash = createHash('sha256').update(JSON.stringify({ WRITER_VERSION, member, ALL_PREFIXES, NAMESPACE_DECLARATIONS }));
  return `${member.name}/${hash.digest('base64url').slice(0, 16)}`;
}

/** Write a top-level element (e.g. an operation's response wrapper) with its value. */
export function writeElement(out: XmlOutput, element: ElementDescriptor, value: Record<string, unknown>): void {
  const tags = tagsOf(element);
  out.push(tags.open);
  writeMembers(out, element.type, value);
  out.push(tags.close);
}

function writeMembers(out: XmlOutput, type: ComplexType, value: Record<string, unknown>): void {
  for (const member of type.fields) {
    const memberValue = value[member.name];
    if (member.repeated) {
      for (const item of (memberValue as unknown[] | null | undefined) ?? []) writeField(out, member, item);
    } else {
      writeField(out, member, memberValue);
    }
  }
}

function writeField(out: XmlOutput, member: FieldDescriptor, value: unknown): void {
  if (isSerializedXml(value)) {
    out.push(value.xml);
    return;
  }
  const tags = tagsOf(member);
  if (value === null || value === undefined) {
    if (member.nillable) {
      out.push(tags.nil);
      return;
    }
    if (typeof member.type !== 'string') {
      out.push(tags.empty); // non-nillable complex member with no value: an empty instance
      return;
    }
    value = defaultValue(member.type);
  }
  if (typeof member.type !== 'string') {
    out.push(tags.open);
    writeMembers(out, member.type, value as Record<string, unknown>);
    out.push(tags.close);
    return;
  }
  if (member.type === 'base64Binary' && isBinaryPart(value)) {
    const contentId = out.addPart(value);
    out.push(`${tags.open}<xop:Include href="cid:${encodeURIComponent(contentId)}"/>${tags.close}`);
    return;
  }
  out.push(tags.open + escapeText(formatSimple(member.type, value, member.name)) + tags.close);
}

/** What WCF writes for a non-nillable value type that has no value (CLR default). */
function defaultValue(type: SimpleType): unknown {
  switch (type) {
    case 'int':
    case 'long':
      return 0;
    case 'boolean':
      return false;
    case 'dateTime':
      return '0001-01-01T00:00:00';
    default:
      return '';
  }
}

function formatSimple(type: SimpleType, value: unknown, memberName: string): string {
  switch (type) {
    case 'string':
      return String(value);
    case 'int':
    case 'long':
      if (typeof value !== 'number' || !Number.isInteger(value)) throw new Error(`${memberName}: expected an integer, got ${String(value)}`);
      return String(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'dateTime':
      return value instanceof Date ? value.toISOString() : String(value);
    case 'base64Binary':
      if (Buffer.isBuffer(value)) return value.toString('base64');
      throw new Error(`${memberName}: expected binary content`);
  }
}

/** Declarations of the given namespaces with their prefixes, for an Envelope start tag. */
export function namespaceDeclarations(namespaces: Iterable<string>): string {
  return [...new Set(namespaces)]
    .map((ns) => {
      const prefix = ALL_PREFIXES[ns];
      if (!prefix) throw new Error(`No response prefix registered for namespace ${ns}`);
      return ` xmlns:${prefix}="${ns}"`;
    })
    .join('');
}

/** The namespace declarations written once on every DownloadQueue/archive response Envelope. */
export const NAMESPACE_DECLARATIONS = namespaceDeclarations(Object.keys(RESPONSE_PREFIXES));
