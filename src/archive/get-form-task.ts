/** GetArchivedFormTaskBasicDQ (and GetFormSetPdfBasic): one archived form task of the calling owner. */
import { formatArchiveReference, parseArchiveReference } from './archive-reference';
import { notFound } from './errors';
import type { ArchiveContext, ArchivedAttachment, ArchivedFormTask, ReporteeType, SecurityLevel } from './types';

export interface GetFormTaskRequest {
  serviceOwnerId: number;
  archiveReference: string;
}

export async function getFormTask({ db }: ArchiveContext, request: GetFormTaskRequest): Promise<ArchivedFormTask> {
  const formTaskId = parseArchiveReference(request.archiveReference);
  if (formTaskId === undefined) throw notFound(`Archive reference '${request.archiveReference}'`);

  // Scoped by owner in the same predicate: another owner's task is simply not found.
  const task = await db('form_tasks as t')
    .join('services as s', 's.id', 't.service_id')
    .where({ 't.id': formTaskId, 't.service_owner_id': request.serviceOwnerId })
    .first<{
      id: number;
      archived_at: Date;
      reportee: string;
      reportee_type: ReporteeType;
      case_id: number | null;
      correlation_reference: number | null;
      service_code: string;
      service_edition_code: number;
      service_name: string | null;
      certificate_thumbprint: string | null;
      encrypted_key: Uint8Array | null;
    }>(
      't.id',
      't.archived_at',
      't.reportee',
      't.reportee_type',
      't.case_id',
      't.correlation_reference',
      's.service_code',
      's.service_edition_code',
      's.name as service_name',
      't.certificate_thumbprint',
      't.encrypted_key',
    );
  if (!task) throw notFound(`Archive reference '${request.archiveReference}'`);

  const [forms, approvers, attachments] = await Promise.all([
    db('forms')
      .where({ form_task_id: formTaskId })
      .orderBy('position')
      .select<{ id: number; parent_form_id: number | null; data_format_id: string; data_format_version: number; form_data: string }[]>(
        'id',
        'parent_form_id',
        'data_format_id',
        'data_format_version',
        'form_data',
      ),
    db('approvers')
      .where({ form_task_id: formTaskId })
      .orderBy('position')
      .select<{ approver_id: string; approved_at: Date; security_level: SecurityLevel }[]>('approver_id', 'approved_at', 'security_level'),
    listAttachments(db, formTaskId),
  ]);

  const archiveReference = formatArchiveReference(task.id);
  return {
    archiveReference,
    archivedAt: task.archived_at,
    serviceCode: task.service_code,
    serviceEditionCode: task.service_edition_code,
    serviceName: task.service_name,
    reportee: task.reportee,
    reporteeType: task.reportee_type,
    caseId: task.case_id,
    correlationReference: task.correlation_reference,
    forms: forms.map((f) => ({
      reference: String(f.id),
      parentReference: f.parent_form_id === null ? null : String(f.parent_form_id),
      dataFormatId: f.data_format_id,
      dataFormatVersion: f.data_format_version,
      formData: f.form_data,
    })),
    approvers: approvers.map((a) => ({ approverId: a.approver_id, approvedAt: a.approved_at, securityLevel: a.security_level })),
    attachments,
    // The CHECK constraint keeps the two columns null together.
    encryptedSymmetricKey:
      task.certificate_thumbprint !== null && task.encrypted_key !== null
        ? { certificateThumbprint: task.certificate_thumbprint, encryptedKey: Buffer.from(task.encrypted_key) }
        : null,
  };
}

interface AttachmentRow {
  id: number;
  form_task_id: number;
  file_name: string;
  attachment_type: string;
  attachment_type_name: string | null;
  attachment_type_name_language: string | null;
  is_encrypted: boolean;
  size_bytes: number;
  sha256: string;
  blob_key: string;
}

const ATTACHMENT_COLUMNS = [
  'a.id',
  'a.form_task_id',
  'a.file_name',
  'a.attachment_type',
  'a.attachment_type_name',
  'a.attachment_type_name_language',
  'a.is_encrypted',
  'a.size_bytes',
  'a.sha256',
  'a.blob_key',
];

function toAttachment(row: AttachmentRow): ArchivedAttachment {
  return {
    attachmentId: row.id,
    archiveReference: formatArchiveReference(row.form_task_id),
    fileName: row.file_name,
    attachmentType: row.attachment_type,
    attachmentTypeName: row.attachment_type_name,
    attachmentTypeNameLanguage: row.attachment_type_name_language,
    isEncrypted: row.is_encrypted,
    sizeBytes: row.size_bytes,
    sha256: row.sha256,
    blobKey: row.blob_key,
  };
}

async function listAttachments(db: ArchiveContext['db'], formTaskId: number): Promise<ArchivedAttachment[]> {
  const rows = await db('attachments as a').where({ 'a.form_task_id': formTaskId }).orderBy('a.position').select<AttachmentRow[]>(ATTACHMENT_COLUMNS);
  return rows.map(toAttachment);
}

/** GetAttachmentDataStreamedBasic: one attachment's metadata, if it belongs to the owner. */
export async function getAttachment(
  { db }: ArchiveContext,
  request: { serviceOwnerId: number; attachmentId: number },
): Promise<ArchivedAttachment> {
  const row = await db('attachments as a')
    .join('form_tasks as t', 't.id', 'a.form_task_id')
    .where({ 'a.id': request.attachmentId, 't.service_owner_id': request.serviceOwnerId })
    .first<AttachmentRow | undefined>(ATTACHMENT_COLUMNS);
  if (!row) throw notFound(`Attachment ${request.attachmentId}`);
  return toAttachment(row);
}
