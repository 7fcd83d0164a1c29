/**
 * Upload a transfer's bytes in one streamed request (CONTRACT §2.2), for every door that has one:
 * the Altinn 3 upload and initialize-and-upload, the Altinn 2 REST outbox and SOAP
 * UploadFileStreamed.
 *
 * The bytes stream into the blob store (MD5 and SHA-256 computed on the way, fsynced) with no
 * transaction open; only then does a short transaction attach them to the transfer. The blob key
 * is reserved first and recorded as the transfer's upload attempt, so of two racing uploads only
 * the latest attempt can commit, and the bytes of an attempt that died are always findable.
 */
import { pipeline, type Readable } from 'node:stream';
import { BlobTooLargeError, holdingSourceErrors, type StoredBlob } from '../storage/blob-store';
import { brokerError, BrokerError, isBrokerError } from './errors';
import { requireZipSignature } from './zip-signature';
import { attachUploadedBytes, failCurrentAttempt, maxFileTransferSize, renewUploadAttempt, startUploadAttempt } from './upload-attempts';
import type { BrokerCaller, BrokerContext, FileTransfer } from './types';
import { requireFileTransfer } from './file-transfer-store';
import { requireResource } from './resources';
import { checkFileName, ValidationErrors } from './input-rules';

export interface UploadRequest {
  /** The declared size (Content-Length), checked against the limit before any byte is read. */
  contentLength?: number;
  /**
   * Only a ZIP file is accepted (the Altinn 2 doors: their payloads are ZIPs): anything else is
   * NotAZipFile, its bytes discarded, and the transfer may be uploaded again.
   */
  requireZip?: boolean;
  /** A file name that replaces the one given at initialize (Altinn 2 SOAP sends it with the bytes). */
  fileName?: string;
}

export interface UploadResult {
  fileTransferId: string;
  /** The status once the bytes were attached: Published, or UploadProcessing while a scan runs. */
  status: FileTransfer['status']['status'];
}

export function uploadFileTransfer(ctx: BrokerContext, caller: BrokerCaller, fileTransferId: string, source: Readable, request: UploadRequest = {}): Promise<UploadResult> {
  return holdingSourceErrors(source, () => storeUpload(ctx, caller, fileTransferId, source, request));
}

async function storeUpload(ctx: BrokerContext, caller: BrokerCaller, fileTransferId: string, source: Readable, request: UploadRequest): Promise<UploadResult> {
  const transfer = await requireFileTransfer(ctx.db, fileTransferId, caller, 'Sender');
  const resource = await requireResource(ctx.db, transfer.resourceId);
  const limit = maxFileTransferSize(ctx, resource, transfer.useVirusScan);
  if (request.contentLength !== undefined && request.contentLength > limit) throw brokerError('FileSizeTooBig');

  if (request.fileName !== undefined) {
    const errors = new ValidationErrors();
    checkFileName(errors, request.fileName);
    errors.throwIfAny();
  }

  const blobKey = ctx.blobs.newKey();
  const attempt = `blob:${blobKey}`;
  await startUploadAttempt(ctx, transfer.fileTransferId, attempt, { recordEveryAttempt: true, fileName: request.fileName });

  // A sign of life while the bytes flow, so the attempt is not taken for one whose process died.
  const renewal = setInterval(() => {
    renewUploadAttempt(ctx, transfer.fileTransferId, attempt).catch((error: unknown) => ctx.log.warn({ err: error }, 'could not renew an upload lease'));
  }, Math.max(1000, Math.floor(ctx.settings.uploadAttemptLeaseMs / 3)));
  renewal.unref();
  let stored: StoredBlob;
  try {
    stored = await ctx.blobs.put(request.requireZip ? checkedAsZip(source) : source, { maxBytes: limit, key: blobKey });
  } catch (error) {
    // Refusals of the bytes themselves: nothing was kept and the sender may try again.
    if (error instanceof BlobTooLargeError) throw brokerError('FileSizeTooBig');
    if (isBrokerError(error, 'NotAZipFile')) throw error;
    // The sender's stream broke (or the disk failed): the transfer fails, as in Altinn.
    ctx.log.warn({ err: error, fileTransferId: transfer.fileTransferId }, 'broker upload failed while streaming');
    await failCurrentAttempt(ctx, transfer.fileTransferId, attempt);
    throw new BrokerError('UploadFailed');
  } finally {
    clearInterval(renewal);
  }
  const status = await attachUploadedBytes(ctx, transfer.fileTransferId, attempt, stored);
  return { fileTransferId: transfer.fileTransferId, status };
}

/** The source through the ZIP signature check; an error on either side destroys both. */
function checkedAsZip(source: Readable): Readable {
  const checked = requireZipSignature();
  pipeline(source, checked, () => undefined);
  return checked;
}
