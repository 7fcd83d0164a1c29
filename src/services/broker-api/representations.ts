/**
 * Overview and details of a transfer as Altinn's JSON writes them (member order as its models,
 * CONTRACT §2.3; details puts its own members, the histories, first: System.Text.Json writes a
 * derived type's members before its base type's).
 */
import type { FileTransfer, FileTransferHistory } from '../../broker/types';
import { formatTimestamp } from './json';

function overviewMembers(transfer: FileTransfer) {
  return {
    fileTransferId: transfer.fileTransferId,
    resourceId: transfer.resourceId,
    fileName: transfer.fileName,
    sendersFileTransferReference: transfer.sendersFileTransferReference,
    // Altinn writes "" until the MD5 is known (the model's default).
    checksum: transfer.checksum ?? '',
    useVirusScan: transfer.useVirusScan,
    fileTransferSize: transfer.fileTransferSize,
    fileTransferStatus: transfer.status.status,
    fileTransferStatusText: transfer.status.text,
    fileTransferStatusChanged: formatTimestamp(transfer.status.changedAt),
    created: formatTimestamp(transfer.created),
    expirationTime: formatTimestamp(transfer.expirationTime),
    sender: transfer.sender,
    recipients: transfer.recipients.map((recipient) => ({
      recipient: recipient.recipient,
      currentRecipientFileTransferStatusCode: recipient.status,
      currentRecipientFileTransferStatusText: recipient.text,
      currentRecipientFileTransferStatusChanged: formatTimestamp(recipient.changedAt),
    })),
    propertyList: transfer.propertyList,
  };
}

export function overviewJson(transfer: FileTransfer) {
  return { ...overviewMembers(transfer), published: transfer.published ? formatTimestamp(transfer.published) : null };
}

/** The history arrays come first: System.Text.Json writes a derived type's own members before the base's. */
export function detailsJson(transfer: FileTransfer & FileTransferHistory) {
  return {
    fileTransferStatusHistory: transfer.fileTransferStatusHistory.map((entry) => ({
      fileTransferStatus: entry.status,
      fileTransferStatusText: entry.text,
      fileTransferStatusChanged: formatTimestamp(entry.changedAt),
    })),
    recipientFileTransferStatusHistory: transfer.recipientFileTransferStatusHistory.map((entry) => ({
      recipient: entry.recipient,
      recipientFileTransferStatusCode: entry.status,
      recipientFileTransferStatusText: entry.text,
      recipientFileTransferStatusChanged: formatTimestamp(entry.changedAt),
    })),
    ...overviewMembers(transfer),
  };
}
