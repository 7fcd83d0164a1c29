/** DELETE /api/{who}/messages/{id}/attachments/{attachmentid}: the row goes, then (after COMMIT) its blob. */
import { MessageError } from './errors';
import { loadEditableMessage, lockMessage, releaseBlobs, touchMessage } from './message-store';
import type { Actor, MessageContext, Reportee } from './types';

export async function deleteAttachment(ctx: MessageContext, actor: Actor, reportee: Reportee, messageId: number, attachmentId: number): Promise<void> {
  await loadEditableMessage(ctx.db, reportee, messageId);
  const blobKey = await ctx.db.transaction(async (trx) => {
    await lockMessage(trx, messageId);
    const [row] = await trx('message_attachments').where({ id: attachmentId, message_id: messageId }).delete().returning<{ blob_key: string }[]>('blob_key');
    if (!row) throw attachmentNotFound(messageId, attachmentId);
    await touchMessage(trx, messageId, actor);
    return row.blob_key;
  });
  await releaseBlobs(ctx.blobs, [blobKey]);
}

export function attachmentNotFound(messageId: number, attachmentId: number): MessageError {
  return new MessageError('not_found', 'NotFound', `Message a${messageId} has no attachment ${attachmentId}`);
}
