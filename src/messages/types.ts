/**
 * Vocabulary of form tasks in progress ("messages" of the end-user REST API), independent of HTTP
 * and SQL. A message is filled in ("Utfylling"), may wait for signing ("Signering"), and is
 * finally signed and archived ("Sendt og arkivert"): from then on it lives in the archive (and on
 * the service owner's DownloadQueue) and cannot change.
 */
import type { ArchiveContext, SecurityLevel } from '../archive/types';

export interface MessageContext extends ArchiveContext {
  limits: {
    /** For attachments of a service whose definition has no attachment rules. */
    defaultAttachmentMaxBytes: number;
    defaultAttachmentMaxCount: number;
  };
}

export const STATUS = {
  filling: 'Utfylling',
  signing: 'Signering',
  archived: 'Sendt og arkivert',
} as const;
export type MessageStatus = (typeof STATUS)[keyof typeof STATUS];

/** The authenticated person making the call. */
export interface Actor {
  /** National identity number. */
  person: string;
  /** Authentication level of the login (0-4). */
  authLevel: number;
}

/** Whom a call acts for: the person themself, or an organisation they have a role for. */
export interface Reportee {
  /** ReporteeId: `r<reporteeId>` in URLs. */
  reporteeId: number;
  type: 'Person' | 'Organisation';
  /** National identity number or organisation number. */
  identifier: string;
}

export type FormType = 'MainForm' | 'SubForm';

export interface MessageSummary {
  messageId: number;
  status: MessageStatus;
  serviceCode: string;
  serviceEditionCode: number;
  serviceName: string | null;
  serviceOwnerName: string;
  createdAt: Date;
  createdBy: string;
  lastChangedAt: Date;
  lastChangedBy: string;
  /** Set once archived. */
  archiveReference: string | null;
  archivedAt: Date | null;
}

export interface MessageFormInfo {
  formId: number;
  type: FormType;
  dataFormatId: string;
  dataFormatVersion: number;
}

export interface MessageForm extends MessageFormInfo {
  formData: string;
}

export interface MessageAttachment {
  attachmentId: number;
  fileName: string;
  /** The functional attachment type, e.g. "Vedlegg". */
  attachmentType: string;
  mimeType: string;
  language: string | null;
  sizeBytes: number;
  /** Of the stored bytes. */
  sha256: string;
  /** Encrypted for the service owner (archived messages of an encrypted service only). */
  isEncrypted: boolean;
}

export interface MessageDetails extends MessageSummary {
  forms: MessageFormInfo[];
  attachments: MessageAttachment[];
}

/** What an update leaves the message as: `complete` and `sign` default to true (sign and archive). */
export interface SubmitFlags {
  complete: boolean;
  sign: boolean;
}

/** Security level of an approver, from the authentication level of the signer's login. */
export function securityLevelFor(authLevel: number): SecurityLevel {
  if (authLevel >= 4) return 'verySensitive';
  if (authLevel === 3) return 'sensitive';
  if (authLevel === 2) return 'lessSensitive';
  return 'notSensitive';
}

/** Message ids on the wire: 'a' (an active element, as Altinn writes them) and the number. */
export function formatMessageId(messageId: number): string {
  return `a${messageId}`;
}

export function parseMessageId(text: string): number | undefined {
  const match = /^a([1-9][0-9]{0,15})$/i.exec(text);
  if (!match) return undefined;
  const id = Number(match[1]);
  return Number.isSafeInteger(id) ? id : undefined;
}

/** Form and attachment ids in URLs are plain positive integers. */
export function parseNumericId(text: string): number | undefined {
  if (!/^[1-9][0-9]{0,15}$/.test(text)) return undefined;
  const id = Number(text);
  return Number.isSafeInteger(id) ? id : undefined;
}
