/**
 * POST /api/{who}/messages/{id}/attachments (base64 in JSON) and .../attachments/streamedattachment
 * (the request body is the file): adds one attachment to a message in progress.
 *
 * The type, file type and count are checked before a byte is read; the size while the bytes stream
 * into the blob store (never held in memory), stopping at the first byte too many. The row is
 * inserted after the blob is durable, in a transaction that re-checks the message (still editable,
 * still room for one more of this type). Whatever fails, including the client going away halfway,
 * leaves no row and no blob.
 */
import { decodeBase64, limitBytes } from './content';
import { insertAttachmentRows, loadDraftAttachments, loadEditableMessage, lockMessage, stagingFor, touchMessage, type MessageRecord } from './message-store';
import { checkAttachment, getServiceDefinition, tooLarge, type AcceptedAttachment, type AttachmentFields, type ServiceDefinition } from './service-definitions';
import type { Actor, MessageContext, Reportee } from './types';
import { Readable } from 'node:stream';

export interface NewAttachmentMeta {
  fileName: string;
  attachmentType: string;
  language?: string | null;
}

export async function addAttachment(
  ctx: MessageContext,
  actor: Actor,
  reportee: Reportee,
  messageId: number,
  attachment: NewAttachmentMeta & { data: string },
): Promise<{ attachmentId: number }> {
  const fields = { fileName: 'FileName', attachmentType: 'AttachmentType' };
  const { message, definition, accepted } = await accept(ctx, reportee, messageId, attachment, fields);
  const bytes = decodeBase64(attachment.data, 'Data');
  if (bytes.length > accepted.maxBytes) throw tooLarge('Data', accepted, bytes.length);
  return store(ctx, actor, message, attachment, definition, accepted, fields, [bytes]);
}

export async function addStreamedAttachment(
  ctx: MessageContext,
  actor: Actor,
  reportee: Reportee,
  messageId: number,
  attachment: NewAttachmentMeta,
  body: { source: AsyncIterable<Uint8Array>; declaredLength?: number },
): Promise<{ attachmentId: number }> {
  const fields = { fileName: 'fileName', attachmentType: 'attachmentType' };
  const { message, definition, accepted } = await accept(ctx, reportee, messageId, attachment, fields);
  if (body.declaredLength !== undefined && body.declaredLength > accepted.maxBytes) throw tooLarge('body', accepted, body.declaredLength);
  return store(ctx, actor, message, attachment, definition, accepted, fields, limitBytes(body.source, accepted.maxBytes, () => tooLarge('body', accepted)));
}

async function accept(ctx: MessageContext, reportee: Reportee, messageId: number, attachment: NewAttachmentMeta, fields: AttachmentFields) {
  const message = await loadEditableMessage(ctx.db, reportee, messageId);
  const definition = await getServiceDefinition(ctx.db, message.service.serviceId);
  const existingTypes = (await loadDraftAttachments(ctx.db, messageId)).map((a) => a.attachmentType);
  const accepted = checkAttachment(definition, ctx.limits, attachment, existingTypes, fields);
  return { message, definition, accepted };
}

async function store(
  ctx: MessageContext,
  actor: Actor,
  message: MessageRecord,
  attachment: NewAttachmentMeta,
  definition: ServiceDefinition | undefined,
  accepted: AcceptedAttachment,
  fields: AttachmentFields,
  bytes: Readable | AsyncIterable<Uint8Array> | Buffer[],
): Promise<{ attachmentId: number }> {
  const messageId = message.messageId;
  const staging = await stagingFor(ctx.db, ctx.blobs, message.service, messageId);
  try {
    const blob = await staging.put(Array.isArray(bytes) ? Readable.from(bytes) : bytes);
    return await ctx.db.transaction(async (trx) => {
      await lockMessage(trx, messageId);
      // Checked again under the lock: another request may have added one meanwhile.
      const existingTypes = (await loadDraftAttachments(trx, messageId)).map((a) => a.attachmentType);
      checkAttachment(definition, ctx.limits, attachment, existingTypes, fields);
      const [attachmentId] = await insertAttachmentRows(trx, messageId, [
        { fileName: accepted.fileName, attachmentType: accepted.attachmentType, mimeType: accepted.mimeType, language: attachment.language ?? null, blob, encrypted: staging.encrypted },
      ]);
      await touchMessage(trx, messageId, actor);
      staging.committingNow();
      return { attachmentId: attachmentId! };
    });
  } catch (error) {
    await staging.discard();
    throw error;
  }
}
