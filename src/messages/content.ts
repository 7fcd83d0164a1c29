/**
 * Content arriving with a request (forms, base64 or streamed attachments): checked against the
 * service definition before anything is written, then the attachment bytes are staged in the blob
 * store (durable before any row points at them). `Staging` remembers what a request wrote so a
 * failure before COMMIT removes it again; after COMMIT (or when COMMIT's outcome is unknown) the
 * blobs stay, since a row may point at them.
 *
 * For a service encrypted for its owner no plaintext reaches the blob store: the bytes are
 * encrypted as they stream in, under the message's content key (see message-store.ts), which
 * becomes the archived task's key on signing. A crash at any point leaves only ciphertext.
 */
import { Readable } from 'node:stream';
import { decodeStrictBase64 } from '../encoding/base64';
import { encryptChunks } from '../crypto/attachment-cipher';
import type { SymmetricKey } from '../crypto/symmetric-key';
import type { BlobStore, StoredBlob } from '../storage/blob-store';
import { invalidField, MessageError } from './errors';
import { checkAttachment, checkForm, tooLarge, type AcceptedAttachment, type AttachmentLimits, type ServiceDefinition } from './service-definitions';
import type { FormType } from './types';

export interface IncomingForm {
  type: FormType;
  dataFormatId: string;
  dataFormatVersion: number;
  formData: string;
}

export interface IncomingAttachment {
  fileName: string;
  attachmentType: string;
  /** Base64. */
  data: string;
  language?: string | null;
}

/** A checked attachment whose bytes are in the blob store. */
export interface StagedAttachment {
  fileName: string;
  attachmentType: string;
  mimeType: string;
  language: string | null;
  /** Its MD5 is not needed here (and not kept for draft attachments). Size and SHA-256 of the stored bytes. */
  blob: Omit<StoredBlob, 'md5'>;
  /** The blob is ciphertext under the message's content key. */
  encrypted: boolean;
}

/** The forms of a whole message: exactly one main form; returned main form first. */
export function checkMessageForms(definition: ServiceDefinition | undefined, forms: IncomingForm[], field: string): IncomingForm[] {
  const mainForms = forms.filter((form) => form.type === 'MainForm');
  if (mainForms.length !== 1) {
    throw invalidField(field, `a message has exactly one form of Type 'MainForm' (found ${mainForms.length})`, 'MainFormMissing');
  }
  forms.forEach((form, index) => checkForm(definition, form, `${field}[${index}]`));
  return [...mainForms, ...forms.filter((form) => form.type !== 'MainForm')];
}

export function decodeBase64(data: string, field: string): Buffer {
  const bytes = decodeStrictBase64(data);
  if (!bytes) throw invalidField(field, 'is not valid base64', 'InvalidBase64');
  return bytes;
}

export interface PreparedAttachment {
  accepted: AcceptedAttachment;
  language: string | null;
  bytes: Buffer;
}

/**
 * Checks base64 attachments (type, file type, count, size) as they would be added to a message
 * already holding attachments of `existingTypes`; decodes them. Writes nothing.
 */
export function prepareAttachments(
  definition: ServiceDefinition | undefined,
  limits: AttachmentLimits,
  attachments: IncomingAttachment[],
  existingTypes: string[],
  field: (index: number) => string,
  language: string | null = null,
): PreparedAttachment[] {
  const types = [...existingTypes];
  return attachments.map((attachment, index) => {
    const at = field(index);
    const accepted = checkAttachment(definition, limits, attachment, types, { fileName: `${at}FileName`, attachmentType: `${at}AttachmentType` });
    types.push(accepted.attachmentType);
    const bytes = decodeBase64(attachment.data, `${at}Data`);
    if (bytes.length > accepted.maxBytes) throw tooLarge(`${at}Data`, accepted, bytes.length);
    return { accepted, language: attachment.language ?? language, bytes };
  });
}

/** Blobs written for one request, removed again unless the transaction may have committed. */
export class Staging {
  readonly blobs: StoredBlob[] = [];
  private committing = false;

  /** With `contentKey`, every blob is stored encrypted under it. */
  constructor(
    private readonly store: BlobStore,
    readonly contentKey?: SymmetricKey,
  ) {}

  get encrypted(): boolean {
    return this.contentKey !== undefined;
  }

  async put(source: Readable | AsyncIterable<Uint8Array>): Promise<StoredBlob> {
    const bytes = this.contentKey ? encryptChunks(source as AsyncIterable<Buffer>, this.contentKey) : source;
    const blob = await this.store.put(bytes);
    this.blobs.push(blob);
    return blob;
  }

  async stageAll(prepared: PreparedAttachment[]): Promise<StagedAttachment[]> {
    const staged: StagedAttachment[] = [];
    for (const { accepted, language, bytes } of prepared) {
      const blob = await this.put(Readable.from([bytes]));
      staged.push({ fileName: accepted.fileName, attachmentType: accepted.attachmentType, mimeType: accepted.mimeType, language, blob, encrypted: this.encrypted });
    }
    return staged;
  }

  /** Call as the last step inside the transaction: from here on COMMIT may have happened. */
  committingNow(): void {
    this.committing = true;
  }

  /** After a failure: delete the staged blobs, unless COMMIT may have made rows point at them. */
  async discard(): Promise<void> {
    if (this.committing) return;
    await Promise.allSettled(this.blobs.map((blob) => this.store.delete(blob.key)));
  }
}

/**
 * Passes bytes through, failing with `error()` as soon as more than `maxBytes` have arrived (the
 * rest is never read). A failing source (e.g. the client went away) fails this too.
 */
export async function* limitBytes(source: AsyncIterable<Uint8Array>, maxBytes: number, error: () => MessageError): AsyncGenerator<Buffer> {
  let total = 0;
  for await (const chunk of source) {
    total += chunk.byteLength;
    if (total > maxBytes) throw error();
    yield Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  }
}
