/**
 * Service-owner certificates: read from PEM, DER or a PKCS#12 bundle, described, and checked for
 * what Altinn's encryption needs (an RSA key of at least 2048 bits, valid now).
 */
import { createHash, X509Certificate, type KeyObject } from 'node:crypto';
import { certificatesFromPkcs12, isPkcs12 } from './pkcs12';

export const MIN_RSA_KEY_BITS = 2048;

export interface CertificateInfo {
  /** SHA-1 of the DER, 40 upper-case hex characters (.NET's X509Certificate2.Thumbprint). */
  thumbprint: string;
  der: Buffer;
  subject: string;
  issuer: string;
  serialNumber: string;
  notBefore: Date;
  notAfter: Date;
  /** 'rsa', 'rsa-pss', 'ec', 'ed25519', … as node:crypto names key types. */
  keyType: string;
  /** Modulus length for RSA keys, otherwise undefined. */
  keyBits: number | undefined;
  publicKey: KeyObject;
}

export class CertificateError extends Error {
  override name = 'CertificateError';
}

export function thumbprintOf(der: Buffer): string {
  return createHash('sha1').update(der).digest('hex').toUpperCase();
}

const THUMBPRINT = /^[0-9A-F]{40}$/;

/** A thumbprint as typed (any case, spaces or colons between bytes) in canonical form, or undefined. */
export function normalizeThumbprint(text: string): string | undefined {
  const canonical = text.replace(/[\s:]/g, '').toUpperCase();
  return THUMBPRINT.test(canonical) ? canonical : undefined;
}

export function describeCertificate(der: Buffer): CertificateInfo {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(der);
  } catch (error) {
    throw new CertificateError(`Not a readable X.509 certificate: ${(error as Error).message}`);
  }
  const raw = certificate.raw;
  const publicKey = certificate.publicKey;
  return {
    thumbprint: thumbprintOf(raw),
    der: raw,
    subject: oneLineName(certificate.subject),
    issuer: oneLineName(certificate.issuer),
    serialNumber: certificate.serialNumber.toUpperCase(),
    notBefore: new Date(certificate.validFrom),
    notAfter: new Date(certificate.validTo),
    keyType: publicKey.asymmetricKeyType ?? 'unknown',
    keyBits: publicKey.asymmetricKeyType === 'rsa' ? publicKey.asymmetricKeyDetails?.modulusLength : undefined,
    publicKey,
  };
}

/**
 * The certificate in a file's bytes: PEM (the first CERTIFICATE block), DER, or a PKCS#12 bundle
 * (its certificate that belongs to the bundle's private key, else its only certificate).
 */
export function readCertificate(bytes: Buffer, options: { passphrase?: string } = {}): CertificateInfo {
  const text = bytes.toString('latin1');
  const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(text);
  if (pem) return describeCertificate(pemToDer(pem[0]));
  if (text.includes('-----BEGIN ')) {
    throw new CertificateError('The PEM file holds no CERTIFICATE block (a private key alone is not a certificate)');
  }
  if (isPkcs12(bytes)) return describeCertificate(certificatesFromPkcs12(bytes, options.passphrase ?? ''));
  return describeCertificate(bytes);
}

/** Why the certificate cannot be used to encrypt for its owner now, or undefined when it can. */
export function certificateProblem(info: CertificateInfo, now = new Date()): string | undefined {
  if (info.keyType !== 'rsa') {
    return `its key is ${info.keyType.toUpperCase()}, not RSA (Altinn's encryption wraps the key with RSA PKCS#1 v1.5)`;
  }
  if ((info.keyBits ?? 0) < MIN_RSA_KEY_BITS) return `its RSA key is ${info.keyBits} bits; at least ${MIN_RSA_KEY_BITS} are required`;
  if (info.notAfter.getTime() < now.getTime()) return `it expired on ${info.notAfter.toISOString()}`;
  if (info.notBefore.getTime() > now.getTime()) return `it is not valid until ${info.notBefore.toISOString()}`;
  return undefined;
}

function pemToDer(pem: string): Buffer {
  const body = pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
  return Buffer.from(body, 'base64');
}

/** node:crypto writes names one attribute per line. */
function oneLineName(name: string): string {
  return name.split('\n').filter(Boolean).join(', ');
}
