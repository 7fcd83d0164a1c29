/**
 * POST /api/{who}/messages: instantiate a form task for a service with its forms and (base64)
 * attachments. `complete=false` leaves it "Utfylling", `sign=false` "Signering"; by default it is
 * signed and archived at once. Everything is checked first; a refusal stores nothing.
 */
import { archiveMessage, targetStatus } from './archive-message';
import { checkMessageForms, prepareAttachments, type IncomingAttachment, type IncomingForm } from './content';
import { insertAttachmentRows, insertFormRow, requireService, stagingFor } from './message-store';
import { getServiceDefinition } from './service-definitions';
import type { Actor, MessageContext, Reportee, SubmitFlags } from './types';

export interface NewMessage {
  serviceCode: string;
  serviceEditionCode: number;
  forms: IncomingForm[];
  attachments: IncomingAttachment[];
  /** Language of attachment type names (1033, 1044, 2068), when given. */
  language?: string | null;
}

export async function createMessage(
  ctx: MessageContext,
  actor: Actor,
  reportee: Reportee,
  input: NewMessage,
  flags: SubmitFlags,
): Promise<{ messageId: number }> {
  const service = await requireService(ctx.db, input.serviceCode, input.serviceEditionCode);
  const definition = await getServiceDefinition(ctx.db, service.serviceId);
  const forms = checkMessageForms(definition, input.forms, '_embedded.forms');
  const prepared = prepareAttachments(definition, ctx.limits, input.attachments, [], (i) => `_embedded.attachments[${i}].`, input.language ?? null);

  const staging = await stagingFor(ctx.db, ctx.blobs, service);
  try {
    const attachments = await staging.stageAll(prepared);
    const target = targetStatus(flags);
    if (target === 'archive') {
      const { messageId } = await archiveMessage(ctx, { service, reportee, actor, forms, attachments, staging });
      return { messageId };
    }
    const messageId = await ctx.db.transaction(async (trx) => {
      const [row] = await trx('messages')
        .insert({
          reportee_id: reportee.reporteeId,
          service_id: service.serviceId,
          status: target,
          created_by: actor.person,
          last_changed_by: actor.person,
          content_key: staging.contentKey?.blob ?? null,
        })
        .returning<{ id: number }[]>('id');
      const id = row!.id;
      for (const form of forms) await insertFormRow(trx, id, form);
      await insertAttachmentRows(trx, id, attachments);
      staging.committingNow();
      return id;
    });
    return { messageId };
  } catch (error) {
    await staging.discard();
    throw error;
  }
}
