/** `owner add | list`: service owners (the agencies) by organisation number. */
import type { Command } from 'commander';
import type { App } from '../app';
import { addServiceOwner, findServiceOwnerByOrg, listServiceOwners, type ServiceOwner } from '../archive/add-service-owner';
import { ArchiveError } from '../archive/errors';
import { orgNumberArgument } from './arguments';
import { writeLine, type CliIo } from './io';
import { writeList } from './table';
import { withApp } from './with-app';

export function registerOwnerCommands(program: Command, io: CliIo): void {
  const owner = program.command('owner').description('manage service owners');
  owner
    .command('add')
    .description('add a service owner')
    .requiredOption('--org <orgnr>', 'organisation number (9 digits)', orgNumberArgument)
    .requiredOption('--name <name>', 'name of the agency')
    .action(async (options: { org: string; name: string }) => {
      await withApp(io, async (app) => {
        await addServiceOwner(app.db, { orgNumber: options.org, name: options.name });
        writeLine(io.stdout, `Added service owner ${options.org} (${options.name.trim()}).`);
      });
    });
  owner
    .command('list')
    .description('list service owners with their number of services and system users')
    .option('--json', 'one JSON object per line', false)
    .action(async (options: { json: boolean }) => {
      await withApp(io, async (app) => {
        writeList(io.stdout, await listServiceOwners(app.db), {
          json: options.json,
          columns: [
            { header: 'ORG', value: (o) => o.orgNumber },
            { header: 'SERVICES', value: (o) => String(o.services) },
            { header: 'SYSTEM USERS', value: (o) => String(o.systemUsers) },
            { header: 'CREATED', value: (o) => o.createdAt.toISOString() },
            { header: 'NAME', value: (o) => o.name },
          ],
          toJson: (o) => ({ orgNumber: o.orgNumber, name: o.name, services: o.services, systemUsers: o.systemUsers, createdAt: o.createdAt }),
          empty: 'No service owners (add one with: altinn-gateway owner add --org <orgnr> --name ...).',
        });
      });
    });
}

/** The owner named by `--owner`, or a message saying how to add it. */
export async function requireServiceOwner(app: App, orgNumber: string): Promise<ServiceOwner> {
  const owner = await findServiceOwnerByOrg(app.db, orgNumber);
  if (!owner) {
    throw new ArchiveError('not_found', `No service owner with organisation number ${orgNumber} (add it with: altinn-gateway owner add --org ${orgNumber} --name ...)`);
  }
  return owner;
}
