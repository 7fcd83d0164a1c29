/**
 * PUT /api/{who}/messages/{id}?complete=&sign=: replaces the message's forms and attachments and
 * then leaves it "Utfylling" (complete=false), "Signering" (sign=false), or signs and archives it
 * (the default).
 *
 * `_embedded.forms` and `_embedded.attachments` each replace the whole collection when present (an
 * empty list empties it). A collection left out is kept as it is: that is how a signing PUT
 * completes a message whose large attachments were streamed in earlier, without sending them again.
 *
 * The request is checked against the message as read, then written in one transaction that locks
 * the message, requires it to be unchanged meanwhile and reads what it keeps under that lock;
 * replaced attachments' blobs are deleted after COMMIT.
 */
import { archiveMessage, targetStatus } from './archive-message';
import { checkMessageForms, prepareAttachments, Staging, type IncomingAttachment, type IncomingForm } from './content';
import { invalidField } from './errors';
import {
  insertAttachmentRows,
  insertFormRow,
  loadDraftAttachments,
  loadEditableMessage,
  lockMessage,
  releaseBlobs,
  stagingFor,
  touchMessage,
} from './message-store';
import { getServiceDefinition } from './service-definitions';
import type { Actor, MessageContext, Reportee, SubmitFlags } from './types';

export interface MessageReplacement {
  /** When given, must name the message's own service. */
  serviceCode?: string;
  serviceEditionCode?: number;
  forms?: IncomingForm[];
  attachments?: IncomingAttachment[];
  language?: string | null;
}

export async function replaceMessage(
  ctx: MessageContext,
  actor: Actor,
  reportee: Reportee,
  messageId: number,
  input: MessageReplacement,
  flags: SubmitFlags,
): Promise<{ messageId: number }> {
  const message = await loadEditableMessage(ctx.db, reportee, messageId);
  if (input.serviceCode !== undefined && input.serviceCode !== message.serviceCode) {
    throw invalidField('ServiceCode', `the message belongs to service ${message.serviceCode}, not ${input.serviceCode}`);
  }
  if (input.serviceEditionCode !== undefined && input.serviceEditionCode !== message.serviceEditionCode) {
    throw invalidField('ServiceEdition', `the message belongs to edition ${message.serviceEditionCode}, not ${input.serviceEditionCode}`);
  }
  const definition = await getServiceDefinition(ctx.db, message.service.serviceId);
  const forms = input.forms && checkMessageForms(definition, input.forms, '_embedded.forms');
  const prepared = input.attachments
    ? prepareAttachments(definition, ctx.limits, input.attachments, [], (i) => `_embedded.attachments[${i}].`, input.language ?? null)
    : [];

  // Only attachments sent with this request are staged (a signing PUT without them stages nothing).
  const staging = prepared.length > 0 ? await stagingFor(ctx.db, ctx.blobs, message.service, messageId) : new Staging(ctx.blobs);
  try {
    const added = await staging.stageAll(prepared);
    const target = targetStatus(flags);
    if (target === 'archive') {
      await archiveMessage(ctx, {
        service: message.service,
        reportee,
        actor,
        forms,
        attachments: added,
        existing: { messageId, version: message.version, keepDraftAttachments: !input.attachments },
        staging,
      });
      return { messageId };
    }

    const replaced = await ctx.db.transaction(async (trx) => {
      await lockMessage(trx, messageId, message.version);
      const current = input.attachments ? await loadDraftAttachments(trx, messageId) : [];
      if (forms) {
        await trx('message_forms').where({ message_id: messageId }).delete();
        for (const form of forms) await insertFormRow(trx, messageId, form);
      }
      if (input.attachments) {
        await trx('message_attachments').where({ message_id: messageId }).delete();
        await insertAttachmentRows(trx, messageId, added);
      }
      await touchMessage(trx, messageId, actor, target);
      staging.committingNow();
      return current;
    });
    await releaseBlobs(ctx.blobs, replaced.map((a) => a.blobKey));
    return { messageId };
  } catch (error) {
    await staging.discard();
    throw error;
  }
}
