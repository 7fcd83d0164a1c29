/**
 * Stuck uploads (CONTRACT §3): a transfer more than 24 hours in UploadStarted, with no resumable
 * upload activity in the last hour, failed mid-request (its sender's connection or our process
 * died). It becomes Failed, the sender is told, and whatever bytes its attempt left are deleted.
 * Run periodically by a job.
 */
import { lockFileTransfer } from './file-transfer-store';
import { fail } from './status-changes';
import { abandonAttempt } from './upload-attempts';
import { STATUS_TEXTS, type BrokerContext } from './types';

export const STUCK_AFTER_MS = 24 * 60 * 60 * 1000;
export const RECENT_UPLOAD_ACTIVITY_MS = 60 * 60 * 1000;
const BATCH = 100;

/** Fails every stuck transfer; returns how many. */
export async function failStuckUploads(ctx: BrokerContext): Promise<number> {
  const now = ctx.clock.now().getTime();
  let failed = 0;
  for (;;) {
    const candidates: string[] = await ctx.db('broker_file_transfers as t')
      .where('t.status', 'UploadStarted')
      .where('t.status_changed_at', '<', new Date(now - STUCK_AFTER_MS))
      .whereNotExists(
        ctx.db('broker_uploads as u')
          .select(ctx.db.raw('1'))
          .whereRaw('u.file_transfer_id = t.id')
          .where('u.last_activity_at', '>=', new Date(now - RECENT_UPLOAD_ACTIVITY_MS)),
      )
      .orderBy('t.status_changed_at')
      .limit(BATCH)
      .pluck('t.id');
    for (const id of candidates) {
      const changed = await ctx.db.transaction(async (trx) => {
        const transfer = await lockFileTransfer(trx, id);
        if (!transfer || transfer.status.status !== 'UploadStarted') return false;
        await abandonAttempt(trx, ctx, id);
        await fail(trx, ctx, transfer, STATUS_TEXTS.stuckUpload, null);
        return true;
      });
      if (changed) failed++;
    }
    if (candidates.length < BATCH) break;
  }
  if (failed > 0) ctx.wakeJobs();
  return failed;
}
