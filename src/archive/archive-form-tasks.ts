/**
 * The archive's write path: form tasks (forms, approvers, attachments, shipment metadata) go into
 * the archive and, for services with a DownloadQueue, into the queue. Shared by `archive import`
 * and the REST intake.
 *
 * All or nothing, in three steps: (1) validate every task without writing anything, and find the
 * owner's certificate if a task is to be encrypted; (2) stream every attachment into the blob
 * store (through the cipher for an encrypted service, see task-encryption.ts), each durable before
 * any row points at it; (3) insert all rows in one transaction. If step 2 or 3 fails before
 * COMMIT, the blobs written are deleted again.
 */
import type { Knex } from 'knex';
import { parseXml } from '../xml/parser';
import type { Sha256Blob } from '../storage/blob-store';

/** What the archive records of a blob (its MD5 is the broker's business, not the archive's). */
import { normalizeThumbprint } from '../crypto/certificate';
import { forgetSymmetricKey, type SymmetricKey } from '../crypto/symmetric-key';
import { listServices, type Service } from './add-service';
import { formatArchiveReference } from './archive-reference';
import { requireEncryptionCertificate, type EncryptionCertificate } from './certificates';
import { ArchiveError, ArchiveValidationError } from './errors';
import { CLEAR, encryptedBySubmitter, encryptForOwner, type TaskEncryption } from './task-encryption';
import {
  REPORTEE_TYPES,
  SECURITY_LEVELS,
  type Approver,
  type ArchiveContext,
  type EncryptedSymmetricKey,
  type ReporteeType,
  type ShipmentMetadataEntry,
} from './types';

export interface NewAttachment {
  fileName: string;
  /** MIME-like type as Altinn writes it, e.g. `application_pdf`. */
  attachmentType: string;
  attachmentTypeName?: string | null;
  attachmentTypeNameLanguage?: string | null;
  /** Opens the bytes (a stream, or chunks generated on demand); called once, when the attachment is stored. */
  open(): NodeJS.ReadableStream | AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
  /**
   * The bytes are already durable in the blob store (e.g. staged by the REST intake): when they are
   * stored as the task stores them (both in clear, or both encrypted under the task's
   * `contentKey`), the archive points at this blob as it is (no copy); otherwise they are read
   * through `open()` like any other. Never deleted by a failed archiving: it belongs to the caller.
   */
  storedBlob?: Sha256Blob;
  /** The stored blob is ciphertext under the task's `contentKey` (`open()` still gives plaintext). */
  storedEncrypted?: boolean;
}

export interface NewForm {
  dataFormatId: string;
  dataFormatVersion: number;
  /** The form's XML (no DTD). */
  formData: string;
  /** Index of an earlier form in the same task: this form is a sub form of that main form. */
  parentIndex?: number | null;
}

export interface NewFormTask {
  /**
   * The task's idempotency key (the import file's externalReference): unique per service owner,
   * so the same task is never archived twice. Absent for tasks from doors that have none.
   */
  idempotencyKey?: string | null;
  serviceCode: string;
  serviceEditionCode: number;
  reportee: string;
  reporteeType: ReporteeType;
  /** Defaults to the time of insertion (increasing in input order). */
  archivedAt?: Date;
  caseId?: number | null;
  forms: NewForm[];
  approvers: Approver[];
  attachments: NewAttachment[];
  shipmentMetadata?: ShipmentMetadataEntry[];
  /**
   * Set when the submitter encrypted the content for the service owner itself: forms and
   * attachments are then stored and delivered as given, never encrypted a second time.
   */
  soEncryptedSymmetricKey?: EncryptedSymmetricKey | null;
  /**
   * The key the caller encrypted stored attachments under (a message of an encrypted service stages
   * them so): it becomes the task's key when the service is encrypted. Overwritten once stored.
   */
  contentKey?: SymmetricKey;
}

export interface ArchivedTaskResult {
  archiveReference: string;
  /** In input order. */
  attachmentIds: number[];
  /** In input order (the `Reference` of each form on the wire). */
  formReferences: string[];
  /** Whether the task was put on the DownloadQueue (its service has the queue on). */
  queued: boolean;
}

export type ArchiveProgressPhase = 'storing-attachments' | 'writing-rows';

export interface ArchiveFormTasksOptions {
  /** Called after each task finishes a phase: attachments stored, then rows written. */
  onProgress?(done: number, total: number, phase: ArchiveProgressPhase): void;
  /** Runs inside the archive transaction after all rows are written, just before COMMIT: its changes commit or roll back with them. */
  beforeCommit?(trx: Knex.Transaction, results: ArchivedTaskResult[]): Promise<void>;
}

export async function archiveFormTasks(
  ctx: ArchiveContext,
  serviceOwnerId: number,
  tasks: NewFormTask[],
  options: ArchiveFormTasksOptions = {},
): Promise<ArchivedTaskResult[]> {
  const services = await listServices(ctx.db, serviceOwnerId);
  // Every task is checked and every refusal reported (the first problem of each task) before anything is written.
  const problems: string[] = [];
  const resolved: { task: NewFormTask; service: Service }[] = [];
  for (const [index, task] of tasks.entries()) {
    try {
      resolved.push({ task, service: validateTask(task, `formTasks[${index}]`, services) });
    } catch (error) {
      if (!(error instanceof ArchiveError)) throw error;
      problems.push(error.message);
    }
  }
  if (problems.length > 0) throw new ArchiveValidationError(problems);
  // Before anything is written: without a usable certificate nothing is stored at all.
  const certificate = await certificateIfNeeded(ctx, serviceOwnerId, resolved);

  const written: Sha256Blob[] = [];
  let committing = false;
  try {
    const stored: StoredContent[] = [];
    for (const [taskIndex, { task, service }] of resolved.entries()) {
      stored.push(await storeContent(ctx, task, taskIndex, encryptionFor(task, service, certificate), written));
      options.onProgress?.(taskIndex + 1, tasks.length, 'storing-attachments');
    }

    // Everything inside goes through `trx`: the embedded database has a single connection, so a
    // query on ctx.db here would wait for this transaction forever.
    return await ctx.db.transaction(async (trx) => {
      const results: ArchivedTaskResult[] = [];
      for (const [taskIndex, { task, service }] of resolved.entries()) {
        results.push(await insertTask(trx, task, service, stored[taskIndex]!));
        options.onProgress?.(taskIndex + 1, tasks.length, 'writing-rows');
      }
      await options.beforeCommit?.(trx, results);
      committing = true;
      return results;
    });
  } catch (error) {
    // Before COMMIT nothing can point at these blobs: remove them so a failed import leaves no
    // trace. If COMMIT itself failed (e.g. the connection dropped) it may have succeeded, so the
    // blobs stay: an orphaned blob is harmless, a row without its bytes is not.
    if (!committing) await Promise.allSettled(written.map((blob) => ctx.blobs.delete(blob.key)));
    throw error;
  }
}

// ---- encryption ----

function encryptionFor(task: NewFormTask, service: Service, certificate: EncryptionCertificate | undefined): TaskEncryption {
  if (task.soEncryptedSymmetricKey) return encryptedBySubmitter(task.soEncryptedSymmetricKey);
  return service.encrypted ? encryptForOwner(certificate!, service.sensitiveFields, task.contentKey) : CLEAR;
}

/** The owner's current certificate when some task is to be encrypted here; a clear error when it has none usable. */
async function certificateIfNeeded(
  ctx: ArchiveContext,
  serviceOwnerId: number,
  resolved: { task: NewFormTask; service: Service }[],
): Promise<EncryptionCertificate | undefined> {
  const index = resolved.findIndex(({ task, service }) => service.encrypted && !task.soEncryptedSymmetricKey);
  if (index < 0) return undefined;
  try {
    return await requireEncryptionCertificate(ctx.db, serviceOwnerId);
  } catch (error) {
    if (!(error instanceof ArchiveError)) throw error;
    const { service } = resolved[index]!;
    throw invalid(`formTasks[${index}]`, `service ${service.serviceCode} edition ${service.serviceEditionCode} is encrypted, but ${error.message}`);
  }
}

/** A task's attachments written to the blob store and its form data, both as they are to be stored. */
interface StoredContent {
  blobs: Sha256Blob[];
  formData: string[];
  encryption: TaskEncryption;
}

async function storeContent(
  ctx: ArchiveContext,
  task: NewFormTask,
  taskIndex: number,
  encryption: TaskEncryption,
  written: Sha256Blob[],
): Promise<StoredContent> {
  try {
    const blobs: Sha256Blob[] = [];
    for (const [attachmentIndex, attachment] of task.attachments.entries()) {
      const storedUnder = attachment.storedEncrypted ? task.contentKey : null;
      if (attachment.storedBlob && storedUnder === encryption.attachmentKey) {
        blobs.push(attachment.storedBlob);
        continue;
      }
      const bytes = readAttachment(attachment, `formTasks[${taskIndex}].attachments[${attachmentIndex}]`);
      // An archived attachment's SHA-256 is its integrity record; nobody compares an MD5 with it.
      const blob = await ctx.blobs.put(encryption.attachment(bytes), { md5: false });
      written.push(blob);
      blobs.push(blob);
    }
    return { blobs, formData: task.forms.map((form) => encryption.formData(form.formData)), encryption };
  } finally {
    encryption.forget();
    if (task.contentKey) forgetSymmetricKey(task.contentKey);
  }
}

// ---- validation ----

const INT32_MAX = 2_147_483_647;

function invalid(field: string, problem: string): ArchiveError {
  return new ArchiveError('invalid_argument', `${field}: ${problem}`);
}

function requireText(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.trim() === '') throw invalid(field, 'must be a non-empty string');
  return value;
}

function requireInt32(value: unknown, field: string, min: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > INT32_MAX) {
    throw invalid(field, `must be a whole number from ${min} to ${INT32_MAX}`);
  }
  return value;
}

function requireDate(value: unknown, field: string): Date {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) throw invalid(field, 'not a valid date-time');
  return value;
}

const REPORTEE_FORMATS: Record<ReporteeType, { pattern: RegExp; description: string }> = {
  Organisation: { pattern: /^[0-9]{9}$/, description: 'an organisation number (9 digits)' },
  Person: { pattern: /^[0-9]{11}$/, description: 'a national identity number (11 digits)' },
  Selfregistereduser: { pattern: /^\S{1,100}$/, description: 'a user name (1-100 characters, no spaces)' },
};

function validateTask(task: NewFormTask, field: string, services: Service[]): Service {
  if (task.idempotencyKey !== undefined && task.idempotencyKey !== null) requireText(task.idempotencyKey, `${field}.idempotencyKey`);
  requireText(task.serviceCode, `${field}.serviceCode`);
  requireInt32(task.serviceEditionCode, `${field}.serviceEditionCode`, 1);
  const service = findOwnService(task, field, services);

  if (!(REPORTEE_TYPES as readonly unknown[]).includes(task.reporteeType)) {
    throw invalid(`${field}.reporteeType`, `must be one of ${REPORTEE_TYPES.join(', ')}`);
  }
  const reporteeFormat = REPORTEE_FORMATS[task.reporteeType];
  if (typeof task.reportee !== 'string' || !reporteeFormat.pattern.test(task.reportee)) {
    throw invalid(`${field}.reportee`, `must be ${reporteeFormat.description} for reporteeType ${task.reporteeType}`);
  }
  if (task.archivedAt !== undefined) requireDate(task.archivedAt, `${field}.archivedAt`);
  if (task.caseId !== undefined && task.caseId !== null) requireInt32(task.caseId, `${field}.caseId`, 0);

  if (!Array.isArray(task.forms) || task.forms.length === 0) throw invalid(`${field}.forms`, 'must hold at least one form');
  task.forms.forEach((form, index) => validateForm(form, index, task.forms, `${field}.forms[${index}]`));

  if (!Array.isArray(task.approvers)) throw invalid(`${field}.approvers`, 'must be a list');
  task.approvers.forEach((approver, index) => {
    const approverField = `${field}.approvers[${index}]`;
    requireText(approver.approverId, `${approverField}.approverId`);
    requireDate(approver.approvedAt, `${approverField}.approvedAt`);
    if (!(SECURITY_LEVELS as readonly unknown[]).includes(approver.securityLevel)) {
      throw invalid(`${approverField}.securityLevel`, `must be one of ${SECURITY_LEVELS.join(', ')}`);
    }
  });

  if (!Array.isArray(task.attachments)) throw invalid(`${field}.attachments`, 'must be a list');
  task.attachments.forEach((attachment, index) => {
    const attachmentField = `${field}.attachments[${index}]`;
    requireText(attachment.fileName, `${attachmentField}.fileName`);
    requireText(attachment.attachmentType, `${attachmentField}.attachmentType`);
    if (typeof attachment.open !== 'function') throw invalid(`${attachmentField}.open`, 'must be a function returning the bytes');
    if (attachment.storedEncrypted && !task.contentKey) throw invalid(`${attachmentField}.storedEncrypted`, 'needs the task\'s contentKey');
  });

  if (task.soEncryptedSymmetricKey !== undefined && task.soEncryptedSymmetricKey !== null) {
    validateSubmittedKey(task.soEncryptedSymmetricKey, `${field}.soEncryptedSymmetricKey`);
  }

  (task.shipmentMetadata ?? []).forEach((entry, index) => {
    requireText(entry.key, `${field}.shipmentMetadata[${index}].key`);
    if (entry.value !== null && typeof entry.value !== 'string') {
      throw invalid(`${field}.shipmentMetadata[${index}].value`, 'must be a string or null');
    }
  });
  return service;
}

/** An RSA-wrapped key is as long as the certificate's modulus: 256 bytes for 2048 bits, 512 for 4096. */
const WRAPPED_KEY_BYTES = { min: 128, max: 1024 };

function validateSubmittedKey(key: EncryptedSymmetricKey, field: string): void {
  const thumbprint = typeof key.certificateThumbprint === 'string' ? normalizeThumbprint(key.certificateThumbprint) : undefined;
  if (!thumbprint || thumbprint !== key.certificateThumbprint) {
    throw invalid(`${field}.certificateThumbprint`, 'must be a certificate thumbprint: 40 upper-case hexadecimal characters');
  }
  if (!Buffer.isBuffer(key.encryptedKey) || key.encryptedKey.length < WRAPPED_KEY_BYTES.min || key.encryptedKey.length > WRAPPED_KEY_BYTES.max) {
    throw invalid(`${field}.encryptedKey`, `must be an RSA-encrypted key of ${WRAPPED_KEY_BYTES.min}-${WRAPPED_KEY_BYTES.max} bytes`);
  }
}

/** The task's service, which must belong to the owner; the message says which part does not match. */
function findOwnService(task: NewFormTask, field: string, services: Service[]): Service {
  const sameCode = services.filter((s) => s.serviceCode === task.serviceCode);
  const service = sameCode.find((s) => s.serviceEditionCode === task.serviceEditionCode);
  if (service) return service;
  if (sameCode.length > 0) {
    const editions = sameCode.map((s) => s.serviceEditionCode).join(', ');
    throw invalid(`${field}.serviceEditionCode`, `service ${task.serviceCode} has no edition ${task.serviceEditionCode} (editions: ${editions})`);
  }
  throw invalid(`${field}.serviceCode`, `service ${task.serviceCode} is not a service of this service owner`);
}

function validateForm(form: NewForm, index: number, forms: NewForm[], field: string): void {
  requireText(form.dataFormatId, `${field}.dataFormatId`);
  requireInt32(form.dataFormatVersion, `${field}.dataFormatVersion`, 0);
  if (typeof form.formData !== 'string') throw invalid(`${field}.formData`, 'must be a string of XML');
  try {
    // Same parser and limits as the download path, so whatever is stored can be presented again.
    parseXml(form.formData);
  } catch (error) {
    throw invalid(`${field}.formData`, (error as Error).message);
  }
  const parentIndex = form.parentIndex;
  if (parentIndex === undefined || parentIndex === null) return;
  if (!Number.isInteger(parentIndex) || parentIndex < 0 || parentIndex >= index) {
    throw invalid(`${field}.parentIndex`, `must be the index of an earlier form (0 to ${index - 1})`);
  }
  const parent = forms[parentIndex]!;
  if (parent.parentIndex !== undefined && parent.parentIndex !== null) {
    throw invalid(`${field}.parentIndex`, `form ${parentIndex} is itself a sub form; a parent must be a main form`);
  }
}

// ---- attachment bytes ----

/** The attachment's bytes, with read failures reported as the caller's problem (naming the attachment). */
async function* readAttachment(attachment: NewAttachment, field: string): AsyncGenerator<Buffer> {
  const unreadable = (error: unknown): ArchiveError =>
    invalid(field, `could not read '${attachment.fileName}': ${(error as Error).message}`);
  let source: ReturnType<NewAttachment['open']>;
  try {
    source = attachment.open();
  } catch (error) {
    throw unreadable(error);
  }
  try {
    for await (const chunk of source as AsyncIterable<Uint8Array | string> | Iterable<Uint8Array>) {
      yield typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    }
  } catch (error) {
    throw unreadable(error);
  }
}

// ---- rows ----

async function insertTask(trx: Knex.Transaction, task: NewFormTask, service: Service, content: StoredContent): Promise<ArchivedTaskResult> {
  const { blobs, encryption } = content;
  const [taskRow] = await trx('form_tasks')
    .insert({
      service_id: service.serviceId,
      service_owner_id: service.serviceOwnerId,
      reportee: task.reportee,
      reportee_type: task.reporteeType,
      idempotency_key: task.idempotencyKey ?? null,
      // clock_timestamp() (not now()) advances within the transaction: tasks keep their input order.
      archived_at: task.archivedAt ?? trx.raw('clock_timestamp()'),
      case_id: task.caseId ?? null,
      certificate_thumbprint: encryption.symmetricKey?.certificateThumbprint ?? null,
      encrypted_key: encryption.symmetricKey?.encryptedKey ?? null,
    })
    .returning<{ id: number }[]>('id');
  const formTaskId = taskRow!.id;

  // One at a time: a sub form needs its main form's id.
  const formIds: number[] = [];
  for (const [position, form] of task.forms.entries()) {
    const [formRow] = await trx('forms')
      .insert({
        form_task_id: formTaskId,
        position,
        data_format_id: form.dataFormatId,
        data_format_version: form.dataFormatVersion,
        form_data: content.formData[position]!,
        parent_form_id: form.parentIndex === undefined || form.parentIndex === null ? null : formIds[form.parentIndex],
      })
      .returning<{ id: number }[]>('id');
    formIds.push(formRow!.id);
  }

  if (task.approvers.length > 0) {
    await trx('approvers').insert(
      task.approvers.map((approver, position) => ({
        form_task_id: formTaskId,
        position,
        approver_id: approver.approverId,
        approved_at: approver.approvedAt,
        security_level: approver.securityLevel,
      })),
    );
  }

  let attachmentIds: number[] = [];
  if (task.attachments.length > 0) {
    const rows = await trx('attachments')
      .insert(
        task.attachments.map((attachment, position) => ({
          form_task_id: formTaskId,
          position,
          file_name: attachment.fileName,
          attachment_type: attachment.attachmentType,
          attachment_type_name: attachment.attachmentTypeName ?? null,
          attachment_type_name_language: attachment.attachmentTypeNameLanguage ?? null,
          is_encrypted: encryption.attachmentsEncrypted,
          // Of the stored bytes (ciphertext when encrypted): what is delivered and checked. No
          // plaintext hash is kept: it would let anyone holding the archive confirm a guessed file.
          size_bytes: blobs[position]!.sizeBytes,
          sha256: blobs[position]!.sha256,
          blob_key: blobs[position]!.key,
        })),
      )
      .returning<{ id: number; position: number }[]>(['id', 'position']);
    // RETURNING order is not promised by SQL; position is.
    attachmentIds = rows.sort((a, b) => a.position - b.position).map((row) => row.id);
  }

  const metadata = task.shipmentMetadata ?? [];
  if (metadata.length > 0) {
    await trx('shipment_metadata').insert(
      metadata.map((entry, position) => ({ form_task_id: formTaskId, position, key: entry.key, value: entry.value })),
    );
  }

  // Copied in SQL so the queue item carries exactly the task's archived time (microseconds
  // included), and the service's queue setting is read inside the transaction.
  const { rows: queued } = await trx.raw<{ rows: unknown[] }>(
    `INSERT INTO download_queue_items (form_task_id, service_owner_id, service_id, archived_at)
     SELECT t.id, t.service_owner_id, t.service_id, t.archived_at
       FROM form_tasks t JOIN services s ON s.id = t.service_id
      WHERE t.id = ? AND s.download_queue
     RETURNING form_task_id`,
    [formTaskId],
  );

  return {
    archiveReference: formatArchiveReference(formTaskId),
    attachmentIds,
    formReferences: formIds.map(String),
    queued: queued.length > 0,
  };
}
