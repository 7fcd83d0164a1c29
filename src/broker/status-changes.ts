/**
 * What each status change brings with it (events, jobs, the bytes' fate), written once for every
 * path that reaches it. Each runs inside the caller's transaction, which holds the transfer's row
 * lock; blobs are never deleted inside a transaction but by a job the transaction enqueues, so a
 * rollback keeps them and a crash after the commit still deletes them.
 */
import type { Knex } from 'knex';
import { enqueueJob } from '../jobs/queue';
import { recordEvents, type EventToRecord } from './events';
import { appendTransferStatus } from './file-transfer-store';
import { DELETE_BLOB_JOB, PURGE_JOB } from './job-kinds';
import type { BrokerContext, FileTransfer } from './types';

/** Published: downloadable from now on; the sender and every recipient are told. */
export async function publish(trx: Knex.Transaction, ctx: BrokerContext, transfer: FileTransfer): Promise<void> {
  const now = ctx.clock.now();
  await appendTransferStatus(trx, transfer.fileTransferId, 'Published', now, null, { published_at: now });
  await recordEvents(trx, ctx.clock, transfer, [
    { type: 'published', party: transfer.sender, role: 'Sender' },
    ...transfer.recipients.map<EventToRecord>((r) => ({ type: 'published', party: r.recipient, role: 'Recipient' })),
  ]);
}

/** Failed with a reason; the bytes (if any) are deleted, the metadata stays until expiry. */
export async function fail(trx: Knex.Transaction, ctx: BrokerContext, transfer: FileTransfer, text: string, blobKey: string | null = transfer.blobKey): Promise<void> {
  await appendTransferStatus(trx, transfer.fileTransferId, 'Failed', ctx.clock.now(), text, { blob_key: null });
  if (blobKey) await deleteBlobLater(trx, ctx, blobKey);
  await recordEvents(trx, ctx.clock, transfer, [{ type: 'uploadfailed', party: transfer.sender, role: 'Sender' }]);
}

/** Deletes a blob once the transaction has committed (idempotent; retried until it succeeds). */
export async function deleteBlobLater(trx: Knex.Transaction, ctx: BrokerContext, blobKey: string): Promise<void> {
  await enqueueJob(trx, ctx.clock, { kind: DELETE_BLOB_JOB, payload: { blobKey }, key: `${DELETE_BLOB_JOB}:${blobKey}` });
}

/**
 * Purged: the bytes go, the metadata stays readable. `filepurged` to the sender, then
 * `fileneverconfirmeddownloaded` to each recipient that never confirmed and, if there were any,
 * once to the sender (CONTRACT §7).
 */
export async function purge(trx: Knex.Transaction, ctx: BrokerContext, transfer: FileTransfer): Promise<void> {
  await appendTransferStatus(trx, transfer.fileTransferId, 'Purged', ctx.clock.now(), null, { blob_key: null });
  if (transfer.blobKey) await deleteBlobLater(trx, ctx, transfer.blobKey);
  const unconfirmed = transfer.recipients.filter((r) => r.status !== 'DownloadConfirmed');
  await recordEvents(trx, ctx.clock, transfer, [
    { type: 'filepurged', party: transfer.sender, role: 'Sender' },
    ...unconfirmed.map<EventToRecord>((r) => ({ type: 'fileneverconfirmeddownloaded', party: r.recipient, role: 'Recipient' })),
    ...(unconfirmed.length > 0 ? [{ type: 'fileneverconfirmeddownloaded', party: transfer.sender, role: 'Sender' } as EventToRecord] : []),
  ]);
}

/** The purge that follows the last confirmation, after the resource's grace period. */
export async function schedulePurge(trx: Knex.Transaction, ctx: BrokerContext, fileTransferId: string, runAt: Date): Promise<void> {
  await enqueueJob(trx, ctx.clock, { kind: PURGE_JOB, payload: { fileTransferId }, key: `${PURGE_JOB}:${fileTransferId}`, runAt });
}
