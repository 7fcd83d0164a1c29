/** Escaping and serialization back to text for trees from ./parser. */
import type { XmlElement } from './parser';

const TEXT_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '\r': '&#xD;' };
const ATTR_ESCAPES: Record<string, string> = { ...TEXT_ESCAPES, '"': '&quot;', '\n': '&#xA;', '\t': '&#x9;' };

/** Escape character data. `\r` is escaped so it survives the receiver's line-end normalization. */
export function escapeText(value: string): string {
  return value.replace(/[&<>\r]/g, (c) => TEXT_ESCAPES[c]!);
}

export function escapeAttribute(value: string): string {
  return value.replace(/[&<>"\r\n\t]/g, (c) => ATTR_ESCAPES[c]!);
}

/** Serialize an element (and its subtree) as written: same names, attributes and declarations. */
export function serializeElement(element: XmlElement): string {
  const parts: string[] = [];
  const walk = (el: XmlElement): void => {
    parts.push('<', el.name);
    for (const a of el.attributes) parts.push(' ', a.name, '="', escapeAttribute(a.value), '"');
    if (el.children.length === 0) {
      parts.push('/>');
      return;
    }
    parts.push('>');
    for (const child of el.children) {
      if (typeof child === 'string') parts.push(escapeText(child));
      else walk(child);
    }
    parts.push('</', el.name, '>');
  };
  walk(element);
  return parts.join('');
}
