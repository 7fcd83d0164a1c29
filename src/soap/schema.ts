/**
 * A small model of the XML Schema subset the Altinn contracts use (sequences of possibly nillable,
 * possibly repeated elements of simple or complex type), enough to decode requests and to write
 * responses in schema order. Contract modules describe their types with it once.
 */
import type { Readable } from 'node:stream';

export type SimpleType = 'string' | 'int' | 'long' | 'boolean' | 'dateTime' | 'base64Binary';

export interface ComplexType {
  /** Name for messages and debugging, e.g. 'dq:DownloadQueueItemBE'. */
  name: string;
  fields: FieldDescriptor[];
}

export interface FieldDescriptor {
  name: string;
  /** Namespace of the schema that DECLARES the element (not of its type). */
  ns: string;
  type: SimpleType | ComplexType;
  nillable: boolean;
  /** maxOccurs="unbounded" (value is an array). */
  repeated?: boolean;
  /** minOccurs="1" in a request: absence is a client error. */
  required?: boolean;
  /**
   * A base64Binary request member the operation reads as a stream (an `InboundBinary`): an MTOM
   * part is not held in memory nor counted against the request limit; inline base64 is bounded
   * by the XML limits.
   */
  streamed?: boolean;
}

/** A top-level element: an operation's request or response wrapper. */
export interface ElementDescriptor {
  name: string;
  ns: string;
  type: ComplexType;
}

/** Binary content that travels as an MTOM/XOP part, streamed when the response is written. */
export interface BinaryPart {
  kind: 'binary';
  contentType: string;
  /** Byte length when known up front (lets the response carry Content-Length). */
  sizeBytes?: number;
  open(): NodeJS.ReadableStream | AsyncIterable<Uint8Array>;
}

/** A streamed binary request member, as the operation receives it. */
export interface InboundBinary {
  kind: 'inbound-binary';
  /** The bytes as they arrive; once. The stream fails if the part is missing or the body breaks off. */
  open(): Readable;
}

export function isInboundBinary(value: unknown): value is InboundBinary {
  return typeof value === 'object' && value !== null && (value as InboundBinary).kind === 'inbound-binary';
}

export function isBinaryPart(value: unknown): value is BinaryPart {
  return typeof value === 'object' && value !== null && (value as BinaryPart).kind === 'binary';
}

export function field(
  name: string,
  ns: string,
  type: SimpleType | ComplexType,
  options: { nillable?: boolean; repeated?: boolean; required?: boolean; streamed?: boolean } = {},
): FieldDescriptor {
  const descriptor: FieldDescriptor = { name, ns, type, nillable: options.nillable ?? false, repeated: options.repeated, required: options.required };
  if (options.streamed) descriptor.streamed = true;
  return descriptor;
}

/** True when the element has a streamed member anywhere below it. */
export function hasStreamedMember(type: ComplexType, seen = new Set<ComplexType>()): boolean {
  if (seen.has(type)) return false;
  seen.add(type);
  return type.fields.some((f) => f.streamed === true || (typeof f.type !== 'string' && hasStreamedMember(f.type, seen)));
}

/** A list type: a sequence of one repeated, nillable element (how WCF shapes collections). */
export function listOf(name: string, itemName: string, ns: string, itemType: ComplexType): ComplexType {
  return { name, fields: [field(itemName, ns, itemType, { nillable: true, repeated: true })] };
}
