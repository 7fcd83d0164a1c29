/** `system-user add`: a user name + password a service owner's SOAP client logs in with. */
import type { Command } from 'commander';
import { addSystemUser } from '../auth/system-users';
import { orgNumberArgument } from './arguments';
import { writeLine, type CliIo } from './io';
import { requireServiceOwner } from './owner';
import { readPassword } from './read-password';
import { withApp } from './with-app';

export function registerSystemUserCommands(program: Command, io: CliIo): void {
  const systemUser = program.command('system-user').description("manage service owners' system users");
  systemUser
    .command('add')
    .description('add a system user; the password is read from standard input (first line) or a hidden prompt')
    .requiredOption('--owner <orgnr>', 'organisation number of the service owner', orgNumberArgument)
    .requiredOption('--user <name>', 'system user name (unique across owners)')
    .action(async (options: { owner: string; user: string }) => {
      // Read the password before opening the database: a missing one fails fast.
      const password = await readPassword(io);
      await withApp(io, async (app) => {
        const owner = await requireServiceOwner(app, options.owner);
        await addSystemUser(app.db, { serviceOwnerId: owner.serviceOwnerId, userName: options.user, password });
        writeLine(io.stdout, `Added system user '${options.user}' for service owner ${owner.orgNumber} (${owner.name}).`);
      });
    });
}
