/**
 * Rows of messages in progress and their archived form, shared by the message use cases: finding
 * a reportee's message, its draft forms and attachments (or, once archived, those in the archive),
 * and the locking rules every change follows.
 *
 * Every change runs in one transaction that first locks the message row (SELECT ... FOR UPDATE)
 * and re-checks that it is not archived, then bumps `version`. A change prepared from what was read
 * before (PUT, archiving) also requires `version` to be unchanged, so it never overwrites or
 * archives a state it did not see.
 */
import type { Knex } from 'knex';
import { formatArchiveReference } from '../archive/archive-reference';
import type { BlobStore } from '../storage/blob-store';
import type { Db } from '../storage/db';
import { pipeline, type Readable } from 'node:stream';
import { attachmentDecryptor } from '../crypto/attachment-cipher';
import { newSymmetricKey, splitSymmetricKey, type SymmetricKey } from '../crypto/symmetric-key';
import { Staging, type IncomingForm, type StagedAttachment } from './content';
import { archivedConflict, concurrentChange, MessageError, messageNotFound } from './errors';
import { mimeTypeFromArchive } from './service-definitions';
import {
  STATUS,
  type Actor,
  type FormType,
  type MessageAttachment,
  type MessageForm,
  type MessageFormInfo,
  type MessageStatus,
  type MessageSummary,
  type Reportee,
} from './types';

export interface ServiceInfo {
  serviceId: number;
  serviceOwnerId: number;
  serviceCode: string;
  serviceEditionCode: number;
  name: string | null;
  ownerName: string;
  /** Content is encrypted for the service owner: staged encrypted, archived encrypted. */
  encrypted: boolean;
}

/** A service by code and edition (unique across owners: one service catalogue). */
export async function requireService(db: Db, serviceCode: string, serviceEditionCode: number): Promise<ServiceInfo> {
  const rows = await db('services as s')
    .join('service_owners as o', 'o.id', 's.service_owner_id')
    .where({ 's.service_code': serviceCode })
    .select<{ id: number; service_owner_id: number; service_code: string; service_edition_code: number; name: string | null; owner_name: string; encrypted: boolean }[]>(
      's.id',
      's.service_owner_id',
      's.service_code',
      's.service_edition_code',
      's.name',
      'o.name as owner_name',
      's.encrypted',
    );
  const row = rows.find((r) => r.service_edition_code === serviceEditionCode);
  if (!row) {
    const problem = rows.length
      ? `service ${serviceCode} has no edition ${serviceEditionCode} (editions: ${rows.map((r) => r.service_edition_code).join(', ')})`
      : `there is no service ${serviceCode}`;
    throw new MessageError('invalid', 'UnknownService', `${rows.length ? 'ServiceEdition' : 'ServiceCode'}: ${problem}`);
  }
  return {
    serviceId: row.id,
    serviceOwnerId: row.service_owner_id,
    serviceCode: row.service_code,
    serviceEditionCode: row.service_edition_code,
    name: row.name,
    ownerName: row.owner_name,
    encrypted: row.encrypted,
  };
}

/** A message with what its use cases need: summary, service, and the version it was read at. */
export interface MessageRecord extends MessageSummary {
  version: number;
  formTaskId: number | null;
  service: ServiceInfo;
  /** The archived content is encrypted for the service owner. */
  encrypted: boolean;
}

const MESSAGE_COLUMNS = [
  'm.id',
  'm.status',
  'm.version',
  'm.created_at',
  'm.created_by',
  'm.last_changed_at',
  'm.last_changed_by',
  'm.form_task_id',
  's.id as service_id',
  's.service_owner_id',
  's.service_code',
  's.service_edition_code',
  's.name as service_name',
  's.encrypted as service_encrypted',
  'o.name as owner_name',
  't.archived_at',
  't.certificate_thumbprint',
];

interface MessageRow {
  id: number;
  status: MessageStatus;
  version: number;
  created_at: Date;
  created_by: string;
  last_changed_at: Date;
  last_changed_by: string;
  form_task_id: number | null;
  service_id: number;
  service_owner_id: number;
  service_code: string;
  service_edition_code: number;
  service_name: string | null;
  service_encrypted: boolean;
  owner_name: string;
  archived_at: Date | null;
  certificate_thumbprint: string | null;
}

function messageQuery(db: Db | Knex.Transaction) {
  return db('messages as m')
    .join('services as s', 's.id', 'm.service_id')
    .join('service_owners as o', 'o.id', 's.service_owner_id')
    .leftJoin('form_tasks as t', 't.id', 'm.form_task_id');
}

function toRecord(row: MessageRow): MessageRecord {
  return {
    messageId: row.id,
    status: row.status,
    version: row.version,
    serviceCode: row.service_code,
    serviceEditionCode: row.service_edition_code,
    serviceName: row.service_name,
    serviceOwnerName: row.owner_name,
    createdAt: new Date(row.created_at),
    createdBy: row.created_by,
    lastChangedAt: new Date(row.last_changed_at),
    lastChangedBy: row.last_changed_by,
    formTaskId: row.form_task_id,
    archiveReference: row.form_task_id === null ? null : formatArchiveReference(row.form_task_id),
    archivedAt: row.archived_at ? new Date(row.archived_at) : null,
    encrypted: row.certificate_thumbprint !== null && row.certificate_thumbprint !== undefined,
    service: {
      serviceId: row.service_id,
      serviceOwnerId: row.service_owner_id,
      serviceCode: row.service_code,
      serviceEditionCode: row.service_edition_code,
      name: row.service_name,
      ownerName: row.owner_name,
      encrypted: row.service_encrypted,
    },
  };
}

export function summaryOf(record: MessageRecord): MessageSummary {
  const { version: _version, formTaskId: _formTaskId, service: _service, encrypted: _encrypted, ...summary } = record;
  return summary;
}

/** The reportee's message; another reportee's message is "not found", exactly like a missing one. */
export async function loadMessage(db: Db, reportee: Reportee, messageId: number): Promise<MessageRecord> {
  const row = await messageQuery(db).where({ 'm.id': messageId, 'm.reportee_id': reportee.reporteeId }).first<MessageRow | undefined>(MESSAGE_COLUMNS);
  if (!row) throw messageNotFound(messageId);
  return toRecord(row);
}

/** The same, refusing an archived message (for changes). */
export async function loadEditableMessage(db: Db, reportee: Reportee, messageId: number): Promise<MessageRecord> {
  const message = await loadMessage(db, reportee, messageId);
  if (message.status === STATUS.archived) throw archivedConflict(messageId);
  return message;
}

export async function listMessageRecords(db: Db, reportee: Reportee, skip: number, take: number): Promise<MessageRecord[]> {
  const rows = await messageQuery(db)
    .where({ 'm.reportee_id': reportee.reporteeId })
    .orderBy('m.id', 'desc')
    .offset(skip)
    .limit(take)
    .select<MessageRow[]>(MESSAGE_COLUMNS);
  return rows.map(toRecord);
}

// ---- locking ----

/**
 * Locks the message row for the rest of the transaction and checks it may change: not archived,
 * and (when given) still at the version the change was prepared from.
 */
export async function lockMessage(trx: Knex.Transaction, messageId: number, expectedVersion?: number): Promise<{ version: number; status: MessageStatus }> {
  const row = await trx('messages').where({ id: messageId }).forUpdate().first<{ version: number; status: MessageStatus } | undefined>('version', 'status');
  if (!row) throw messageNotFound(messageId);
  if (row.status === STATUS.archived) throw archivedConflict(messageId);
  if (expectedVersion !== undefined && row.version !== expectedVersion) throw concurrentChange(messageId);
  return row;
}

/** Records a change (who, when, the next version, optionally a new status) on a locked message. */
export async function touchMessage(trx: Knex.Transaction, messageId: number, actor: Actor, status?: MessageStatus): Promise<void> {
  await trx('messages')
    .where({ id: messageId })
    .update({
      version: trx.raw('version + 1'),
      last_changed_at: trx.fn.now(),
      last_changed_by: actor.person,
      ...(status && { status }),
    });
}

// ---- content: drafts, or the archive once archived ----

export interface DraftForm extends MessageForm {}

export interface DraftAttachment extends MessageAttachment {
  blobKey: string;
  /** A draft's blob is ciphertext under the message's content key (isEncrypted stays false: the sender may read it). */
  stagedEncrypted: boolean;
}

export async function loadForms(db: Db, message: MessageRecord): Promise<MessageFormInfo[]>;
export async function loadForms(db: Db, message: MessageRecord, withData: true): Promise<MessageForm[]>;
export async function loadForms(db: Db, message: MessageRecord, withData = false): Promise<MessageFormInfo[] | MessageForm[]> {
  if (message.formTaskId !== null) {
    const rows = await db('forms')
      .where({ form_task_id: message.formTaskId })
      .orderBy('position')
      .select<{ id: number; message_form_id: number | null; data_format_id: string; data_format_version: number; parent_form_id: number | null; form_data?: string }[]>(
        ['id', 'message_form_id', 'data_format_id', 'data_format_version', 'parent_form_id', ...(withData ? ['form_data'] : [])],
      );
    return rows.map((row) => ({
      // The draft's id when it had one, so URLs handed out before signing keep answering.
      formId: row.message_form_id ?? row.id,
      type: row.parent_form_id === null ? 'MainForm' : 'SubForm',
      dataFormatId: row.data_format_id,
      dataFormatVersion: row.data_format_version,
      ...(withData && { formData: row.form_data! }),
    }));
  }
  return loadDraftForms(db, message.messageId, withData);
}

export async function loadDraftForms(db: Db | Knex.Transaction, messageId: number, withData: boolean): Promise<MessageForm[]> {
  const rows = await db('message_forms')
    .where({ message_id: messageId })
    // The main form first, then sub forms in the order they were added.
    .orderByRaw(`form_type = 'MainForm' DESC, id`)
    .select<{ id: number; form_type: FormType; data_format_id: string; data_format_version: number; form_data?: string }[]>(
      ['id', 'form_type', 'data_format_id', 'data_format_version', ...(withData ? ['form_data'] : [])],
    );
  return rows.map((row) => ({
    formId: row.id,
    type: row.form_type,
    dataFormatId: row.data_format_id,
    dataFormatVersion: row.data_format_version,
    formData: row.form_data as string,
  }));
}

export async function loadAttachments(db: Db, message: MessageRecord): Promise<DraftAttachment[]> {
  if (message.formTaskId !== null) {
    const rows = await db('attachments')
      .where({ form_task_id: message.formTaskId })
      .orderBy('position')
      .select<
        {
          id: number;
          message_attachment_id: number | null;
          file_name: string;
          attachment_type: string;
          attachment_type_name: string | null;
          attachment_type_name_language: string | null;
          size_bytes: number;
          sha256: string;
          blob_key: string;
          is_encrypted: boolean;
        }[]
      >('id', 'message_attachment_id', 'file_name', 'attachment_type', 'attachment_type_name', 'attachment_type_name_language', 'size_bytes', 'sha256', 'blob_key', 'is_encrypted');
    return rows.map((row) => ({
      attachmentId: row.message_attachment_id ?? row.id,
      fileName: row.file_name,
      attachmentType: row.attachment_type_name ?? row.attachment_type,
      mimeType: mimeTypeFromArchive(row.attachment_type),
      language: row.attachment_type_name_language,
      sizeBytes: Number(row.size_bytes),
      sha256: row.sha256,
      isEncrypted: row.is_encrypted,
      blobKey: row.blob_key,
      stagedEncrypted: false,
    }));
  }
  return loadDraftAttachments(db, message.messageId);
}

export async function loadDraftAttachments(db: Db | Knex.Transaction, messageId: number): Promise<DraftAttachment[]> {
  const rows = await db('message_attachments')
    .where({ message_id: messageId })
    .orderBy('id')
    .select<
      { id: number; file_name: string; attachment_type: string; mime_type: string; language: string | null; size_bytes: number; sha256: string; blob_key: string; is_encrypted: boolean }[]
    >('id', 'file_name', 'attachment_type', 'mime_type', 'language', 'size_bytes', 'sha256', 'blob_key', 'is_encrypted');
  return rows.map((row) => ({
    attachmentId: row.id,
    fileName: row.file_name,
    attachmentType: row.attachment_type,
    mimeType: row.mime_type,
    language: row.language,
    sizeBytes: Number(row.size_bytes),
    sha256: row.sha256,
    isEncrypted: false,
    blobKey: row.blob_key,
    stagedEncrypted: row.is_encrypted,
  }));
}

/** A draft form row; its id. */
export async function insertFormRow(trx: Knex.Transaction, messageId: number, form: IncomingForm): Promise<number> {
  const [row] = await trx('message_forms')
    .insert({
      message_id: messageId,
      form_type: form.type,
      data_format_id: form.dataFormatId,
      data_format_version: form.dataFormatVersion,
      form_data: form.formData,
    })
    .returning<{ id: number }[]>('id');
  return row!.id;
}

/** Draft attachment rows for staged blobs; their ids in input order. */
export async function insertAttachmentRows(trx: Knex.Transaction, messageId: number, attachments: StagedAttachment[]): Promise<number[]> {
  const ids: number[] = [];
  for (const attachment of attachments) {
    const [row] = await trx('message_attachments')
      .insert({
        message_id: messageId,
        file_name: attachment.fileName,
        attachment_type: attachment.attachmentType,
        mime_type: attachment.mimeType,
        language: attachment.language,
        size_bytes: attachment.blob.sizeBytes,
        sha256: attachment.blob.sha256,
        blob_key: attachment.blob.key,
        is_encrypted: attachment.encrypted,
      })
      .returning<{ id: number }[]>('id');
    ids.push(row!.id);
  }
  return ids;
}

// ---- the content key of an encrypted service's message ----

/**
 * The message's content key, made on first use. Concurrent first uses agree: the first UPDATE
 * wins and everyone reads its key. Ours to keep until archiving (the blob store never sees it).
 */
export async function messageContentKey(db: Db, messageId: number): Promise<SymmetricKey> {
  // Never on an archived message: its key is the task's now, and the message keeps no copy.
  await db('messages').where({ id: messageId }).whereNull('content_key').whereNot({ status: STATUS.archived }).update({ content_key: newSymmetricKey().blob });
  const key = await loadContentKey(db, messageId);
  if (!key) throw archivedConflict(messageId);
  return key;
}

export async function loadContentKey(db: Db | Knex.Transaction, messageId: number): Promise<SymmetricKey | undefined> {
  const row = await db('messages').where({ id: messageId }).first<{ content_key: Buffer | Uint8Array | null } | undefined>('content_key');
  return row?.content_key ? splitSymmetricKey(Buffer.from(row.content_key)) : undefined;
}

/** Staging for a message's new attachments: encrypted under its content key when the service is encrypted. */
export async function stagingFor(db: Db, blobs: BlobStore, service: ServiceInfo, messageId?: number): Promise<Staging> {
  if (!service.encrypted) return new Staging(blobs);
  return new Staging(blobs, messageId === undefined ? newSymmetricKey() : await messageContentKey(db, messageId));
}

/** A draft attachment's plaintext, decrypted on the way when it is staged encrypted. */
export function openDraftAttachment(blobs: BlobStore, attachment: { blobKey: string; stagedEncrypted: boolean }, contentKey: SymmetricKey | undefined): Readable {
  const stored = blobs.open(attachment.blobKey);
  if (!attachment.stagedEncrypted) return stored;
  if (!contentKey) throw new Error(`Attachment blob ${attachment.blobKey} is staged encrypted but its message has no content key`);
  return pipeline(stored, attachmentDecryptor(contentKey), () => undefined);
}

/** Deletes blobs no row points at any more (after COMMIT). Best effort: an orphan is harmless. */
export async function releaseBlobs(blobs: BlobStore, keys: Iterable<string>): Promise<void> {
  await Promise.allSettled([...new Set(keys)].map((key) => blobs.delete(key)));
}
