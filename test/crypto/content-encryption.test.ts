/**
 * The content cipher on its own, checked with tools that share no code with it: the key blob
 * unwrapped by `openssl pkeyutl` (PKCS#1 v1.5), attachments decrypted by `openssl enc
 * -aes-128-cbc`, form data decrypted by `xmlsec1 --decrypt`; and our own decrypt side.
 */
import { createCipheriv, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { encryptChunks } from '../../src/crypto/attachment-cipher';
import { readCertificate } from '../../src/crypto/certificate';
import { readPrivateKey } from '../../src/crypto/private-key';
import { newSymmetricKey, unwrapKey, unwrapSymmetricKey, wrapKey } from '../../src/crypto/symmetric-key';
import { parseSensitiveFields } from '../../src/crypto/sensitive-fields';
import {
  decryptXmlDocument,
  encryptFormData,
  encryptRootElement,
  XMLDSIG_NS,
  XMLENC_NS,
  type XmlEncryptionKey,
} from '../../src/crypto/xml-encryption';
import { childElements, parseXml } from '../../src/xml/parser';
import { generatedBytes } from '../helpers/fixtures';
import { createTestCertificates, opensslDecryptAttachment, opensslUnwrap, xmlsecDecrypt, type TestCertificates } from '../helpers/certificates';

let certs: TestCertificates;
beforeAll(() => {
  certs = createTestCertificates();
});
afterAll(() => certs.remove());

const publicKey = () => readCertificate(readFileSync(certs.owner.certPem)).publicKey;

function xmlKey(): { symmetricKey: ReturnType<typeof newSymmetricKey>; key: XmlEncryptionKey } {
  const symmetricKey = newSymmetricKey();
  return {
    symmetricKey,
    key: { aesKey: symmetricKey.key, wrappedAesKey: wrapKey(symmetricKey.key, publicKey()), keyName: certs.owner.thumbprint },
  };
}

async function collect(chunks: AsyncIterable<Buffer>): Promise<Buffer> {
  const all: Buffer[] = [];
  for await (const chunk of chunks) all.push(chunk);
  return Buffer.concat(all);
}

describe('symmetric key blob', () => {
  it('is 32 fresh bytes, wrapped with PKCS#1 v1.5 so that openssl pkeyutl and our forge unwrap agree', () => {
    const first = newSymmetricKey();
    expect(first.blob).toHaveLength(32);
    expect(newSymmetricKey().blob.equals(first.blob)).toBe(false);
    const wrapped = wrapKey(first.blob, publicKey());
    expect(wrapped).toHaveLength(256);
    expect(opensslUnwrap(wrapped, certs.owner.keyPem).equals(first.blob)).toBe(true);
    const unwrapped = unwrapSymmetricKey(wrapped, readPrivateKey(readFileSync(certs.owner.keyPem)));
    expect(unwrapped.blob.equals(first.blob)).toBe(true);
    expect(() => unwrapSymmetricKey(wrapped, readPrivateKey(readFileSync(certs.next.keyPem)))).toThrow(/cannot be decrypted with this private key/);
  });
});

describe('attachment encryption', () => {
  it('streams AES-128-CBC/PKCS#7 with the blob key and IV: openssl enc -d gives back the bytes', async () => {
    const symmetricKey = newSymmetricKey();
    const size = 3 * 1024 * 1024 + 5;
    async function* source() {
      yield* generatedBytes(size, 7);
    }
    const ciphertext = await collect(encryptChunks(source(), symmetricKey));
    expect(ciphertext.length).toBe((Math.floor(size / 16) + 1) * 16);
    const plain = Buffer.concat([...generatedBytes(size, 7)]);
    expect(ciphertext.subarray(0, 64).equals(plain.subarray(0, 64))).toBe(false);
    expect(opensslDecryptAttachment(ciphertext, symmetricKey.blob).equals(plain)).toBe(true);
  });
});

describe('form data encryption (XML-Enc)', () => {
  const formData =
    '<?xml version="1.0" encoding="utf-8"?>\n<!-- skjema -->\n' +
    '<Skjema xmlns="urn:skjema" xmlns:my="urn:my"><Felt a="1 &amp; 2">HEMMELIG-FORM-MARKØR</Felt><my:Tom/></Skjema>\n<!-- slutt -->\n';

  it('replaces the root element by EncryptedData, keeping the prolog and epilog, as well-formed XML', () => {
    const { key } = xmlKey();
    const encrypted = encryptRootElement(formData, key);
    expect(encrypted.startsWith('<?xml version="1.0" encoding="utf-8"?>\n<!-- skjema -->\n<xenc:EncryptedData ')).toBe(true);
    expect(encrypted.endsWith('</xenc:EncryptedData>\n<!-- slutt -->\n')).toBe(true);
    expect(encrypted).not.toContain('HEMMELIG');
    const root = parseXml(encrypted);
    expect([root.local, root.ns]).toEqual(['EncryptedData', XMLENC_NS]);
    expect(root.attributes.find((a) => a.local === 'Type')?.value).toBe(`${XMLENC_NS}Element`);
    // KeyInfo/EncryptedKey(rsa-1_5)/KeyInfo/KeyName = thumbprint, as .NET's EncryptedXml writes it.
    const keyName = /<ds:KeyName>([0-9A-F]{40})<\/ds:KeyName>/.exec(encrypted)?.[1];
    expect(keyName).toBe(certs.owner.thumbprint);
    expect(encrypted).toContain(`<ds:KeyInfo xmlns:ds="${XMLDSIG_NS}"><xenc:EncryptedKey><xenc:EncryptionMethod Algorithm="${XMLENC_NS}rsa-1_5"/>`);
  });

  it('xmlsec1 --decrypt with the owner key restores the original element; a wrong key is refused', () => {
    const { key } = xmlKey();
    const encrypted = encryptRootElement(formData, key);
    const decrypted = xmlsecDecrypt(encrypted, certs.owner.keyPem, certs.dir);
    expect(decrypted).toContain('<Skjema xmlns="urn:skjema" xmlns:my="urn:my"><Felt a="1 &amp; 2">HEMMELIG-FORM-MARKØR</Felt><my:Tom/></Skjema>');
    expect(decrypted).toContain('<!-- skjema -->');
    expect(() => xmlsecDecrypt(encrypted, certs.next.keyPem, certs.dir)).toThrow();
  });

  it('the EncryptedKey wraps the 16-byte AES key, which is the blob key: either decrypts the data', () => {
    const { symmetricKey, key } = xmlKey();
    const encrypted = encryptRootElement(formData, key);
    const wrappedInKeyInfo = Buffer.from(/<xenc:EncryptedKey>.*?<xenc:CipherValue>([^<]+)</.exec(encrypted)![1]!, 'base64');
    expect(opensslUnwrap(wrappedInKeyInfo, certs.owner.keyPem).equals(symmetricKey.key)).toBe(true);
    // Our decryptor: byte-exact round trip, from KeyInfo or from the blob alone (EncryptedXml.DecryptData style).
    const privateKey = readPrivateKey(readFileSync(certs.owner.keyPem));
    expect(decryptXmlDocument(encrypted, (ek) => unwrapKey(ek!.cipherValue, privateKey))).toBe(formData);
    expect(decryptXmlDocument(encrypted.replace(/<ds:KeyInfo [\s\S]*?<\/xenc:EncryptedKey><\/ds:KeyInfo>/, ''), () => symmetricKey.blob)).toBe(formData);
    // A wrong key fails the padding check, except when the garbage happens to end in valid
    // padding (about 1 in 256): then it must still not yield the form data.
    let withWrongKey: string | undefined;
    try {
      withWrongKey = decryptXmlDocument(encrypted, () => randomBytes(16));
    } catch {
      withWrongKey = undefined;
    }
    expect(withWrongKey).not.toBe(formData);
  });

  it('reads ISO 10126 padding (random fill, last byte the length), as XML-Enc allows senders to write', () => {
    const key = randomBytes(16);
    const iv = randomBytes(16);
    const element = Buffer.from('<Felt>ISO-10126-MARKØR</Felt>', 'utf8');
    const padLength = 16 - (element.length % 16);
    const padded = Buffer.concat([element, randomBytes(padLength - 1), Buffer.from([padLength])]);
    const cipher = createCipheriv('aes-128-cbc', key, iv).setAutoPadding(false);
    const cipherValue = Buffer.concat([iv, cipher.update(padded), cipher.final()]).toString('base64');
    const document =
      `<Skjema><xenc:EncryptedData xmlns:xenc="${XMLENC_NS}" Type="${XMLENC_NS}Element">` +
      `<xenc:EncryptionMethod Algorithm="${XMLENC_NS}aes128-cbc"/><xenc:CipherData><xenc:CipherValue>${cipherValue}</xenc:CipherValue></xenc:CipherData>` +
      `</xenc:EncryptedData></Skjema>`;
    expect(decryptXmlDocument(document, () => key)).toBe('<Skjema><Felt>ISO-10126-MARKØR</Felt></Skjema>');
  });
});

describe('sensitive fields (each its own EncryptedData)', () => {
  const form =
    '<?xml version="1.0" encoding="utf-8"?>\n' +
    '<Skjema xmlns="urn:skjema" xmlns:p="urn:p"><Innsender><Navn>KLAR-NAVN</Navn><Fodselsnummer>SENS-FNR-1</Fodselsnummer></Innsender>' +
    '<Betaling><p:Kontonummer a="x &amp; y">SENS-KONTO-2</p:Kontonummer><Belop>KLAR-BELOP</Belop></Betaling>' +
    '<Annet><Kontonummer/><Dypt><Kontonummer>SENS-KONTO-3</Kontonummer></Dypt></Annet>' +
    '<Fodselsnummer>KLAR-IKKE-PA-STIEN</Fodselsnummer></Skjema>\n';
  const fields = ['Skjema/Innsender/Fodselsnummer', 'Kontonummer'];
  const decryptWithOwnerKey = (xml: string) => {
    const privateKey = readPrivateKey(readFileSync(certs.owner.keyPem));
    return decryptXmlDocument(xml, (ek) => unwrapKey(ek!.cipherValue, privateKey));
  };

  it('encrypts each matching element in place, with its own IV, leaving the rest readable and well-formed', () => {
    const { key } = xmlKey();
    const encrypted = encryptFormData(form, key, fields);
    for (const secret of ['SENS-FNR-1', 'SENS-KONTO-2', 'SENS-KONTO-3', 'Kontonummer>']) expect(encrypted).not.toContain(secret);
    for (const clear of ['KLAR-NAVN', 'KLAR-BELOP', '<Fodselsnummer>KLAR-IKKE-PA-STIEN</Fodselsnummer>']) expect(encrypted).toContain(clear);
    const root = parseXml(encrypted);
    expect([root.local, root.ns]).toEqual(['Skjema', 'urn:skjema']);
    const ivs = [...encrypted.matchAll(/<\/xenc:EncryptedKey><\/ds:KeyInfo><xenc:CipherData><xenc:CipherValue>([^<]+)</g)].map((m) =>
      Buffer.from(m[1]!, 'base64').subarray(0, 16).toString('hex'),
    );
    expect(ivs).toHaveLength(4); // the path match, and three Kontonummer (one of them empty)
    expect(new Set(ivs).size).toBe(4);
    expect(childElements(childElements(root).find((e) => e.local === 'Innsender')!).map((e) => e.local)).toEqual(['Navn', 'EncryptedData']);
    // Every byte outside the encrypted elements is as written; decrypting gives the form back exactly.
    expect(decryptWithOwnerKey(encrypted)).toBe(form);
  });

  it('xmlsec1 --decrypt restores each field in context (one EncryptedData per run, until none is left)', () => {
    const { key } = xmlKey();
    let document = encryptFormData(form, key, fields);
    const once = xmlsecDecrypt(document, certs.owner.keyPem, certs.dir);
    expect(once).toContain('<Innsender><Navn>KLAR-NAVN</Navn><Fodselsnummer>SENS-FNR-1</Fodselsnummer></Innsender>');
    expect(once.match(/EncryptedData /g)).toHaveLength(3);
    for (let runs = 0; document.includes('EncryptedData'); runs += 1) {
      expect(runs).toBeLessThan(4);
      document = xmlsecDecrypt(document, certs.owner.keyPem, certs.dir);
    }
    // xmlsec1 re-serializes the document: the same elements, text and attributes as the original.
    expect(document).toContain(form.slice(form.indexOf('<Skjema'), form.lastIndexOf('>') + 1));
  });

  it('encrypts the outer one of nested fields whole, and the root when no listed field occurs', () => {
    const { key } = xmlKey();
    const nested = encryptFormData(form, key, ['Innsender', 'Skjema/Innsender/Navn']);
    expect(nested).not.toContain('KLAR-NAVN');
    expect(nested.match(/<xenc:EncryptedData /g)).toHaveLength(1);
    expect(decryptWithOwnerKey(nested)).toBe(form);

    for (const absent of [['Skjema/Fodselsnummer/Navn'], ['Annet/Kontonummer'], ['Skjema'], ['Ukjent']]) {
      const whole = encryptFormData(form, key, absent);
      expect(parseXml(whole).local).toBe('EncryptedData');
      expect(whole).not.toContain('KLAR-');
      expect(decryptWithOwnerKey(whole)).toBe(form);
    }
  });

  it('reads a field list: trims, drops repeats and empty entries, refuses what is not a path of local names', () => {
    expect(parseSensitiveFields(' Skjema/Innsender/Fodselsnummer , Kontonummer,,Kontonummer ')).toEqual(['Skjema/Innsender/Fodselsnummer', 'Kontonummer']);
    expect(parseSensitiveFields('')).toEqual([]);
    expect(() => parseSensitiveFields('/Skjema/Felt')).toThrow("Sensitive field '/Skjema/Felt': write the path without a leading '/'");
    expect(() => parseSensitiveFields('Skjema//Felt')).toThrow('has an empty step');
    for (const bad of ['p:Felt', 'Felt[1]', '*', 'Skjema/*', '1Felt', '@a']) {
      expect(() => parseSensitiveFields(bad)).toThrow("is not an element's local name");
    }
  });
});
