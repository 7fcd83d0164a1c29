/**
 * The purge that follows the last recipient's confirmation, after the resource's grace period
 * (CONTRACT §2.6, §7). Downloads stay allowed until it runs. Idempotent: a purged transfer stays so.
 */
import { lockFileTransfer, normaliseFileTransferId } from './file-transfer-store';
import { purge } from './status-changes';
import type { BrokerContext } from './types';

export async function purgeConfirmedFileTransfer(ctx: BrokerContext, fileTransferId: string): Promise<void> {
  const id = normaliseFileTransferId(fileTransferId);
  if (!id) return;
  await ctx.db.transaction(async (trx) => {
    const transfer = await lockFileTransfer(trx, id);
    if (!transfer || transfer.status.status !== 'AllConfirmedDownloaded') return;
    await purge(trx, ctx, transfer);
  });
  ctx.wakeJobs();
}
