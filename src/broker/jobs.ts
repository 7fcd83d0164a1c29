/**
 * The broker's background work, as job handlers for the JobRunner (src/jobs/): upload processing
 * (scan, hashes, publish), expiry, the purge after confirmation, the periodic stuck-upload sweep,
 * deferred blob deletion, abandoned resumable uploads, and webhook delivery. Every handler is
 * idempotent (it reads the current state and does nothing when there is nothing to do).
 */
import type { Knex } from 'knex';
import { enqueueJob, type JobHandler, type JobKindOptions } from '../jobs/queue';
import { expireFileTransfer } from './expire-file-transfer';
import { failStuckUploads } from './fail-stuck-uploads';
import { ABORT_UPLOAD_JOB, COMPOSE_UPLOAD_JOB, DELETE_BLOB_JOB, EXPIRE_JOB, PROCESS_UPLOAD_JOB, PURGE_JOB, STUCK_UPLOADS_JOB } from './job-kinds';
import { processUpload } from './process-upload';
import { abandonDeadUploadAttempts } from './upload-attempts';
import { purgeConfirmedFileTransfer } from './purge-file-transfer';
import { abortResumableUploads, composeFinalUpload, expireResumableUploads } from './resumable-upload';
import type { BrokerContext } from './types';
import { WEBHOOK_DELIVERY_JOB } from './events';
import { deliverWebhook } from './webhooks';

/** How often the stuck-upload sweep runs. */
export const STUCK_UPLOADS_INTERVAL_MS = 30 * 60 * 1000;

type Handlers = Record<string, JobHandler | ({ handler: JobHandler } & JobKindOptions)>;

const transferId = (payload: Record<string, unknown>) => String(payload.fileTransferId);

export function brokerJobHandlers(ctx: BrokerContext): Handlers {
  return {
    [PROCESS_UPLOAD_JOB]: {
      handler: async (payload, job) => processUpload(ctx, transferId(payload), job),
      // A 10 GB scan takes minutes; the lease is renewed while it runs.
      leaseMs: 5 * 60_000,
      backoff: { baseMs: 5_000, maxMs: 15 * 60_000 },
    },
    [EXPIRE_JOB]: async (payload) => expireFileTransfer(ctx, transferId(payload)),
    [PURGE_JOB]: async (payload) => purgeConfirmedFileTransfer(ctx, transferId(payload)),
    [STUCK_UPLOADS_JOB]: async () => {
      await abandonDeadUploadAttempts(ctx);
      const failed = await failStuckUploads(ctx);
      if (failed > 0) ctx.log.info({ failed }, 'stuck broker uploads failed');
      await expireResumableUploads(ctx);
      await scheduleStuckUploadSweep(ctx.db, ctx, new Date(ctx.clock.now().getTime() + STUCK_UPLOADS_INTERVAL_MS));
    },
    [DELETE_BLOB_JOB]: async (payload) => ctx.blobs.delete(String(payload.blobKey)),
    [ABORT_UPLOAD_JOB]: async (payload) => abortResumableUploads(ctx, transferId(payload)),
    // Copies every byte of the partials once (hashing them): minutes for many gigabytes.
    [COMPOSE_UPLOAD_JOB]: { handler: async (payload) => composeFinalUpload(ctx, String(payload.uploadId)), leaseMs: 5 * 60_000, maxAttempts: 10 },
    [WEBHOOK_DELIVERY_JOB]: { handler: async (payload, job) => deliverWebhook(ctx, String(payload.webhookId), { signal: job.signal }), leaseMs: 2 * 60_000 },
  };
}

/** The sweep reschedules itself; this starts the chain (a no-op while one is pending). */
export async function scheduleStuckUploadSweep(db: Knex | Knex.Transaction, ctx: Pick<BrokerContext, 'clock'>, runAt?: Date): Promise<void> {
  await enqueueJob(db, ctx.clock, { kind: STUCK_UPLOADS_JOB, key: STUCK_UPLOADS_JOB, ...(runAt && { runAt }) });
}
