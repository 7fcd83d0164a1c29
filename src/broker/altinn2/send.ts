/**
 * Initiate and upload in one call (Altinn 2 REST outbox POST): the Altinn 2 initialize
 * (initialize.ts) and the streamed upload (upload-file-transfer.ts), each with its own rules.
 *
 * Altinn 2 clients see one operation, so a refusal leaves nothing behind: the declared size is
 * checked against the resource's limit, and on a resource with the manifest shim the first bytes
 * against the ZIP signature, after the description is found valid and before the transfer is stored.
 * Only a failure of the upload itself (the client's stream breaking) leaves a Failed transfer, as an
 * Altinn 3 upload does.
 */
import { Readable } from 'node:stream';
import { brokerError, BrokerError } from '../errors';
import type { BrokerCaller, BrokerContext, FileTransferStatus } from '../types';
import { maxFileTransferSize } from '../upload-attempts';
import { uploadFileTransfer } from '../upload-file-transfer';
import { isZipSignature } from '../zip-signature';
import { initializeLegacyFileTransfer, type LegacyInitializeRequest } from './initialize';

export interface LegacySendResult {
  fileTransferId: string;
  /** Published, or UploadProcessing while a scan runs. */
  status: FileTransferStatus;
}

const SIGNATURE_LENGTH = 4;
const NOT_A_ZIP = 'The file is not a ZIP file: this broker service adds a manifest (manifest.xml) to the files it delivers, so it takes only ZIP archives.';

export async function sendLegacyFile(
  ctx: BrokerContext,
  caller: BrokerCaller,
  request: LegacyInitializeRequest,
  body: Readable,
  upload: { contentLength: number },
): Promise<LegacySendResult> {
  let stream = body;
  const { fileTransferId, resource } = await initializeLegacyFileTransfer(ctx, caller, request, {
    beforeStore: async ({ resource, useVirusScan }) => {
      if (upload.contentLength > maxFileTransferSize(ctx, resource, useVirusScan)) throw brokerError('FileSizeTooBig');
      if (!resource.useManifestFileShim) return;
      // No transaction is open here: waiting for the client's first bytes holds nothing up.
      const peeked = await peek(body, SIGNATURE_LENGTH);
      stream = peeked.stream;
      // An empty upload is served as a ZIP holding only the manifest.
      if (peeked.head.length > 0 && !isZipSignature(peeked.head)) throw new BrokerError('NotAZipFile', NOT_A_ZIP);
    },
  });
  const result = await uploadFileTransfer(ctx, caller, fileTransferId, stream, {
    contentLength: upload.contentLength,
    requireZip: resource.useManifestFileShim,
  });
  return { fileTransferId, status: result.status };
}

/**
 * The first `length` bytes of a stream (fewer if it ends first), and the stream with them still
 * in it. The stream is left paused; nothing beyond what the first chunks held is read.
 */
export function peek(source: Readable, length: number): Promise<{ head: Buffer; stream: Readable }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const cleanup = () => {
      source.off('readable', onReadable);
      source.off('end', onEnd);
      source.off('error', onError);
      source.off('close', onClose);
    };
    const done = (ended: boolean) => {
      cleanup();
      const read = Buffer.concat(chunks);
      if (ended) {
        resolve({ head: read, stream: Readable.from(read.length > 0 ? [read] : []) });
        return;
      }
      source.unshift(read);
      resolve({ head: read.subarray(0, length), stream: source });
    };
    const onReadable = () => {
      let chunk: Buffer | null;
      while (total < length && (chunk = source.read() as Buffer | null) !== null) {
        chunks.push(chunk);
        total += chunk.length;
      }
      if (total >= length) done(false);
    };
    const onEnd = () => done(true);
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    const onClose = () => {
      if (source.readableEnded) return;
      cleanup();
      reject(new Error('the request body ended before it was complete'));
    };
    source.on('readable', onReadable);
    source.on('end', onEnd);
    source.on('error', onError);
    source.on('close', onClose);
  });
}
