/**
 * How one form task's content is stored (CONTRACT.md, "Service-owner encryption"):
 *
 * - in clear, for a service that is not encrypted;
 * - as submitted, when the submitter encrypted it already (it carries its SOEncryptedSymmetricKey):
 *   no second encryption, attachments marked encrypted;
 * - encrypted now, for an encrypted service: a fresh 32-byte key blob from the CSPRNG, attachments
 *   AES-128-CBC with the blob's key and IV as they stream into the blob store, the form data's
 *   root element (or, when the service lists sensitive fields, each of those present) replaced by
 *   XML-Enc EncryptedData, the blob RSA-wrapped under the owner's current
 *   certificate. Only the wrapped blob and the thumbprint are kept; the plain blob is overwritten
 *   once the task's content is stored (`forget`).
 */
import { encryptChunks } from '../crypto/attachment-cipher';
import { forgetSymmetricKey, newSymmetricKey, wrapKey, type SymmetricKey } from '../crypto/symmetric-key';
import { encryptFormData, type XmlEncryptionKey } from '../crypto/xml-encryption';
import type { EncryptionCertificate } from './certificates';
import type { EncryptedSymmetricKey } from './types';

export interface TaskEncryption {
  /** Stored on the task and delivered as SOEncryptedSymmetricKey; null when stored in clear. */
  symmetricKey: EncryptedSymmetricKey | null;
  /** IsEncrypted of every attachment of the task. */
  attachmentsEncrypted: boolean;
  /** The key attachments are encrypted under here; null when their bytes are stored as given. */
  attachmentKey: SymmetricKey | null;
  /** The attachment's bytes as they are to be stored. */
  attachment(bytes: AsyncIterable<Buffer>): AsyncIterable<Buffer>;
  /** The form data as it is to be stored (well-formed XML either way). */
  formData(xml: string): string;
  /** Overwrite the plain key (a no-op unless encrypting now). */
  forget(): void;
}

const STORED_AS_GIVEN = {
  attachment: (bytes: AsyncIterable<Buffer>) => bytes,
  formData: (xml: string) => xml,
  forget: () => {},
};

export const CLEAR: TaskEncryption = { symmetricKey: null, attachmentsEncrypted: false, attachmentKey: null, ...STORED_AS_GIVEN };

/** Content the submitter encrypted for the owner: stored and delivered exactly as received. */
export function encryptedBySubmitter(symmetricKey: EncryptedSymmetricKey): TaskEncryption {
  return { symmetricKey, attachmentsEncrypted: true, attachmentKey: null, ...STORED_AS_GIVEN };
}

/**
 * Encrypt the task's content for the owner of `certificate`, with a key made for this task only
 * (a fresh one, or the one the caller staged its attachments under); in form data only the
 * `sensitiveFields` when the service lists some (see sensitive-fields.ts).
 */
export function encryptForOwner(
  certificate: EncryptionCertificate,
  sensitiveFields: readonly string[] = [],
  symmetricKey: SymmetricKey = newSymmetricKey(),
): TaskEncryption {
  const xmlKey: XmlEncryptionKey = {
    aesKey: symmetricKey.key,
    // The EncryptedKey in the form data wraps the 16-byte AES key itself (see xml-encryption.ts).
    wrappedAesKey: wrapKey(symmetricKey.key, certificate.publicKey),
    keyName: certificate.thumbprint,
  };
  return {
    symmetricKey: { certificateThumbprint: certificate.thumbprint, encryptedKey: wrapKey(symmetricKey.blob, certificate.publicKey) },
    attachmentsEncrypted: true,
    attachmentKey: symmetricKey,
    attachment: (bytes) => encryptChunks(bytes, symmetricKey),
    formData: (xml) => encryptFormData(xml, xmlKey, sensitiveFields),
    forget: () => forgetSymmetricKey(symmetricKey),
  };
}
