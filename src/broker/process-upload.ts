/**
 * Upload processing, run as a background job after the bytes are stored (CONTRACT §3, §4):
 * one read of the blob feeds the malware scanner (when the transfer is scanned) and the MD5 and
 * SHA-256 (when they were not computed while streaming, as with TUS). Then, in one transaction:
 * Published, or Failed ("Checksum mismatch", "Malware scan failed: …") with the bytes deleted.
 *
 * A scanner that is down, or none configured for a transfer that must be scanned, delays the job
 * (RetryLater): a transfer is never published unscanned. Idempotent: a rerun after a crash finds
 * the transfer already Published or Failed and does nothing.
 */
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { RetryLater, type JobContext } from '../jobs/queue';
import { ScannerError, ScannerUnavailableError, type ScanVerdict } from '../scanning/clamd';
import { measureBytes } from '../storage/measure';
import { loadFileTransfer, lockFileTransfer, normaliseFileTransferId } from './file-transfer-store';
import { fail, publish } from './status-changes';
import { STATUS_TEXTS, type BrokerContext } from './types';

/** How long to wait before trying again while the scanner is unreachable. */
export const SCANNER_RETRY_MS = 30_000;
/** A scanner that answers but gives no verdict (an error of its own) is asked this many times, then the transfer fails. */
export const SCANNER_ERROR_ATTEMPTS = 5;

/** The result of a scan as the Failed status text reports it (the shape of Altinn's Defender scan result). */
type ScanOutcome = { clean: true } | { clean: false; resultType: 'Malicious' | 'Not scanned'; details: Record<string, unknown> };

export async function processUpload(ctx: BrokerContext, fileTransferId: string, job?: Pick<JobContext, 'attempt'>): Promise<void> {
  const id = normaliseFileTransferId(fileTransferId);
  const transfer = id && (await loadFileTransfer(ctx.db, id));
  if (!transfer || !transfer.blobKey) return;
  const processing = transfer.status.status === 'UploadProcessing';
  const hashesPending = transfer.sha256 === null || transfer.checksum === null;
  if (!processing && !hashesPending) return;
  const scan = processing && transfer.useVirusScan;
  const scanner = ctx.scanner;
  if (scan && !scanner) {
    throw new RetryLater(`transfer ${transfer.fileTransferId} must be scanned for malware, but no scanner is configured (CLAMD_URL)`, SCANNER_RETRY_MS);
  }

  const measure = measureBytes();
  const source = ctx.blobs.open(transfer.blobKey);
  let verdict: ScanVerdict | undefined;
  let notScanned: string | undefined;
  try {
    if (scan) {
      source.on('error', (error) => measure.stream.destroy(error));
      verdict = await scanner!.scan(source.pipe(measure.stream));
    } else {
      await pipeline(source, measure.stream, new Writable({ write: (_chunk, _encoding, done) => done() }));
    }
  } catch (error) {
    source.destroy();
    if (error instanceof ScannerUnavailableError) throw new RetryLater(`malware scanner unavailable: ${error.message}`, SCANNER_RETRY_MS);
    // Too large for the scanner: scanning again fails again. Another scanner error: retried a few times.
    const final = error instanceof ScannerError && (error.code === 'STREAM_TOO_LARGE' || (job?.attempt ?? 1) >= SCANNER_ERROR_ATTEMPTS);
    if (!final) throw error;
    notScanned = error.message;
  }
  const measured = source.readableEnded && !notScanned ? measure.result() : undefined;
  if (!measured && hashesPending && !notScanned && verdict?.clean !== false) throw new Error(`transfer ${transfer.fileTransferId}: the blob was not read to its end`);
  const outcome: ScanOutcome | undefined = notScanned
    ? { clean: false, resultType: 'Not scanned', details: scanDetails(ctx, 'Not scanned', [], measured?.sha256, notScanned, scanner?.description) }
    : verdict && !verdict.clean
      ? { clean: false, resultType: 'Malicious', details: scanDetails(ctx, 'Malicious', [verdict.signature], measured?.sha256, '', verdict.engine) }
      : verdict && { clean: true };

  await ctx.db.transaction(async (trx) => {
    const current = await lockFileTransfer(trx, transfer.fileTransferId);
    if (!current || current.blobKey !== transfer.blobKey) return;
    if (measured && hashesPending) {
      await trx('broker_file_transfers')
        .where({ id: current.fileTransferId })
        .update({ sha256: measured.sha256, ...(!current.checksumGiven && { checksum: measured.md5 }) });
    }
    if (current.status.status !== 'UploadProcessing') return;
    if (measured && current.checksumGiven && measured.md5 !== current.checksum?.toLowerCase()) {
      await fail(trx, ctx, current, STATUS_TEXTS.checksumMismatch);
      return;
    }
    if (outcome && !outcome.clean) {
      await fail(trx, ctx, current, STATUS_TEXTS.malwareFound(outcome.resultType, outcome.details));
      return;
    }
    await publish(trx, ctx, current);
  });
  ctx.wakeJobs();
}

/** Altinn's scan result members (ScanResultData), filled from clamd's answer. */
function scanDetails(ctx: BrokerContext, resultType: string, malwareNames: string[], sha256: string | undefined, notScannedReason: string, scanner: string | undefined): Record<string, unknown> {
  return {
    ScanFinishedTimeUtc: ctx.clock.now().toISOString(),
    ScanResultType: resultType,
    ScanResultDetails: { MalwareNamesFound: malwareNames, Sha256: sha256?.toUpperCase() ?? '', NotScannedReason: notScannedReason },
    Scanner: scanner ?? '',
  };
}
