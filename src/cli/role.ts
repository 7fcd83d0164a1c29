/** `role add | remove | list`: which person may act for which organisation in the REST API. */
import type { Command } from 'commander';
import { addRole, listRoles, removeRole } from '../auth/roles';
import { orgNumberArgument } from './arguments';
import { writeLine, type CliIo } from './io';
import { personArgument } from './token';
import { withApp } from './with-app';

export function registerRoleCommands(program: Command, io: CliIo): void {
  const role = program.command('role').description('manage who may act for an organisation in the REST API');
  role
    .command('add')
    .description('let a person act for an organisation (/api/<orgnr>/messages)')
    .requiredOption('--person <fnr>', 'national identity number (11 digits)', personArgument)
    .requiredOption('--org <orgnr>', 'organisation number (9 digits)', orgNumberArgument)
    .action(async (options: { person: string; org: string }) => {
      await withApp(io, async (app) => {
        const added = await addRole(app.db, { person: options.person, orgNumber: options.org });
        writeLine(io.stdout, added ? `${options.person} may now act for ${options.org}.` : `${options.person} could already act for ${options.org}.`);
      });
    });
  role
    .command('remove')
    .description("take away a person's role for an organisation")
    .requiredOption('--person <fnr>', 'national identity number (11 digits)', personArgument)
    .requiredOption('--org <orgnr>', 'organisation number (9 digits)', orgNumberArgument)
    .action(async (options: { person: string; org: string }) => {
      await withApp(io, async (app) => {
        await removeRole(app.db, { person: options.person, orgNumber: options.org });
        writeLine(io.stdout, `${options.person} may no longer act for ${options.org}.`);
      });
    });
  role
    .command('list')
    .description('list roles')
    .option('--person <fnr>', 'only this person', personArgument)
    .option('--org <orgnr>', 'only this organisation', orgNumberArgument)
    .action(async (options: { person?: string; org?: string }) => {
      await withApp(io, async (app) => {
        const roles = await listRoles(app.db, { person: options.person, orgNumber: options.org });
        if (roles.length === 0) writeLine(io.stdout, 'No roles.');
        for (const r of roles) writeLine(io.stdout, `${r.person}\t${r.orgNumber}`);
      });
    });
}
