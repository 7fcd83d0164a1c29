/**
 * `broker …`: the operator's commands for broker file transfer.
 *
 *   broker resource set --resource R --owner <orgnr> [settings]   configure a resource (as its service owner would by PUT)
 *   broker resource show --resource R [--json] | broker resource list [--json]
 *   broker access add|remove --resource R --party <orgnr|0192:orgnr> | broker access list --resource R
 *   broker transfers list --resource R [--status S] [--json]
 *   broker webhook add|list|remove                                 (src/cli/broker-webhook.ts)
 */
import { InvalidArgumentError, type Command } from 'commander';
import type { App } from '../app';
import { configureResource, type ResourceSettings } from '../broker/configure-resource';
import { BrokerError } from '../broker/errors';
import { listFileTransfers } from '../broker/list-file-transfers';
import { toPartyId, orgNumberProblem } from '../broker/parties';
import { addResourceAccess, getResourceAccess, removeResourceAccess } from '../broker/resource-access';
import { findResource } from '../broker/resources';
import { FILE_TRANSFER_STATUSES, type BrokerResource, type FileTransferStatus } from '../broker/types';
import { registerBrokerWebhookCommands } from './broker-webhook';
import { writeLine, type CliIo } from './io';
import { withApp } from './with-app';

function organisationArgument(value: string): string {
  const orgNumber = value.startsWith('0192:') ? value.slice(5) : value;
  const problem = orgNumberProblem(orgNumber);
  if (problem) throw new InvalidArgumentError(`${problem[0]!.toUpperCase()}${problem.slice(1)}.`);
  return orgNumber;
}

function onOffArgument(value: string): boolean {
  if (value === 'on' || value === 'true') return true;
  if (value === 'off' || value === 'false') return false;
  throw new InvalidArgumentError("Give 'on' or 'off'.");
}

function sizeArgument(value: string): number {
  const match = /^(\d+)\s*(B|KiB|MiB|GiB|TiB|KB|MB|GB|TB)?$/i.exec(value.trim());
  const units: Record<string, number> = { b: 1, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12 };
  const bytes = match ? Number(match[1]) * units[(match[2] ?? 'b').toLowerCase()]! : NaN;
  if (!Number.isSafeInteger(bytes)) throw new InvalidArgumentError('Give a size in bytes, or with a unit: 500MiB, 10GiB, 50GB.');
  return bytes;
}

function editionArgument(value: string): number {
  if (!/^\d{1,9}$/.test(value)) throw new InvalidArgumentError('A service edition code is a whole number.');
  return Number(value);
}

function statusArgument(value: string): FileTransferStatus {
  const status = Object.keys(FILE_TRANSFER_STATUSES).find((name) => name.toLowerCase() === value.toLowerCase());
  if (!status) throw new InvalidArgumentError(`A status is one of ${Object.keys(FILE_TRANSFER_STATUSES).join(', ')}.`);
  return status as FileTransferStatus;
}

/** Broker errors name the broken rule; on the command line that is the whole message. */
async function brokerCommand<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof BrokerError) {
      const fields = Object.entries(error.details.errors ?? {}).map(([field, messages]) => `${field}: ${messages.join(' ')}`);
      throw new Error(fields.length ? fields.join('; ') : error.message);
    }
    throw error;
  }
}

export function describeResource(resource: BrokerResource): string[] {
  const legacy = resource.externalServiceCodeLegacy ? `${resource.externalServiceCodeLegacy} edition ${resource.externalServiceEditionCodeLegacy}` : 'none';
  return [
    `resource ${resource.resourceId} (service owner ${resource.serviceOwnerOrg})`,
    `  max file transfer size: ${resource.maxFileTransferSize ?? 'gateway default'}`,
    `  time to live: ${resource.fileTransferTimeToLive ?? 'P30D (default)'}`,
    `  purge after all confirmed: ${resource.purgeFileTransferAfterAllRecipientsConfirmed ? 'on' : 'off'}, grace period ${resource.purgeFileTransferGracePeriod ?? 'PT2H (default)'}`,
    `  Altinn 2 service: ${legacy}, manifest shim ${resource.useManifestFileShim ? 'on' : 'off'}`,
    `  required party: ${resource.requiredParty ?? 'none'}`,
  ];
}

interface ResourceSetOptions {
  resource: string;
  owner?: string;
  maxSize?: number;
  ttl?: string;
  grace?: string;
  purgeAfterConfirm?: boolean;
  manifestShim?: boolean;
  serviceCode?: string;
  serviceEdition?: number;
  requiredParty?: string;
}

export function registerBrokerCommands(program: Command, io: CliIo): void {
  const broker = program.command('broker').description('broker file transfer: resources, access lists, transfers, webhooks');

  const resource = broker.command('resource').description('broker resources (services)');
  resource
    .command('set')
    .description('configure a resource, creating it for --owner if it is new (members left out keep their value)')
    .requiredOption('--resource <id>', 'resource id (urn:altinn:resource: prefix optional)')
    .option('--owner <orgnr>', 'the service owner (required for a new resource)', organisationArgument)
    .option('--max-size <size>', 'largest file transfer, e.g. 10GiB', sizeArgument)
    .option('--ttl <duration>', 'time to live, ISO 8601 (default P30D, at most 365 days)')
    .option('--grace <duration>', 'purge grace period after all confirmed, ISO 8601 (default PT2H, at most PT24H)')
    .option('--purge-after-confirm <on|off>', 'purge once every recipient has confirmed (default on)', onOffArgument)
    .option('--manifest-shim <on|off>', 'Altinn 2 downloads get a fresh manifest.xml (needs --service-code/--service-edition)', onOffArgument)
    .option('--service-code <code>', 'Altinn 2 service code the Altinn 2 doors map to this resource')
    .option('--service-edition <n>', 'Altinn 2 service edition code', editionArgument)
    .option('--required-party <party>', "a party that must be the sender or the only recipient ('' for none)")
    .action(async (options: ResourceSetOptions) => {
      await withApp(io, async (app) =>
        brokerCommand(async () => {
          const existing = await findResource(app.db, options.resource);
          const owner = existing?.serviceOwnerOrg ?? options.owner;
          if (!owner) throw new Error(`Resource ${options.resource} is new: give its service owner with --owner <orgnr>`);
          if (existing && options.owner && options.owner !== existing.serviceOwnerOrg) {
            throw new Error(`Resource ${existing.resourceId} belongs to service owner ${existing.serviceOwnerOrg}, not ${options.owner}`);
          }
          const settings: ResourceSettings = {
            maxFileTransferSize: options.maxSize,
            fileTransferTimeToLive: options.ttl,
            purgeFileTransferGracePeriod: options.grace,
            purgeFileTransferAfterAllRecipientsConfirmed: options.purgeAfterConfirm,
            useManifestFileShim: options.manifestShim,
            externalServiceCodeLegacy: options.serviceCode,
            externalServiceEditionCodeLegacy: options.serviceEdition,
            requiredParty: options.requiredParty,
          };
          const configured = await configureResource(app.broker, { orgNumber: owner, partyId: toPartyId(owner) }, options.resource, settings);
          writeLine(io.stdout, `${existing ? 'Updated' : 'Added'} ${describeResource(configured).join('\n')}`);
        }),
      );
    });
  resource
    .command('show')
    .description("a resource's configuration and access list")
    .requiredOption('--resource <id>', 'resource id')
    .option('--json', 'as JSON', false)
    .action(async (options: { resource: string; json: boolean }) => {
      await withApp(io, async (app) =>
        brokerCommand(async () => {
          const found = await findResource(app.db, options.resource);
          if (!found) throw new BrokerError('ResourceNotConfigured', `Resource ${options.resource} has not been configured (broker resource set)`);
          const access = await getResourceAccess(app.broker, found.resourceId);
          if (options.json) writeLine(io.stdout, JSON.stringify({ ...found, accessList: access }));
          else for (const line of [...describeResource(found), `  access list: ${access.length ? access.join(', ') : 'empty (every organisation)'}`]) writeLine(io.stdout, line);
        }),
      );
    });
  resource
    .command('list')
    .description('every configured resource')
    .option('--json', 'as JSON lines', false)
    .action(async (options: { json: boolean }) => {
      await withApp(io, async (app) => {
        const ids: string[] = await app.db('broker_resources').orderBy('resource_id').pluck('resource_id');
        for (const id of ids) {
          const found = (await findResource(app.db, id))!;
          writeLine(io.stdout, options.json ? JSON.stringify(found) : describeResource(found)[0]!);
        }
        if (!options.json && ids.length === 0) writeLine(io.stdout, 'No broker resources (add one with: altinn-gateway broker resource set --resource R --owner <orgnr>)');
      });
    });

  const access = broker.command('access').description("a resource's access list (empty: every organisation may send and receive)");
  const accessCommand = (name: 'add' | 'remove', description: string) =>
    access
      .command(name)
      .description(description)
      .requiredOption('--resource <id>', 'resource id')
      .requiredOption('--party <orgnr>', 'organisation number (or 0192:<orgnr>)', organisationArgument)
      .action(async (options: { resource: string; party: string }) => {
        await withApp(io, async (app) =>
          brokerCommand(async () => {
            const party = toPartyId(options.party);
            const changed = name === 'add' ? await addResourceAccess(app.broker, options.resource, party) : await removeResourceAccess(app.broker, options.resource, party);
            const verb = name === 'add' ? (changed ? 'Added' : 'Already on the list:') : changed ? 'Removed' : 'Not on the list:';
            writeLine(io.stdout, `${verb} ${party} ${name === 'add' ? 'to' : 'from'} the access list of ${options.resource}.`);
          }),
        );
      });
  accessCommand('add', 'let an organisation send and receive on the resource');
  accessCommand('remove', 'take an organisation off the access list');
  access
    .command('list')
    .description('the access list of a resource')
    .requiredOption('--resource <id>', 'resource id')
    .action(async (options: { resource: string }) => {
      await withApp(io, async (app) =>
        brokerCommand(async () => {
          const parties = await getResourceAccess(app.broker, options.resource);
          if (parties.length === 0) writeLine(io.stdout, `The access list of ${options.resource} is empty: every organisation may send and receive.`);
          for (const party of parties) writeLine(io.stdout, party);
        }),
      );
    });

  const transfers = broker.command('transfers').description('file transfers');
  transfers
    .command('list')
    .description("a resource's file transfers, newest first")
    .requiredOption('--resource <id>', 'resource id')
    .option('--status <status>', 'only those in this status', statusArgument)
    .option('--limit <n>', 'at most this many (default 1000)', (value) => {
      if (!/^\d{1,6}$/.test(value) || Number(value) < 1) throw new InvalidArgumentError('Give a whole number from 1 to 999999.');
      return Number(value);
    })
    .option('--json', 'as JSON lines', false)
    .action(async (options: { resource: string; status?: FileTransferStatus; limit?: number; json: boolean }) => {
      await withApp(io, async (app: App) => {
        const list = await listFileTransfers(app.broker, { resourceId: options.resource, status: options.status, limit: options.limit });
        for (const transfer of list) {
          if (options.json) {
            writeLine(io.stdout, JSON.stringify(transfer));
            continue;
          }
          const recipients = transfer.recipients.map((r) => `${r.recipient} ${r.status}`).join(', ');
          writeLine(
            io.stdout,
            `${transfer.fileTransferId}  ${transfer.created.toISOString()}  ${transfer.status.status.padEnd(22)}  ${transfer.fileTransferSize} B  ` +
              `${transfer.fileName}  from ${transfer.sender} to ${recipients}`,
          );
        }
        if (!options.json && list.length === 0) writeLine(io.stdout, `No file transfers on ${options.resource}${options.status ? ` in status ${options.status}` : ''}.`);
      });
    });

  registerBrokerWebhookCommands(broker, io);
}
