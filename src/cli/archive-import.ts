/**
 * `archive import FILE.json [--json]`: archive form tasks described in a JSON file (format in
 * src/archive/import-file.ts), all or nothing. Prints one line per archived task; with --json one
 * JSON object per line: {"archiveReference":"AR…","attachmentIds":[…]}.
 */
import type { Command } from 'commander';
import { archiveFormTasks, type ArchiveProgressPhase, type ArchivedTaskResult } from '../archive/archive-form-tasks';
import { ArchiveError } from '../archive/errors';
import { readImportFile } from '../archive/import-file';
import { findServiceOwnerByOrg } from '../archive/add-service-owner';
import { registerArchiveExportCommand } from './archive-export';
import { writeLine, type CliIo, type CliOutput } from './io';
import { withApp } from './with-app';

export function registerArchiveCommands(program: Command, io: CliIo): void {
  const archive = program.command('archive').description('the archive of form tasks');
  archive
    .command('import')
    .description('archive the form tasks of a JSON import file (attachment paths relative to the file)')
    .argument('<file>', 'import file (JSON)')
    .option('--json', 'print one JSON object per archived task')
    .action(async (file: string, options: { json?: boolean }) => {
      // Checked before the database is opened: shape errors and missing attachment files.
      const importFile = await readImportFile(file);
      await withApp(io, async (app) => {
        const owner = await findServiceOwnerByOrg(app.db, importFile.serviceOwner);
        if (!owner) throw new ArchiveError('invalid_argument', `serviceOwner: no service owner with organisation number ${importFile.serviceOwner}`);
        const progress = io.stderr.isTTY ? progressLine(io.stderr) : undefined;
        let results: ArchivedTaskResult[];
        try {
          results = await archiveFormTasks(app, owner.serviceOwnerId, importFile.formTasks, { onProgress: progress?.update });
        } finally {
          progress?.clear();
        }
        for (const result of results) writeLine(io.stdout, options.json ? jsonLine(result) : humanLine(result));
        if (!options.json) {
          const queued = results.filter((r) => r.queued).length;
          writeLine(io.stdout, `Archived ${results.length} form task(s) for service owner ${owner.orgNumber} (${owner.name}); ${queued} on the download queue.`);
        }
      });
    });
  registerArchiveExportCommand(archive, io);
}

function jsonLine(result: ArchivedTaskResult): string {
  return JSON.stringify({ archiveReference: result.archiveReference, attachmentIds: result.attachmentIds });
}

function humanLine(result: ArchivedTaskResult): string {
  const attachments = `${result.attachmentIds.length} attachment${result.attachmentIds.length === 1 ? '' : 's'}`;
  return `${result.archiveReference}  ${attachments}${result.queued ? '' : '  (not queued: the service has no download queue)'}`;
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
