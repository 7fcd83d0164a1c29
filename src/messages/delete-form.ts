/** DELETE /api/{who}/messages/{id}/forms/{formid}: removes a sub form (the main form stays). */
import { invalidField } from './errors';
import { loadEditableMessage, lockMessage, touchMessage } from './message-store';
import { formNotFound } from './replace-form';
import type { Actor, FormType, MessageContext, Reportee } from './types';

export async function deleteForm(ctx: MessageContext, actor: Actor, reportee: Reportee, messageId: number, formId: number): Promise<void> {
  await loadEditableMessage(ctx.db, reportee, messageId);
  await ctx.db.transaction(async (trx) => {
    await lockMessage(trx, messageId);
    const form = await trx('message_forms').where({ id: formId, message_id: messageId }).first<{ form_type: FormType } | undefined>('form_type');
    if (!form) throw formNotFound(messageId, formId);
    if (form.form_type === 'MainForm') throw invalidField('formid', `form ${formId} is the main form, which a message cannot be without`, 'MainFormRequired');
    await trx('message_forms').where({ id: formId }).delete();
    await touchMessage(trx, messageId, actor);
  });
}
