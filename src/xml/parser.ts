/**
 * Hardened XML parsing for everything that arrives from outside (SOAP envelopes, form data).
 *
 * saxes tokenizes; this module builds a small namespace-aware tree and enforces limits while it
 * does so, so a hostile document is refused as soon as it crosses one, without being held whole.
 * DTDs are refused outright: with no DTD there are no entity declarations, so no XXE and no
 * entity expansion (billion laughs); saxes itself knows only the five predefined entities.
 */
import { SaxesParser } from 'saxes';

export interface XmlAttribute {
  /** Name as written, e.g. `xsi:nil` or `xmlns:my`. */
  name: string;
  prefix: string;
  local: string;
  /** Namespace URI ('' for unprefixed attributes). */
  ns: string;
  value: string;
}

export interface XmlElement {
  /** Name as written, e.g. `s:Envelope`. */
  name: string;
  prefix: string;
  local: string;
  /** Namespace URI the element resolves to ('' when none). */
  ns: string;
  attributes: XmlAttribute[];
  /** Element and text children in document order. */
  children: XmlNode[];
}

export type XmlNode = XmlElement | string;

export interface XmlLimits {
  /** Total bytes (or UTF-16 code units for string input) accepted. */
  maxBytes: number;
  /** Maximum element nesting depth. */
  maxDepth: number;
  /** Maximum number of elements in the document. */
  maxElements: number;
  /** Maximum length of one text node (after CDATA/text merging). */
  maxTextLength: number;
  /** Maximum attributes on one element. */
  maxAttributes: number;
}

export const DEFAULT_XML_LIMITS: XmlLimits = {
  maxBytes: 4 * 1024 * 1024,
  maxDepth: 64,
  maxElements: 20_000,
  maxTextLength: 2 * 1024 * 1024,
  maxAttributes: 64,
};

/** Why a document was refused; `kind` lets callers tell limits (policy) from syntax (client bug). */
export class XmlRejectedError extends Error {
  constructor(
    readonly kind: 'syntax' | 'limit' | 'dtd',
    message: string,
  ) {
    super(message);
    this.name = 'XmlRejectedError';
  }
}

export const XSI_NS = 'http://www.w3.org/2001/XMLSchema-instance';
export const XOP_NS = 'http://www.w3.org/2004/08/xop/include';

/**
 * Incremental parser: feed bytes as they arrive with `write`, then `end()` returns the root.
 * Throws XmlRejectedError from `write`/`end` the moment the input breaks a rule.
 */
export class XmlTreeParser {
  private readonly sax = new SaxesParser({ xmlns: true, position: true });
  /** Fatal: XML 1.0 (§4.3.3) makes bytes that are not valid in the encoding a fatal error, never U+FFFD. */
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });
  private readonly stack: XmlElement[] = [];
  private root: XmlElement | undefined;
  private bytes = 0;
  private elements = 0;
  private pendingText = '';
  private failure: XmlRejectedError | undefined;

  constructor(private readonly limits: XmlLimits = DEFAULT_XML_LIMITS) {
    const sax = this.sax;
    sax.on('error', (err) => {
      this.fail(new XmlRejectedError('syntax', `Malformed XML: ${err.message}`));
    });
    sax.on('doctype', () => {
      this.fail(new XmlRejectedError('dtd', 'XML with a DOCTYPE (DTD) is not accepted'));
    });
    sax.on('text', (text) => this.addText(text));
    sax.on('cdata', (text) => this.addText(text));
    sax.on('opentag', (tag) => {
      this.flushText();
      if (this.stack.length === 0 && this.root) {
        this.fail(new XmlRejectedError('syntax', 'Malformed XML: more than one root element'));
      }
      if (++this.elements > limits.maxElements) {
        this.fail(new XmlRejectedError('limit', `XML has more than ${limits.maxElements} elements`));
      }
      if (this.stack.length + 1 > limits.maxDepth) {
        this.fail(new XmlRejectedError('limit', `XML is nested deeper than ${limits.maxDepth} levels`));
      }
      const attributeList = Object.values(tag.attributes);
      if (attributeList.length > limits.maxAttributes) {
        this.fail(new XmlRejectedError('limit', `An XML element has more than ${limits.maxAttributes} attributes`));
      }
      const element: XmlElement = {
        name: tag.name,
        prefix: tag.prefix,
        local: tag.local,
        ns: tag.uri,
        attributes: attributeList.map((a) => ({
          name: a.name,
          prefix: a.prefix,
          local: a.local,
          ns: a.uri,
          value: a.value,
        })),
        children: [],
      };
      const parent = this.stack[this.stack.length - 1];
      if (parent) parent.children.push(element);
      else this.root = element;
      this.stack.push(element);
    });
    sax.on('closetag', () => {
      this.flushText();
      this.stack.pop();
    });
  }

  write(chunk: Buffer | string): void {
    if (this.failure) throw this.failure;
    this.bytes += chunk.length;
    if (this.bytes > this.limits.maxBytes) {
      this.fail(new XmlRejectedError('limit', `XML document is larger than ${this.limits.maxBytes} bytes`));
    }
    const text = typeof chunk === 'string' ? chunk : this.decode(chunk, true);
    this.sax.write(text);
    if (this.failure) throw this.failure;
  }

  end(): XmlElement {
    if (this.failure) throw this.failure;
    const rest = this.decode(new Uint8Array(0), false);
    if (rest) this.sax.write(rest);
    this.sax.close();
    if (this.failure) throw this.failure;
    if (!this.root) throw new XmlRejectedError('syntax', 'Malformed XML: no root element');
    return this.root;
  }

  /** The text of the bytes so far; a sequence split across chunks waits for the next one. */
  private decode(chunk: Uint8Array, more: boolean): string {
    try {
      return this.decoder.decode(chunk, { stream: more });
    } catch {
      this.fail(new XmlRejectedError('syntax', `Malformed XML: the document is not valid UTF-8 (in or before byte ${this.bytes})`));
    }
  }

  private addText(text: string): void {
    if (this.stack.length === 0) return; // whitespace outside the root
    this.pendingText += text;
    if (this.pendingText.length > this.limits.maxTextLength) {
      this.fail(new XmlRejectedError('limit', `An XML text node is longer than ${this.limits.maxTextLength} characters`));
    }
  }

  private flushText(): void {
    if (!this.pendingText) return;
    this.stack[this.stack.length - 1]?.children.push(this.pendingText);
    this.pendingText = '';
  }

  private fail(error: XmlRejectedError): never {
    this.failure ??= error;
    throw this.failure;
  }
}

/** Parse a whole document held in memory (small inputs: form data, test fixtures). */
export function parseXml(input: string | Buffer, limits: XmlLimits = DEFAULT_XML_LIMITS): XmlElement {
  const parser = new XmlTreeParser(limits);
  parser.write(input);
  return parser.end();
}

// ---- small helpers for reading trees ----

export function childElements(element: XmlElement): XmlElement[] {
  return element.children.filter((c): c is XmlElement => typeof c !== 'string');
}

export function textContent(element: XmlElement): string {
  let out = '';
  for (const child of element.children) out += typeof child === 'string' ? child : textContent(child);
  return out;
}

export function attribute(element: XmlElement, ns: string, local: string): string | undefined {
  return element.attributes.find((a) => a.ns === ns && a.local === local)?.value;
}

export function isNil(element: XmlElement): boolean {
  const nil = attribute(element, XSI_NS, 'nil');
  return nil === 'true' || nil === '1';
}
