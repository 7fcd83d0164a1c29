/**
 * PUT /api/{who}/messages/{id}?complete=&sign=: replaces the message's forms and attachments and
 * then leaves it "Utfylling" (complete=false), "Signering" (sign=false), or signs and archives it
 * (the default).
 *
 * `_embedded.forms` and `_embedded.attachments` each replace the whole collection when present (an
 * empty list empties it). A collection left out is kept as it is: that is how a signing PUT
 * completes a message whose large attachments were streamed in earlier, without sending them again.
 *
 * The change is prepared from what was read and written in one transaction that requires the
 * message to be unchanged meanwhile; replaced attachments' blobs are deleted after COMMIT.
 */
import { archiveMessage, targetStatus } from './archive-message';
import { checkMessageForms, prepareAttachments, Staging, type IncomingAttachment, type IncomingForm, type StagedAttachment } from './content';
import { invalidField } from './errors';
import {
  insertAttachmentRows,
  insertFormRow,
  loadAttachments,
  loadEditableMessage,
  loadForms,
  lockMessage,
  releaseBlobs,
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
  const forms = input.forms ? checkMessageForms(definition, input.forms, '_embedded.forms') : await loadForms(ctx.db, message, true);
  const current = await loadAttachments(ctx.db, message);
  const prepared = input.attachments
    ? prepareAttachments(definition, ctx.limits, input.attachments, [], (i) => `_embedded.attachments[${i}].`, input.language ?? null)
    : [];

  const staging = new Staging(ctx.blobs);
  try {
    const added = await staging.stageAll(prepared);
    const kept: (StagedAttachment & { attachmentId: number })[] = input.attachments
      ? []
      : current.map((a) => ({
          attachmentId: a.attachmentId,
          fileName: a.fileName,
          attachmentType: a.attachmentType,
          mimeType: a.mimeType,
          language: a.language,
          blob: { key: a.blobKey, sizeBytes: a.sizeBytes, sha256: a.sha256 },
        }));
    const target = targetStatus(flags);
    if (target === 'archive') {
      await archiveMessage(ctx, {
        service: message.service,
        reportee,
        actor,
        forms,
        attachments: [...kept, ...added],
        existing: { messageId, version: message.version },
        staging,
        draftBlobKeys: current.map((a) => a.blobKey),
      });
      return { messageId };
    }

    await ctx.db.transaction(async (trx) => {
      await lockMessage(trx, messageId, message.version);
      if (input.forms) {
        await trx('message_forms').where({ message_id: messageId }).delete();
        for (const form of forms) await insertFormRow(trx, messageId, form);
      }
      if (input.attachments) {
        await trx('message_attachments').where({ message_id: messageId }).delete();
        await insertAttachmentRows(trx, messageId, added);
      }
      await touchMessage(trx, messageId, actor, target);
      staging.committingNow();
    });
    if (input.attachments) await releaseBlobs(ctx.blobs, current.map((a) => a.blobKey));
    return { messageId };
  } catch (error) {
    await staging.discard();
    throw error;
  }
}
