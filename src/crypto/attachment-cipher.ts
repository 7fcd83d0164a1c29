/**
 * Attachment content as Altinn encrypts it: AES-128-CBC with PKCS#7 padding, no IV prefix, key
 * and IV from the task's symmetric key blob. Both directions are streams (constant memory).
 */
import { createCipheriv, createDecipheriv, type Cipher, type Decipher } from 'node:crypto';
import type { SymmetricKey } from './symmetric-key';

export function attachmentEncryptor({ key, iv }: SymmetricKey): Cipher {
  return createCipheriv('aes-128-cbc', key, iv);
}

/** Fails at the end of the stream ('bad decrypt') when the key is wrong or the bytes were altered. */
export function attachmentDecryptor({ key, iv }: SymmetricKey): Decipher {
  return createDecipheriv('aes-128-cbc', key, iv);
}


/** Encrypt a chunked byte source as it is pulled (what the blob store reads while it writes). */
export async function* encryptChunks(source: AsyncIterable<Buffer>, symmetricKey: SymmetricKey): AsyncGenerator<Buffer> {
  const cipher = attachmentEncryptor(symmetricKey);
  for await (const chunk of source) {
    const encrypted = cipher.update(chunk);
    if (encrypted.length > 0) yield encrypted;
  }
  yield cipher.final();
}
