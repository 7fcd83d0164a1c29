/**
 * The service owner's private key for decrypting deliveries: a PEM or DER key file (PKCS#1 or
 * PKCS#8, possibly passphrase-protected) or a PKCS#12 bundle. Returned as a node-forge key because
 * PKCS#1 v1.5 decryption is done with forge (see symmetric-key.ts).
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import forge from 'node-forge';
import { isPkcs12, privateKeyFromPkcs12 } from './pkcs12';

export class PrivateKeyError extends Error {
  override name = 'PrivateKeyError';
}

export function readPrivateKey(bytes: Buffer, options: { passphrase?: string } = {}): forge.pki.rsa.PrivateKey {
  if (isPkcs12(bytes)) return privateKeyFromPkcs12(bytes, options.passphrase ?? '');
  const keyObject = openKeyFile(bytes, options.passphrase);
  if (keyObject.asymmetricKeyType !== 'rsa') {
    throw new PrivateKeyError(`The private key is ${keyObject.asymmetricKeyType?.toUpperCase() ?? 'not RSA'}; Altinn's encryption uses RSA`);
  }
  // Through PKCS#1 PEM: the one form forge reads whatever the file held.
  return forge.pki.privateKeyFromPem(keyObject.export({ type: 'pkcs1', format: 'pem' }) as string);
}

function openKeyFile(bytes: Buffer, passphrase: string | undefined): KeyObject {
  const isPem = bytes.includes('-----BEGIN ');
  if (isPem && !/-----BEGIN (RSA |ENCRYPTED )?PRIVATE KEY-----/.test(bytes.toString('latin1'))) {
    throw new PrivateKeyError('The PEM file holds no private key (a certificate alone cannot decrypt)');
  }
  try {
    return isPem
      ? createPrivateKey({ key: bytes, format: 'pem', passphrase })
      : createPrivateKey({ key: bytes, format: 'der', type: 'pkcs8', passphrase });
  } catch (error) {
    const message = (error as Error).message;
    if (/passphrase|bad decrypt|interrupted or cancelled/i.test(message)) {
      throw new PrivateKeyError('The private key is protected by a passphrase: give the right one with --passphrase-stdin');
    }
    if (!isPem) {
      try {
        return createPrivateKey({ key: bytes, format: 'der', type: 'pkcs1' });
      } catch {
        // fall through to the general message
      }
    }
    throw new PrivateKeyError(`Not a readable private key (PEM, DER or PKCS#12): ${message}`);
  }
}
