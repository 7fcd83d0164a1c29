/**
 * Schema-ordered writing (src/soap/serializer.ts): member order comes from the descriptor, never
 * from the value object; nulls on nillable members become xsi:nil; non-nillable members get the
 * CLR default WCF would write; text is escaped; binary parts become xop:Include with their parts
 * collected; repeated members are written once per item.
 */
import { Readable } from 'node:stream';
import { ALTINN, RESPONSE_PREFIXES, XOP, XSI } from '../../src/soap/namespaces';
import { field, listOf, type BinaryPart, type ComplexType, type ElementDescriptor } from '../../src/soap/schema';
import { NAMESPACE_DECLARATIONS, qualifiedName, serializedFormat, serializedXml, serializeMember, writeElement, XmlOutput } from '../../src/soap/serializer';
import { downloadQueueContract } from '../../src/services/download-queue/contract';
import { childElements, isNil, parseXml, textContent, type XmlElement } from '../../src/xml/parser';

const { svc, dq, ra } = ALTINN;

function write(element: ElementDescriptor, value: Record<string, unknown>, prefix = 'p'): XmlOutput {
  const out = new XmlOutput(prefix);
  writeElement(out, element, value);
  return out;
}

/** Parse written XML with the Envelope's namespace declarations in scope, as a client would see it. */
function parsed(xml: string): XmlElement {
  const wrapper = parseXml(`<w${NAMESPACE_DECLARATIONS}>${xml}</w>`);
  return childElements(wrapper)[0]!;
}

function names(element: XmlElement): string[] {
  return childElements(element).map((c) => c.local);
}

const inner: ComplexType = {
  name: 'ra:Inner',
  fields: [field('Key', ra, 'string', { nillable: true }), field('Value', ra, 'string', { nillable: true })],
};

const everything: ElementDescriptor = {
  name: 'Everything',
  ns: svc,
  type: {
    name: 'svc:Everything',
    fields: [
      field('Text', svc, 'string', { nillable: true }),
      field('PlainText', svc, 'string'),
      field('Number', svc, 'int'),
      field('Big', svc, 'long'),
      field('Flag', svc, 'boolean'),
      field('When', svc, 'dateTime'),
      field('Data', svc, 'base64Binary', { nillable: true }),
      field('Nested', svc, inner, { nillable: true }),
      field('NestedRequired', svc, inner),
      field('Items', svc, listOf('ra:InnerList', 'Inner', ra, inner), { nillable: true }),
    ],
  },
};

function binary(bytes: Buffer, contentType = 'application/octet-stream'): BinaryPart {
  return { kind: 'binary', contentType, sizeBytes: bytes.length, open: () => Readable.from([bytes]) };
}

describe('schema order', () => {
  const value = {
    Text: 't',
    PlainText: 'p',
    Number: 1,
    Big: 2,
    Flag: true,
    When: new Date('2024-01-02T03:04:05.678Z'),
    Data: Buffer.from('hi'),
    Nested: { Key: 'k', Value: 'v' },
    NestedRequired: { Value: 'v2', Key: 'k2' },
    Items: { Inner: [{ Value: 'b', Key: 'a' }] },
  };

  test('members come out in sequence order whatever the key order of the value', () => {
    const reversed = Object.fromEntries(Object.entries(value).reverse());
    const shuffled = Object.fromEntries(
      ['Items', 'Flag', 'Text', 'NestedRequired', 'Big', 'When', 'Data', 'PlainText', 'Nested', 'Number'].map((k) => [k, value[k as keyof typeof value]]),
    );
    const a = write(everything, value).toString();
    expect(write(everything, reversed).toString()).toBe(a);
    expect(write(everything, shuffled).toString()).toBe(a);
    const root = parsed(a);
    expect(names(root)).toEqual(['Text', 'PlainText', 'Number', 'Big', 'Flag', 'When', 'Data', 'Nested', 'NestedRequired', 'Items']);
    // Nested complex values are ordered by their own type too.
    expect(names(childElements(root)[8]!)).toEqual(['Key', 'Value']);
    expect(names(childElements(childElements(root)[9]!)[0]!)).toEqual(['Key', 'Value']);
  });

  test('each element is written in the namespace of the schema that declares it, with the registered prefix', () => {
    const root = parsed(write(everything, value).toString());
    expect(root).toMatchObject({ name: 'svc:Everything', ns: svc });
    expect(childElements(root)[0]).toMatchObject({ name: 'svc:Text', ns: svc });
    const items = childElements(root)[9]!;
    expect(items).toMatchObject({ ns: svc }); // the list element is declared in svc
    expect(childElements(items)[0]).toMatchObject({ name: 'ra:Inner', ns: ra }); // its items in ra
  });

  test('simple values are formatted as XML Schema lexical values', () => {
    const root = parsed(write(everything, value).toString());
    const textOf = (local: string) => textContent(childElements(root).find((c) => c.local === local)!);
    expect(textOf('Number')).toBe('1');
    expect(textOf('Big')).toBe('2');
    expect(textOf('Flag')).toBe('true');
    expect(textOf('When')).toBe('2024-01-02T03:04:05.678Z');
    expect(textOf('Data')).toBe(Buffer.from('hi').toString('base64'));
    expect(write(everything, { ...value, Flag: false }).toString()).toContain('<svc:Flag>false</svc:Flag>');
    expect(write(everything, { ...value, When: '2020-05-06T07:08:09' }).toString()).toContain('<svc:When>2020-05-06T07:08:09</svc:When>');
    expect(write(everything, { ...value, Big: 9_007_199_254_740_991 }).toString()).toContain('<svc:Big>9007199254740991</svc:Big>');
  });

  test('a non-integer for an int member is a programming error, not silently written', () => {
    expect(() => write(everything, { ...value, Number: 1.5 })).toThrow('Number: expected an integer, got 1.5');
    expect(() => write(everything, { ...value, Number: '7' })).toThrow('Number: expected an integer');
  });

  test('a namespace without a registered prefix is refused', () => {
    expect(() => qualifiedName('urn:unknown', 'X')).toThrow('No response prefix registered for namespace urn:unknown');
    expect(qualifiedName(dq, 'DownloadQueueItemBE')).toBe('dq:DownloadQueueItemBE');
  });
});

describe('absent values', () => {
  test('every member is written: nillable → xsi:nil="true", non-nillable → the CLR default', () => {
    const xml = write(everything, {}).toString();
    expect(xml).toBe(
      '<svc:Everything>' +
        '<svc:Text xsi:nil="true"/>' +
        '<svc:PlainText></svc:PlainText>' +
        '<svc:Number>0</svc:Number>' +
        '<svc:Big>0</svc:Big>' +
        '<svc:Flag>false</svc:Flag>' +
        '<svc:When>0001-01-01T00:00:00</svc:When>' +
        '<svc:Data xsi:nil="true"/>' +
        '<svc:Nested xsi:nil="true"/>' +
        '<svc:NestedRequired/>' +
        '<svc:Items xsi:nil="true"/>' +
        '</svc:Everything>',
    );
    const root = parsed(xml);
    // The xsi prefix used on nil members is declared with the Envelope's declarations.
    expect(isNil(childElements(root)[0]!)).toBe(true);
    expect(NAMESPACE_DECLARATIONS).toContain(` xmlns:xsi="${XSI}"`);
  });

  test('null and undefined are treated alike', () => {
    const withNulls = Object.fromEntries(everything.type.fields.map((f) => [f.name, null]));
    expect(write(everything, withNulls).toString()).toBe(write(everything, {}).toString());
  });

  test('nil members inside nested complex values', () => {
    const xml = write(everything, { Nested: { Key: null } }).toString();
    expect(xml).toContain('<svc:Nested><ra:Key xsi:nil="true"/><ra:Value xsi:nil="true"/></svc:Nested>');
  });

  test('an empty list is written as an empty element, a null list as nil', () => {
    expect(write(everything, { Items: { Inner: [] } }).toString()).toContain('<svc:Items></svc:Items>');
    expect(write(everything, { Items: null }).toString()).toContain('<svc:Items xsi:nil="true"/>');
  });

  test('falsy but present values are not mistaken for absent ones', () => {
    const xml = write(everything, { Text: '', Number: 0, Flag: false }).toString();
    expect(xml).toContain('<svc:Text></svc:Text>');
    expect(xml).not.toContain('<svc:Text xsi:nil');
  });
});

describe('escaping', () => {
  test('markup characters and CR in text are escaped and survive a round trip', () => {
    const nasty = `<b>&amp; "quoted" 'apos' ]]> \r\n tab\t æøå 😀</b>`;
    const xml = write(everything, { Text: nasty }).toString();
    expect(xml).toContain('&lt;b&gt;&amp;amp; "quoted" \'apos\' ]]&gt; &#xD;\n tab\t æøå 😀&lt;/b&gt;');
    expect(textContent(childElements(parsed(xml))[0]!)).toBe(nasty);
  });

  test('FormData-like XML text is written as escaped text, not as markup', () => {
    const formData = '<Skjema xmlns="urn:skjema"><Felt>1 &lt; 2</Felt></Skjema>';
    const root = parsed(write(everything, { Text: formData }).toString());
    const text = childElements(root)[0]!;
    expect(childElements(text)).toHaveLength(0);
    expect(textContent(text)).toBe(formData);
  });
});

describe('binary content', () => {
  test('a Buffer is written inline as base64; a BinaryPart becomes an xop:Include and its part is collected', () => {
    const inline = write(everything, { Data: Buffer.from([0, 1, 2, 255]) });
    expect(inline.toString()).toContain('<svc:Data>AAEC/w==</svc:Data>');
    expect(inline.parts).toHaveLength(0);

    const part = binary(Buffer.from('%PDF-1.7'), 'application/pdf');
    const out = write(everything, { Data: part }, 'part.req-1');
    expect(out.parts).toEqual([{ contentId: 'part.req-1.1@altinn-gateway', part }]);
    // The Content-ID is URL-encoded in the cid: URL (RFC 2392): '@' → %40.
    expect(out.toString()).toContain('<svc:Data><xop:Include href="cid:part.req-1.1%40altinn-gateway"/></svc:Data>');
    const include = childElements(childElements(parsed(out.toString()))[6]!)[0]!;
    expect(include).toMatchObject({ local: 'Include', ns: XOP });
    expect(decodeURIComponent(include.attributes.find((a) => a.local === 'href')!.value)).toBe('cid:part.req-1.1@altinn-gateway');
  });

  test('several parts in one response get distinct Content-IDs in document order', () => {
    const attachment: ComplexType = {
      name: 'ra:A',
      fields: [field('Name', ra, 'string', { nillable: true }), field('AttachmentData', ra, 'base64Binary', { nillable: true })],
    };
    const element: ElementDescriptor = {
      name: 'Many',
      ns: svc,
      type: { name: 'svc:Many', fields: [field('A', ra, attachment, { nillable: true, repeated: true })] },
    };
    const parts = [binary(Buffer.from('one')), binary(Buffer.from('two')), binary(Buffer.from('three'))];
    const out = write(element, { A: [{ Name: 'a', AttachmentData: parts[0] }, { Name: 'large', AttachmentData: null }, { Name: 'b', AttachmentData: parts[1] }, { Name: 'c', AttachmentData: parts[2] }] }, 'x');
    expect(out.parts.map((p) => p.contentId)).toEqual(['x.1@altinn-gateway', 'x.2@altinn-gateway', 'x.3@altinn-gateway']);
    expect(out.parts.map((p) => p.part)).toEqual(parts);
    const hrefs = [...out.toString().matchAll(/href="cid:([^"]+)"/g)].map((m) => decodeURIComponent(m[1]!));
    expect(hrefs).toEqual(out.parts.map((p) => p.contentId));
    expect(out.toString()).toContain('<ra:Name>large</ra:Name><ra:AttachmentData xsi:nil="true"/>');
  });

  test('a non-binary value for a base64Binary member is refused', () => {
    expect(() => write(everything, { Data: 'not bytes' })).toThrow('Data: expected binary content');
  });
});

describe('repeated members', () => {
  const list: ElementDescriptor = {
    name: 'List',
    ns: svc,
    type: listOf('svc:List', 'Entry', ra, inner),
  };

  test('one element per item, in array order', () => {
    const xml = write(list, { Entry: [{ Key: 'a', Value: '1' }, { Key: 'b' }, { Value: '3', Key: 'c' }] }).toString();
    expect(xml).toBe(
      '<svc:List>' +
        '<ra:Entry><ra:Key>a</ra:Key><ra:Value>1</ra:Value></ra:Entry>' +
        '<ra:Entry><ra:Key>b</ra:Key><ra:Value xsi:nil="true"/></ra:Entry>' +
        '<ra:Entry><ra:Key>c</ra:Key><ra:Value>3</ra:Value></ra:Entry>' +
        '</svc:List>',
    );
  });

  test('a null item of a nillable repeated member is written as nil', () => {
    expect(write(list, { Entry: [null, { Key: 'x' }] }).toString()).toBe(
      '<svc:List><ra:Entry xsi:nil="true"/><ra:Entry><ra:Key>x</ra:Key><ra:Value xsi:nil="true"/></ra:Entry></svc:List>',
    );
  });

  test('no items, null or absent: no elements at all', () => {
    expect(write(list, { Entry: [] }).toString()).toBe('<svc:List></svc:List>');
    expect(write(list, { Entry: null }).toString()).toBe('<svc:List></svc:List>');
    expect(write(list, {}).toString()).toBe('<svc:List></svc:List>');
  });
});

describe('the real contract', () => {
  test('a queue item is written in the reference schema order with dq/sm namespaces', () => {
    const out = write(downloadQueueContract.GetDownloadQueueItems.response, {
      GetDownloadQueueItemsResult: {
        DownloadQueueItemBE: [
          {
            ShipmentMetadataList: { ArchivedShipmentMetadata: [{ Value: 'v', Key: 'k' }] },
            ServiceEditionCode: 2,
            ServiceCode: '4711',
            ReporteeType: 'Organisation',
            ReporteeID: '910000001',
            ArchivedDate: new Date('2024-03-05T13:05:00Z'),
            ArchiveReference: 'AR1',
          },
          { ArchiveReference: 'AR2', ArchivedDate: new Date('2024-03-05T13:06:00Z'), ShipmentMetadataList: null },
        ],
      },
    });
    const result = childElements(parsed(out.toString()))[0]!;
    expect(result).toMatchObject({ local: 'GetDownloadQueueItemsResult', ns: svc });
    const [first, second] = childElements(result);
    expect(first).toMatchObject({ local: 'DownloadQueueItemBE', ns: dq });
    expect(names(first!)).toEqual(['ArchiveReference', 'ArchivedDate', 'ReporteeID', 'ReporteeType', 'ServiceCode', 'ServiceEditionCode', 'ShipmentMetadataList']);
    const metadata = childElements(childElements(first!)[6]!)[0]!;
    expect(metadata).toMatchObject({ local: 'ArchivedShipmentMetadata', ns: ALTINN.sm });
    expect(childElements(metadata).map((c) => [c.name, textContent(c)])).toEqual([
      ['sm:Key', 'k'],
      ['sm:Value', 'v'],
    ]);
    expect(isNil(childElements(second!)[6]!)).toBe(true);
  });

  test('SOEncryptedSymmetricKey is declared in ra, its children in dq', () => {
    const xml = write(downloadQueueContract.GetArchivedFormTaskBasicDQ.response, {
      GetArchivedFormTaskBasicDQResult: { SOEncryptedSymmetricKey: { EncryptedKey: Buffer.from([1, 2, 3]), CertificateThumbprint: 'AB' } },
    }).toString();
    expect(xml).toContain('<ra:SOEncryptedSymmetricKey><dq:CertificateThumbprint>AB</dq:CertificateThumbprint><dq:EncryptedKey>AQID</dq:EncryptedKey></ra:SOEncryptedSymmetricKey>');
  });

  test('every namespace the contract writes has a declared prefix', () => {
    const declarations = NAMESPACE_DECLARATIONS;
    for (const [ns, prefix] of Object.entries(RESPONSE_PREFIXES)) expect(declarations).toContain(` xmlns:${prefix}="${ns}"`);
  });
});

describe('XML kept from an earlier response', () => {
  const response = downloadQueueContract.GetDownloadQueueItems.response;
  const list = response.type.fields[0]!;
  const itemField = (list.type as ComplexType).fields[0]!;
  const item = (reference: string) => ({
    ArchiveReference: reference,
    ArchivedDate: new Date('2026-01-02T03:04:05.678Z'),
    ReporteeID: 'Ærlig & <rett>\r',
    ReporteeType: 'Organisation',
    ServiceCode: '4711',
    ServiceEditionCode: 1,
    ShipmentMetadataList: null,
  });

  it('is written byte for byte where the value would have been, as text or as UTF-8 bytes', () => {
    const fresh = write(response, { GetDownloadQueueItemsResult: { DownloadQueueItemBE: [item('AR1'), item('AR2'), item('AR3')] } });
    const kept = write(response, {
      GetDownloadQueueItemsResult: {
        DownloadQueueItemBE: [
          serializedXml(Buffer.from(serializeMember(itemField, item('AR1')))),
          serializedXml(serializeMember(itemField, item('AR2'))),
          item('AR3'),
        ],
      },
    });
    expect(kept.toBuffer('<head>', '</head>').toString('utf8')).toBe(`<head>${fresh.toString()}</head>`);
    expect(kept.toString()).toBe(fresh.toString());
    const items = childElements(childElements(parsed(kept.toString()))[0]!);
    expect(items.map((i) => textContent(childElements(i).find((c) => c.local === 'ReporteeID')!))).toEqual(Array(3).fill('Ærlig & <rett>\r'));
  });

  it('has a format that changes with the descriptor, and never holds binary parts', () => {
    expect(serializedFormat(itemField)).toBe(serializedFormat(itemField));
    expect(serializedFormat(field(itemField.name, itemField.ns, itemField.type, { nillable: false, repeated: true }))).not.toBe(serializedFormat(itemField));
    const attachment = field('AttachmentData', ra, 'base64Binary', { nillable: true });
    const part: BinaryPart = { kind: 'binary', contentType: 'application/octet-stream', sizeBytes: 1, open: () => Readable.from([Buffer.from('x')]) };
    expect(() => serializeMember(attachment, part)).toThrow(/binary parts/);
  });
});
