/** GET /api/{who}/messages/{id}: one message with its forms and attachments (no form data or bytes). */
import { loadAttachments, loadForms, loadMessage, summaryOf } from './message-store';
import type { MessageContext, MessageDetails, Reportee } from './types';

export async function getMessage(ctx: MessageContext, reportee: Reportee, messageId: number): Promise<MessageDetails> {
  const record = await loadMessage(ctx.db, reportee, messageId);
  const forms = await loadForms(ctx.db, record);
  const attachments = (await loadAttachments(ctx.db, record)).map(({ blobKey: _key, stagedEncrypted: _encrypted, ...attachment }) => attachment);
  return { ...summaryOf(record), forms, attachments };
}
