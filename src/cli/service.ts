/**
 * `service add` and `service download-queue`.
 *
 * The DownloadQueue is off unless `--download-queue` is given, as the flag implies (and as in
 * Altinn, where a service owner turns it on per service). Tasks archived while it is off are never
 * queued, so `service add` says so when it is off, and `service download-queue` turns it on later.
 */
import { Argument, type Command } from 'commander';
import { addService, setServiceDownloadQueue } from '../archive/add-service';
import { orgNumberArgument, serviceCodeArgument, serviceEditionArgument } from './arguments';
import { writeLine, type CliIo } from './io';
import { requireServiceOwner } from './owner';
import { withApp } from './with-app';

interface ServiceOptions {
  owner: string;
  code: string;
  edition: number;
}

export function registerServiceCommands(program: Command, io: CliIo): void {
  const service = program.command('service').description("manage service owners' services");

  service
    .command('add')
    .description('add a service (code + edition) to a service owner')
    .requiredOption('--owner <orgnr>', 'organisation number of the service owner', orgNumberArgument)
    .requiredOption('--code <code>', 'service code, e.g. 4711', serviceCodeArgument)
    .requiredOption('--edition <n>', 'service edition code', serviceEditionArgument)
    .option('--name <name>', 'a name for people')
    .option('--download-queue', "put the service's archived form tasks on the DownloadQueue (default: off)", false)
    .action(async (options: ServiceOptions & { name?: string; downloadQueue: boolean }) => {
      await withApp(io, async (app) => {
        const owner = await requireServiceOwner(app, options.owner);
        await addService(app.db, {
          serviceOwnerId: owner.serviceOwnerId,
          serviceCode: options.code,
          serviceEditionCode: options.edition,
          name: options.name ?? null,
          downloadQueue: options.downloadQueue,
        });
        const queue = options.downloadQueue ? 'on' : 'off';
        writeLine(io.stdout, `Added service ${options.code} edition ${options.edition} for service owner ${owner.orgNumber} (download queue ${queue}).`);
        if (!options.downloadQueue) {
          writeLine(
            io.stderr,
            `Note: its archived form tasks will not be listed by GetDownloadQueueItems. To change that: altinn-gateway service download-queue on --owner ${owner.orgNumber} --code ${options.code} --edition ${options.edition}`,
          );
        }
      });
    });

  service
    .command('download-queue')
    .description('turn the DownloadQueue of a service on or off (for form tasks archived from now on)')
    .addArgument(new Argument('<state>', 'on or off').choices(['on', 'off']))
    .requiredOption('--owner <orgnr>', 'organisation number of the service owner', orgNumberArgument)
    .requiredOption('--code <code>', 'service code', serviceCodeArgument)
    .requiredOption('--edition <n>', 'service edition code', serviceEditionArgument)
    .action(async (state: 'on' | 'off', options: ServiceOptions) => {
      await withApp(io, async (app) => {
        const owner = await requireServiceOwner(app, options.owner);
        await setServiceDownloadQueue(app.db, {
          serviceOwnerId: owner.serviceOwnerId,
          serviceCode: options.code,
          serviceEditionCode: options.edition,
          downloadQueue: state === 'on',
        });
        writeLine(io.stdout, `Download queue of service ${options.code} edition ${options.edition} is now ${state}.`);
      });
    });
}
