/**
 * FormData as the DownloadQueue presents it: unless the caller asks for namespaces, elements with
 * the `my` or `altinn` prefix (InfoPath-era "my fields" and Altinn's own fields) and their
 * namespace declarations are removed, as Altinn's documentation for ArchivedFormDQBE says.
 */
import { parseXml, type XmlElement } from '../xml/parser';
import { serializeElement } from '../xml/writer';

const STRIPPED_PREFIXES = new Set(['my', 'altinn']);
const MAY_NEED_STRIPPING = /<\/?(my|altinn):|xmlns:(my|altinn)\s*=/;
const XML_DECLARATION = /^\uFEFF?\s*(<\?xml[^?]*\?>)/;

export function presentFormData(formData: string, includeXmlNamespace: boolean): string {
  if (includeXmlNamespace || !MAY_NEED_STRIPPING.test(formData)) return formData;
  let root: XmlElement;
  try {
    root = parseXml(formData);
  } catch {
    return formData; // stored form data was validated on the way in; never fail a download over it
  }
  // The root itself cannot be removed; stripping inside a my:/altinn: root would unbind its prefix.
  if (STRIPPED_PREFIXES.has(root.prefix)) return formData;
  const declaration = XML_DECLARATION.exec(formData)?.[1];
  const body = serializeElement(strip(root));
  return declaration ? `${declaration}${body}` : body;
}

function strip(element: XmlElement): XmlElement {
  return {
    ...element,
    attributes: element.attributes.filter(
      (a) => !STRIPPED_PREFIXES.has(a.prefix) && !(a.prefix === 'xmlns' && STRIPPED_PREFIXES.has(a.local)),
    ),
    children: element.children
      .filter((c) => typeof c === 'string' || !STRIPPED_PREFIXES.has(c.prefix))
      .map((c) => (typeof c === 'string' ? c : strip(c))),
  };
}
