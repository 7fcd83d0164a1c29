/** `storage gc [--dry-run]`: sweep what crashes left in the blob store (see storage/garbage-collection.ts). */
import type { Command } from 'commander';
import { loadConfig } from '../config';
import { collectGarbage, describeGarbageCollection } from '../storage/garbage-collection';
import { secondsArgument } from './arguments';
import { writeLine, type CliIo } from './io';
import { withApp } from './with-app';

export function registerStorageCommands(program: Command, io: CliIo): void {
  const storage = program.command('storage').description('the blob store under DATA_DIR/blobs');
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
}
