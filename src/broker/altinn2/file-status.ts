/**
 * Altinn 2's view of a transfer's status (CONTRACT §9 "FileStatus"): Altinn 2 had only
 * Initialized, Uploaded and Downloaded, and never showed a failure there (its receipt does).
 * Shared by the Altinn 2 REST and SOAP doors.
 */
import type { FileTransfer } from '../types';

export type LegacyFileStatus = 'Initialized' | 'Uploaded' | 'Downloaded';

/**
 * The status as the sender, or (with `recipient`) as that recipient sees it: a recipient that has
 * confirmed sees Downloaded. A purged transfer that was never published stays Initialized.
 */
export function legacyFileStatus(transfer: FileTransfer, recipient?: string): LegacyFileStatus {
  if (recipient && transfer.recipients.some((r) => r.recipient === recipient && r.status === 'DownloadConfirmed')) return 'Downloaded';
  switch (transfer.status.status) {
    case 'Published':
      return 'Uploaded';
    case 'AllConfirmedDownloaded':
      return 'Downloaded';
    case 'Purged':
      if (!transfer.published) return 'Initialized';
      return transfer.recipients.every((r) => r.status === 'DownloadConfirmed') ? 'Downloaded' : 'Uploaded';
    default:
      return 'Initialized';
  }
}
