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
import {
  decryptXmlDocument,
  encryptRootElement,
  XMLDSIG_NS,
  XMLENC_NS,
  type XmlEncryptionKey,
} from '../../src/crypto/xml-encryption';
import { parseXml } from '../../src/xml/parser';
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
    expect(() => decryptXmlDocument(encrypted, () => randomBytes(16))).toThrow();
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
