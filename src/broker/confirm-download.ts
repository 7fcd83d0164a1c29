/**
 * A recipient confirms it has the file (CONTRACT §2.6). Checks in Altinn's order; then
 * DownloadConfirmed and `downloadconfirmed` to the recipient and the sender; once every recipient
 * has confirmed, AllConfirmedDownloaded, `allconfirmeddownloaded` to the sender, and (when the
 * resource purges on confirmation) a purge after its grace period.
 *
 * The Altinn 2 doors confirm without an earlier download (Altinn's legacy path skipped that
 * check), which is the one difference: `requireDownloadStarted: false`.
 */
import { brokerError } from './errors';
import { recordEvents } from './events';
import { appendRecipientStatus, appendTransferStatus, lockFileTransfer, requireFileTransfer } from './file-transfer-store';
import { gracePeriodMs, purgesAfterAllConfirmed, requireResource } from './resources';
import { schedulePurge } from './status-changes';
import { UPLOADABLE_STATUSES, type BrokerCaller, type BrokerContext, type FileTransfer } from './types';

export interface ConfirmDownloadOptions {
  /** Refuse a confirmation from a recipient that never started a download (default true). */
  requireDownloadStarted?: boolean;
}

export interface ConfirmDownloadResult {
  /** False when this recipient had already confirmed (a no-op). */
  confirmed: boolean;
  transfer: FileTransfer;
}

export async function confirmDownload(ctx: BrokerContext, caller: BrokerCaller, fileTransferId: string, options: ConfirmDownloadOptions = {}): Promise<ConfirmDownloadResult> {
  const found = await requireFileTransfer(ctx.db, fileTransferId, caller, 'Recipient');
  const resource = await requireResource(ctx.db, found.resourceId);
  const result = await ctx.db.transaction(async (trx): Promise<ConfirmDownloadResult> => {
    const transfer = (await lockFileTransfer(trx, found.fileTransferId))!;
    if (UPLOADABLE_STATUSES.includes(transfer.status.status)) throw brokerError('NoFileUploaded');
    if (transfer.status.status !== 'Published') throw brokerError('FileTransferNotPublished');
    const recipient = transfer.recipients.find((r) => r.recipient === caller.partyId)!;
    if (recipient.status === 'DownloadConfirmed') return { confirmed: false, transfer };
    if ((options.requireDownloadStarted ?? true) && recipient.status !== 'DownloadStarted') throw brokerError('ConfirmDownloadBeforeDownloadStarted');

    const now = ctx.clock.now();
    await appendRecipientStatus(trx, transfer.fileTransferId, caller.partyId, 'DownloadConfirmed', now);
    await recordEvents(trx, ctx.clock, transfer, [
      { type: 'downloadconfirmed', party: caller.partyId, role: 'Recipient' },
      { type: 'downloadconfirmed', party: transfer.sender, role: 'Sender' },
    ]);
    const allConfirmed = transfer.recipients.every((r) => r.recipient === caller.partyId || r.status === 'DownloadConfirmed');
    if (allConfirmed) {
      await appendTransferStatus(trx, transfer.fileTransferId, 'AllConfirmedDownloaded', now);
      await recordEvents(trx, ctx.clock, transfer, [{ type: 'allconfirmeddownloaded', party: transfer.sender, role: 'Sender' }]);
      if (purgesAfterAllConfirmed(resource)) await schedulePurge(trx, ctx, transfer.fileTransferId, new Date(now.getTime() + gracePeriodMs(resource)));
    }
    return { confirmed: true, transfer: (await lockFileTransfer(trx, transfer.fileTransferId))! };
  });
  ctx.wakeJobs();
  return result;
}
