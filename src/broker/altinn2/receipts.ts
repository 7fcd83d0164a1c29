/**
 * Pseudo-receipts (CONTRACT §9): Altinn 3 has no receipts, so the Altinn 2 doors derive one from
 * the transfer's status, as Altinn's transition bridge does: a sender receipt with one sub-receipt
 * per recipient, or a recipient's own receipt. The texts live here, once, for both doors.
 */
import { orgNumberOf } from '../parties';
import type { FileTransfer, RecipientState } from '../types';

export type ReceiptStatus = 'Ok' | 'Rejected';

export interface PseudoReceipt {
  status: ReceiptStatus;
  text: string;
  lastChanged: Date;
  /** Organisation number (no prefix) of the party the receipt is for. */
  partyReference: string;
  /** Sender receipts: one per recipient, in recipient order; null on a recipient's receipt. */
  subReceipts: PseudoReceipt[] | null;
}

export const RECEIPT_TEXTS = {
  uploaded: (fileTransferId: string) => `Upload of file ${fileTransferId} was successful. Recipients can now download the file.`,
  failedForRecipient: 'File failed during upload processing in Altinn 3.',
  downloaded: 'File has been downloaded by the recipient.',
  available: 'A file has been made available for download.',
  notYetAvailable: 'The file is not yet available for download.',
} as const;

const wasPublished = (transfer: FileTransfer) => transfer.published !== null;

/** The sender's receipt: Ok once published (or while processing, with the status text), Rejected when it failed. */
export function senderReceipt(transfer: FileTransfer): PseudoReceipt {
  const lastChanged = transfer.status.changedAt;
  const failed = transfer.status.status === 'Failed';
  return {
    status: failed ? 'Rejected' : 'Ok',
    text: failed || !wasPublished(transfer) ? transfer.status.text : RECEIPT_TEXTS.uploaded(transfer.fileTransferId),
    lastChanged,
    partyReference: orgNumberOf(transfer.sender),
    subReceipts: transfer.recipients.map((recipient) => ({ ...recipientPart(transfer, recipient), lastChanged, subReceipts: null })),
  };
}

/** A recipient's own receipt, timed by its latest status change. */
export function recipientReceipt(transfer: FileTransfer, recipientParty: string): PseudoReceipt {
  const recipient = transfer.recipients.find((r) => r.recipient === recipientParty);
  if (!recipient) throw new RangeError(`${recipientParty} is not a recipient of ${transfer.fileTransferId}`);
  return { ...recipientPart(transfer, recipient), lastChanged: recipient.changedAt, subReceipts: null };
}

function recipientPart(transfer: FileTransfer, recipient: RecipientState): Pick<PseudoReceipt, 'status' | 'text' | 'partyReference'> {
  const partyReference = orgNumberOf(recipient.recipient);
  if (transfer.status.status === 'Failed') return { status: 'Rejected', text: RECEIPT_TEXTS.failedForRecipient, partyReference };
  if (recipient.status === 'DownloadConfirmed') return { status: 'Ok', text: RECEIPT_TEXTS.downloaded, partyReference };
  if (wasPublished(transfer)) return { status: 'Ok', text: RECEIPT_TEXTS.available, partyReference };
  return { status: 'Ok', text: RECEIPT_TEXTS.notYetAvailable, partyReference };
}
