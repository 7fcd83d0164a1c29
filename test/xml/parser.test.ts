/**
 * The hardened XML parser (src/xml/parser.ts): namespace resolution, xsi:nil, every limit at and
 * just past its boundary, DTD refusal (so no XXE / entity expansion), and incremental writes that
 * split multi-byte UTF-8 characters across chunks.
 */
import {
  attribute,
  childElements,
  DEFAULT_XML_LIMITS,
  isNil,
  parseXml,
  textContent,
  XmlRejectedError,
  XmlTreeParser,
  XSI_NS,
  type XmlElement,
  type XmlLimits,
} from '../../src/xml/parser';

const XML_NS = 'http://www.w3.org/XML/1998/namespace';
const XMLNS_NS = 'http://www.w3.org/2000/xmlns/';

function limits(overrides: Partial<XmlLimits>): XmlLimits {
  return { ...DEFAULT_XML_LIMITS, ...overrides };
}

/** The error a parse throws (fails the test when it does not throw). */
function rejection(run: () => unknown): XmlRejectedError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(XmlRejectedError);
    return error as XmlRejectedError;
  }
  throw new Error('expected the parser to reject the input');
}

function nested(depth: number): string {
  return '<e>'.repeat(depth) + '</e>'.repeat(depth);
}

describe('namespaces', () => {
  test('elements resolve prefixed, default and redeclared namespaces', () => {
    const root = parseXml(
      '<a:root xmlns:a="urn:a" xmlns="urn:default">' +
        '<plain/>' +
        '<a:prefixed/>' +
        '<inner xmlns="urn:inner"><deeper/></inner>' +
        '<a:shadow xmlns:a="urn:shadowed"><a:child/></a:shadow>' +
        '<undeclared xmlns=""/>' +
        '</a:root>',
    );
    expect(root).toMatchObject({ name: 'a:root', prefix: 'a', local: 'root', ns: 'urn:a' });
    const [plain, prefixed, inner, shadow, undeclared] = childElements(root);
    expect(plain).toMatchObject({ local: 'plain', prefix: '', ns: 'urn:default' });
    expect(prefixed).toMatchObject({ local: 'prefixed', ns: 'urn:a' });
    expect(inner!.ns).toBe('urn:inner');
    expect(childElements(inner!)[0]!.ns).toBe('urn:inner');
    expect(shadow!.ns).toBe('urn:shadowed');
    expect(childElements(shadow!)[0]!.ns).toBe('urn:shadowed');
    expect(undeclared!.ns).toBe('');
  });

  test('an element with no namespace in scope has ns ""', () => {
    expect(parseXml('<root><child/></root>')).toMatchObject({ ns: '', children: [{ local: 'child', ns: '' }] });
  });

  test('attributes: unprefixed ones have no namespace (not the default), prefixed ones resolve, xml: is predefined', () => {
    const root = parseXml('<r xmlns="urn:d" xmlns:p="urn:p" plain="1" p:qualified="2" xml:lang="nb"/>');
    const byName = Object.fromEntries(root.attributes.map((a) => [a.name, a]));
    expect(byName['plain']).toMatchObject({ prefix: '', local: 'plain', ns: '', value: '1' });
    expect(byName['p:qualified']).toMatchObject({ prefix: 'p', local: 'qualified', ns: 'urn:p', value: '2' });
    expect(byName['xml:lang']).toMatchObject({ ns: XML_NS, value: 'nb' });
    // Namespace declarations are kept as attributes (writer.serializeElement writes them back).
    expect(byName['xmlns']).toMatchObject({ ns: XMLNS_NS, value: 'urn:d' });
    expect(attribute(root, 'urn:p', 'qualified')).toBe('2');
    expect(attribute(root, 'urn:other', 'qualified')).toBeUndefined();
  });

  test('an unbound prefix is a syntax error', () => {
    const error = rejection(() => parseXml('<x:root/>'));
    expect(error.kind).toBe('syntax');
    expect(error.message).toMatch(/^Malformed XML: .*unbound namespace prefix/);
  });
});

describe('xsi:nil', () => {
  test.each([
    ['true', true],
    ['1', true],
    ['false', false],
    ['0', false],
  ])('xsi:nil="%s" → %s', (value, expected) => {
    const root = parseXml(`<r xmlns:i="${XSI_NS}" i:nil="${value}"/>`);
    expect(isNil(root)).toBe(expected);
  });

  test('nil must be in the XSI namespace; any prefix works', () => {
    expect(isNil(parseXml('<r nil="true"/>'))).toBe(false);
    expect(isNil(parseXml('<r xmlns:x="urn:not-xsi" x:nil="true"/>'))).toBe(false);
    expect(isNil(parseXml(`<r xmlns:anything="${XSI_NS}" anything:nil="true"/>`))).toBe(true);
    expect(isNil(parseXml('<r/>'))).toBe(false);
  });
});

describe('text and structure', () => {
  test('entities and character references are decoded; CDATA and text merge into one node', () => {
    const root = parseXml('<r>a &lt;&amp;&gt; &quot;&apos; &#65;&#x42; <![CDATA[<not-a-tag/>]]> z</r>');
    expect(root.children).toEqual(['a <&> "\' AB <not-a-tag/> z']);
  });

  test('text is split around child elements and kept in document order; whitespace outside the root is dropped', () => {
    const root = parseXml('  \n<r>one<b>two</b>three</r>\n  ');
    expect(root.children[0]).toBe('one');
    expect((root.children[1] as XmlElement).children).toEqual(['two']);
    expect(root.children[2]).toBe('three');
    expect(textContent(root)).toBe('onetwothree');
  });

  test('undefined entities are refused (only the five predefined ones exist)', () => {
    const error = rejection(() => parseXml('<r>&xxe;</r>'));
    expect(error.kind).toBe('syntax');
    expect(error.message).toMatch(/undefined entity/);
  });

  test.each([
    ['unclosed tag', '<r><a></r>'],
    ['unclosed root', '<r><a/>'],
    ['two roots', '<a/><b/>'],
    ['text outside the root', 'hello'],
    ['empty input', ''],
    ['garbage in a tag', '<r <</r>'],
  ])('%s is a syntax error', (_name, input) => {
    const error = rejection(() => parseXml(input));
    expect(error.kind).toBe('syntax');
    expect(error.message).toMatch(/^Malformed XML: /);
  });
});

describe('DTDs are refused', () => {
  test('an internal subset declaring an external entity (XXE) is refused before the entity is used', () => {
    const error = rejection(() => parseXml('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><r>&xxe;</r>'));
    expect(error.kind).toBe('dtd');
    expect(error.message).toBe('XML with a DOCTYPE (DTD) is not accepted');
  });

  test('billion laughs is refused at the DOCTYPE, quickly', () => {
    let dtd = '<!ENTITY lol0 "lol">';
    for (let i = 1; i <= 9; i++) dtd += `<!ENTITY lol${i} "${`&lol${i - 1};`.repeat(10)}">`;
    const started = Date.now();
    const error = rejection(() => parseXml(`<!DOCTYPE r [${dtd}]><r>&lol9;</r>`));
    expect(error.kind).toBe('dtd');
    expect(Date.now() - started).toBeLessThan(1000);
  });

  test('an external DTD reference and a bare DOCTYPE are refused too', () => {
    expect(rejection(() => parseXml('<!DOCTYPE r SYSTEM "http://127.0.0.1:1/evil.dtd"><r/>')).kind).toBe('dtd');
    expect(rejection(() => parseXml('<!DOCTYPE r><r/>')).kind).toBe('dtd');
  });

  test('the refusal happens in write(), as soon as the DOCTYPE is complete, not at end()', () => {
    const parser = new XmlTreeParser();
    expect(() => parser.write('<!DOCTYPE r [<!ENTITY a "b">]>')).toThrow('XML with a DOCTYPE (DTD) is not accepted');
    // Once failed, the parser keeps failing with the same error.
    expect(() => parser.write('<r/>')).toThrow('XML with a DOCTYPE (DTD) is not accepted');
    expect(() => parser.end()).toThrow('XML with a DOCTYPE (DTD) is not accepted');
  });
});

describe('limits', () => {
  test('maxDepth: exactly the limit is accepted, one more is refused', () => {
    expect(() => parseXml(nested(5), limits({ maxDepth: 5 }))).not.toThrow();
    const error = rejection(() => parseXml(nested(6), limits({ maxDepth: 5 })));
    expect(error).toMatchObject({ kind: 'limit', message: 'XML is nested deeper than 5 levels' });
  });

  test('maxDepth refuses a 10,000-deep document at the first element past the limit, not after reading it all', () => {
    const parser = new XmlTreeParser(limits({ maxDepth: 64 }));
    expect(() => parser.write('<e>'.repeat(64))).not.toThrow();
    expect(() => parser.write('<e>'.repeat(10_000 - 64))).toThrow('XML is nested deeper than 64 levels');
  });

  test('maxElements counts every element in the document', () => {
    const doc = (n: number) => `<r>${'<x/>'.repeat(n - 1)}</r>`;
    expect(childElements(parseXml(doc(10), limits({ maxElements: 10 })))).toHaveLength(9);
    const error = rejection(() => parseXml(doc(11), limits({ maxElements: 10 })));
    expect(error).toMatchObject({ kind: 'limit', message: 'XML has more than 10 elements' });
  });

  test('maxTextLength applies to one merged text node (text + CDATA + text, across writes)', () => {
    expect(parseXml(`<r>${'a'.repeat(100)}</r>`, limits({ maxTextLength: 100 })).children).toEqual(['a'.repeat(100)]);
    expect(rejection(() => parseXml(`<r>${'a'.repeat(101)}</r>`, limits({ maxTextLength: 100 }))).message).toBe(
      'An XML text node is longer than 100 characters',
    );
    // 60 + 60 in pieces: no single event is over the limit, the node is.
    const parser = new XmlTreeParser(limits({ maxTextLength: 100 }));
    parser.write(`<r>${'a'.repeat(60)}`);
    expect(() => parser.write(`<![CDATA[${'b'.repeat(60)}]]></r>`)).toThrow(XmlRejectedError);
    // Many short text nodes each under the limit are fine.
    expect(childElements(parseXml(`<r>${`<t>${'c'.repeat(90)}</t>`.repeat(20)}</r>`, limits({ maxTextLength: 100 })))).toHaveLength(20);
  });

  test('maxAttributes per element (namespace declarations count)', () => {
    const attrs = (n: number) => Array.from({ length: n }, (_, i) => ` a${i}="${i}"`).join('');
    expect(parseXml(`<r${attrs(4)}/>`, limits({ maxAttributes: 4 })).attributes).toHaveLength(4);
    expect(rejection(() => parseXml(`<r${attrs(5)}/>`, limits({ maxAttributes: 4 })))).toMatchObject({
      kind: 'limit',
      message: 'An XML element has more than 4 attributes',
    });
    expect(rejection(() => parseXml(`<r xmlns="urn:x"${attrs(4)}/>`, limits({ maxAttributes: 4 }))).kind).toBe('limit');
  });

  test('maxBytes counts bytes of Buffer input (UTF-8), code units of string input', () => {
    const doc = '<r>ææææ</r>'; // 11 code units, 15 bytes
    expect(() => parseXml(doc, limits({ maxBytes: 11 }))).not.toThrow();
    expect(rejection(() => parseXml(Buffer.from(doc), limits({ maxBytes: 14 })))).toMatchObject({
      kind: 'limit',
      message: 'XML document is larger than 14 bytes',
    });
    expect(() => parseXml(Buffer.from(doc), limits({ maxBytes: 15 }))).not.toThrow();
  });

  test('maxBytes is enforced across writes before the over-limit chunk is parsed', () => {
    const parser = new XmlTreeParser(limits({ maxBytes: 1000 }));
    parser.write(Buffer.from(`<r>${'a'.repeat(900)}`));
    // This chunk would also close the document; it is refused for its size, not parsed.
    expect(() => parser.write(Buffer.from(`${'a'.repeat(200)}</r>`))).toThrow('XML document is larger than 1000 bytes');
  });

  test('the defaults are the documented ones', () => {
    expect(DEFAULT_XML_LIMITS).toEqual({ maxBytes: 4 * 1024 * 1024, maxDepth: 64, maxElements: 20_000, maxTextLength: 2 * 1024 * 1024, maxAttributes: 64 });
  });
});

describe('incremental writes', () => {
  const text = 'Blåbærsyltetøy – 日本語 – 😀 – ÆØÅ';
  const doc = Buffer.from(`<?xml version="1.0" encoding="utf-8"?><r a="${text}">${text}<c>${text}</c></r>`, 'utf8');

  function parseInChunks(bytes: Buffer, chunkSize: number): XmlElement {
    const parser = new XmlTreeParser();
    for (let i = 0; i < bytes.length; i += chunkSize) parser.write(bytes.subarray(i, i + chunkSize));
    return parser.end();
  }

  test.each([1, 2, 3, 5, 7])('chunks of %i bytes that split multi-byte characters decode exactly', (chunkSize) => {
    const root = parseInChunks(doc, chunkSize);
    expect(root.attributes[0]!.value).toBe(text);
    expect(root.children[0]).toBe(text);
    expect(textContent(childElements(root)[0]!)).toBe(text);
  });

  test('every split point of a 4-byte character (emoji) decodes exactly', () => {
    const bytes = Buffer.from('<r>😀</r>', 'utf8');
    const emojiStart = bytes.indexOf(0xf0);
    for (let cut = emojiStart + 1; cut < emojiStart + 4; cut++) {
      const parser = new XmlTreeParser();
      parser.write(bytes.subarray(0, cut));
      parser.write(bytes.subarray(cut));
      expect(parser.end().children).toEqual(['😀']);
    }
  });

  test('a byte-order mark is skipped', () => {
    expect(parseXml(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('<r>x</r>')])).children).toEqual(['x']);
  });

  test('a document arriving in pieces produces the same tree as in one piece', () => {
    expect(parseInChunks(doc, 4)).toEqual(parseXml(doc));
  });
});
