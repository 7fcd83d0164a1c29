/**
 * Where elements sit in a document's text, so that one element can be replaced by another string
 * while every other byte of the document stays exactly as written (re-serializing a tree would
 * change quoting, empty-element forms and character references). Used to swap form data elements
 * for their XML-Enc EncryptedData and back.
 */
import { SaxesParser, type SaxesTagNS } from 'saxes';
import { XmlRejectedError } from './parser';

export interface ElementSpan {
  /** Index of the element's `<`. */
  start: number;
  /** Index just past its end tag's `>` (or its own `/>`). */
  end: number;
  local: string;
  ns: string;
  /** Nesting depth: 0 for the root element. */
  depth: number;
}

/** What `findElementSpans` tells its `select` about an element. */
export interface ElementPosition {
  local: string;
  ns: string;
  /** Nesting depth: 0 for the root element. */
  depth: number;
  /** Local names from the root down to this element's parent (empty for the root); valid during the call only. */
  ancestors: readonly string[];
}

/**
 * Spans of the outermost elements for which `select` is true (elements inside a selected element
 * are not visited), in document order. The text must be well-formed and have no DOCTYPE.
 */
export function findElementSpans(xml: string, select: (element: ElementPosition) => boolean): ElementSpan[] {
  const parser = new SaxesParser({ xmlns: true, position: true });
  const spans: ElementSpan[] = [];
  const open: { start: number; selected: boolean }[] = [];
  const ancestors: string[] = [];
  let insideSelected = 0;
  let failure: Error | undefined;
  let tagStart = 0;
  parser.on('error', (error) => {
    failure ??= new XmlRejectedError('syntax', `Malformed XML: ${error.message}`);
  });
  parser.on('doctype', () => {
    failure ??= new XmlRejectedError('dtd', 'XML with a DOCTYPE (DTD) is not accepted');
  });
  // At `opentagstart` the parser has read `<`, the name and one more character.
  parser.on('opentagstart', () => {
    tagStart = xml.lastIndexOf('<', parser.position - 1);
  });
  parser.on('opentag', (tag: SaxesTagNS) => {
    const depth = open.length;
    const selected = insideSelected === 0 && select({ local: tag.local, ns: tag.uri, depth, ancestors });
    if (selected || insideSelected > 0) insideSelected += 1;
    open.push({ start: tagStart, selected });
    ancestors.push(tag.local);
  });
  parser.on('closetag', (tag: SaxesTagNS) => {
    const element = open.pop();
    if (!element) return; // unbalanced: reported through 'error'
    ancestors.pop();
    if (insideSelected > 0) insideSelected -= 1;
    if (element.selected) spans.push({ start: element.start, end: parser.position, local: tag.local, ns: tag.uri, depth: open.length });
  });
  parser.write(xml).close();
  if (failure) throw failure;
  return spans.sort((a, b) => a.start - b.start);
}

/** Replace each span (non-overlapping) with what `replace` returns for it. */
export function replaceSpans(xml: string, spans: ElementSpan[], replace: (elementXml: string, span: ElementSpan) => string): string {
  let out = '';
  let at = 0;
  for (const span of [...spans].sort((a, b) => a.start - b.start)) {
    out += xml.slice(at, span.start) + replace(xml.slice(span.start, span.end), span);
    at = span.end;
  }
  return out + xml.slice(at);
}
