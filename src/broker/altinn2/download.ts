/**
 * Download through an Altinn 2 door (REST inbox download, SOAP DownloadFileStreamed): the Altinn 3
 * download (its rules, and DownloadStarted recorded for the recipient), always the whole file
 * (Altinn's legacy path ignores Range), and, on a resource with `useManifestFileShim`, the ZIP
 * with a fresh manifest.xml (manifest-shim.ts). A file the shim cannot serve (not a ZIP) is
 * refused before the download is recorded.
 */
import type { Readable } from 'node:stream';
import { downloadFileTransfer } from '../download-file-transfer';
import type { BrokerCaller, BrokerContext, FileTransfer } from '../types';
import { requireLegacyFileTransfer } from './legacy-file-transfer';
import { manifestOf, prepareManifestShim, type ShimmedZip } from './manifest-shim';

export interface LegacyDownload {
  transfer: FileTransfer;
  /** Length of what open() streams (with the shim: the shimmed ZIP's). */
  size: number;
  /** True when the bytes are the ZIP with the manifest shim applied. */
  shimmed: boolean;
  open(): Readable;
}

export async function downloadLegacyFile(ctx: BrokerContext, caller: BrokerCaller, fileReference: string): Promise<LegacyDownload> {
  const { resource } = await requireLegacyFileTransfer(ctx, caller, fileReference, 'Recipient');
  let shim: ShimmedZip | undefined;
  const download = await downloadFileTransfer(ctx, caller, fileReference, {
    beforeRecording: resource.useManifestFileShim
      ? async (transfer) => {
          const source = { blobs: ctx.blobs, blobKey: transfer.blobKey ?? undefined, size: transfer.fileTransferSize };
          shim = await prepareManifestShim(source, manifestOf(transfer, resource), ctx.clock.now());
        }
      : undefined,
  });
  if (shim) return { transfer: download.transfer, size: shim.size, shimmed: true, open: shim.open };
  return { transfer: download.transfer, size: download.size, shimmed: false, open: download.open };
}
