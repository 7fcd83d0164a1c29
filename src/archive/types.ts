/** The archive's domain vocabulary, independent of SOAP, REST and SQL. */
import type { Db } from '../storage/db';
import type { BlobStore } from '../storage/blob-store';

/** What every use case needs: the database and the blob store. */
export interface ArchiveContext {
  db: Db;
  blobs: BlobStore;
}

export const REPORTEE_TYPES = ['Organisation', 'Person', 'Selfregistereduser'] as const;
export type ReporteeType = (typeof REPORTEE_TYPES)[number];

export const SECURITY_LEVELS = ['selfIdentifiedUser', 'notSensitive', 'lessSensitive', 'sensitive', 'verySensitive'] as const;
export type SecurityLevel = (typeof SECURITY_LEVELS)[number];

export interface ShipmentMetadataEntry {
  key: string;
  value: string | null;
}

export interface QueueItem {
  archiveReference: string;
  archivedAt: Date;
  reporteeId: string;
  reporteeType: ReporteeType;
  serviceCode: string;
  serviceEditionCode: number;
  /** null when the task has no shipment metadata. */
  shipmentMetadata: ShipmentMetadataEntry[] | null;
}

/**
 * A queue item as the serialized form a door stored for it earlier (`storeQueueItemFragments`).
 * Opaque to the archive: the door that made it owns its format and reads it back.
 */
export interface StoredQueueItem {
  archiveReference: string;
  fragment: string;
}

export interface ArchivedForm {
  reference: string;
  parentReference: string | null;
  dataFormatId: string;
  dataFormatVersion: number;
  formData: string;
}

export interface Approver {
  approverId: string;
  approvedAt: Date;
  securityLevel: SecurityLevel;
}

export interface ArchivedAttachment {
  attachmentId: number;
  archiveReference: string;
  fileName: string;
  attachmentType: string;
  attachmentTypeName: string | null;
  attachmentTypeNameLanguage: string | null;
  isEncrypted: boolean;
  sizeBytes: number;
  sha256: string;
  blobKey: string;
}

/**
 * Service-owner encryption of a task's content (SOEncryptedSymmetricKey): the 32-byte key blob
 * (AES-128 key ‖ IV) RSA-wrapped under the certificate with this thumbprint.
 */
export interface EncryptedSymmetricKey {
  /** SHA-1 of the certificate's DER, 40 upper-case hex characters. */
  certificateThumbprint: string;
  encryptedKey: Buffer;
}

export interface ArchivedFormTask {
  archiveReference: string;
  archivedAt: Date;
  serviceCode: string;
  serviceEditionCode: number;
  serviceName: string | null;
  reportee: string;
  reporteeType: ReporteeType;
  caseId: number | null;
  correlationReference: number | null;
  approvers: Approver[];
  forms: ArchivedForm[];
  attachments: ArchivedAttachment[];
  encryptedSymmetricKey: EncryptedSymmetricKey | null;
}
