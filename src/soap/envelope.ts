/**
 * Envelope checks and request decoding: the Envelope's namespace must match the transport's SOAP
 * version, headers marked mustUnderstand must be ones we understand, and the Body's element (and
 * the header elements an operation binds, found by QName in any order) are decoded against their
 * schema descriptors into plain values.
 */
import { Readable } from 'node:stream';
import { attribute, childElements, isNil, textContent, type XmlElement } from '../xml/parser';
import { clientFault, SoapFault } from './fault';
import { SOAP11_ENV, SOAP12_ENV, WS_ADDRESSING_2004, WS_ADDRESSING_2005, WS_SECURITY } from './namespaces';
import { xopIncludeHref, type RequestAttachments, type SoapVersion } from './request-reader';
import type { ComplexType, ElementDescriptor, FieldDescriptor, InboundBinary } from './schema';

const UNDERSTOOD_HEADER_NAMESPACES = new Set([WS_ADDRESSING_2005, WS_ADDRESSING_2004, WS_SECURITY]);

export interface EnvelopeContent {
  /** The Body's single child: the operation's request element. */
  bodyElement: XmlElement;
  /** wsa:Action from a WS-Addressing header, if any (a dispatch hint when SOAPAction is empty). */
  addressingAction: string | undefined;
  /** The Header's child elements (empty without a Header). */
  headerElements: XmlElement[];
}

/**
 * `understands` names the further header elements the service binds to operation parameters
 * (e.g. the broker upload's FileName): they may carry mustUnderstand too.
 */
export function openEnvelope(envelope: XmlElement, soapVersion: SoapVersion, understands?: (ns: string, local: string) => boolean): EnvelopeContent {
  const envNs = soapVersion === '1.1' ? SOAP11_ENV : SOAP12_ENV;
  if (envelope.local !== 'Envelope' || (envelope.ns !== SOAP11_ENV && envelope.ns !== SOAP12_ENV)) {
    throw clientFault(`The request is not a SOAP envelope (root element is {${envelope.ns}}${envelope.local})`);
  }
  if (envelope.ns !== envNs) {
    throw new SoapFault('VersionMismatch', `The envelope namespace ${envelope.ns} does not match the SOAP ${soapVersion} content type`);
  }
  const children = childElements(envelope);
  const header = children.find((c) => c.ns === envNs && c.local === 'Header');
  const body = children.find((c) => c.ns === envNs && c.local === 'Body');
  if (!body) throw clientFault('The SOAP envelope has no Body');

  let addressingAction: string | undefined;
  const headerElements = header ? childElements(header) : [];
  for (const entry of headerElements) {
    const mustUnderstand = attribute(entry, envNs, 'mustUnderstand');
    if ((mustUnderstand === '1' || mustUnderstand === 'true') && !UNDERSTOOD_HEADER_NAMESPACES.has(entry.ns) && !understands?.(entry.ns, entry.local)) {
      throw new SoapFault('MustUnderstand', `Header {${entry.ns}}${entry.local} was marked mustUnderstand but is not understood by this service`);
    }
    if ((entry.ns === WS_ADDRESSING_2005 || entry.ns === WS_ADDRESSING_2004) && entry.local === 'Action') {
      addressingAction = textContent(entry).trim();
    }
  }
  const [bodyElement, ...more] = childElements(body);
  if (!bodyElement) throw clientFault('The SOAP Body is empty');
  if (more.length > 0) throw clientFault('The SOAP Body has more than one element');
  return { bodyElement, addressingAction, headerElements };
}

export interface DecodeOptions {
  /** Where `xop:Include`s of streamed members are read from (MTOM); without it they are refused. */
  attachments?: RequestAttachments;
}

/**
 * Decode a request element into `{ memberName: value }`: strings, numbers, booleans; null for
 * absent or xsi:nil members (zeep omits absent arguments, Java sends nil). Unknown members are
 * ignored, as a lenient WCF service would with extra data.
 */
export function decodeRequest(element: XmlElement, descriptor: ElementDescriptor, options: DecodeOptions = {}): Record<string, unknown> {
  return decodeComplex(element, descriptor.type, options);
}

/**
 * Decode the header elements bound to operation parameters into `{ elementName: value }`, each
 * found by its QName wherever it stands in the Header (clients order them differently); absent or
 * nil → null. A header sent twice is refused: which one would count is anyone's guess.
 */
export function decodeHeaders(headerElements: XmlElement[], descriptors: FieldDescriptor[], options: DecodeOptions = {}): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const descriptor of descriptors) {
    const matches = headerElements.filter((h) => h.local === descriptor.name && h.ns === descriptor.ns);
    if (matches.length > 1) throw clientFault(`The SOAP header ${descriptor.name} is given more than once`);
    const match = matches[0];
    if (!match) {
      if (descriptor.required) throw clientFault(`The request is missing the required SOAP header ${descriptor.name}`);
      result[descriptor.name] = null;
      continue;
    }
    result[descriptor.name] = decodeValue(match, descriptor, options);
  }
  return result;
}

function decodeComplex(element: XmlElement, type: ComplexType, options: DecodeOptions): Record<string, unknown> {
  const children = childElements(element);
  const result: Record<string, unknown> = {};
  for (const member of type.fields) {
    const matches = children.filter((c) => c.local === member.name && c.ns === member.ns);
    if (member.repeated) {
      result[member.name] = matches.map((m) => decodeValue(m, member, options));
      continue;
    }
    const match = matches[0];
    if (!match) {
      if (member.required) throw clientFault(`The request element ${element.local} is missing required member ${member.name}`);
      result[member.name] = null;
      continue;
    }
    result[member.name] = decodeValue(match, member, options);
  }
  return result;
}

function decodeValue(element: XmlElement, member: FieldDescriptor, options: DecodeOptions): unknown {
  if (isNil(element)) {
    if (member.required) throw clientFault(`Member ${member.name} is required and cannot be nil`);
    return null;
  }
  if (typeof member.type !== 'string') return decodeComplex(element, member.type, options);
  const include = childElements(element).map(xopIncludeHref).find((href) => href !== undefined);
  if (include !== undefined) {
    // Only a streamed binary member still holds an Include here: others were resolved to base64 text.
    if (member.type !== 'base64Binary' || !member.streamed || !options.attachments) {
      throw clientFault(`Member ${member.name} cannot be an xop:Include`);
    }
    const attachments = options.attachments;
    return inboundBinary(() => attachments.open(include));
  }
  const text = textContent(element);
  switch (member.type) {
    case 'string':
      return text;
    case 'int':
    case 'long': {
      const trimmed = text.trim();
      const value = Number(trimmed);
      const max = member.type === 'int' ? 2 ** 31 - 1 : Number.MAX_SAFE_INTEGER;
      if (!/^[+-]?\d+$/.test(trimmed) || !Number.isSafeInteger(value) || value > max || value < -max - 1) {
        throw clientFault(`Member ${member.name} must be an xs:${member.type}, got '${trimmed.slice(0, 40)}'`);
      }
      return value;
    }
    case 'boolean': {
      const trimmed = text.trim();
      if (trimmed === 'true' || trimmed === '1') return true;
      if (trimmed === 'false' || trimmed === '0') return false;
      throw clientFault(`Member ${member.name} must be an xs:boolean, got '${trimmed.slice(0, 40)}'`);
    }
    case 'dateTime': {
      const value = new Date(text.trim());
      if (Number.isNaN(value.getTime())) throw clientFault(`Member ${member.name} must be an xs:dateTime`);
      return value;
    }
    case 'base64Binary': {
      const bytes = Buffer.from(text.replace(/\s+/g, ''), 'base64');
      // Inline base64 (bounded by the XML limits) reaches a streamed member as a stream too.
      return member.streamed ? inboundBinary(() => Readable.from([bytes], { objectMode: false })) : bytes;
    }
  }
}

function inboundBinary(open: () => Readable): InboundBinary {
  let opened = false;
  return {
    kind: 'inbound-binary',
    open() {
      if (opened) throw new Error('An inbound binary part can be read only once');
      opened = true;
      return open();
    },
  };
}
