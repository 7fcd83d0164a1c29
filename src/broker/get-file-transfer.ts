/**
 * Overview and details of a transfer (CONTRACT §2.3), for its sender or one of its recipients.
 * Details adds every status row of the transfer and of its recipients, oldest first.
 */
import { loadHistory, requireFileTransfer } from './file-transfer-store';
import type { BrokerCaller, BrokerContext, FileTransfer, FileTransferHistory } from './types';

export async function getFileTransferOverview(ctx: BrokerContext, caller: BrokerCaller, fileTransferId: string): Promise<FileTransfer> {
  return requireFileTransfer(ctx.db, fileTransferId, caller);
}

export async function getFileTransferDetails(ctx: BrokerContext, caller: BrokerCaller, fileTransferId: string): Promise<FileTransfer & FileTransferHistory> {
  const transfer = await requireFileTransfer(ctx.db, fileTransferId, caller);
  return { ...transfer, ...(await loadHistory(ctx.db, transfer.fileTransferId)) };
}
