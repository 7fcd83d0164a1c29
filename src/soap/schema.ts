/**
 * A small model of the XML Schema subset the Altinn contracts use (sequences of possibly nillable,
 * possibly repeated elements of simple or complex type), enough to decode requests and to write
 * responses in schema order. Contract modules describe their types with it once.
 */
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

export function isBinaryPart(value: unknown): value is BinaryPart {
  return typeof value === 'object' && value !== null && (value as BinaryPart).kind === 'binary';
}

export function field(
  name: string,
  ns: string,
  type: SimpleType | ComplexType,
  options: { nillable?: boolean; repeated?: boolean; required?: boolean } = {},
): FieldDescriptor {
  return { name, ns, type, nillable: options.nillable ?? false, repeated: options.repeated, required: options.required };
}

/** A list type: a sequence of one repeated, nillable element (how WCF shapes collections). */
export function listOf(name: string, itemName: string, ns: string, itemType: ComplexType): ComplexType {
  return { name, fields: [field(itemName, ns, itemType, { nillable: true, repeated: true })] };
}
