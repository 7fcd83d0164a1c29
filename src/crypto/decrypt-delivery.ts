/**
 * The service owner's side of Altinn's encryption: turn a saved GetArchivedFormTaskBasicDQ
 * response (or one streamed attachment plus its task's EncryptedKey) back into the forms and
 * attachments as submitted, written to a folder. Attachments stream through the decipher.
 *
 * Keys: SOEncryptedSymmetricKey.EncryptedKey unwraps (RSA PKCS#1 v1.5) to the 32-byte blob
 * (AES-128 key ‖ IV) that decrypts the attachments marked IsEncrypted; each XML-Enc
 * EncryptedData in the form data is decrypted with the key in its own KeyInfo/EncryptedKey, or
 * with the blob's AES key when it carries none.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type forge from 'node-forge';
import { measureBytes } from '../storage/measure';
import { safeFileName } from '../storage/safe-file-name';
import { childElements, isNil, textContent, type XmlElement } from '../xml/parser';
import { attachmentDecryptor } from './attachment-cipher';
import { faultMessage, findElement, readSavedResponse, SavedResponseError, type ByteSource } from './saved-response';
import { forgetSymmetricKey, KeyUnwrapError, unwrapKey, unwrapSymmetricKey, type SymmetricKey } from './symmetric-key';
import { decryptXmlDocument, mayContainEncryptedData } from './xml-encryption';

export interface WrittenFile {
  kind: 'form' | 'attachment';
  /** Absolute path of the file written. */
  path: string;
  /** Lower-case hex SHA-256 of what was written. */
  sha256: string;
  sizeBytes: number;
  /** False when the content was not encrypted and was written as received. */
  decrypted: boolean;
}

export interface SkippedAttachment {
  attachmentId: number;
  fileName: string;
  reason: string;
}

export interface DecryptedFormTask {
  archiveReference: string | null;
  /** The certificate the task's key was wrapped under; null for a task delivered in clear. */
  certificateThumbprint: string | null;
  files: WrittenFile[];
  /** Attachments not in the response (over the inline limit: fetch them with the streamed service). */
  skipped: SkippedAttachment[];
}

export interface DecryptOptions {
  privateKey: forge.pki.rsa.PrivateKey;
  outDir: string;
}

/** Decrypt a saved GetArchivedFormTaskBasicDQ response (MTOM or plain XML) into `outDir`. */
export async function decryptFormTaskResponse(file: string, options: DecryptOptions & { contentType?: string }): Promise<DecryptedFormTask> {
  const response = await readSavedResponse(file, { contentType: options.contentType });
  const task = findElement(response.envelope, 'GetArchivedFormTaskBasicDQResult');
  if (!task) {
    const fault = faultMessage(response.envelope);
    throw new SavedResponseError(fault ? `The saved response is a SOAP Fault: ${fault}` : 'The file holds no GetArchivedFormTaskBasicDQResult');
  }

  const keyElement = optionalChild(task, 'SOEncryptedSymmetricKey');
  const thumbprint = keyElement ? optionalText(keyElement, 'CertificateThumbprint') : null;
  const encryptedKey = keyElement ? optionalText(keyElement, 'EncryptedKey') : null;
  const symmetricKey = encryptedKey ? unwrapTaskKey(Buffer.from(encryptedKey, 'base64'), thumbprint, options.privateKey) : undefined;

  try {
    await fs.promises.mkdir(options.outDir, { recursive: true });
    const files: WrittenFile[] = [];
    const skipped: SkippedAttachment[] = [];
    for (const form of childElements(optionalChild(task, 'Forms') ?? emptyElement())) {
      files.push(await writeForm(form, symmetricKey, options));
    }
    for (const attachment of childElements(optionalChild(task, 'Attachments') ?? emptyElement())) {
      const attachmentId = Number(optionalText(attachment, 'AttachmentId'));
      const fileName = optionalText(attachment, 'FileName') ?? `attachment-${attachmentId}`;
      const data = optionalChild(attachment, 'AttachmentData');
      const source = data && response.binaryOf(data);
      if (!source) {
        skipped.push({ attachmentId, fileName, reason: 'not in the response: fetch it with GetAttachmentDataStreamedBasic and decrypt it with --encrypted-key' });
        continue;
      }
      const encrypted = ['true', '1'].includes(optionalText(attachment, 'IsEncrypted')?.trim() ?? '');
      if (encrypted && !symmetricKey) {
        throw new SavedResponseError(`Attachment ${attachmentId} is marked IsEncrypted but the task has no SOEncryptedSymmetricKey`);
      }
      const target = path.join(options.outDir, 'attachments', `${attachmentId}-${safeFileName(fileName)}`);
      files.push(await writeAttachment(source, target, encrypted ? symmetricKey : undefined));
    }
    return { archiveReference: optionalText(task, 'ArchiveReference'), certificateThumbprint: thumbprint, files, skipped };
  } finally {
    if (symmetricKey) forgetSymmetricKey(symmetricKey);
  }
}

/** Decrypt one attachment fetched on its own (GetAttachmentDataStreamedBasic), raw bytes or a saved MTOM response. */
export async function decryptAttachmentFile(
  file: string,
  options: { privateKey: forge.pki.rsa.PrivateKey; encryptedKey: Buffer; outFile: string; contentType?: string },
): Promise<WrittenFile> {
  const symmetricKey = unwrapSymmetricKey(options.encryptedKey, options.privateKey);
  try {
    return await writeAttachment(await attachmentSource(file, options.contentType), options.outFile, symmetricKey);
  } finally {
    forgetSymmetricKey(symmetricKey);
  }
}

/** The task's key blob; a key that does not fit says which certificate the task needs. */
function unwrapTaskKey(encryptedKey: Buffer, thumbprint: string | null, privateKey: forge.pki.rsa.PrivateKey): SymmetricKey {
  try {
    return unwrapSymmetricKey(encryptedKey, privateKey);
  } catch (error) {
    if (!(error instanceof KeyUnwrapError) || !thumbprint) throw error;
    throw new KeyUnwrapError(`${error.message}; the task's key is wrapped under certificate ${thumbprint}`);
  }
}

async function attachmentSource(file: string, contentType: string | undefined): Promise<ByteSource> {
  const raw: ByteSource = { description: file, open: () => fs.createReadStream(file, { highWaterMark: 256 * 1024 }) };
  if (contentType && !/^\s*multipart\//i.test(contentType)) return raw;
  let response;
  try {
    response = await readSavedResponse(file, { contentType });
  } catch (error) {
    if (contentType) throw error;
    return raw; // not a saved response: the attachment's bytes themselves
  }
  const result = findElement(response.envelope, 'GetAttachmentDataStreamedBasicResult');
  const source = result && response.binaryOf(result);
  if (!source) {
    const fault = faultMessage(response.envelope);
    throw new SavedResponseError(fault ? `The saved response is a SOAP Fault: ${fault}` : 'The saved response holds no attachment data');
  }
  return source;
}

async function writeForm(form: XmlElement, symmetricKey: SymmetricKey | undefined, options: DecryptOptions): Promise<WrittenFile> {
  const reference = optionalText(form, 'Reference') ?? 'form';
  const dataFormatId = optionalText(form, 'DataFormatID');
  const formData = optionalText(form, 'FormData') ?? '';
  const encrypted = mayContainEncryptedData(formData);
  const plain = encrypted
    ? decryptXmlDocument(formData, (encryptedKey) => {
        if (encryptedKey) return unwrapKey(encryptedKey.cipherValue, options.privateKey);
        if (symmetricKey) return symmetricKey.key;
        throw new SavedResponseError(`Form ${reference} is encrypted but names no key and the task has no SOEncryptedSymmetricKey`);
      })
    : formData;
  const name = safeFileName(dataFormatId ? `${reference}-${dataFormatId}.xml` : `${reference}.xml`);
  const target = path.join(options.outDir, 'forms', name);
  await fs.promises.mkdir(path.dirname(target), { recursive: true });
  const bytes = Buffer.from(plain, 'utf8');
  await fs.promises.writeFile(target, bytes);
  return { kind: 'form', path: target, sha256: createHash('sha256').update(bytes).digest('hex'), sizeBytes: bytes.length, decrypted: encrypted };
}

async function writeAttachment(source: ByteSource, target: string, symmetricKey: SymmetricKey | undefined): Promise<WrittenFile> {
  await fs.promises.mkdir(path.dirname(target), { recursive: true });
  const measure = measureBytes();
  const stages: (Readable | Transform)[] = [source.open()];
  if (symmetricKey) stages.push(attachmentDecryptor(symmetricKey));
  try {
    await pipeline([...stages, measure.stream, fs.createWriteStream(target)]);
  } catch (error) {
    await fs.promises.rm(target, { force: true });
    const message = (error as Error).message;
    throw new SavedResponseError(
      /bad decrypt|wrong final block length/i.test(message)
        ? `Could not decrypt ${source.description}: wrong key, or the bytes are damaged or not encrypted`
        : `Could not write ${target} from ${source.description}: ${message}`,
    );
  }
  return { kind: 'attachment', path: target, ...measure.result(), decrypted: symmetricKey !== undefined };
}

function optionalChild(element: XmlElement, local: string): XmlElement | undefined {
  const found = childElements(element).find((c) => c.local === local);
  return found && !isNil(found) ? found : undefined;
}

function optionalText(element: XmlElement, local: string): string | null {
  const found = optionalChild(element, local);
  return found ? textContent(found) : null;
}

function emptyElement(): XmlElement {
  return { name: '', prefix: '', local: '', ns: '', attributes: [], children: [] };
}

