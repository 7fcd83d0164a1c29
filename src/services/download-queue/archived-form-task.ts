/**
 * An archived form task in the contract's shape (ra:ArchivedFormTaskDQBE), shared by the
 * GetArchivedFormTaskBasicDQ operation and `archive export`, so an exported task is the same XML
 * a client receives. Encrypted content passes through untouched: FormData holds its EncryptedData,
 * AttachmentData the ciphertext, SOEncryptedSymmetricKey the wrapped key.
 */
import { presentFormData } from '../../archive/form-data';
import type { ArchivedAttachment, ArchivedFormTask } from '../../archive/types';
import type { BlobStore } from '../../storage/blob-store';
import type { BinaryPart } from '../../soap/schema';
import { writeElement, type XmlOutput } from '../../soap/serializer';
import { downloadQueueContract } from './contract';

export interface ArchivedFormTaskOptions {
  includeXmlNamespace: boolean;
  /** The attachment's bytes as an MTOM part, or null to send it nil (fetched by AttachmentId from the streamed service). */
  attachmentData(attachment: ArchivedAttachment): BinaryPart | null;
}

export function archivedFormTaskValue(task: ArchivedFormTask, options: ArchivedFormTaskOptions): Record<string, unknown> {
  const attachments = task.attachments.map((a) => ({
    ArchiveReference: a.archiveReference,
    AttachmentData: options.attachmentData(a),
    AttachmentType: a.attachmentType,
    FileName: a.fileName,
    IsEncrypted: a.isEncrypted,
    AttachmentId: a.attachmentId,
    AttachmentTypeName: a.attachmentTypeName,
    AttachmentTypeNameLanguage: a.attachmentTypeNameLanguage,
  }));
  return {
    Approvers: { ApproverDQBE: task.approvers.map((a) => ({ ApprovedTimeStamp: a.approvedAt, ApproverID: a.approverId, SecurityLevel: a.securityLevel })) },
    ArchiveReference: task.archiveReference,
    ArchiveTimeStamp: task.archivedAt,
    Attachments: { ArchivedAttachmentDQBE: attachments },
    AttachmentsInResponse: attachments.filter((a) => a.AttachmentData !== null).length,
    CaseID: task.caseId ?? 0,
    CorrelationReference: task.correlationReference ?? 0,
    Forms: {
      ArchivedFormDQBE: task.forms.map((f) => ({
        DataFormatID: f.dataFormatId,
        DataFormatVersionID: f.dataFormatVersion,
        FormData: presentFormData(f.formData, options.includeXmlNamespace),
        ParentReference: f.parentReference,
        Reference: f.reference,
      })),
    },
    FormsInResponse: task.forms.length,
    Reportee: task.reportee,
    SOEncryptedSymmetricKey: task.encryptedSymmetricKey && {
      CertificateThumbprint: task.encryptedSymmetricKey.certificateThumbprint,
      EncryptedKey: task.encryptedSymmetricKey.encryptedKey,
    },
    ServiceCode: task.serviceCode,
    ServiceEditionCode: String(task.serviceEditionCode),
  };
}

/** The GetArchivedFormTaskBasicDQResponse element for a task, written to `out` (binary parts collected there). */
export function writeArchivedFormTaskResponse(out: XmlOutput, task: ArchivedFormTask, options: ArchivedFormTaskOptions): void {
  writeElement(out, downloadQueueContract.GetArchivedFormTaskBasicDQ.response, {
    GetArchivedFormTaskBasicDQResult: archivedFormTaskValue(task, options),
  });
}

/**
 * An attachment's stored bytes (ciphertext when encrypted) as an MTOM part, streamed from the blob
 * store when written. Its callers check the blob's size first (stat), so the store need not look
 * it up again when opening it.
 */
export function attachmentPart(blobs: BlobStore, attachment: ArchivedAttachment): BinaryPart {
  return {
    kind: 'binary',
    contentType: 'application/octet-stream',
    sizeBytes: attachment.sizeBytes,
    open: () => blobs.open(attachment.blobKey, undefined, attachment.sizeBytes),
  };
}
