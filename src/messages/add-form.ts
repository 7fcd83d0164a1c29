/**
 * POST /api/{who}/messages/{id}/forms: adds a sub form to a message in progress (its id goes in the
 * Location header). A message has exactly one main form, given when it is created.
 */
import type { IncomingForm } from './content';
import { invalidField } from './errors';
import { insertFormRow, loadEditableMessage, lockMessage, touchMessage } from './message-store';
import { checkForm, getServiceDefinition } from './service-definitions';
import type { Actor, MessageContext, Reportee } from './types';

export async function addForm(ctx: MessageContext, actor: Actor, reportee: Reportee, messageId: number, form: IncomingForm): Promise<{ formId: number }> {
  const message = await loadEditableMessage(ctx.db, reportee, messageId);
  if (form.type !== 'SubForm') {
    throw invalidField('Type', "a message has exactly one main form, given when it is created: only forms of Type 'SubForm' can be added", 'MainFormExists');
  }
  checkForm(await getServiceDefinition(ctx.db, message.service.serviceId), form, 'body');
  return ctx.db.transaction(async (trx) => {
    await lockMessage(trx, messageId);
    const formId = await insertFormRow(trx, messageId, form);
    await touchMessage(trx, messageId, actor);
    return { formId };
  });
}
