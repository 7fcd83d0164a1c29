/**
 * Reading service-owner certificates (PEM, DER, PKCS#12) and the rules for using one: RSA, at
 * least 2048 bits, valid now. Thumbprints are checked against `openssl x509 -fingerprint -sha1`.
 */
import { readFileSync } from 'node:fs';
import { certificateProblem, normalizeThumbprint, readCertificate } from '../../src/crypto/certificate';
import { readPrivateKey } from '../../src/crypto/private-key';
import { createTestCertificates, type TestCertificates } from '../helpers/certificates';

let certs: TestCertificates;
beforeAll(() => {
  certs = createTestCertificates();
});
afterAll(() => certs.remove());

describe('readCertificate', () => {
  it('reads PEM, DER and a PKCS#12 bundle to the same certificate and thumbprint (SHA-1 of the DER, upper-case hex)', () => {
    const fromPem = readCertificate(readFileSync(certs.owner.certPem));
    const fromDer = readCertificate(readFileSync(certs.owner.certDer));
    const fromP12 = readCertificate(readFileSync(certs.owner.p12), { passphrase: certs.owner.p12Passphrase });
    expect(fromPem.thumbprint).toMatch(/^[0-9A-F]{40}$/);
    expect(fromPem.thumbprint).toBe(certs.owner.thumbprint);
    expect(fromDer.thumbprint).toBe(certs.owner.thumbprint);
    expect(fromP12.thumbprint).toBe(certs.owner.thumbprint);
    expect(fromP12.der.equals(readFileSync(certs.owner.certDer))).toBe(true);
    expect(fromPem).toMatchObject({ keyType: 'rsa', keyBits: 2048, subject: 'O=Testetat, CN=owner' });
    expect(certificateProblem(fromPem)).toBeUndefined();
  });

  it('says why a PKCS#12 bundle cannot be opened, and that a PEM key is not a certificate', () => {
    expect(() => readCertificate(readFileSync(certs.owner.p12), { passphrase: 'wrong' })).toThrow(/wrong passphrase/);
    expect(() => readCertificate(readFileSync(certs.owner.keyPem))).toThrow(/no CERTIFICATE block/);
    expect(() => readCertificate(Buffer.from('not a certificate'))).toThrow(/Not a readable X.509 certificate/);
  });

  it('refuses expired, not yet valid, short and non-RSA certificates with the reason', () => {
    const problem = (file: string, passphrase?: string) => certificateProblem(readCertificate(readFileSync(file), { passphrase }));
    expect(problem(certs.expiredCert)).toMatch(/^it expired on \d{4}-/);
    expect(problem(certs.notYetValidCert)).toMatch(/^it is not valid until \d{4}-/);
    expect(problem(certs.shortCert)).toBe('its RSA key is 1024 bits; at least 2048 are required');
    expect(problem(certs.ecCert)).toMatch(/^its key is EC, not RSA/);
    // forge cannot parse an EC certificate; the bundle's certificate still comes out and is refused as EC.
    expect(problem(certs.ecP12, 'ec')).toMatch(/^its key is EC, not RSA/);
  });
});

describe('normalizeThumbprint', () => {
  it('accepts any case and byte separators, refuses anything else', () => {
    expect(normalizeThumbprint('ab:cd:' + 'ef'.repeat(18))).toBe('ABCD' + 'EF'.repeat(18));
    expect(normalizeThumbprint('AB'.repeat(19))).toBeUndefined();
    expect(normalizeThumbprint('XY'.repeat(20))).toBeUndefined();
  });
});

describe('readPrivateKey', () => {
  it('reads the owner key from PEM and from the PKCS#12 bundle, and says when the passphrase is wrong', () => {
    const fromPem = readPrivateKey(readFileSync(certs.owner.keyPem));
    const fromP12 = readPrivateKey(readFileSync(certs.owner.p12), { passphrase: certs.owner.p12Passphrase });
    expect(fromP12.n.equals(fromPem.n)).toBe(true);
    expect(() => readPrivateKey(readFileSync(certs.owner.p12), { passphrase: 'wrong' })).toThrow(/wrong passphrase/);
    expect(() => readPrivateKey(readFileSync(certs.owner.certPem))).toThrow(/holds no private key/);
  });
});
