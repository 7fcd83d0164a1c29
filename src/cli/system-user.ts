/**
 * `system-user add | list | unlock | reset-password | remove`: the user name + password a service
 * owner's SOAP client logs in with. Passwords are read from standard input (read-password.ts).
 */
import type { Command } from 'commander';
import { addSystemUser, listSystemUsers, removeSystemUser, resetSystemUserPassword, unlockSystemUser } from '../auth/system-users';
import { orgNumberArgument } from './arguments';
import { writeLine, type CliIo } from './io';
import { requireServiceOwner } from './owner';
import { readPassword } from './read-password';
import { writeList } from './table';
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
  systemUser
    .command('list')
    .description('list system users, with failed logins and lock-outs')
    .option('--owner <orgnr>', 'only this service owner', orgNumberArgument)
    .option('--json', 'one JSON object per line', false)
    .action(async (options: { owner?: string; json: boolean }) => {
      await withApp(io, async (app) => {
        const owner = options.owner ? await requireServiceOwner(app, options.owner) : undefined;
        writeList(io.stdout, await listSystemUsers(app.db, { serviceOwnerId: owner?.serviceOwnerId }), {
          json: options.json,
          columns: [
            { header: 'USER', value: (u) => u.userName },
            { header: 'OWNER', value: (u) => u.ownerOrgNumber },
            { header: 'FAILED LOGINS', value: (u) => String(u.failedAttempts) },
            { header: 'LOCKED UNTIL', value: (u) => u.lockedUntil?.toISOString() ?? '-' },
            { header: 'CREATED', value: (u) => u.createdAt.toISOString() },
          ],
          toJson: (u) => ({ userName: u.userName, owner: u.ownerOrgNumber, failedAttempts: u.failedAttempts, lockedUntil: u.lockedUntil, createdAt: u.createdAt }),
          empty: 'No system users (add one with: altinn-gateway system-user add --owner <orgnr> --user NAME).',
        });
      });
    });
  systemUser
    .command('unlock')
    .description('lift a lock-out after too many failed logins (the user can log in at once)')
    .requiredOption('--user <name>', 'system user name')
    .action(async (options: { user: string }) => {
      await withApp(io, async (app) => {
        const { wasLocked } = await unlockSystemUser(app.db, options.user);
        writeLine(io.stdout, wasLocked ? `Unlocked system user '${options.user}'.` : `System user '${options.user}' was not locked; its failed logins are reset.`);
      });
    });
  systemUser
    .command('reset-password')
    .description('give a system user a new password, read as `add` reads it; the old one stops working at once')
    .requiredOption('--user <name>', 'system user name')
    .action(async (options: { user: string }) => {
      const password = await readPassword(io);
      await withApp(io, async (app) => {
        await resetSystemUserPassword(app.db, options.user, password);
        writeLine(io.stdout, `New password set for system user '${options.user}'.`);
      });
    });
  systemUser
    .command('remove')
    .description('remove a system user (its broker delegations with it); it can no longer log in')
    .requiredOption('--user <name>', 'system user name')
    .action(async (options: { user: string }) => {
      await withApp(io, async (app) => {
        const { purgesUnattributed } = await removeSystemUser(app.db, options.user);
        writeLine(io.stdout, `Removed system user '${options.user}'.`);
        if (purgesUnattributed > 0) writeLine(io.stderr, `Note: ${purgesUnattributed} download queue purges it made no longer name who made them.`);
      });
    });
}
