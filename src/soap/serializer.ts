/**
 * Schema-ordered XML writing. Every member of a complex type is written, in sequence order, with
 * `xsi:nil="true"` for nulls on nillable members, as WCF does: generated Java clients call
 * getValue() on nillable members without null checks, and WCF clients depend on the order.
 * Binary values become XOP includes; their parts are collected for the MTOM writer.
 */
import { escapeText } from '../xml/writer';
import { RESPONSE_PREFIXES } from './namespaces';
import { isBinaryPart, type BinaryPart, type ComplexType, type ElementDescriptor, type FieldDescriptor, type SimpleType } from './schema';

export interface OutboundPart {
  contentId: string;
  part: BinaryPart;
}

/** Collects output chunks and the binary parts referenced from them. */
export class XmlOutput {
  readonly chunks: string[] = [];
  readonly parts: OutboundPart[] = [];

  constructor(private readonly contentIdPrefix: string) {}

  push(text: string): void {
    this.chunks.push(text);
  }

  addPart(part: BinaryPart): string {
    const contentId = `${this.contentIdPrefix}.${this.parts.length + 1}@altinn-gateway`;
    this.parts.push({ contentId, part });
    return contentId;
  }

  toString(): string {
    return this.chunks.join('');
  }
}

export function qualifiedName(ns: string, local: string): string {
  const prefix = RESPONSE_PREFIXES[ns];
  if (!prefix) throw new Error(`No response prefix registered for namespace ${ns}`);
  return `${prefix}:${local}`;
}

/** Write a top-level element (e.g. an operation's response wrapper) with its value. */
export function writeElement(out: XmlOutput, element: ElementDescriptor, value: Record<string, unknown>): void {
  const name = qualifiedName(element.ns, element.name);
  out.push(`<${name}>`);
  writeMembers(out, element.type, value);
  out.push(`</${name}>`);
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
  const name = qualifiedName(member.ns, member.name);
  if (value === null || value === undefined) {
    if (member.nillable) {
      out.push(`<${name} xsi:nil="true"/>`);
      return;
    }
    if (typeof member.type !== 'string') {
      out.push(`<${name}/>`); // non-nillable complex member with no value: an empty instance
      return;
    }
    value = defaultValue(member.type);
  }
  if (typeof member.type !== 'string') {
    out.push(`<${name}>`);
    writeMembers(out, member.type, value as Record<string, unknown>);
    out.push(`</${name}>`);
    return;
  }
  if (member.type === 'base64Binary' && isBinaryPart(value)) {
    const contentId = out.addPart(value);
    out.push(`<${name}><xop:Include href="cid:${encodeURIComponent(contentId)}"/></${name}>`);
    return;
  }
  out.push(`<${name}>${escapeText(formatSimple(member.type, value, member.name))}</${name}>`);
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

/** The namespace declarations written once on every response Envelope. */
export const NAMESPACE_DECLARATIONS = Object.entries(RESPONSE_PREFIXES)
  .map(([ns, prefix]) => ` xmlns:${prefix}="${ns}"`)
  .join('');
