/**
 * Signing and archiving a message: the signer becomes the task's approver (security level from
 * the login's authentication level), and the task goes through the archive's own write path
 * (archiveFormTasks): archive reference, forms, approver, attachments, service-owner encryption
 * where the service has it, and the DownloadQueue item.
 *
 * One transaction: the archive rows, the queue item, the message's status change to "Sendt og
 * arkivert" (with its archive reference) and the removal of its draft rows commit together, so a
 * crash leaves either the unsubmitted message or the complete archived task. The message must
 * still be at the version its content was read at.
 *
 * Attachment bytes: staged blobs are handed over as they are (`storedBlob`): stored in clear the
 * archive points at the same blob; for an encrypted service the archive reads them through `open()`
 * and writes ciphertext, and the plain blobs are deleted after COMMIT.
 */
import type { Knex } from 'knex';
import type { ArchivedTaskResult, NewAttachment, NewFormTask } from '../archive/archive-form-tasks';
import { archiveFormTasks } from '../archive/archive-form-tasks';
import { parseArchiveReference } from '../archive/archive-reference';
import { ArchiveError } from '../archive/errors';
import { MessageError } from './errors';
import type { Staging } from './content';
import { archiveAttachmentType } from './service-definitions';
import { lockMessage, releaseBlobs, touchMessage, type ServiceInfo } from './message-store';
import { securityLevelFor, STATUS, type Actor, type FormType, type MessageContext, type Reportee } from './types';
import type { StoredBlob } from '../storage/blob-store';

export interface ArchiveMessageInput {
  service: ServiceInfo;
  reportee: Reportee;
  /** The signer. */
  actor: Actor;
  /** Main form first. `formId`/`attachmentId`: the draft's id, which the REST API keeps answering under once archived. */
  forms: { type: FormType; dataFormatId: string; dataFormatVersion: number; formData: string; formId?: number }[];
  attachments: { fileName: string; attachmentType: string; mimeType: string; language: string | null; blob: Omit<StoredBlob, 'md5'>; attachmentId?: number }[];
  /** An existing message and the version its content was read at; absent: the message is created archived. */
  existing?: { messageId: number; version: number };
  /** Blobs this request staged: removed again if archiving fails before COMMIT. */
  staging: Staging;
  /** Blob keys the message's draft rows held: released after COMMIT unless the archive uses them. */
  draftBlobKeys: string[];
}

export interface ArchivedMessage {
  messageId: number;
  archiveReference: string;
}

export async function archiveMessage(ctx: MessageContext, input: ArchiveMessageInput): Promise<ArchivedMessage> {
  const { service, reportee, actor, existing } = input;
  const task: NewFormTask = {
    serviceCode: service.serviceCode,
    serviceEditionCode: service.serviceEditionCode,
    reportee: reportee.identifier,
    reporteeType: reportee.type,
    forms: input.forms.map((form, index) => ({
      dataFormatId: form.dataFormatId,
      dataFormatVersion: form.dataFormatVersion,
      formData: form.formData,
      parentIndex: index === 0 ? null : 0,
    })),
    approvers: [{ approverId: actor.person, approvedAt: new Date(), securityLevel: securityLevelFor(actor.authLevel) }],
    attachments: input.attachments.map(
      (attachment): NewAttachment => ({
        fileName: attachment.fileName,
        attachmentType: archiveAttachmentType(attachment.mimeType),
        attachmentTypeName: attachment.attachmentType,
        attachmentTypeNameLanguage: attachment.language,
        storedBlob: attachment.blob,
        open: () => ctx.blobs.open(attachment.blob.key),
      }),
    ),
  };

  let messageId = existing?.messageId;
  let formTaskId: number | undefined;
  try {
    const [result] = await archiveFormTasks(ctx, service.serviceOwnerId, [task], {
      beforeCommit: async (trx, results) => {
        formTaskId = parseArchiveReference(results[0]!.archiveReference)!;
        if (existing) {
          await lockMessage(trx, existing.messageId, existing.version);
          await touchMessage(trx, existing.messageId, actor, STATUS.archived);
          await trx('messages').where({ id: existing.messageId }).update({ form_task_id: formTaskId });
          await trx('message_forms').where({ message_id: existing.messageId }).delete();
          await trx('message_attachments').where({ message_id: existing.messageId }).delete();
          await keepDraftIds(trx, input, results[0]!);
        } else {
          const [row] = await trx('messages')
            .insert({
              reportee_id: reportee.reporteeId,
              service_id: service.serviceId,
              status: STATUS.archived,
              created_by: actor.person,
              last_changed_by: actor.person,
              form_task_id: formTaskId,
            })
            .returning<{ id: number }[]>('id');
          messageId = row!.id;
        }
        input.staging.committingNow();
      },
    });

    // Blobs of the message that the archive does not point at (it copied them, encrypted) go now.
    const used = new Set(
      (await ctx.db('attachments').where({ form_task_id: formTaskId }).select<{ blob_key: string }[]>('blob_key')).map((row) => row.blob_key),
    );
    const candidates = [...input.draftBlobKeys, ...input.staging.blobs.map((blob) => blob.key)];
    await releaseBlobs(ctx.blobs, candidates.filter((key) => !used.has(key)));
    return { messageId: messageId!, archiveReference: result!.archiveReference };
  } catch (error) {
    await input.staging.discard();
    if (error instanceof ArchiveError && error.code === 'invalid_argument') {
      // The archive refused what the message checks let through (e.g. no certificate for an encrypted service).
      throw new MessageError('invalid', 'ArchivingRefused', `The message could not be archived: ${error.message}`);
    }
    throw error;
  }
}

/** The archive rows remember the draft ids they replace (see migrations/008_stable_keys.ts). */
async function keepDraftIds(trx: Knex.Transaction, input: ArchiveMessageInput, archived: ArchivedTaskResult): Promise<void> {
  for (const [index, form] of input.forms.entries()) {
    if (form.formId !== undefined) await trx('forms').where({ id: archived.formReferences[index] }).update({ message_form_id: form.formId });
  }
  for (const [index, attachment] of input.attachments.entries()) {
    if (attachment.attachmentId !== undefined) {
      await trx('attachments').where({ id: archived.attachmentIds[index] }).update({ message_attachment_id: attachment.attachmentId });
    }
  }
}

/** `complete` and `sign` as the seed defines them: both default to true. */
export function targetStatus(flags: { complete: boolean; sign: boolean }): 'archive' | typeof STATUS.filling | typeof STATUS.signing {
  if (!flags.complete) return STATUS.filling;
  return flags.sign ? 'archive' : STATUS.signing;
}
