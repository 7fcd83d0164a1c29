/**
 * PUT /api/{who}/messages/{id}/forms/{formid}: replaces one form's data format and data (a sub
 * form, or the main form; a form keeps its Type).
 */
import type { IncomingForm } from './content';
import { invalidField, MessageError } from './errors';
import { loadEditableMessage, lockMessage, touchMessage } from './message-store';
import { checkForm, getServiceDefinition } from './service-definitions';
import type { Actor, FormType, MessageContext, Reportee } from './types';

export async function replaceForm(
  ctx: MessageContext,
  actor: Actor,
  reportee: Reportee,
  messageId: number,
  formId: number,
  form: Omit<IncomingForm, 'type'> & { type?: FormType },
): Promise<void> {
  const message = await loadEditableMessage(ctx.db, reportee, messageId);
  const existing = await ctx.db('message_forms').where({ id: formId, message_id: messageId }).first<{ form_type: FormType } | undefined>('form_type');
  if (!existing) throw formNotFound(messageId, formId);
  if (form.type !== undefined && form.type !== existing.form_type) {
    throw invalidField('Type', `form ${formId} is a ${existing.form_type}; a form's Type cannot change`);
  }
  checkForm(await getServiceDefinition(ctx.db, message.service.serviceId), { ...form, type: existing.form_type }, 'body');
  await ctx.db.transaction(async (trx) => {
    await lockMessage(trx, messageId);
    const updated = await trx('message_forms')
      .where({ id: formId, message_id: messageId })
      .update({ data_format_id: form.dataFormatId, data_format_version: form.dataFormatVersion, form_data: form.formData })
      .returning('id');
    if (updated.length === 0) throw formNotFound(messageId, formId);
    await touchMessage(trx, messageId, actor);
  });
}

export function formNotFound(messageId: number, formId: number): MessageError {
  return new MessageError('not_found', 'NotFound', `Message a${messageId} has no form ${formId}`);
}
