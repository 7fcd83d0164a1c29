/**
 * `storage gc [--dry-run]`: sweep what crashes left in the blob store (see storage/garbage-collection.ts).
 * `storage migrate --to <url>`: copy every blob to another store, verified and resumable (storage/copy-blobs.ts).
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { ConfigError, loadConfig } from '../config';
import { openBlobStore } from '../storage/blob-store-from-config';
import { BlobStoreLocationError, describeBlobStoreLocation, parseBlobStoreLocation } from '../storage/blob-store-location';
import { copyBlobs, describeCopyProgress } from '../storage/copy-blobs';
import { collectGarbage, describeGarbageCollection } from '../storage/garbage-collection';
import { secondsArgument } from './arguments';
import { writeLine, type CliIo } from './io';
import { withApp } from './with-app';

/** Progress lines on stderr at most this often (and one at the end). */
const PROGRESS_INTERVAL_MS = 1000;

export function registerStorageCommands(program: Command, io: CliIo): void {
  const storage = program.command('storage').description('the blob store (DATA_DIR/blobs, or BLOB_STORE_URL)');
  storage
    .command('gc')
    .description('remove orphan blobs, partial files and abandoned uploads older than the grace period that no row refers to')
    .option('--dry-run', 'count what would be removed, remove nothing')
    .option('--grace-seconds <n>', 'only files last written longer ago than this (default: STORAGE_GC_GRACE_SECONDS, 86400)', secondsArgument)
    .action(async (options: { dryRun?: boolean; graceSeconds?: number }) => {
      const graceSeconds = options.graceSeconds ?? loadConfig(io.env).storage.gcGraceSeconds;
      await withApp(io, async (app) => {
        const result = await collectGarbage(app.db, app.blobs, { graceMs: graceSeconds * 1000, dryRun: options.dryRun ?? false });
        writeLine(io.stdout, describeGarbageCollection(result));
      });
    });
  storage
    .command('migrate')
    .description(
      'copy every blob of the configured store (BLOB_STORE_URL) to another, verifying size and SHA-256 of each copy; ' +
        'run it again to resume or to copy what came since; the source is left as it is. Then set BLOB_STORE_URL to the target.',
    )
    .requiredOption('--to <url>', 'the target store: file:///dir, azure://<container>[/<prefix>] or s3://<bucket>[/<prefix>] (credentials from the same variables as BLOB_STORE_URL)')
    .option('--concurrency <n>', 'blobs copied at once (default 4)', positiveIntegerArgument)
    .option('--journal <file>', 'record of verified copies, read again by a later run (default: DATA_DIR/storage-migrate/<target>.journal)')
    .action(async (options: { to: string; concurrency?: number; journal?: string }) => {
      const config = loadConfig(io.env);
      const targetLocation = parseTarget(options.to, io.env);
      const targetDescription = describeBlobStoreLocation(targetLocation, config.dataDir);
      if (targetDescription === describeBlobStoreLocation(config.storage.blobStore, config.dataDir)) throw new ConfigError([`--to names the configured store itself (${targetDescription})`]);
      const journal = path.resolve(options.journal ?? path.join(config.dataDir, 'storage-migrate', `${createHash('sha256').update(targetDescription).digest('hex').slice(0, 16)}.journal`));
      const target = await openBlobStore(targetLocation, config.dataDir, config.storage.gcGraceSeconds);
      await withApp(io, async (app) => {
        writeLine(io.stderr, `Copying ${app.blobStoreDescription} to ${targetDescription} (journal ${journal})`);
        let lastLine = 0;
        const result = await copyBlobs(app.db, app.blobs, target, {
          journal,
          concurrency: options.concurrency,
          progress: (progress) => {
            const done = progress.doneBlobs === progress.totalBlobs;
            if (!done && Date.now() - lastLine < PROGRESS_INTERVAL_MS) return;
            lastLine = Date.now();
            writeLine(io.stderr, describeCopyProgress(progress));
          },
        });
        for (const { key, problem } of result.problems) writeLine(io.stderr, `error: ${key}: ${problem}`);
        if (result.inFlight.uploads + result.inFlight.partials > 0) {
          writeLine(
            io.stderr,
            `warning: ${result.inFlight.uploads} resumable uploads and ${result.inFlight.partials} unfinished writes in flight were not copied; ` +
              'stop the gateways and run this again right before switching BLOB_STORE_URL (uploads still in flight then must be started again)',
          );
        }
        writeLine(
          io.stdout,
          `Copied ${result.copied.blobs} blobs (${result.copied.bytes} bytes); ${result.alreadyThere.blobs} (${result.alreadyThere.bytes} bytes) were at the target already, verified; ${result.problems.length} problems.`,
        );
        if (result.problems.length > 0) throw new Error(`${result.problems.length} blobs were not copied verified (listed above); run again once the cause is fixed`);
      });
    });
}

function parseTarget(raw: string, env: NodeJS.ProcessEnv) {
  try {
    return parseBlobStoreLocation(raw, env, '--to');
  } catch (error) {
    if (error instanceof BlobStoreLocationError) throw new ConfigError(error.problems);
    throw error;
  }
}

function positiveIntegerArgument(value: string): number {
  if (!/^[1-9]\d{0,3}$/.test(value)) throw new InvalidArgumentError('Give a whole number from 1 to 9999.');
  return Number(value);
}
