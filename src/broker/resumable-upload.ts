/**
 * Resumable uploads of a transfer's bytes (TUS 1.0, CONTRACT §5): creating an upload, writing it
 * chunk by chunk at the offset the database holds, completing it into a blob and attaching that
 * to the transfer, concatenating partial uploads (parallel clients), termination and expiration.
 * The Altinn 3 door (src/services/broker-api/tus.ts) only translates headers to these calls.
 *
 * - The database is the authority on an upload's offset (`broker_uploads.upload_offset`): a chunk
 *   streams into the blob store (durable when writeUploadPart resolves) with no transaction open,
 *   then a short transaction records the part and moves the offset. A chunk that broke, failed its
 *   checksum or lost its lease is never recorded, and the next write at that offset replaces it.
 * - A writer holds a lease on the upload row (`lease_token`, `lease_until`, renewed while it
 *   streams): of two concurrent writes one wins, the other is told the upload is busy.
 * - Upload attempts (upload-attempts.ts): a single upload is the attempt `tus:<uploadId>`. The
 *   partial uploads of a parallel client (and their final) share `tus:concat`, since they arrive
 *   together and none may discard its siblings. Uploads of an attempt that was replaced are
 *   aborted by the ABORT_UPLOAD_JOB (abortResumableUploads).
 * - Chunks are not hashed (unless the client sends `Upload-Checksum`, verified per chunk): a
 *   completed single upload is attached without MD5 and SHA-256, and the processing job computes
 *   them from the stored blob, in the same read as the malware scan when there is one. That is
 *   Altinn's order too (CONTRACT §4-5: a TUS upload's MD5 is checked after completion, and without
 *   a check or a scan the transfer is Published at once and its MD5 filled in afterwards). The
 *   upload never waits for hashing: on a server whose cores are busy receiving, hashing every chunk
 *   on the way cost tus-js-client's uploads a fifth to a third of their throughput
 *   (bench/PROFILE-NOTES.md), and it is the same on every gateway process a chunk may reach. A final
 *   (concatenated) upload is composed by COMPOSE_UPLOAD_JOB, which hashes on the way, so the client
 *   does not wait for a copy of many gigabytes.
 * - Incomplete uploads expire 24 hours after their last write (sliding, as tusdotnet): the
 *   periodic sweep (expireResumableUploads) deletes their bytes and rows.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Knex } from 'knex';
import { enqueueJob } from '../jobs/queue';
import { BlobTooLargeError, holdingSourceErrors, type BlobStore } from '../storage/blob-store';
import { brokerError, isBrokerError } from './errors';
import { lockFileTransferWithAttempt, normaliseFileTransferId, requireFileTransferWithAttempt } from './file-transfer-store';
import { COMPOSE_UPLOAD_JOB } from './job-kinds';
import { requireResource } from './resources';
import { deleteBlobLater } from './status-changes';
import { attachUploadedBytes, failCurrentAttempt, maxFileTransferSize, startUploadAttempt, type UploadedBytes } from './upload-attempts';
import { UPLOADABLE_STATUSES, type BrokerCaller, type BrokerContext, type FileTransfer } from './types';

/** An incomplete upload expires this long after its last write (sliding). */
export const UPLOAD_EXPIRATION_MS = 24 * 60 * 60 * 1000;
/** A completed single upload's sums: computed by the processing job, from the stored blob. */
const NOT_HASHED = { md5: null, sha256: null } as const;
/** A writer's hold on an upload; renewed every third of it while the chunk streams. */
export const UPLOAD_LEASE_MS = 30_000;
/** The attempt shared by the partial uploads of a transfer and the final that concatenates them. */
export const CONCAT_ATTEMPT = 'tus:concat';

export type ResumableUploadKind = 'single' | 'partial' | 'final';

export interface ResumableUpload {
  uploadId: string;
  fileTransferId: string;
  kind: ResumableUploadKind;
  uploadLength: number;
  uploadOffset: number;
  /** For a final upload: its partial uploads, in order; otherwise empty. */
  partialIds: string[];
  /** When an incomplete upload expires (24 h after its last write); null once complete. */
  expiresAt: Date | null;
}

/** Which upload of a transfer a request names: its partial upload by id, or else its main upload. */
export interface UploadRef {
  fileTransferId: string;
  /** A partial upload's id (a UUID); absent: the transfer's single or final upload. */
  partialId?: string;
}

/** Refusals of the resumable-upload protocol itself (the transfer's own rules are BrokerErrors). */
export type ResumableUploadErrorReason =
  | 'UploadNotFound'
  | 'OffsetMismatch'
  | 'UploadLocked'
  | 'ChunkExceedsLength'
  | 'ChunkChecksumMismatch'
  | 'FinalUploadNotWritable'
  | 'PartialUploadsNotFound'
  | 'PartialUploadsIncomplete';

export class ResumableUploadError extends Error {
  constructor(
    readonly reason: ResumableUploadErrorReason,
    message: string,
  ) {
    super(message);
    this.name = 'ResumableUploadError';
  }
}

const uploadNotFound = () => new ResumableUploadError('UploadNotFound', 'Upload not found');
const uploadLocked = (uploadId: string) => new ResumableUploadError('UploadLocked', `File ${uploadId} is currently being updated. Please try again later`);
const offsetMismatch = (stored: number, requested: number) =>
  new ResumableUploadError('OffsetMismatch', `Offset does not match file. File offset: ${stored}. Request offset: ${requested}`);

interface UploadRow {
  id: string;
  file_transfer_id: string;
  kind: ResumableUploadKind;
  upload_key: string | null;
  upload_length: number | string;
  upload_offset: number | string;
  lease_token: string | null;
  lease_until: Date | null;
  partial_ids: string[] | string | null;
  created_at: Date;
  last_activity_at: Date;
  expires_at: Date;
  completed_at: Date | null;
  blob_key: string | null;
}

interface PartRow {
  part_number: number;
  offset: number | string;
  size_bytes: number | string;
  etag: string;
}

/** The transfer's state that decides which of its uploads still count. */
interface TransferUploadState {
  transfer: FileTransfer;
  attempt: string | null;
}

const lengthOf = (row: UploadRow) => Number(row.upload_length);
const offsetOf = (row: UploadRow) => Number(row.upload_offset);
const partialIdsOf = (row: UploadRow): string[] => (row.partial_ids === null ? [] : typeof row.partial_ids === 'string' ? (JSON.parse(row.partial_ids) as string[]) : row.partial_ids);
/** A single upload's attempt is this followed by the upload's id. */
const SINGLE_ATTEMPT_PREFIX = 'tus:';
const attemptOf = (row: Pick<UploadRow, 'id' | 'kind'>) => (row.kind === 'single' ? `${SINGLE_ATTEMPT_PREFIX}${row.id}` : CONCAT_ATTEMPT);
/** The single upload an attempt names (attemptOf's inverse), if it names one. */
const singleUploadOf = (attempt: string | null) =>
  attempt?.startsWith(SINGLE_ATTEMPT_PREFIX) && attempt !== CONCAT_ATTEMPT ? attempt.slice(SINGLE_ATTEMPT_PREFIX.length) : undefined;
const expiryAfter = (at: Date) => new Date(at.getTime() + UPLOAD_EXPIRATION_MS);

function toUpload(row: UploadRow): ResumableUpload {
  const complete = offsetOf(row) === lengthOf(row);
  return {
    uploadId: row.id,
    fileTransferId: row.file_transfer_id,
    kind: row.kind,
    uploadLength: lengthOf(row),
    uploadOffset: offsetOf(row),
    partialIds: partialIdsOf(row),
    expiresAt: complete ? null : new Date(row.expires_at),
  };
}

/** Whether the row belongs to the transfer's current upload attempt (and may still be written). */
function isCurrent(row: Pick<UploadRow, 'id' | 'kind'>, state: TransferUploadState): boolean {
  return UPLOADABLE_STATUSES.includes(state.transfer.status.status) && state.attempt === attemptOf(row);
}

function isExpired(ctx: BrokerContext, row: UploadRow): boolean {
  return row.completed_at === null && new Date(row.expires_at).getTime() <= ctx.clock.now().getTime();
}

async function loadUploadState(ctx: BrokerContext, caller: BrokerCaller, fileTransferId: string): Promise<TransferUploadState> {
  const { transfer, uploadAttempt } = await requireFileTransferWithAttempt(ctx.db, fileTransferId, caller, 'Sender');
  return { transfer, attempt: uploadAttempt };
}

/**
 * The upload a request names. The main upload of a transfer (its URL is the transfer's) is the one
 * of its current attempt, else the one whose blob the transfer holds, else its latest.
 */
async function resolveUpload(ctx: BrokerContext, state: TransferUploadState, ref: UploadRef): Promise<UploadRow> {
  const fileTransferId = state.transfer.fileTransferId;
  let row: UploadRow | undefined;
  if (ref.partialId !== undefined) {
    row = await ctx.db<UploadRow>('broker_uploads').where({ id: ref.partialId.toLowerCase(), file_transfer_id: fileTransferId, kind: 'partial' }).first();
  } else {
    const main = () => ctx.db<UploadRow>('broker_uploads').where({ file_transfer_id: fileTransferId }).whereIn('kind', ['single', 'final']);
    const single = singleUploadOf(state.attempt);
    if (single !== undefined) row = await main().where({ id: single }).first();
    else if (state.attempt === CONCAT_ATTEMPT) row = await main().where({ kind: 'final' }).orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id' }]).first();
    if (!row && state.transfer.blobKey) row = await main().where({ blob_key: state.transfer.blobKey }).first();
    if (!row && state.attempt === null) row = await main().orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id' }]).first();
  }
  // An incomplete upload that expired, or that a newer attempt replaced, is gone for the client.
  if (!row || isExpired(ctx, row) || (offsetOf(row) < lengthOf(row) && !isCurrent(row, state))) throw uploadNotFound();
  return row;
}

function requireUploadable(transfer: FileTransfer): void {
  if (!UPLOADABLE_STATUSES.includes(transfer.status.status)) throw brokerError('FileTransferAlreadyUploaded');
}

async function requireSizeAllowed(ctx: BrokerContext, transfer: FileTransfer, size: number): Promise<void> {
  const resource = await requireResource(ctx.db, transfer.resourceId);
  if (size > maxFileTransferSize(ctx, resource, transfer.useVirusScan)) throw brokerError('FileSizeTooBig');
}

// ---------------------------------------------------------------------------------------------
// Leases

/** Takes the upload's lease if no one holds it. An incomplete upload that has expired cannot be leased any more. */
async function acquireLease(ctx: BrokerContext, uploadId: string): Promise<string | undefined> {
  const token = randomUUID();
  const updated = await leasable(ctx).where({ id: uploadId }).update(leaseTaken(ctx, token));
  return updated === 1 ? token : undefined;
}

interface WriteLease {
  /** The upload row as the lease found it. */
  row: UploadRow;
  lease: string;
  /** The number the chunk's part will have. */
  partNumber: number;
}

/**
 * acquireLease for writing the chunk at `offset` (the stored offset must still be that) on the one
 * upload that `which` narrows the leasable ones to, also answering the row and the number the
 * chunk's part will have, in the same statement.
 */
async function acquireWriteLease(ctx: BrokerContext, offset: number, which: (uploads: Knex.QueryBuilder) => Knex.QueryBuilder): Promise<WriteLease | undefined> {
  const token = randomUUID();
  const partCount = ctx.db.raw('(SELECT count(*) FROM broker_upload_parts WHERE broker_upload_parts.upload_id = broker_uploads.id) AS part_count');
  const [taken] = await which(leasable(ctx).where({ upload_offset: offset }))
    .update(leaseTaken(ctx, token))
    .returning<(UploadRow & { part_count: number | string })[]>(['*', partCount as unknown as string]);
  if (!taken) return undefined;
  const { part_count: partsBefore, ...row } = taken;
  return { row, lease: token, partNumber: Number(partsBefore) + 1 };
}

/**
 * The usual chunk in one statement, before the transfer is loaded: the upload the transfer's
 * current attempt names (a single upload's id is in the attempt; a partial one's in the URL),
 * leased at the stored offset if the chunk fits in its length, and only while the caller is the
 * transfer's sender and the transfer takes uploads: requireFileTransferWithAttempt(…, 'Sender')
 * and isCurrent, asked of the rows themselves. Each statement before the body costs a chunk its
 * round trip while the client waits (bench/PROFILE-NOTES.md). Undefined when anything is not so:
 * writeResumableUpload then loads the transfer, resolves the upload and says what is wrong (or
 * takes the lease the long way after all).
 */
async function leaseCurrentUpload(ctx: BrokerContext, caller: BrokerCaller, ref: UploadRef, request: WriteChunkRequest): Promise<WriteLease | undefined> {
  const fileTransferId = normaliseFileTransferId(ref.fileTransferId);
  const partialId = ref.partialId?.toLowerCase();
  if (!fileTransferId) return undefined;
  const kind: ResumableUploadKind = partialId ? 'partial' : 'single';
  const attempt = partialId ? ctx.db.raw('?::text', [CONCAT_ATTEMPT]) : ctx.db.raw('?::text || broker_uploads.id::text', [SINGLE_ATTEMPT_PREFIX]);
  const transferTakesIt = ctx
    .db('broker_file_transfers')
    .select(ctx.db.raw('1'))
    .where({ id: fileTransferId, sender: caller.partyId })
    .whereIn('status', UPLOADABLE_STATUSES)
    .where('upload_attempt', attempt)
    .whereRaw('broker_file_transfers.id = broker_uploads.file_transfer_id');
  const end = request.offset + (request.contentLength ?? 0);
  return acquireWriteLease(ctx, request.offset, (uploads) =>
    uploads
      .where({ file_transfer_id: fileTransferId, kind, ...(partialId !== undefined && { id: partialId }) })
      .where('upload_length', '>', request.offset)
      .where('upload_length', '>=', end)
      .whereExists(transferTakesIt),
  );
}

/** Uploads no one holds the lease of, and that have not expired unfinished (the sweep may be deleting those). */
function leasable(ctx: BrokerContext): Knex.QueryBuilder {
  const now = ctx.clock.now();
  return ctx
    .db('broker_uploads')
    .where((free) => free.whereNull('lease_until').orWhere('lease_until', '<=', now))
    .where((alive) => alive.whereNotNull('completed_at').orWhere('expires_at', '>', now));
}

function leaseTaken(ctx: BrokerContext, token: string): { lease_token: string; lease_until: Date } {
  return { lease_token: token, lease_until: new Date(ctx.clock.now().getTime() + UPLOAD_LEASE_MS) };
}

async function releaseLease(ctx: BrokerContext, uploadId: string, token: string): Promise<void> {
  await ctx.db('broker_uploads').where({ id: uploadId, lease_token: token }).update({ lease_token: null, lease_until: null });
}

/** Renews a lease while a chunk streams; a lost lease stops the stream (the other writer wins). */
function keepLease(ctx: BrokerContext, uploadId: string, token: string, body: Readable): { stop(): void; lost(): Error | undefined } {
  let lostError: Error | undefined;
  const timer = setInterval(() => {
    const until = new Date(ctx.clock.now().getTime() + UPLOAD_LEASE_MS);
    ctx
      .db('broker_uploads')
      .where({ id: uploadId, lease_token: token })
      .update({ lease_until: until })
      .then(
        (updated: number) => {
          if (updated === 1 || lostError) return;
          lostError = uploadLocked(uploadId);
          body.destroy(lostError);
        },
        (error: unknown) => ctx.log.warn({ err: error, uploadId }, 'could not renew the lease of a resumable upload'),
      );
  }, UPLOAD_LEASE_MS / 3);
  timer.unref();
  return { stop: () => clearInterval(timer), lost: () => lostError };
}

// ---------------------------------------------------------------------------------------------
// Creation

export interface CreateUploadRequest {
  kind: 'single' | 'partial';
  uploadLength: number;
}

/**
 * Creates an upload of the transfer (TUS POST): UploadStarted the first time, the upload attempt
 * recorded (a new single upload replaces whatever upload came before it). An empty upload is
 * complete at once.
 */
export async function createResumableUpload(ctx: BrokerContext, caller: BrokerCaller, fileTransferId: string, request: CreateUploadRequest): Promise<ResumableUpload> {
  if (!Number.isSafeInteger(request.uploadLength) || request.uploadLength < 0) throw new RangeError(`Invalid upload length ${request.uploadLength}`);
  const { transfer } = await loadUploadState(ctx, caller, fileTransferId);
  requireUploadable(transfer);
  await requireSizeAllowed(ctx, transfer, request.uploadLength);

  const uploadId = randomUUID();
  await startUploadAttempt(ctx, transfer.fileTransferId, attemptOf({ id: uploadId, kind: request.kind }), { recordEveryAttempt: false });
  // The row comes after the attempt: the job that aborts a replaced attempt's uploads never sees it as stale.
  const uploadKey = await ctx.blobs.createUpload();
  const now = ctx.clock.now();
  const row: UploadRow = {
    id: uploadId,
    file_transfer_id: transfer.fileTransferId,
    kind: request.kind,
    upload_key: uploadKey,
    upload_length: request.uploadLength,
    upload_offset: 0,
    lease_token: null,
    lease_until: null,
    partial_ids: null,
    created_at: now,
    last_activity_at: now,
    expires_at: expiryAfter(now),
    completed_at: null,
    blob_key: null,
  };
  await ctx.db('broker_uploads').insert(row);
  if (request.uploadLength === 0) {
    const lease = await acquireLease(ctx, uploadId);
    if (lease) {
      const empty = { md5: createHash('md5').digest('hex'), sha256: createHash('sha256').digest('hex') };
      await finishUpload(ctx, row, lease, empty);
    }
    return toUpload((await ctx.db<UploadRow>('broker_uploads').where({ id: uploadId }).first()) ?? row);
  }
  return toUpload(row);
}

/**
 * Creates the final upload of a concatenation (TUS POST `Upload-Concat: final;…`): the partial
 * uploads, all complete and of this transfer, in order. It is complete at once (its length is
 * theirs); the blob is composed by COMPOSE_UPLOAD_JOB, which then attaches it.
 */
export async function createFinalUpload(ctx: BrokerContext, caller: BrokerCaller, fileTransferId: string, partialIds: string[]): Promise<ResumableUpload> {
  const { transfer } = await loadUploadState(ctx, caller, fileTransferId);
  requireUploadable(transfer);
  const ids = partialIds.map((id) => id.toLowerCase());
  if (ids.length === 0 || new Set(ids).size !== ids.length) {
    throw new ResumableUploadError('PartialUploadsNotFound', 'Upload-Concat final must name each partial upload once');
  }
  const partials = await loadPartials(ctx.db, transfer.fileTransferId, ids);
  const length = partials.reduce((sum, row) => sum + lengthOf(row), 0);
  await requireSizeAllowed(ctx, transfer, length);
  await startUploadAttempt(ctx, transfer.fileTransferId, CONCAT_ATTEMPT, { recordEveryAttempt: false });

  const uploadId = randomUUID();
  const now = ctx.clock.now();
  const row: UploadRow = {
    id: uploadId,
    file_transfer_id: transfer.fileTransferId,
    kind: 'final',
    upload_key: null,
    upload_length: length,
    upload_offset: length,
    lease_token: null,
    lease_until: null,
    partial_ids: JSON.stringify(ids),
    created_at: now,
    last_activity_at: now,
    expires_at: expiryAfter(now),
    completed_at: null,
    blob_key: null,
  };
  await ctx.db.transaction(async (trx) => {
    // Under the transfer's lock, so that a job aborting a replaced attempt cannot take the partials meanwhile.
    const locked = await lockFileTransferWithAttempt(trx, transfer.fileTransferId);
    if (!locked || !UPLOADABLE_STATUSES.includes(locked.transfer.status.status) || locked.uploadAttempt !== CONCAT_ATTEMPT) throw brokerError('FileTransferAlreadyUploaded');
    await loadPartials(trx, transfer.fileTransferId, ids);
    await trx('broker_uploads').insert(row);
    // The partials must outlive the composition.
    await trx('broker_uploads').whereIn('id', ids).update({ last_activity_at: now, expires_at: expiryAfter(now) });
    await enqueueJob(trx, ctx.clock, { kind: COMPOSE_UPLOAD_JOB, payload: { uploadId }, key: `${COMPOSE_UPLOAD_JOB}:${uploadId}` });
  });
  ctx.wakeJobs();
  return toUpload(row);
}

async function loadPartials(db: Knex | Knex.Transaction, fileTransferId: string, ids: string[]): Promise<UploadRow[]> {
  const rows = await db<UploadRow>('broker_uploads').whereIn('id', ids).where({ file_transfer_id: fileTransferId, kind: 'partial' }).select();
  const byId = new Map(rows.map((row) => [row.id, row]));
  const ordered = ids.map((id) => byId.get(id));
  if (ordered.some((row) => row === undefined)) throw new ResumableUploadError('PartialUploadsNotFound', 'Could not find some of the files supplied for concatenation');
  if (ordered.some((row) => row!.completed_at === null || !row!.blob_key)) {
    throw new ResumableUploadError('PartialUploadsIncomplete', 'Some of the files supplied for concatenation are not finished and can not be concatenated');
  }
  return ordered as UploadRow[];
}

// ---------------------------------------------------------------------------------------------
// Reading the state (HEAD)

/** The upload as it stands (TUS HEAD). Only the sender sees it; an expired or replaced one is gone. */
export async function getResumableUpload(ctx: BrokerContext, caller: BrokerCaller, ref: UploadRef): Promise<ResumableUpload> {
  const state = await loadUploadState(ctx, caller, ref.fileTransferId);
  const row = await resolveUpload(ctx, state, ref);
  await settleCompletedUpload(ctx, state, row);
  return toUpload(row);
}

// ---------------------------------------------------------------------------------------------
// Writing a chunk (PATCH)

export interface WriteChunkRequest {
  /** Where the client says the chunk starts (Upload-Offset); must be the stored offset. */
  offset: number;
  source: Readable;
  /** The chunk's declared size, checked against the upload's length before a byte is read. */
  contentLength?: number;
  /** Lower-case hex MD5 the chunk must have (TUS checksum extension). */
  expectedMd5?: string;
}

export interface WriteChunkResult {
  upload: ResumableUpload;
  /** False for a repeated write at the end of a complete upload (a safe retry). */
  changed: boolean;
}

/**
 * Writes one chunk at the stored offset (TUS PATCH). The bytes stream to the blob store under the
 * upload's lease; only once they are durable (and match their checksum) does the offset move. The
 * last chunk completes the upload; a single upload is then attached to the transfer.
 */
export async function writeResumableUpload(ctx: BrokerContext, caller: BrokerCaller, ref: UploadRef, request: WriteChunkRequest): Promise<WriteChunkResult> {
  return holdingSourceErrors(request.source, () => writeChunk(ctx, caller, ref, request));
}

async function writeChunk(ctx: BrokerContext, caller: BrokerCaller, ref: UploadRef, request: WriteChunkRequest): Promise<WriteChunkResult> {
  const taken = (await leaseCurrentUpload(ctx, caller, ref, request)) ?? (await leaseResolvedUpload(ctx, await loadUploadState(ctx, caller, ref.fileTransferId), ref, request));
  if ('changed' in taken) return taken;
  const { row, lease, partNumber } = taken;
  const length = lengthOf(row);
  let leaseHeld = true;
  try {
    const renewal = keepLease(ctx, row.id, lease, request.source);
    let written: Awaited<ReturnType<BlobStore['writeUploadPart']>>;
    try {
      // A part is hashed only when the client sent its MD5 to check; the upload's sums come later.
      const options = { maxBytes: length - request.offset, md5: request.expectedMd5 !== undefined };
      written = await ctx.blobs.writeUploadPart(row.upload_key!, { partNumber, offset: request.offset }, request.source, options);
    } catch (error) {
      if (error instanceof BlobTooLargeError) throw chunkTooLong(undefined, length);
      throw renewal.lost() ?? error;
    } finally {
      renewal.stop();
    }
    if (request.expectedMd5 !== undefined && written.md5 !== request.expectedMd5) {
      throw new ResumableUploadError('ChunkChecksumMismatch', 'Header Upload-Checksum does not match the checksum of the file');
    }

    const newOffset = request.offset + written.sizeBytes;
    const now = ctx.clock.now();
    const completing = newOffset === length;
    const committed = await commitPart(ctx, {
      uploadId: row.id,
      lease,
      offset: request.offset,
      moved: { upload_offset: newOffset, last_activity_at: now, expires_at: expiryAfter(now) },
      // The last chunk keeps the lease for completing the upload.
      releaseLease: !completing,
      part: written.sizeBytes > 0 ? { part_number: partNumber, offset: request.offset, size_bytes: written.sizeBytes, etag: written.etag, md5: written.md5 ?? null } : undefined,
    });
    if (!committed) throw uploadLocked(row.id);
    const advanced: UploadRow = { ...row, upload_offset: newOffset, last_activity_at: now, expires_at: expiryAfter(now) };
    if (!completing) {
      leaseHeld = false;
      return { upload: toUpload(advanced), changed: true };
    }
    leaseHeld = false; // finishUpload releases it
    const finished = await finishUpload(ctx, advanced, lease, NOT_HASHED);
    return { upload: toUpload(finished), changed: true };
  } finally {
    if (leaseHeld) await releaseLease(ctx, row.id, lease);
  }
}

/**
 * The upload a chunk names, resolved and checked one step at a time (each refusal with its reason),
 * then leased; or the answer to a repeated last chunk of a complete upload (a safe retry).
 */
async function leaseResolvedUpload(ctx: BrokerContext, state: TransferUploadState, ref: UploadRef, request: WriteChunkRequest): Promise<WriteLease | WriteChunkResult> {
  const row = await resolveUpload(ctx, state, ref).catch((error: unknown) => {
    // Altinn checks the transfer's status first: past UploadStarted, writing is a conflict.
    if (error instanceof ResumableUploadError && error.reason === 'UploadNotFound') requireUploadable(state.transfer);
    throw error;
  });
  if (row.kind === 'final') throw new ResumableUploadError('FinalUploadNotWritable', 'File with "Upload-Concat: final" cannot be patched');
  const length = lengthOf(row);
  if (offsetOf(row) === length) {
    if (request.offset !== length) throw offsetMismatch(length, request.offset);
    await settleCompletedUpload(ctx, state, row);
    return { upload: toUpload(row), changed: false };
  }
  requireUploadable(state.transfer);
  if (request.offset !== offsetOf(row)) throw offsetMismatch(offsetOf(row), request.offset);
  if (request.contentLength !== undefined && request.offset + request.contentLength > length) throw chunkTooLong(request.offset + request.contentLength, length);

  const taken = await acquireWriteLease(ctx, request.offset, (uploads) => uploads.where({ id: row.id }));
  if (taken) return taken;
  const now = await ctx.db<UploadRow>('broker_uploads').where({ id: row.id }).first();
  if (!now || isExpired(ctx, now)) throw uploadNotFound();
  if (offsetOf(now) !== request.offset) throw offsetMismatch(offsetOf(now), request.offset);
  throw uploadLocked(row.id);
}

interface PartCommit {
  uploadId: string;
  lease: string;
  /** Where the chunk started: the stored offset must still be that. */
  offset: number;
  moved: Pick<UploadRow, 'upload_offset' | 'last_activity_at' | 'expires_at'>;
  releaseLease: boolean;
  /** Absent for an empty chunk. */
  part?: { part_number: number; offset: number; size_bytes: number; etag: string; md5: string | null };
}

/**
 * Moves the offset (still holding the lease, from the offset the chunk started at) and records the
 * part, in one statement (atomic without a transaction of its own). False if the lease was lost.
 */
async function commitPart(ctx: BrokerContext, commit: PartCommit): Promise<boolean> {
  const released = commit.releaseLease ? { lease_token: null, lease_until: null } : {};
  const move = ctx
    .db('broker_uploads')
    .where({ id: commit.uploadId, lease_token: commit.lease, upload_offset: commit.offset })
    .update({ ...commit.moved, ...released })
    .returning('id');
  if (!commit.part) return (await move).length === 1;
  const { part } = commit;
  const recorded = await ctx.db
    .with('moved', move)
    .insert(
      ctx.db
        .from('moved')
        .select('moved.id', ctx.db.raw('?::integer', [part.part_number]), ctx.db.raw('?::bigint', [part.offset]), ctx.db.raw('?::bigint', [part.size_bytes]), ctx.db.raw('?::text', [part.etag]), ctx.db.raw('?::varchar(32)', [part.md5])),
    )
    .into(ctx.db.raw('broker_upload_parts (upload_id, part_number, "offset", size_bytes, etag, md5)'))
    .returning('upload_id');
  return recorded.length === 1;
}

function chunkTooLong(end: number | undefined, length: number): ResumableUploadError {
  const what = end === undefined ? 'The request holds' : `The request ends at byte ${end}, which is`;
  return new ResumableUploadError('ChunkExceedsLength', `${what} more data than the upload's length of ${length} bytes`);
}

/**
 * Completes an upload whose every byte is stored, holding its lease (released here): the parts
 * become a blob, the row records it, and a single upload's blob is attached to the transfer.
 * Rerun after a crash it returns the same blob (completeUpload) and attaches it only while the
 * upload is still the transfer's attempt.
 */
async function finishUpload(ctx: BrokerContext, row: UploadRow, lease: string, hashes: { md5: string | null; sha256: string | null }): Promise<UploadRow> {
  try {
    let blobKey = row.blob_key;
    if (row.completed_at === null) {
      const parts: PartRow[] = await ctx.db('broker_upload_parts').where({ upload_id: row.id }).orderBy('part_number').select('part_number', 'offset', 'size_bytes', 'etag');
      const blob = await ctx.blobs.completeUpload(
        row.upload_key!,
        parts.map((part) => ({ partNumber: part.part_number, offset: Number(part.offset), sizeBytes: Number(part.size_bytes), etag: part.etag })),
      );
      const now = ctx.clock.now();
      const updated = await ctx.db('broker_uploads').where({ id: row.id, lease_token: lease }).update({ completed_at: now, blob_key: blob.key, last_activity_at: now, expires_at: expiryAfter(now) });
      if (updated !== 1) {
        // The row went (terminated, aborted, expired) while we completed it: so do its bytes.
        await ctx.blobs.delete(blob.key);
        throw uploadNotFound();
      }
      blobKey = blob.key;
      row = { ...row, completed_at: now, blob_key: blob.key };
    }
    if (row.kind === 'single') await attachIfCurrent(ctx, row, { key: blobKey!, sizeBytes: lengthOf(row), ...hashes });
    return row;
  } finally {
    await releaseLease(ctx, row.id, lease);
  }
}

/**
 * Attaches a completed upload's blob to the transfer if the upload is still its attempt. A blob
 * whose MD5 differs from the one given at initialize fails the transfer (as Altinn's deferred
 * check does); the upload itself succeeded, so that is not the client's error here.
 */
async function attachIfCurrent(ctx: BrokerContext, row: UploadRow, bytes: UploadedBytes): Promise<void> {
  const current = await ctx.db('broker_file_transfers').where({ id: row.file_transfer_id }).first<{ upload_attempt: string | null } | undefined>('upload_attempt');
  if (current?.upload_attempt !== attemptOf(row)) return;
  try {
    await attachUploadedBytes(ctx, row.file_transfer_id, attemptOf(row), bytes);
  } catch (error) {
    if (!isBrokerError(error, 'ChecksumMismatch')) throw error;
  }
  // Whatever else was uploaded for the transfer is now of no use.
  await abortResumableUploads(ctx, row.file_transfer_id).catch((abortError: unknown) =>
    ctx.log.warn({ err: abortError, fileTransferId: row.file_transfer_id }, 'could not clear the other resumable uploads of an uploaded transfer'),
  );
}

/**
 * A complete upload that a crash left unattached (its bytes all stored, the transfer still waiting
 * on it) is finished now, on the next request that sees it. Finals are the compose job's.
 */
async function settleCompletedUpload(ctx: BrokerContext, state: TransferUploadState, row: UploadRow): Promise<void> {
  if (row.kind === 'final' || offsetOf(row) !== lengthOf(row)) return;
  const pending = row.completed_at === null || (row.kind === 'single' && isCurrent(row, state) && row.blob_key !== state.transfer.blobKey);
  if (!pending) return;
  const lease = await acquireLease(ctx, row.id);
  if (!lease) return; // someone else is finishing it
  const fresh = await ctx.db<UploadRow>('broker_uploads').where({ id: row.id }).first();
  if (!fresh) return releaseLease(ctx, row.id, lease);
  try {
    await finishUpload(ctx, fresh, lease, NOT_HASHED);
  } catch (error) {
    ctx.log.warn({ err: error, uploadId: row.id }, 'could not finish a completed resumable upload');
  }
}

// ---------------------------------------------------------------------------------------------
// Concatenation (the job)

/**
 * COMPOSE_UPLOAD_JOB: the final upload's partials become one blob (hashed on the way), which is
 * attached to the transfer. Idempotent: a rerun after a crash attaches the composed blob if that
 * did not happen; a final whose transfer moved on is left to the abort job.
 */
export async function composeFinalUpload(ctx: BrokerContext, uploadId: string): Promise<void> {
  const row = await ctx.db<UploadRow>('broker_uploads').where({ id: uploadId, kind: 'final' }).first();
  if (!row) return;
  const transferId = row.file_transfer_id;
  const attempt = await ctx.db('broker_file_transfers').where({ id: transferId }).first<{ upload_attempt: string | null; blob_key: string | null } | undefined>('upload_attempt', 'blob_key');
  if (attempt?.upload_attempt !== CONCAT_ATTEMPT) return;
  if (row.completed_at !== null) {
    if (row.blob_key && attempt.blob_key !== row.blob_key) await attachIfCurrent(ctx, row, { key: row.blob_key, sizeBytes: lengthOf(row), ...NOT_HASHED });
    return;
  }
  const ids = partialIdsOf(row);
  const partials = await ctx.db<UploadRow>('broker_uploads').whereIn('id', ids).where({ file_transfer_id: transferId, kind: 'partial' }).select();
  const byId = new Map(partials.map((partial) => [partial.id, partial]));
  const keys = ids.map((id) => byId.get(id)?.blob_key);
  if (keys.some((key) => !key)) {
    // Its partials were terminated or expired before they could be composed: the upload failed.
    ctx.log.warn({ uploadId, fileTransferId: transferId }, 'the partial uploads of a final upload are gone');
    await failCurrentAttempt(ctx, transferId, CONCAT_ATTEMPT);
    await ctx.db('broker_uploads').where({ id: uploadId }).delete();
    return;
  }
  const stored = await ctx.blobs.compose(keys as string[]);
  if (stored.sizeBytes !== lengthOf(row)) {
    await ctx.blobs.delete(stored.key);
    throw new Error(`final upload ${uploadId}: its partials hold ${stored.sizeBytes} bytes, not ${lengthOf(row)}`);
  }
  const recorded = await ctx.db.transaction(async (trx) => {
    const now = ctx.clock.now();
    const updated = await trx('broker_uploads').where({ id: uploadId }).whereNull('completed_at').update({ completed_at: now, blob_key: stored.key, last_activity_at: now, expires_at: expiryAfter(now) });
    if (updated !== 1) return false;
    // The partials are consumed.
    for (const key of keys) await deleteBlobLater(trx, ctx, key!);
    await trx('broker_uploads').whereIn('id', ids).delete();
    return true;
  });
  if (!recorded) {
    await ctx.blobs.delete(stored.key);
    return;
  }
  ctx.wakeJobs();
  await attachIfCurrent(ctx, { ...row, completed_at: ctx.clock.now(), blob_key: stored.key }, stored);
}

// ---------------------------------------------------------------------------------------------
// Termination, abort, expiry

/** Terminates an upload (TUS DELETE) while the transfer still takes uploads; its bytes go, the status stays. */
export async function terminateResumableUpload(ctx: BrokerContext, caller: BrokerCaller, ref: UploadRef): Promise<void> {
  const state = await loadUploadState(ctx, caller, ref.fileTransferId);
  requireUploadable(state.transfer);
  const row = await resolveUpload(ctx, state, ref);
  const lease = await acquireLease(ctx, row.id);
  if (!lease) throw uploadLocked(row.id);
  await discardUploads(ctx, [row], state.transfer.blobKey);
}

/**
 * ABORT_UPLOAD_JOB: aborts the transfer's uploads that no longer count (those of a replaced or
 * ended attempt), deleting their bytes and rows. The upload whose blob the transfer holds stays.
 */
export async function abortResumableUploads(ctx: BrokerContext, fileTransferId: string): Promise<void> {
  const transfer = await ctx.db('broker_file_transfers')
    .where({ id: fileTransferId })
    .first<{ status: FileTransfer['status']['status']; upload_attempt: string | null; blob_key: string | null } | undefined>('status', 'upload_attempt', 'blob_key');
  if (!transfer) return;
  const uploadable = UPLOADABLE_STATUSES.includes(transfer.status);
  const rows = await ctx.db<UploadRow>('broker_uploads').where({ file_transfer_id: fileTransferId }).select();
  const stale = rows.filter((row) => {
    if (row.blob_key !== null && row.blob_key === transfer.blob_key) return false;
    return !(uploadable && transfer.upload_attempt === attemptOf(row));
  });
  await discardUploads(ctx, stale, transfer.blob_key);
}

/** How many uploads one sweep discards at most per batch. */
const EXPIRY_BATCH = 100;

/**
 * The periodic sweep: every upload whose expiry passed (24 h after its last write) and that no
 * one is writing is discarded, bytes first. A finished upload's row goes too (the blob it became
 * stays when the transfer holds it). Returns how many were discarded.
 */
export async function expireResumableUploads(ctx: BrokerContext): Promise<number> {
  let discarded = 0;
  for (;;) {
    const now = ctx.clock.now();
    const rows = await ctx.db<UploadRow>('broker_uploads')
      .where('expires_at', '<=', now)
      .where((free) => free.whereNull('lease_until').orWhere('lease_until', '<=', now))
      .orderBy('expires_at')
      .limit(EXPIRY_BATCH)
      .select();
    if (rows.length === 0) break;
    const byTransfer = new Map<string, UploadRow[]>();
    for (const row of rows) byTransfer.set(row.file_transfer_id, [...(byTransfer.get(row.file_transfer_id) ?? []), row]);
    for (const [fileTransferId, transferRows] of byTransfer) {
      const transfer = await ctx.db('broker_file_transfers').where({ id: fileTransferId }).first<{ blob_key: string | null } | undefined>('blob_key');
      discarded += await discardUploads(ctx, transferRows, transfer?.blob_key ?? null);
    }
    if (rows.length < EXPIRY_BATCH) break;
  }
  if (discarded > 0) ctx.log.info({ discarded }, 'expired resumable uploads discarded');
  return discarded;
}

/**
 * Deletes uploads: their bytes first (idempotent; a crash before the rows go just repeats it),
 * then their rows. The blob the transfer holds is never touched.
 */
async function discardUploads(ctx: BrokerContext, rows: UploadRow[], transferBlobKey: string | null): Promise<number> {
  for (const row of rows) {
    if (row.completed_at === null && row.upload_key) await ctx.blobs.abortUpload(row.upload_key);
    if (row.blob_key && row.blob_key !== transferBlobKey) await ctx.blobs.delete(row.blob_key);
  }
  if (rows.length === 0) return 0;
  await ctx.db('broker_uploads').whereIn('id', rows.map((row) => row.id)).delete();
  return rows.length;
}
