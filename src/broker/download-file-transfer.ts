/**
 * Download a transfer's bytes (CONTRACT §2.5): for a recipient, while the transfer is Published or
 * AllConfirmedDownloaded (the purge grace period). Records DownloadStarted for the recipient: every
 * whole download adds a row, ranged ones at most one per recipient per five minutes (a client
 * fetching a file in many ranges is one download).
 */
import type { Readable } from 'node:stream';
import { brokerError, BrokerError } from './errors';
import { appendRecipientStatus, lockFileTransfer, requireFileTransfer } from './file-transfer-store';
import { DOWNLOADABLE_STATUSES, type BrokerCaller, type BrokerContext, type FileTransfer } from './types';

export const RANGED_DOWNLOAD_RECORD_INTERVAL_MS = 5 * 60 * 1000;

/** A byte range as asked for, before it is checked against the size (HTTP's `bytes=` forms). */
export type RangeRequest = { start: number; end?: number } | { suffixLength: number };

export interface Download {
  transfer: FileTransfer;
  size: number;
  /** The bytes served: the whole file, or the satisfiable part of the requested range. */
  range: { start: number; end: number } | undefined;
  open(): Readable;
}

/** Resolves a range against the size; RangeNotSatisfiable (carrying the size) when it cannot be. */
export function resolveRange(range: RangeRequest, size: number): { start: number; end: number } {
  const unsatisfiable = () => new BrokerError('RangeNotSatisfiable', undefined, { size });
  if ('suffixLength' in range) {
    if (range.suffixLength <= 0 || size === 0) throw unsatisfiable();
    return { start: Math.max(0, size - range.suffixLength), end: size - 1 };
  }
  if (range.start >= size || (range.end !== undefined && range.end < range.start)) throw unsatisfiable();
  return { start: range.start, end: Math.min(range.end ?? size - 1, size - 1) };
}

export interface DownloadOptions {
  range?: RangeRequest;
  /**
   * Runs once the download is allowed and before it is recorded: a door that serves the bytes
   * transformed (the Altinn 2 manifest shim) refuses here a file it cannot serve, so that a
   * download that never started is not recorded as DownloadStarted.
   */
  beforeRecording?(transfer: FileTransfer): Promise<void>;
}

export async function downloadFileTransfer(ctx: BrokerContext, caller: BrokerCaller, fileTransferId: string, options: DownloadOptions = {}): Promise<Download> {
  const transfer = await requireFileTransfer(ctx.db, fileTransferId, caller, 'Recipient');
  if (!DOWNLOADABLE_STATUSES.includes(transfer.status.status)) throw brokerError('FileTransferNotAvailable');
  if (!transfer.blobKey) throw brokerError('NoFileUploaded');
  const size = transfer.fileTransferSize;
  const range = options.range ? resolveRange(options.range, size) : undefined;
  await options.beforeRecording?.(transfer);
  await recordDownloadStarted(ctx, transfer, caller, range !== undefined);
  const blobKey = transfer.blobKey;
  return { transfer, size, range, open: () => ctx.blobs.open(blobKey, range) };
}

async function recordDownloadStarted(ctx: BrokerContext, transfer: FileTransfer, caller: BrokerCaller, ranged: boolean): Promise<void> {
  await ctx.db.transaction(async (trx) => {
    const current = await lockFileTransfer(trx, transfer.fileTransferId);
    if (!current) return;
    const now = ctx.clock.now();
    if (ranged) {
      const recent = await trx('broker_recipient_statuses')
        .where({ file_transfer_id: transfer.fileTransferId, recipient: caller.partyId, status: 'DownloadStarted' })
        .where('changed_at', '>', new Date(now.getTime() - RANGED_DOWNLOAD_RECORD_INTERVAL_MS))
        .first('id');
      if (recent) return;
    }
    await appendRecipientStatus(trx, transfer.fileTransferId, caller.partyId, 'DownloadStarted', now);
  });
}
