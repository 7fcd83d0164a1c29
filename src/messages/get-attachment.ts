/**
 * GET /api/{who}/messages/{id}/attachments[/{attachmentid}[/attachmentdata]]: a message's
 * attachments (drafts, or the archive's once archived) and their bytes, streamed from the blob
 * store. Bytes encrypted for the service owner are not readable here.
 */
import type { Readable } from 'node:stream';
import { attachmentNotFound } from './delete-attachment';
import { MessageError } from './errors';
import { loadAttachments, loadContentKey, loadMessage, openDraftAttachment } from './message-store';
import type { MessageAttachment, MessageContext, Reportee } from './types';

export async function listAttachments(ctx: MessageContext, reportee: Reportee, messageId: number): Promise<MessageAttachment[]> {
  const attachments = await loadAttachments(ctx.db, await loadMessage(ctx.db, reportee, messageId));
  return attachments.map(({ blobKey: _key, stagedEncrypted: _encrypted, ...attachment }) => attachment);
}

export async function getAttachment(ctx: MessageContext, reportee: Reportee, messageId: number, attachmentId: number): Promise<MessageAttachment> {
  const { blobKey: _key, stagedEncrypted: _encrypted, ...attachment } = await find(ctx, reportee, messageId, attachmentId);
  return attachment;
}

export async function openAttachmentData(
  ctx: MessageContext,
  reportee: Reportee,
  messageId: number,
  attachmentId: number,
): Promise<{ attachment: MessageAttachment; open(): Readable }> {
  const { blobKey, stagedEncrypted, ...attachment } = await find(ctx, reportee, messageId, attachmentId);
  if (attachment.isEncrypted) {
    throw new MessageError('conflict', 'ContentEncrypted', `Attachment ${attachmentId} is archived encrypted for the service owner and cannot be read here`);
  }
  // A draft of an encrypted service: its sender reads it back through the message's content key.
  const contentKey = stagedEncrypted ? await loadContentKey(ctx.db, messageId) : undefined;
  return { attachment, open: () => openDraftAttachment(ctx.blobs, { blobKey, stagedEncrypted }, contentKey) };
}

async function find(ctx: MessageContext, reportee: Reportee, messageId: number, attachmentId: number) {
  const attachments = await loadAttachments(ctx.db, await loadMessage(ctx.db, reportee, messageId));
  const found = attachments.find((a) => a.attachmentId === attachmentId);
  if (!found) throw attachmentNotFound(messageId, attachmentId);
  return found;
}
