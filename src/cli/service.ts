/**
 * `service add`, `service download-queue` and `service encryption`.
 *
 * The DownloadQueue is off unless `--download-queue` is given, as the flag implies (and as in
 * Altinn, where a service owner turns it on per service). Tasks archived while it is off are never
 * queued, so `service add` says so when it is off, and `service download-queue` turns it on later.
 *
 * An encrypted service's content is encrypted under the owner's current certificate as it is
 * archived; without one, archiving for it fails. Both commands warn when there is none.
 */
import { Argument, type Command } from 'commander';
import type { App } from '../app';
import { addService, setServiceDownloadQueue, setServiceEncryption } from '../archive/add-service';
import type { ServiceOwner } from '../archive/add-service-owner';
import { listCertificates } from '../archive/certificates';
import { setServiceDefinition } from '../messages/service-definitions';
import { orgNumberArgument, serviceCodeArgument, serviceEditionArgument } from './arguments';
import { writeLine, type CliIo } from './io';
import { requireServiceOwner } from './owner';
import { definitionFromOptions, registerServiceDefinitionCommands, type DefinitionOptions } from './service-definition';
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
    .option('--encrypted', "encrypt the service's content for the service owner's current certificate when archived", false)
    .action(async (options: ServiceOptions & DefinitionOptions & { name?: string; downloadQueue: boolean; encrypted: boolean }) => {
      const definition = await definitionFromOptions(options);
      await withApp(io, async (app) => {
        const owner = await requireServiceOwner(app, options.owner);
        const { serviceId } = await addService(app.db, {
          serviceOwnerId: owner.serviceOwnerId,
          serviceCode: options.code,
          serviceEditionCode: options.edition,
          name: options.name ?? null,
          downloadQueue: options.downloadQueue,
          encrypted: options.encrypted,
        });
        if (definition) await setServiceDefinition(app.db, serviceId, definition);
        const queue = options.downloadQueue ? 'on' : 'off';
        writeLine(
          io.stdout,
          `Added service ${options.code} edition ${options.edition} for service owner ${owner.orgNumber} (download queue ${queue}${options.encrypted ? ', encrypted' : ''}).`,
        );
        if (options.encrypted) await warnWithoutCertificate(app, io, owner);
        if (!options.downloadQueue) {
          writeLine(
            io.stderr,
            `Note: its archived form tasks will not be listed by GetDownloadQueueItems. To change that: altinn-gateway service download-queue on --owner ${owner.orgNumber} --code ${options.code} --edition ${options.edition}`,
          );
        }
      });
    });

  registerOnOffCommand(service, io, {
    name: 'download-queue',
    description: 'turn the DownloadQueue of a service on or off (for form tasks archived from now on)',
    apply: (app, key, on) => setServiceDownloadQueue(app.db, { ...key, downloadQueue: on }),
    done: async (_app, options, state) => {
      writeLine(io.stdout, `Download queue of service ${options.code} edition ${options.edition} is now ${state}.`);
    },
  });
  registerOnOffCommand(service, io, {
    name: 'encryption',
    description: "turn encryption of a service's content on or off (for form tasks archived from now on)",
    apply: (app, key, on) => setServiceEncryption(app.db, { ...key, encrypted: on }),
    done: async (app, options, state, owner) => {
      writeLine(io.stdout, `Encryption of service ${options.code} edition ${options.edition} is now ${state} (form tasks archived before keep their form).`);
      if (state === 'on') await warnWithoutCertificate(app, io, owner);
    },
  });

  // `service define` / `service definition`, and the definition options of `service add` (REST messages API).
  registerServiceDefinitionCommands(service, io);
}

interface OnOffCommand {
  name: string;
  description: string;
  apply(app: App, key: { serviceOwnerId: number; serviceCode: string; serviceEditionCode: number }, on: boolean): Promise<void>;
  done(app: App, options: ServiceOptions, state: 'on' | 'off', owner: ServiceOwner): Promise<void>;
}

/** `service <name> on|off --owner --code --edition`: one switch of one service. */
function registerOnOffCommand(service: Command, io: CliIo, command: OnOffCommand): void {
  service
    .command(command.name)
    .description(command.description)
    .addArgument(new Argument('<state>', 'on or off').choices(['on', 'off']))
    .requiredOption('--owner <orgnr>', 'organisation number of the service owner', orgNumberArgument)
    .requiredOption('--code <code>', 'service code', serviceCodeArgument)
    .requiredOption('--edition <n>', 'service edition code', serviceEditionArgument)
    .action(async (state: 'on' | 'off', options: ServiceOptions) => {
      await withApp(io, async (app) => {
        const owner = await requireServiceOwner(app, options.owner);
        const key = { serviceOwnerId: owner.serviceOwnerId, serviceCode: options.code, serviceEditionCode: options.edition };
        await command.apply(app, key, state === 'on');
        await command.done(app, options, state, owner);
      });
    });
}

async function warnWithoutCertificate(app: App, io: CliIo, owner: ServiceOwner): Promise<void> {
  const current = (await listCertificates(app.db, owner.serviceOwnerId)).find((c) => c.current);
  if (!current) {
    writeLine(
      io.stderr,
      `Note: service owner ${owner.orgNumber} has no current certificate, so archiving for this service fails until one is added: ` +
        `altinn-gateway certificate add --owner ${owner.orgNumber} --cert FILE`,
    );
  }
}
