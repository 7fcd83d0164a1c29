/**
 * Signing and archiving a message: the signer becomes the task's approver (security level from
 * the login's authentication level), and the task goes through the archive's own write path
 * (archiveFormTasks): archive reference, forms, approver, attachments, service-owner encryption
 * where the service has it, and the DownloadQueue item.
 *
 * One transaction: the archive rows, the queue item, the message's status change to "Sendt og
 * arkivert" (with its archive reference) and the removal of its draft rows commit together, so a
 * crash leaves either the unsubmitted message or the complete archived task. It first locks the
 * message row and requires the version the request was checked at, then reads the draft forms and
 * attachments under that lock: of concurrent signers exactly one archives, every other one gets a
 * conflict (never a verdict on content another signer has moved into the archive meanwhile).
 *
 * Attachment bytes: staged blobs are handed over as they are (`storedBlob`). For a service in clear
 * the archive points at the same blob; for an encrypted one they were staged encrypted under the
 * message's content key, which becomes the task's key: the archive points at the same ciphertext
 * and the message's copy of the key is cleared. (Only drafts staged before their service was
 * encrypted are plaintext: the archive encrypts them and their blobs are deleted after COMMIT.)
 */
import type { Knex } from 'knex';
import type { ArchivedTaskResult, NewAttachment, NewFormTask } from '../archive/archive-form-tasks';
import { archiveFormTasks } from '../archive/archive-form-tasks';
import { parseArchiveReference } from '../archive/archive-reference';
import { ArchiveError } from '../archive/errors';
import { MessageError } from './errors';
import type { IncomingForm, Staging, StagedAttachment } from './content';
import { archiveAttachmentType } from './service-definitions';
import { loadContentKey, loadDraftAttachments, loadDraftForms, lockMessage, openDraftAttachment, releaseBlobs, touchMessage, type ServiceInfo } from './message-store';
import type { SymmetricKey } from '../crypto/symmetric-key';
import { securityLevelFor, STATUS, type Actor, type MessageContext, type Reportee } from './types';

/** `formId`/`attachmentId`: the draft's id, which the REST API keeps answering under once archived. */
type ArchivingForm = IncomingForm & { formId?: number };
type ArchivingAttachment = StagedAttachment & { attachmentId?: number };

export interface ArchiveMessageInput {
  service: ServiceInfo;
  reportee: Reportee;
  /** The signer. */
  actor: Actor;
  /** Main form first; absent for an existing message: its draft forms, read under its lock. */
  forms?: IncomingForm[];
  /** Attachments this request staged; for an existing message that keeps its own, after those. */
  attachments: StagedAttachment[];
  /**
   * An existing message and the version the request was checked at, and whether its draft
   * attachments are kept (or replaced by `attachments`); absent: the message is created archived.
   */
  existing?: { messageId: number; version: number; keepDraftAttachments: boolean };
  /** Blobs this request staged: removed again if archiving fails before COMMIT. */
  staging: Staging;
}

export interface ArchivedMessage {
  messageId: number;
  archiveReference: string;
}

export async function archiveMessage(ctx: MessageContext, input: ArchiveMessageInput): Promise<ArchivedMessage> {
  const { service, reportee, actor, existing } = input;
  try {
    const archived = await ctx.db.transaction(async (trx) => {
      let forms: ArchivingForm[] | undefined = input.forms;
      let drafts: ArchivingAttachment[] = [];
      let draftBlobKeys: string[] = [];
      let messageId = existing?.messageId;
      let contentKey = input.staging.contentKey;
      if (existing) {
        await lockMessage(trx, existing.messageId, existing.version);
        contentKey = await loadContentKey(trx, existing.messageId);
        forms ??= await loadDraftForms(trx, existing.messageId, true);
        const draftAttachments = await loadDraftAttachments(trx, existing.messageId);
        draftBlobKeys = draftAttachments.map((a) => a.blobKey);
        if (existing.keepDraftAttachments) {
          drafts = draftAttachments.map((a) => ({
            attachmentId: a.attachmentId,
            fileName: a.fileName,
            attachmentType: a.attachmentType,
            mimeType: a.mimeType,
            language: a.language,
            blob: { key: a.blobKey, sizeBytes: a.sizeBytes, sha256: a.sha256 },
            encrypted: a.stagedEncrypted,
          }));
        }
      }
      // The archive's own transaction runs inside this one (a savepoint), under the message's lock.
      const archivingForms = forms ?? [];
      const archivingAttachments = [...drafts, ...input.attachments];
      const task = formTaskOf(ctx, input, archivingForms, archivingAttachments, contentKey);
      const [result] = await archiveFormTasks({ db: trx, blobs: ctx.blobs }, service.serviceOwnerId, [task], {
        beforeCommit: async (archiveTrx, results) => {
          const formTaskId = parseArchiveReference(results[0]!.archiveReference)!;
          if (existing) {
            await touchMessage(archiveTrx, existing.messageId, actor, STATUS.archived);
            await archiveTrx('messages').where({ id: existing.messageId }).update({ form_task_id: formTaskId, content_key: null });
            await archiveTrx('message_forms').where({ message_id: existing.messageId }).delete();
            await archiveTrx('message_attachments').where({ message_id: existing.messageId }).delete();
            await keepDraftIds(archiveTrx, archivingForms, archivingAttachments, results[0]!);
            return;
          }
          const [row] = await archiveTrx('messages')
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
        },
      });
      input.staging.committingNow();
      return { messageId: messageId!, formTaskId: parseArchiveReference(result!.archiveReference)!, archiveReference: result!.archiveReference, draftBlobKeys };
    });

    // Blobs of the message that the archive does not point at (it copied them, encrypted) go now.
    const used = new Set(
      (await ctx.db('attachments').where({ form_task_id: archived.formTaskId }).select<{ blob_key: string }[]>('blob_key')).map((row) => row.blob_key),
    );
    const candidates = [...archived.draftBlobKeys, ...input.staging.blobs.map((blob) => blob.key)];
    await releaseBlobs(ctx.blobs, candidates.filter((key) => !used.has(key)));
    return { messageId: archived.messageId, archiveReference: archived.archiveReference };
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
async function keepDraftIds(trx: Knex.Transaction, forms: ArchivingForm[], attachments: ArchivingAttachment[], archived: ArchivedTaskResult): Promise<void> {
  for (const [index, form] of forms.entries()) {
    if (form.formId !== undefined) await trx('forms').where({ id: archived.formReferences[index] }).update({ message_form_id: form.formId });
  }
  for (const [index, attachment] of attachments.entries()) {
    if (attachment.attachmentId !== undefined) {
      await trx('attachments').where({ id: archived.attachmentIds[index] }).update({ message_attachment_id: attachment.attachmentId });
    }
  }
}

function formTaskOf(
  ctx: MessageContext,
  input: ArchiveMessageInput,
  forms: IncomingForm[],
  attachments: StagedAttachment[],
  contentKey: SymmetricKey | undefined,
): NewFormTask {
  const { service, reportee, actor } = input;
  return {
    serviceCode: service.serviceCode,
    serviceEditionCode: service.serviceEditionCode,
    reportee: reportee.identifier,
    reporteeType: reportee.type,
    forms: forms.map((form, index) => ({
      dataFormatId: form.dataFormatId,
      dataFormatVersion: form.dataFormatVersion,
      formData: form.formData,
      parentIndex: index === 0 ? null : 0,
    })),
    approvers: [{ approverId: actor.person, approvedAt: new Date(), securityLevel: securityLevelFor(actor.authLevel) }],
    attachments: attachments.map(
      (attachment): NewAttachment => ({
        fileName: attachment.fileName,
        attachmentType: archiveAttachmentType(attachment.mimeType),
        attachmentTypeName: attachment.attachmentType,
        attachmentTypeNameLanguage: attachment.language,
        storedBlob: attachment.blob,
        storedEncrypted: attachment.encrypted,
        open: () => openDraftAttachment(ctx.blobs, { blobKey: attachment.blob.key, stagedEncrypted: attachment.encrypted }, contentKey),
      }),
    ),
    ...(contentKey && { contentKey }),
  };
}

/** `complete` and `sign` as the seed defines them: both default to true. */
export function targetStatus(flags: { complete: boolean; sign: boolean }): 'archive' | typeof STATUS.filling | typeof STATUS.signing {
  if (!flags.complete) return STATUS.filling;
  return flags.sign ? 'archive' : STATUS.signing;
}
