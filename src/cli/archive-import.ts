/**
 * `archive import FILE.json [--json]`: archive the form tasks described in a JSON file (format:
 * src/archive/import-file.schema.json, documented in src/archive/import-file.ts), all or nothing,
 * skipping tasks already archived under the same key. Prints one line per task; with --json one
 * JSON object per line: {"archiveReference":"AR…","attachmentIds":[…]} for an archived task,
 * {"archiveReference":"AR…","skipped":"already archived","externalReference":…} for a skipped one.
 * A file with problems prints every one of them (one `error:` line each) and imports nothing.
 */
import type { Command } from 'commander';
import type { ArchiveProgressPhase, ArchivedTaskResult } from '../archive/archive-form-tasks';
import { ArchiveError, ArchiveValidationError } from '../archive/errors';
import { importFormTasks, type SkippedTask } from '../archive/import-form-tasks';
import { readImportFile, type ImportFile } from '../archive/import-file';
import { findServiceOwnerByOrg } from '../archive/add-service-owner';
import { registerArchiveExportCommand } from './archive-export';
import { writeLine, type CliIo, type CliOutput } from './io';
import { withApp } from './with-app';

export function registerArchiveCommands(program: Command, io: CliIo): void {
  const archive = program.command('archive').description('the archive of form tasks');
  archive
    .command('import')
    .description('archive the form tasks of a JSON import file (attachment paths relative to the file); tasks already archived are skipped')
    .argument('<file>', 'import file (JSON, see src/archive/import-file.schema.json)')
    .option('--json', 'print one JSON object per task')
    .action(async (file: string, options: { json?: boolean }) => {
      try {
        await importFile(io, file, options);
      } catch (error) {
        if (!(error instanceof ArchiveValidationError)) throw error;
        for (const problem of error.problems) writeLine(io.stderr, `error: ${problem}`);
        throw new ArchiveError('invalid_argument', `${error.problems.length} problem(s) in ${file}; nothing was imported`);
      }
    });
  registerArchiveExportCommand(archive, io);
}

async function importFile(io: CliIo, file: string, options: { json?: boolean }): Promise<void> {
  // Checked before the database is opened: the schema, the rules beyond it, the attachment files.
  const parsed = await readImportFile(file);
  await withApp(io, async (app) => {
    const owner = await findServiceOwnerByOrg(app.db, parsed.serviceOwner);
    if (!owner) throw new ArchiveError('invalid_argument', `serviceOwner: no service owner with organisation number ${parsed.serviceOwner}`);
    const progress = io.stderr.isTTY ? progressLine(io.stderr) : undefined;
    let result;
    try {
      result = await importFormTasks(app, owner.serviceOwnerId, parsed.formTasks, { onProgress: progress?.update });
    } finally {
      progress?.clear();
    }
    const lines = [
      ...result.imported.map((task) => ({ index: task.index, line: options.json ? jsonLine(task) : humanLine(task) })),
      ...result.skipped.map((task) => ({ index: task.index, line: options.json ? skippedJsonLine(task, parsed) : skippedLine(task, parsed) })),
    ].sort((a, b) => a.index - b.index);
    for (const { line } of lines) writeLine(io.stdout, line);
    if (!options.json) {
      const queued = result.imported.filter((r) => r.queued).length;
      writeLine(
        io.stdout,
        `Imported ${result.imported.length} form task(s) for service owner ${owner.orgNumber} (${owner.name}), ${queued} on the download queue; ` +
          `skipped ${result.skipped.length} already archived.`,
      );
    }
  });
}

function externalReference(task: SkippedTask, parsed: ImportFile): string | null {
  return parsed.formTasks[task.index]!.externalReference;
}

function jsonLine(result: ArchivedTaskResult): string {
  return JSON.stringify({ archiveReference: result.archiveReference, attachmentIds: result.attachmentIds });
}

function skippedJsonLine(task: SkippedTask, parsed: ImportFile): string {
  return JSON.stringify({ archiveReference: task.archiveReference, skipped: 'already archived', externalReference: externalReference(task, parsed) });
}

function humanLine(result: ArchivedTaskResult): string {
  const attachments = `${result.attachmentIds.length} attachment${result.attachmentIds.length === 1 ? '' : 's'}`;
  return `${result.archiveReference}  ${attachments}${result.queued ? '' : '  (not queued: the service has no download queue)'}`;
}

function skippedLine(task: SkippedTask, parsed: ImportFile): string {
  const reference = externalReference(task, parsed);
  return `${task.archiveReference}  skipped: formTasks[${task.index}]${reference === null ? '' : ` (externalReference ${reference})`} is already archived`;
}

const PHASE_LABELS: Record<ArchiveProgressPhase, string> = {
  'storing-attachments': 'Storing attachments',
  'writing-rows': 'Writing to the database',
};

/** A progress line rewritten in place on a terminal. */
function progressLine(stream: CliOutput): { update(done: number, total: number, phase: ArchiveProgressPhase): void; clear(): void } {
  return {
    update: (done, total, phase) => stream.write(`\r\x1b[2K${PHASE_LABELS[phase]}: ${done}/${total} form tasks`),
    clear: () => stream.write('\r\x1b[2K'),
  };
}
