/**
 * The life of an upload attempt, shared by the streamed upload (upload-file-transfer.ts) and the
 * resumable one (TUS): starting it (UploadStarted), attaching its stored bytes (then Published,
 * UploadProcessing while a scan or checksum check runs, or Failed), and failing it.
 *
 * An attempt is named by a token on the transfer row (`blob:<key>` or `tus:<uploadId>`). Only the
 * current attempt may attach its bytes: a racing or stale attempt loses (409) and its bytes are
 * deleted; a new attempt discards the bytes of the one it replaces.
 */
import type { Knex } from 'knex';
import { enqueueJob } from '../jobs/queue';
import { isDeadLocalOwner, PROCESS_OWNER } from '../process-identity';
import { brokerError } from './errors';
import { recordEvents } from './events';
import { appendTransferStatus, lockFileTransferWithAttempt } from './file-transfer-store';
import { ABORT_UPLOAD_JOB, PROCESS_UPLOAD_JOB } from './job-kinds';
import { deleteBlobLater, fail, publish } from './status-changes';
import { STATUS_TEXTS, UPLOADABLE_STATUSES, type BrokerContext, type BrokerResource, type FileTransfer, type FileTransferStatus } from './types';

/** The most bytes a transfer on this resource may hold. */
export function maxFileTransferSize(ctx: BrokerContext, resource: BrokerResource, useVirusScan: boolean): number {
  const configured = resource.maxFileTransferSize ?? ctx.settings.defaultMaxFileTransferSize;
  return useVirusScan ? Math.min(configured, ctx.settings.maxVirusScanFileTransferSize) : configured;
}

/** The lease columns of an attempt this process streams now. */
function attemptLease(ctx: BrokerContext) {
  return { upload_attempt_owner: PROCESS_OWNER, upload_attempt_expires_at: new Date(ctx.clock.now().getTime() + ctx.settings.uploadAttemptLeaseMs) };
}

const NO_ATTEMPT = { upload_attempt: null, upload_attempt_owner: null, upload_attempt_expires_at: null } as const;

/** While the bytes flow: extends the attempt's lease (false when the attempt is no longer current). */
export async function renewUploadAttempt(ctx: BrokerContext, fileTransferId: string, attempt: string): Promise<boolean> {
  const renewed = await ctx.db('broker_file_transfers').where({ id: fileTransferId, upload_attempt: attempt }).update(attemptLease(ctx));
  return renewed > 0;
}

/**
 * Streamed attempts whose process died (a crash, kill -9: known at once on this host) or whose
 * lease ran out are abandoned: their bytes are deleted and the transfer, still UploadStarted, takes
 * a new upload. Run at start and by the periodic sweep; returns how many were abandoned.
 */
export async function abandonDeadUploadAttempts(ctx: BrokerContext): Promise<number> {
  const now = ctx.clock.now();
  const candidates: { id: string; upload_attempt: string; upload_attempt_owner: string | null; upload_attempt_expires_at: Date | null }[] = await ctx
    .db('broker_file_transfers')
    .where('status', 'UploadStarted')
    .where('upload_attempt', 'like', 'blob:%')
    .select('id', 'upload_attempt', 'upload_attempt_owner', 'upload_attempt_expires_at');
  let abandoned = 0;
  for (const candidate of candidates) {
    const expired = candidate.upload_attempt_expires_at !== null && new Date(candidate.upload_attempt_expires_at).getTime() < now.getTime();
    if (!expired && !isDeadLocalOwner(candidate.upload_attempt_owner)) continue;
    abandoned += await ctx.db.transaction(async (trx) => {
      const locked = await lockFileTransferWithAttempt(trx, candidate.id);
      if (!locked || locked.transfer.status.status !== 'UploadStarted' || locked.uploadAttempt !== candidate.upload_attempt) return 0;
      await trx('broker_file_transfers').where({ id: candidate.id }).update(NO_ATTEMPT);
      await discardAttempt(trx, ctx, candidate.id, candidate.upload_attempt);
      return 1;
    });
  }
  if (abandoned > 0) {
    ctx.log.warn({ abandoned }, 'abandoned streamed uploads whose process is gone; their bytes are deleted');
    ctx.wakeJobs();
  }
  return abandoned;
}

async function currentAttempt(trx: Knex.Transaction, fileTransferId: string): Promise<string | null> {
  const row = await trx('broker_file_transfers').where({ id: fileTransferId }).first<{ upload_attempt: string | null } | undefined>('upload_attempt');
  return row?.upload_attempt ?? null;
}

/** Whatever bytes an abandoned attempt left are deleted after the commit. */
async function discardAttempt(trx: Knex.Transaction, ctx: BrokerContext, fileTransferId: string, attempt: string | null): Promise<void> {
  if (!attempt) return;
  if (attempt.startsWith('blob:')) {
    await deleteBlobLater(trx, ctx, attempt.slice('blob:'.length));
  } else if (attempt.startsWith('tus:')) {
    await enqueueJob(trx, ctx.clock, { kind: ABORT_UPLOAD_JOB, payload: { fileTransferId }, key: `${ABORT_UPLOAD_JOB}:${fileTransferId}` });
  }
}

/**
 * Makes `attempt` the transfer's current upload attempt, the previous attempt's bytes discarded.
 * A streamed upload records UploadStarted on every attempt, a resumable one only the first time
 * (as Altinn). FileTransferAlreadyUploaded once the transfer is past UploadStarted.
 */
export async function startUploadAttempt(
  ctx: BrokerContext,
  fileTransferId: string,
  attempt: string,
  options: { recordEveryAttempt: boolean; fileName?: string },
): Promise<void> {
  await ctx.db.transaction(async (trx) => {
    const locked = await lockFileTransferWithAttempt(trx, fileTransferId);
    if (!locked) throw brokerError('FileTransferNotFound');
    const { transfer, uploadAttempt: previous } = locked;
    if (!UPLOADABLE_STATUSES.includes(transfer.status.status)) throw brokerError('FileTransferAlreadyUploaded');
    if (previous !== attempt) await discardAttempt(trx, ctx, fileTransferId, previous);
    const started = { upload_attempt: attempt, ...attemptLease(ctx), ...(options.fileName !== undefined && { file_name: options.fileName }) };
    if (transfer.status.status === 'Initialized' || options.recordEveryAttempt) await appendTransferStatus(trx, fileTransferId, 'UploadStarted', ctx.clock.now(), null, started);
    else await trx('broker_file_transfers').where({ id: fileTransferId }).update(started);
  });
  ctx.wakeJobs();
}

export interface UploadedBytes {
  key: string;
  sizeBytes: number;
  /** Known when hashed while streaming; null when the bytes arrived in pieces (TUS) and are hashed later. */
  md5: string | null;
  sha256: string | null;
}

/**
 * Attaches stored bytes to the transfer if `attempt` is still its current upload attempt. With the
 * MD5 known it is compared now (mismatch → Failed, ChecksumMismatch); the transfer is Published at
 * once unless a virus scan (or a deferred MD5 check) must run first (UploadProcessing + a job).
 */
export async function attachUploadedBytes(ctx: BrokerContext, fileTransferId: string, attempt: string, bytes: UploadedBytes): Promise<FileTransferStatus> {
  const outcome = await ctx.db.transaction(async (trx): Promise<FileTransferStatus | 'lost' | 'mismatch'> => {
    const locked = await lockFileTransferWithAttempt(trx, fileTransferId);
    if (!locked || !UPLOADABLE_STATUSES.includes(locked.transfer.status.status) || locked.uploadAttempt !== attempt) {
      await deleteBlobLater(trx, ctx, bytes.key);
      return 'lost';
    }
    const { transfer } = locked;
    if (bytes.md5 !== null && transfer.checksumGiven && bytes.md5 !== transfer.checksum?.toLowerCase()) {
      await trx('broker_file_transfers').where({ id: fileTransferId }).update(NO_ATTEMPT);
      await fail(trx, ctx, transfer, STATUS_TEXTS.checksumMismatch, bytes.key);
      return 'mismatch';
    }
    const attached: FileTransfer = { ...transfer, blobKey: bytes.key, fileTransferSize: bytes.sizeBytes, sha256: bytes.sha256 };
    await trx('broker_file_transfers')
      .where({ id: fileTransferId })
      .update({
        ...NO_ATTEMPT,
        blob_key: bytes.key,
        size_bytes: bytes.sizeBytes,
        sha256: bytes.sha256,
        ...(!transfer.checksumGiven && bytes.md5 !== null && { checksum: bytes.md5 }),
      });
    const hashesPending = bytes.md5 === null || bytes.sha256 === null;
    if (transfer.useVirusScan || (hashesPending && transfer.checksumGiven)) {
      await appendTransferStatus(trx, fileTransferId, 'UploadProcessing', ctx.clock.now());
      await recordEvents(trx, ctx.clock, transfer, [{ type: 'uploadprocessing', party: transfer.sender, role: 'Sender' }]);
      await enqueueProcessing(trx, ctx, fileTransferId);
      return 'UploadProcessing';
    }
    await publish(trx, ctx, attached);
    // No check is waiting on them, but the hashes are still filled in (as Altinn fills in the MD5).
    if (hashesPending) await enqueueProcessing(trx, ctx, fileTransferId);
    return 'Published';
  });
  ctx.wakeJobs();
  if (outcome === 'lost') throw brokerError('FileTransferAlreadyUploaded');
  if (outcome === 'mismatch') throw brokerError('ChecksumMismatch');
  return outcome;
}

export async function enqueueProcessing(trx: Knex.Transaction, ctx: BrokerContext, fileTransferId: string): Promise<void> {
  await enqueueJob(trx, ctx.clock, { kind: PROCESS_UPLOAD_JOB, payload: { fileTransferId }, key: `${PROCESS_UPLOAD_JOB}:${fileTransferId}` });
}

/** The current attempt broke mid-stream: the transfer fails ("Error occurred while uploading fileTransfer"). */
export async function failCurrentAttempt(ctx: BrokerContext, fileTransferId: string, attempt: string): Promise<void> {
  await ctx.db.transaction(async (trx) => {
    const locked = await lockFileTransferWithAttempt(trx, fileTransferId);
    if (!locked || !UPLOADABLE_STATUSES.includes(locked.transfer.status.status) || locked.uploadAttempt !== attempt) return;
    await trx('broker_file_transfers').where({ id: fileTransferId }).update(NO_ATTEMPT);
    await discardAttempt(trx, ctx, fileTransferId, attempt);
    await fail(trx, ctx, locked.transfer, STATUS_TEXTS.uploadError, null);
  });
  ctx.wakeJobs();
}

/** For the stuck-upload sweep: the attempt a transfer is waiting on, so its bytes can be discarded. */
export async function abandonAttempt(trx: Knex.Transaction, ctx: BrokerContext, fileTransferId: string): Promise<void> {
  const attempt = await currentAttempt(trx, fileTransferId);
  await trx('broker_file_transfers').where({ id: fileTransferId }).update(NO_ATTEMPT);
  await discardAttempt(trx, ctx, fileTransferId, attempt);
}
