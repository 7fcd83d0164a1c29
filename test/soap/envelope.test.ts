/**
 * Envelope checks and request decoding (src/soap/envelope.ts): the envelope namespace against the
 * transport's SOAP version (VersionMismatch), mustUnderstand headers in SOAP 1.1 and 1.2, the Body's
 * single child, and decodeRequest's typed values (int bounds, boolean forms, nil, missing,
 * unknown members).
 */
import { decodeRequest, openEnvelope } from '../../src/soap/envelope';
import { SoapFault } from '../../src/soap/fault';
import { SOAP11_ENV, SOAP12_ENV, WS_ADDRESSING_2004, WS_ADDRESSING_2005, WS_SECURITY, XSI } from '../../src/soap/namespaces';
import { field, listOf, type ComplexType, type ElementDescriptor } from '../../src/soap/schema';
import { downloadQueueContract } from '../../src/services/download-queue/contract';
import { parseXml, type XmlElement } from '../../src/xml/parser';

const SVC = 'http://www.altinn.no/services/Archive/DownloadQueue/2012/08';

function fault(run: () => unknown): SoapFault {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(SoapFault);
    return error as SoapFault;
  }
  throw new Error('expected a SoapFault');
}

// ---- openEnvelope ----

function envelope(ns: string, body: string, header?: string): XmlElement {
  return parseXml(
    `<e:Envelope xmlns:e="${ns}" xmlns:o="${SVC}">` + (header === undefined ? '' : `<e:Header>${header}</e:Header>`) + `<e:Body>${body}</e:Body></e:Envelope>`,
  );
}

const OP = '<o:PurgeItem><o:archiveReference>AR1</o:archiveReference></o:PurgeItem>';

describe('openEnvelope', () => {
  test('returns the Body element for SOAP 1.1 and 1.2', () => {
    for (const [ns, version] of [
      [SOAP11_ENV, '1.1'],
      [SOAP12_ENV, '1.2'],
    ] as const) {
      const { bodyElement, addressingAction } = openEnvelope(envelope(ns, OP), version);
      expect(bodyElement).toMatchObject({ local: 'PurgeItem', ns: SVC });
      expect(addressingAction).toBeUndefined();
    }
  });

  test('whitespace and comments around the Body element do not count as elements', () => {
    const env = parseXml(`<e:Envelope xmlns:e="${SOAP11_ENV}">\n  <e:Body>\n  <!-- c -->\n  <x xmlns="${SVC}"/>\n  </e:Body>\n</e:Envelope>`);
    expect(openEnvelope(env, '1.1').bodyElement.local).toBe('x');
  });

  describe('VersionMismatch', () => {
    test('a SOAP 1.2 envelope over the SOAP 1.1 content type (text/xml)', () => {
      const f = fault(() => openEnvelope(envelope(SOAP12_ENV, OP), '1.1'));
      expect(f.code).toBe('VersionMismatch');
      expect(f.message).toBe(`The envelope namespace ${SOAP12_ENV} does not match the SOAP 1.1 content type`);
    });

    test('a SOAP 1.1 envelope over the SOAP 1.2 content type (application/soap+xml)', () => {
      expect(fault(() => openEnvelope(envelope(SOAP11_ENV, OP), '1.2')).code).toBe('VersionMismatch');
    });

    test('an Envelope in another namespace is not a SOAP envelope at all (Client fault)', () => {
      const f = fault(() => openEnvelope(envelope('urn:not-soap', OP), '1.1'));
      expect(f.code).toBe('Client');
      expect(f.message).toBe('The request is not a SOAP envelope (root element is {urn:not-soap}Envelope)');
    });
  });

  test('structural problems are Client faults with clear messages', () => {
    expect(fault(() => openEnvelope(parseXml(`<e:Envelope xmlns:e="${SOAP11_ENV}"/>`), '1.1')).message).toBe('The SOAP envelope has no Body');
    expect(fault(() => openEnvelope(envelope(SOAP11_ENV, ''), '1.1')).message).toBe('The SOAP Body is empty');
    expect(fault(() => openEnvelope(envelope(SOAP11_ENV, OP + OP), '1.1')).message).toBe('The SOAP Body has more than one element');
    expect(fault(() => openEnvelope(parseXml(`<Envelope/>`), '1.1')).message).toBe('The request is not a SOAP envelope (root element is {}Envelope)');
    // A Body in the wrong namespace is not the Body.
    const unqualifiedBody = parseXml(`<e:Envelope xmlns:e="${SOAP11_ENV}"><Body xmlns:o="${SVC}">${OP}</Body></e:Envelope>`);
    expect(fault(() => openEnvelope(unqualifiedBody, '1.1')).message).toBe('The SOAP envelope has no Body');
  });

  describe('mustUnderstand, SOAP 1.1', () => {
    const unknownHeader = (mu: string) => `<x:Session xmlns:x="urn:vendor" e:mustUnderstand="${mu}">abc</x:Session>`;

    test('an unknown header with mustUnderstand="1" is refused with a MustUnderstand fault', () => {
      const f = fault(() => openEnvelope(envelope(SOAP11_ENV, OP, unknownHeader('1')), '1.1'));
      expect(f.code).toBe('MustUnderstand');
      expect(f.message).toBe('Header {urn:vendor}Session was marked mustUnderstand but is not understood by this service');
    });

    test('mustUnderstand="true" is treated like "1"', () => {
      expect(fault(() => openEnvelope(envelope(SOAP11_ENV, OP, unknownHeader('true')), '1.1')).code).toBe('MustUnderstand');
    });

    test('an unknown header without mustUnderstand, or with "0", is ignored', () => {
      expect(openEnvelope(envelope(SOAP11_ENV, OP, unknownHeader('0')), '1.1').bodyElement.local).toBe('PurgeItem');
      expect(openEnvelope(envelope(SOAP11_ENV, OP, '<x:Session xmlns:x="urn:vendor">abc</x:Session>'), '1.1').bodyElement.local).toBe('PurgeItem');
    });

    test('a mustUnderstand attribute in the SOAP 1.2 namespace means nothing in a SOAP 1.1 envelope', () => {
      const header = `<x:Session xmlns:x="urn:vendor" xmlns:s12="${SOAP12_ENV}" s12:mustUnderstand="1"/>`;
      expect(openEnvelope(envelope(SOAP11_ENV, OP, header), '1.1').bodyElement.local).toBe('PurgeItem');
    });

    test('an unqualified mustUnderstand attribute is not the SOAP one', () => {
      const header = '<x:Session xmlns:x="urn:vendor" mustUnderstand="1"/>';
      expect(openEnvelope(envelope(SOAP11_ENV, OP, header), '1.1').bodyElement.local).toBe('PurgeItem');
    });

    test('WS-Security with mustUnderstand="1" (as some clients send) is accepted', () => {
      const header =
        `<wsse:Security xmlns:wsse="${WS_SECURITY}" e:mustUnderstand="1">` +
        '<wsse:UsernameToken><wsse:Username>u</wsse:Username></wsse:UsernameToken></wsse:Security>';
      expect(openEnvelope(envelope(SOAP11_ENV, OP, header), '1.1').bodyElement.local).toBe('PurgeItem');
    });
  });

  describe('mustUnderstand, SOAP 1.2', () => {
    test('mustUnderstand="true" and "1" on an unknown header are refused', () => {
      for (const mu of ['true', '1']) {
        const header = `<x:Session xmlns:x="urn:vendor" e:mustUnderstand="${mu}"/>`;
        const f = fault(() => openEnvelope(envelope(SOAP12_ENV, OP, header), '1.2'));
        expect(f.code).toBe('MustUnderstand');
      }
    });

    test('"false"/"0" are ignored, and a SOAP 1.1-namespaced mustUnderstand means nothing in a 1.2 envelope', () => {
      for (const mu of ['false', '0']) {
        expect(openEnvelope(envelope(SOAP12_ENV, OP, `<x:S xmlns:x="urn:vendor" e:mustUnderstand="${mu}"/>`), '1.2').bodyElement.local).toBe('PurgeItem');
      }
      const header = `<x:S xmlns:x="urn:vendor" xmlns:s11="${SOAP11_ENV}" s11:mustUnderstand="1"/>`;
      expect(openEnvelope(envelope(SOAP12_ENV, OP, header), '1.2').bodyElement.local).toBe('PurgeItem');
    });

    test('WS-Addressing headers with mustUnderstand="true" (CXF) are understood', () => {
      const header =
        `<wsa:Action xmlns:wsa="${WS_ADDRESSING_2005}" e:mustUnderstand="true">urn:act</wsa:Action>` +
        `<wsa:MessageID xmlns:wsa="${WS_ADDRESSING_2005}">urn:uuid:1</wsa:MessageID>` +
        `<wsa:To xmlns:wsa="${WS_ADDRESSING_2005}" e:mustUnderstand="true">http://x</wsa:To>`;
      expect(openEnvelope(envelope(SOAP12_ENV, OP, header), '1.2').addressingAction).toBe('urn:act');
    });
  });

  test('wsa:Action is returned (trimmed) for both WS-Addressing versions', () => {
    for (const ns of [WS_ADDRESSING_2005, WS_ADDRESSING_2004]) {
      const header = `<a:Action xmlns:a="${ns}" e:mustUnderstand="1">\n  urn:some-action  \n</a:Action>`;
      expect(openEnvelope(envelope(SOAP11_ENV, OP, header), '1.1').addressingAction).toBe('urn:some-action');
    }
    // An Action element in any other namespace is not WS-Addressing.
    expect(openEnvelope(envelope(SOAP11_ENV, OP, '<a:Action xmlns:a="urn:x">urn:y</a:Action>'), '1.1').addressingAction).toBeUndefined();
  });
});

// ---- decodeRequest ----

const request: ElementDescriptor = {
  name: 'Req',
  ns: SVC,
  type: {
    name: 'svc:Req',
    fields: [
      field('name', SVC, 'string', { nillable: true }),
      field('count', SVC, 'int', { nillable: true }),
      field('big', SVC, 'long', { nillable: true }),
      field('flag', SVC, 'boolean'),
      field('when', SVC, 'dateTime', { nillable: true }),
      field('data', SVC, 'base64Binary', { nillable: true }),
    ],
  },
};

function req(members: string): XmlElement {
  return parseXml(`<o:Req xmlns:o="${SVC}" xmlns:i="${XSI}">${members}</o:Req>`);
}

function decodeOne(member: string, value: string): unknown {
  return decodeRequest(req(`<o:${member}>${value}</o:${member}>`), request)[member];
}

describe('decodeRequest', () => {
  test('decodes every simple type', () => {
    const decoded = decodeRequest(
      req(
        '<o:name> keep  spaces </o:name><o:count>42</o:count><o:big>9007199254740991</o:big><o:flag>true</o:flag>' +
          '<o:when>2024-03-05T13:05:00Z</o:when><o:data>AAEC\n/w==</o:data>',
      ),
      request,
    );
    expect(decoded).toEqual({
      name: ' keep  spaces ',
      count: 42,
      big: 9_007_199_254_740_991,
      flag: true,
      when: new Date('2024-03-05T13:05:00Z'),
      data: Buffer.from([0, 1, 2, 255]),
    });
  });

  describe('xs:int bounds', () => {
    test.each([
      ['2147483647', 2147483647],
      ['-2147483648', -2147483648],
      ['0', 0],
      ['+5', 5],
      ['  17  ', 17],
      ['007', 7],
    ])('%j is accepted as %d', (text, expected) => {
      expect(decodeOne('count', text)).toBe(expected);
    });

    test.each(['2147483648', '-2147483649', '99999999999999999999', '1.5', '1e3', '0x10', '', ' ', 'abc', '12abc', '--1'])('%j is refused', (text) => {
      const f = fault(() => decodeOne('count', text));
      expect(f.code).toBe('Client');
      expect(f.message).toBe(`Member count must be an xs:int, got '${text.trim()}'`);
    });

    test('xs:long accepts beyond the int range up to the largest exactly representable integer', () => {
      expect(decodeOne('big', '2147483648')).toBe(2147483648);
      expect(decodeOne('big', '-9007199254740991')).toBe(-9007199254740991);
      expect(fault(() => decodeOne('big', '9007199254740992')).message).toMatch(/^Member big must be an xs:long/);
    });

    test('an over-long value is echoed truncated, not whole', () => {
      const f = fault(() => decodeOne('count', '9'.repeat(10_000)));
      expect(f.message.length).toBeLessThan(100);
    });
  });

  describe('xs:boolean forms', () => {
    test.each([
      ['true', true],
      ['1', true],
      ['false', false],
      ['0', false],
      [' true ', true],
    ])('%j → %s', (text, expected) => {
      expect(decodeOne('flag', text)).toBe(expected);
    });

    test.each(['TRUE', 'True', 'yes', '2', ''])('%j is refused', (text) => {
      expect(fault(() => decodeOne('flag', text)).message).toBe(`Member flag must be an xs:boolean, got '${text.trim()}'`);
    });
  });

  test('an unparsable dateTime is refused', () => {
    expect(fault(() => decodeOne('when', 'yesterday')).message).toBe('Member when must be an xs:dateTime');
  });

  test('absent members and xsi:nil members decode to null (zeep omits, Java sends nil)', () => {
    expect(decodeRequest(req(''), request)).toEqual({ name: null, count: null, big: null, flag: null, when: null, data: null });
    expect(decodeRequest(req('<o:name i:nil="true"/><o:count i:nil="1"/>'), request)).toMatchObject({ name: null, count: null });
    // nil="false" is a value (here the empty string).
    expect(decodeRequest(req('<o:name i:nil="false"></o:name>'), request).name).toBe('');
  });

  test('unknown members, and known names in another namespace, are ignored', () => {
    const decoded = decodeRequest(
      req('<o:unexpected>1</o:unexpected><o:name>n</o:name><x:count xmlns:x="urn:other">5</x:count><count>6</count>'),
      request,
    );
    expect(decoded).toEqual({ name: 'n', count: null, big: null, flag: null, when: null, data: null });
  });

  test('members are matched by name, not by position', () => {
    expect(decodeRequest(req('<o:count>3</o:count><o:name>n</o:name>'), request)).toMatchObject({ name: 'n', count: 3 });
  });

  describe('required members (GetFormSetPdfBasic)', () => {
    const pdf = downloadQueueContract.GetFormSetPdfBasic.request;
    const body = (members: string) => parseXml(`<o:GetFormSetPdfBasic xmlns:o="${SVC}" xmlns:i="${XSI}">${members}</o:GetFormSetPdfBasic>`);
    const all = '<o:systemName>u</o:systemName><o:systemPassword>p</o:systemPassword><o:archiveReference>AR1</o:archiveReference><o:languageId>1044</o:languageId>';

    test('all present', () => {
      expect(decodeRequest(body(all), pdf)).toEqual({
        systemName: 'u',
        systemPassword: 'p',
        archiveReference: 'AR1',
        languageId: 1044,
        dataFormatId: null,
        dataFormatVersion: null,
      });
    });

    test('a missing required member is a Client fault naming it', () => {
      const f = fault(() => decodeRequest(body(all.replace('<o:languageId>1044</o:languageId>', '')), pdf));
      expect(f.code).toBe('Client');
      expect(f.message).toBe('The request element GetFormSetPdfBasic is missing required member languageId');
    });

    test('a required member sent as nil is refused', () => {
      const f = fault(() => decodeRequest(body(all.replace('<o:systemName>u</o:systemName>', '<o:systemName i:nil="true"/>')), pdf));
      expect(f.message).toBe('Member systemName is required and cannot be nil');
    });
  });

  test('complex and repeated members decode recursively', () => {
    const item: ComplexType = { name: 'svc:Item', fields: [field('k', SVC, 'string', { nillable: true }), field('n', SVC, 'int')] };
    const descriptor: ElementDescriptor = {
      name: 'Req',
      ns: SVC,
      type: {
        name: 'svc:Req',
        fields: [field('one', SVC, item, { nillable: true }), field('list', SVC, listOf('svc:List', 'item', SVC, item), { nillable: true }), field('tags', SVC, 'string', { repeated: true })],
      },
    };
    const decoded = decodeRequest(
      req('<o:one><o:n>1</o:n></o:one><o:list><o:item><o:k>a</o:k><o:n>2</o:n></o:item><o:item i:nil="true"/></o:list><o:tags>x</o:tags><o:tags>y</o:tags>'),
      descriptor,
    );
    expect(decoded).toEqual({ one: { k: null, n: 1 }, list: { item: [{ k: 'a', n: 2 }, null] }, tags: ['x', 'y'] });
    expect(decodeRequest(req(''), descriptor)).toEqual({ one: null, list: null, tags: [] });
  });
});
