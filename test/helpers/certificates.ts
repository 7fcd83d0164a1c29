/**
 * Service-owner keys and certificates for encryption tests, made with the OpenSSL command line in
 * a temporary folder (node-forge only for the certificates whose validity lies outside today,
 * which `openssl req` 3.0 cannot date), plus small wrappers for the independent OpenSSL and
 * xmlsec1 checks.
 */
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import forge from 'node-forge';

export interface OwnerKeyFiles {
  keyPem: string;
  certPem: string;
  certDer: string;
  /** PKCS#12 bundle of key + certificate, protected by `p12Passphrase`. */
  p12: string;
  p12Passphrase: string;
  /** Thumbprint as `openssl x509 -fingerprint -sha1` prints it, colons removed. */
  thumbprint: string;
}

export interface TestCertificates {
  dir: string;
  owner: OwnerKeyFiles;
  /** A second valid RSA 2048 key pair (rotation). */
  next: OwnerKeyFiles;
  /** RSA 2048, validity in the past / in the future (PEM). */
  expiredCert: string;
  notYetValidCert: string;
  expiredKeyPem: string;
  /** RSA 1024 (PEM). */
  shortCert: string;
  /** EC P-256 (PEM), and as a PKCS#12 bundle with passphrase 'ec'. */
  ecCert: string;
  ecP12: string;
  remove(): void;
}

export function openssl(args: string[], input?: Buffer): Buffer {
  return execFileSync('openssl', args, { input, stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 1024 ** 3 });
}

function ownerKeys(dir: string, name: string): OwnerKeyFiles {
  const file = (suffix: string) => path.join(dir, `${name}${suffix}`);
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', file('-key.pem'), '-out', file('-cert.pem'), '-days', '30', '-subj', `/O=Testetat/CN=${name}`]);
  openssl(['x509', '-in', file('-cert.pem'), '-outform', 'DER', '-out', file('-cert.der')]);
  const p12Passphrase = `pass-${name}`;
  openssl(['pkcs12', '-export', '-inkey', file('-key.pem'), '-in', file('-cert.pem'), '-out', file('.p12'), '-passout', `pass:${p12Passphrase}`]);
  const fingerprint = openssl(['x509', '-in', file('-cert.pem'), '-noout', '-fingerprint', '-sha1']).toString();
  return {
    keyPem: file('-key.pem'),
    certPem: file('-cert.pem'),
    certDer: file('-cert.der'),
    p12: file('.p12'),
    p12Passphrase,
    thumbprint: fingerprint.split('=')[1]!.trim().replace(/:/g, ''),
  };
}

/** A self-signed RSA 2048 certificate valid only between the two dates (forge: openssl req cannot backdate). */
function datedCertificate(dir: string, name: string, notBefore: Date, notAfter: Date): { cert: string; key: string } {
  // node:crypto generates the key (fast); forge only dates and signs the certificate.
  const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keys = {
    privateKey: forge.pki.privateKeyFromPem(pair.privateKey.export({ type: 'pkcs1', format: 'pem' }) as string),
    publicKey: forge.pki.publicKeyFromPem(pair.publicKey.export({ type: 'spki', format: 'pem' }) as string),
  };
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = '0a1b2c';
  cert.validity.notBefore = notBefore;
  cert.validity.notAfter = notAfter;
  const attrs = [{ name: 'commonName', value: name }];
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  const certFile = path.join(dir, `${name}-cert.pem`);
  const keyFile = path.join(dir, `${name}-key.pem`);
  writeFileSync(certFile, forge.pki.certificateToPem(cert));
  writeFileSync(keyFile, forge.pki.privateKeyToPem(keys.privateKey));
  return { cert: certFile, key: keyFile };
}

export function createTestCertificates(): TestCertificates {
  const dir = mkdtempSync(path.join(tmpdir(), 'agw-certs-'));
  const day = 86_400_000;
  const expired = datedCertificate(dir, 'expired', new Date(Date.now() - 400 * day), new Date(Date.now() - 35 * day));
  const notYetValid = datedCertificate(dir, 'future', new Date(Date.now() + 10 * day), new Date(Date.now() + 400 * day));

  const shortKey = path.join(dir, 'short-key.pem');
  const shortCert = path.join(dir, 'short-cert.pem');
  openssl(['req', '-x509', '-newkey', 'rsa:1024', '-nodes', '-keyout', shortKey, '-out', shortCert, '-days', '30', '-subj', '/CN=short']);

  const ecKey = path.join(dir, 'ec-key.pem');
  const ecCert = path.join(dir, 'ec-cert.pem');
  const ecP12 = path.join(dir, 'ec.p12');
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', ecKey, '-out', ecCert, '-days', '30', '-subj', '/CN=ec']);
  openssl(['pkcs12', '-export', '-inkey', ecKey, '-in', ecCert, '-out', ecP12, '-passout', 'pass:ec']);

  return {
    dir,
    owner: ownerKeys(dir, 'owner'),
    next: ownerKeys(dir, 'next'),
    expiredCert: expired.cert,
    expiredKeyPem: expired.key,
    notYetValidCert: notYetValid.cert,
    shortCert,
    ecCert,
    ecP12,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** `openssl pkeyutl -decrypt` with PKCS#1 v1.5 padding: the independent unwrap of an EncryptedKey. */
export function opensslUnwrap(encryptedKey: Buffer, keyPem: string): Buffer {
  return openssl(['pkeyutl', '-decrypt', '-inkey', keyPem, '-pkeyopt', 'rsa_padding_mode:pkcs1'], encryptedKey);
}

/** `openssl enc -d -aes-128-cbc` with key and IV from the 32-byte blob. */
export function opensslDecryptAttachment(ciphertext: Buffer, blob: Buffer): Buffer {
  return openssl(['enc', '-d', '-aes-128-cbc', '-K', blob.subarray(0, 16).toString('hex'), '-iv', blob.subarray(16, 32).toString('hex')], ciphertext);
}

/** `xmlsec1 --decrypt` of an XML document with the owner's private key; returns the decrypted document. */
export function xmlsecDecrypt(xml: string, keyPem: string, workDir: string): string {
  const input = path.join(workDir, `xmlsec-in-${process.hrtime.bigint()}.xml`);
  writeFileSync(input, xml);
  try {
    return execFileSync('xmlsec1', ['--decrypt', '--privkey-pem', keyPem, input], { stdio: ['ignore', 'pipe', 'pipe'] }).toString('utf8');
  } finally {
    rmSync(input, { force: true });
  }
}

