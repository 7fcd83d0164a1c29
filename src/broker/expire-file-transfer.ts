/**
 * Expiry at `expirationTime` (CONTRACT §7), run by a job scheduled at initialize: whatever the
 * status the transfer is purged (an upload in flight is abandoned), except that one already
 * Purged is left alone, and an AllConfirmedDownloaded one on a resource that purges on
 * confirmation is left to that purge, which follows its grace period.
 */
import { lockFileTransfer, normaliseFileTransferId } from './file-transfer-store';
import { purgesAfterAllConfirmed, requireResource } from './resources';
import { purge } from './status-changes';
import { abandonAttempt } from './upload-attempts';
import type { BrokerContext } from './types';

export async function expireFileTransfer(ctx: BrokerContext, fileTransferId: string): Promise<void> {
  const id = normaliseFileTransferId(fileTransferId);
  if (!id) return;
  await ctx.db.transaction(async (trx) => {
    const transfer = await lockFileTransfer(trx, id);
    if (!transfer || transfer.status.status === 'Purged') return;
    const resource = await requireResource(trx, transfer.resourceId);
    if (transfer.status.status === 'AllConfirmedDownloaded' && purgesAfterAllConfirmed(resource)) return;
    await abandonAttempt(trx, ctx, id);
    await purge(trx, ctx, transfer);
  });
  ctx.wakeJobs();
}
