/**
 * `archive export --owner N --out DIR [--service C] [--since T]`: the owner's queued form tasks as
 * response XML plus attachment files (still encrypted where the archive is), with sha256 sums;
 * resumable (see src/export/archive-export.ts). A progress bar on stderr when it is a terminal.
 */
import type { Command } from 'commander';
import { exportArchive, type ExportProgress } from '../export/archive-export';
import { dateTimeArgument, orgNumberArgument, serviceCodeArgument } from './arguments';
import { writeLine, type CliIo, type CliOutput } from './io';
import { requireServiceOwner } from './owner';
import { withApp } from './with-app';

interface ExportCommandOptions {
  owner: string;
  out: string;
  service?: string;
  since?: Date;
  includeXmlNamespace?: boolean;
}

export function registerArchiveExportCommand(archive: Command, io: CliIo): void {
  archive
    .command('export')
    .description("write a service owner's queued form tasks to a folder: response XML, attachment files (as stored, encrypted or not) and sha256 sums")
    .requiredOption('--owner <orgnr>', 'organisation number of the service owner', orgNumberArgument)
    .requiredOption('--out <dir>', 'folder to write to (run again to resume an interrupted export)')
    .option('--service <code>', 'only this service code', serviceCodeArgument)
    .option('--since <date-time>', 'only form tasks archived at or after this time (ISO 8601)', dateTimeArgument)
    .option('--include-xml-namespace', 'keep my:/altinn: elements in FormData (as includeXmlNamespace=true)')
    .action(async (options: ExportCommandOptions) => {
      await withApp(io, async (app) => {
        const owner = await requireServiceOwner(app, options.owner);
        const bar = io.stderr.isTTY ? progressBar(io.stderr) : undefined;
        let result;
        try {
          result = await exportArchive(app, {
            serviceOwnerId: owner.serviceOwnerId,
            serviceOwner: owner.orgNumber,
            outDir: options.out,
            serviceCode: options.service ?? null,
            since: options.since ?? null,
            includeXmlNamespace: options.includeXmlNamespace ?? false,
            onProgress: bar?.update,
          });
        } finally {
          bar?.clear();
        }
        writeLine(
          io.stdout,
          `Exported ${result.tasks.length} form task(s) of service owner ${owner.orgNumber} to ${options.out}: ` +
            `${result.written} written, ${result.kept} already there and verified; the folder's manifest lists ${result.inFolder}.`,
        );
      });
    });
}

const BAR_WIDTH = 30;

/** One line rewritten in place: a bar, tasks done of all, tasks kept from an earlier run, bytes written. */
function progressBar(stream: CliOutput): { update(progress: ExportProgress): void; clear(): void } {
  return {
    update: ({ done, total, kept, bytesWritten }) => {
      const filled = total === 0 ? BAR_WIDTH : Math.round((done / total) * BAR_WIDTH);
      const bar = `[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}]`;
      stream.write(`\r\x1b[2KExporting ${bar} ${done}/${total} form tasks${kept ? ` (${kept} kept)` : ''}, ${formatBytes(bytesWritten)} written`);
    },
    clear: () => stream.write('\r\x1b[2K'),
  };
}

function formatBytes(bytes: number): string {
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}
