/**
 * Altinn's per-submission symmetric key (CONTRACT.md, "Service-owner encryption"): a 32-byte blob
 * from a CSPRNG, bytes 0-15 the AES-128 key and bytes 16-31 the IV, RSA-wrapped with PKCS#1 v1.5
 * under the service owner's certificate and delivered as SOEncryptedSymmetricKey.EncryptedKey.
 */
import { constants, publicEncrypt, randomBytes, type KeyObject } from 'node:crypto';
import forge from 'node-forge';

export const SYMMETRIC_KEY_BLOB_BYTES = 32;
export const AES_KEY_BYTES = 16;
export const AES_BLOCK_BYTES = 16;

export interface SymmetricKey {
  /** The whole 32-byte blob (what EncryptedKey wraps). */
  blob: Buffer;
  /** AES-128 key: a view of blob bytes 0-15. */
  key: Buffer;
  /** CBC IV for attachments: a view of blob bytes 16-31. */
  iv: Buffer;
}

export class KeyUnwrapError extends Error {
  override name = 'KeyUnwrapError';
}

export function newSymmetricKey(): SymmetricKey {
  return splitSymmetricKey(randomBytes(SYMMETRIC_KEY_BLOB_BYTES));
}

export function splitSymmetricKey(blob: Buffer): SymmetricKey {
  if (blob.length !== SYMMETRIC_KEY_BLOB_BYTES) {
    throw new KeyUnwrapError(`The symmetric key is ${blob.length} bytes; Altinn's is ${SYMMETRIC_KEY_BLOB_BYTES} (16 key + 16 IV)`);
  }
  return { blob, key: blob.subarray(0, AES_KEY_BYTES), iv: blob.subarray(AES_KEY_BYTES) };
}

/** Overwrite the key material (key and iv are views of the blob) once it is no longer needed. */
export function forgetSymmetricKey(symmetricKey: SymmetricKey): void {
  symmetricKey.blob.fill(0);
}

/** RSA PKCS#1 v1.5 encryption (allowed in Node 20; only the private-key side is refused). */
export function wrapKey(material: Buffer, publicKey: KeyObject): Buffer {
  return publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_PADDING }, material);
}

/**
 * RSA PKCS#1 v1.5 decryption with node-forge: Node 20 refuses it in crypto.privateDecrypt (the
 * Marvin-attack fix). forge is not constant-time, which matters for a server answering decryption
 * requests (a padding oracle) and not for an owner decrypting their own files offline.
 */
export function unwrapKey(wrapped: Buffer, privateKey: forge.pki.rsa.PrivateKey): Buffer {
  const modulusBytes = Math.ceil(privateKey.n.bitLength() / 8);
  if (wrapped.length !== modulusBytes) {
    throw new KeyUnwrapError(
      `The encrypted key is ${wrapped.length} bytes but the private key's modulus is ${modulusBytes}: it was wrapped under another certificate`,
    );
  }
  try {
    return Buffer.from(privateKey.decrypt(wrapped.toString('binary'), 'RSAES-PKCS1-V1_5'), 'binary');
  } catch {
    throw new KeyUnwrapError('The encrypted key cannot be decrypted with this private key (wrapped under another certificate?)');
  }
}

/** Unwrap SOEncryptedSymmetricKey.EncryptedKey into the 32-byte blob. */
export function unwrapSymmetricKey(encryptedKey: Buffer, privateKey: forge.pki.rsa.PrivateKey): SymmetricKey {
  return splitSymmetricKey(unwrapKey(encryptedKey, privateKey));
}
