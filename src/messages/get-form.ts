/**
 * GET /api/{who}/messages/{id}/forms[/{formid}[/formdata]]: a message's forms, from its drafts or,
 * once archived, from the archive. The form data of a task encrypted for the service owner is not
 * readable here.
 */
import { MessageError } from './errors';
import { loadForms, loadMessage } from './message-store';
import { formNotFound } from './replace-form';
import type { MessageContext, MessageForm, MessageFormInfo, Reportee } from './types';

export async function listForms(ctx: MessageContext, reportee: Reportee, messageId: number): Promise<MessageFormInfo[]> {
  return loadForms(ctx.db, await loadMessage(ctx.db, reportee, messageId));
}

export async function getForm(ctx: MessageContext, reportee: Reportee, messageId: number, formId: number): Promise<MessageForm> {
  const message = await loadMessage(ctx.db, reportee, messageId);
  const form = (await loadForms(ctx.db, message, true)).find((f) => f.formId === formId);
  if (!form) throw formNotFound(messageId, formId);
  if (message.encrypted) {
    throw new MessageError('conflict', 'ContentEncrypted', `Message a${messageId} is archived encrypted for the service owner: its form data cannot be read here`);
  }
  return form;
}
