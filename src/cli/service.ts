/**
 * `service add | list`, `service download-queue` and `service encryption`.
 *
 * The DownloadQueue is off unless `--download-queue` is given, as the flag implies (and as in
 * Altinn, where a service owner turns it on per service). Tasks archived while it is off are never
 * queued, so `service add` says so when it is off, and `service download-queue` turns it on later.
 *
 * An encrypted service's content is encrypted under the owner's current certificate as it is
 * archived; without one, archiving for it fails. Both commands warn when there is none.
 *
 * `--sensitive-fields` (with `--encrypted`, or `service encryption on`) lists the form data
 * elements to encrypt one by one instead of the root element; see SENSITIVE_FIELDS_HELP.
 */
import { Argument, type Command } from 'commander';
import type { App } from '../app';
import { addService, listServices, setServiceDownloadQueue, setServiceEncryption } from '../archive/add-service';
import { listServiceOwners, type ServiceOwner } from '../archive/add-service-owner';
import { listCertificates } from '../archive/certificates';
import { setServiceDefinition } from '../messages/service-definitions';
import { orgNumberArgument, sensitiveFieldsArgument, serviceCodeArgument, serviceEditionArgument } from './arguments';
import { writeLine, type CliIo } from './io';
import { requireServiceOwner } from './owner';
import { writeList } from './table';
import { definitionFromOptions, registerServiceDefinitionCommands, type DefinitionOptions } from './service-definition';
import { withApp } from './with-app';

interface ServiceOptions {
  owner: string;
  code: string;
  edition: number;
}

const SENSITIVE_FIELDS_HELP =
  'comma-separated form data elements to encrypt one by one instead of the whole root element: a slash path of local names from ' +
  'the root (Skjema/Innsender/Fodselsnummer) or a bare local name, matching that element at any depth (Kontonummer); ' +
  'namespaces and prefixes are ignored. A form in which none of them occurs is encrypted whole. An empty value clears the list';

function describeFields(fields: readonly string[] | undefined): string {
  if (fields === undefined) return '';
  return fields.length === 0 ? ', whole form data' : `, sensitive fields ${fields.join(', ')}`;
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
    .option('--sensitive-fields <paths>', `with --encrypted: ${SENSITIVE_FIELDS_HELP}`, sensitiveFieldsArgument)
    .action(async (options: ServiceOptions & DefinitionOptions & { name?: string; downloadQueue: boolean; encrypted: boolean; sensitiveFields?: string[] }) => {
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
          sensitiveFields: options.sensitiveFields ?? [],
        });
        if (definition) await setServiceDefinition(app.db, serviceId, definition);
        const queue = options.downloadQueue ? 'on' : 'off';
        writeLine(
          io.stdout,
          `Added service ${options.code} edition ${options.edition} for service owner ${owner.orgNumber} (download queue ${queue}${options.encrypted ? `, encrypted${options.sensitiveFields?.length ? describeFields(options.sensitiveFields) : ''}` : ''}).`,
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

  service
    .command('list')
    .description("list services: every owner's, or one owner's")
    .option('--owner <orgnr>', 'only this service owner', orgNumberArgument)
    .option('--json', 'one JSON object per line', false)
    .action(async (options: { owner?: string; json: boolean }) => {
      await withApp(io, async (app) => {
        const owners = options.owner ? [await requireServiceOwner(app, options.owner)] : await listServiceOwners(app.db);
        const services = [];
        for (const owner of owners) for (const found of await listServices(app.db, owner.serviceOwnerId)) services.push({ owner: owner.orgNumber, ...found });
        const onOff = (on: boolean) => (on ? 'on' : 'off');
        writeList(io.stdout, services, {
          json: options.json,
          columns: [
            { header: 'OWNER', value: (s) => s.owner },
            { header: 'CODE', value: (s) => s.serviceCode },
            { header: 'EDITION', value: (s) => String(s.serviceEditionCode) },
            { header: 'QUEUE', value: (s) => onOff(s.downloadQueue) },
            { header: 'ENCRYPTED', value: (s) => onOff(s.encrypted) },
            { header: 'NAME', value: (s) => s.name ?? '' },
          ],
          toJson: (s) => ({
            owner: s.owner,
            serviceCode: s.serviceCode,
            serviceEditionCode: s.serviceEditionCode,
            name: s.name,
            downloadQueue: s.downloadQueue,
            encrypted: s.encrypted,
            sensitiveFields: s.sensitiveFields,
          }),
          empty: 'No services (add one with: altinn-gateway service add --owner <orgnr> --code C --edition N).',
        });
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
    configure: (command) => command.option('--sensitive-fields <paths>', `with on: ${SENSITIVE_FIELDS_HELP} (default: keep the list as it is)`, sensitiveFieldsArgument),
    // Fields with `off` are refused by setServiceEncryption (they apply only to an encrypted service).
    apply: (app, key, on, options: ServiceOptions & { sensitiveFields?: string[] }) =>
      setServiceEncryption(app.db, { ...key, encrypted: on, sensitiveFields: options.sensitiveFields }),
    done: async (app, options: ServiceOptions & { sensitiveFields?: string[] }, state, owner) => {
      writeLine(
        io.stdout,
        `Encryption of service ${options.code} edition ${options.edition} is now ${state}${state === 'on' ? describeFields(options.sensitiveFields) : ''} (form tasks archived before keep their form).`,
      );
      if (state === 'on') await warnWithoutCertificate(app, io, owner);
    },
  });

  // `service define` / `service definition`, and the definition options of `service add` (REST messages API).
  registerServiceDefinitionCommands(service, io);
}

interface OnOffCommand {
  name: string;
  description: string;
  /** Options of this switch beyond --owner, --code and --edition. */
  configure?(command: Command): Command;
  apply(app: App, key: { serviceOwnerId: number; serviceCode: string; serviceEditionCode: number }, on: boolean, options: ServiceOptions): Promise<void>;
  done(app: App, options: ServiceOptions, state: 'on' | 'off', owner: ServiceOwner): Promise<void>;
}

/** `service <name> on|off --owner --code --edition`: one switch of one service. */
function registerOnOffCommand(service: Command, io: CliIo, command: OnOffCommand): void {
  const switchCommand = service
    .command(command.name)
    .description(command.description)
    .addArgument(new Argument('<state>', 'on or off').choices(['on', 'off']))
    .requiredOption('--owner <orgnr>', 'organisation number of the service owner', orgNumberArgument)
    .requiredOption('--code <code>', 'service code', serviceCodeArgument)
    .requiredOption('--edition <n>', 'service edition code', serviceEditionArgument);
  (command.configure?.(switchCommand) ?? switchCommand).action(async (state: 'on' | 'off', options: ServiceOptions) => {
    await withApp(io, async (app) => {
      const owner = await requireServiceOwner(app, options.owner);
      const key = { serviceOwnerId: owner.serviceOwnerId, serviceCode: options.code, serviceEditionCode: options.edition };
      await command.apply(app, key, state === 'on', options);
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
