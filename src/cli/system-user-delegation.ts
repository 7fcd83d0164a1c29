/**
 * `system-user delegation add | remove | list`: the organisations a system user may act for on the
 * Altinn 2 SOAP broker besides its own (the organisation of its account: `owner add` registers any
 * organisation, service owner or not, and `system-user add --owner <orgnr>` gives it a user).
 *
 *   altinn-gateway system-user delegation add --user etaten-system --org 974760673
 *   altinn-gateway system-user delegation list [--user etaten-system] [--org 974760673] [--json]
 *   altinn-gateway system-user delegation remove --user etaten-system --org 974760673
 */
import { InvalidArgumentError, type Command } from 'commander';
import { addDelegation, DelegationError, listDelegations, removeDelegation } from '../auth/system-user-delegations';
import { orgNumberProblem } from '../broker/parties';
import { writeLine, type CliIo } from './io';
import { withApp } from './with-app';

function organisationArgument(value: string): string {
  const problem = orgNumberProblem(value);
  if (problem) throw new InvalidArgumentError(`${problem[0]!.toUpperCase()}${problem.slice(1)}.`);
  return value;
}

/** Delegation errors name what is wrong; on the command line that is the whole message. */
async function delegationCommand<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof DelegationError) throw new Error(error.message);
    throw error;
  }
}

/** Adds `delegation` under the `system-user` command (created if it is not registered yet). */
export function registerSystemUserDelegationCommands(program: Command, io: CliIo): void {
  const systemUser =
    program.commands.find((command) => command.name() === 'system-user') ?? program.command('system-user').description('manage system users');
  const delegation = systemUser
    .command('delegation')
    .description('organisations a system user may act for on the Altinn 2 SOAP broker, besides its own');
  delegation
    .command('add')
    .description('let the system user act for an organisation (as sender or recipient)')
    .requiredOption('--user <name>', 'system user name')
    .requiredOption('--org <orgnr>', 'organisation number (9 digits, valid check digit)', organisationArgument)
    .action(async (options: { user: string; org: string }) => {
      await withApp(io, (app) =>
        delegationCommand(async () => {
          const added = await addDelegation(app.db, { userName: options.user, orgNumber: options.org, now: app.clock.now() });
          writeLine(io.stdout, added ? `System user '${options.user}' may now act for ${options.org}.` : `System user '${options.user}' could already act for ${options.org}.`);
        }),
      );
    });
  delegation
    .command('remove')
    .description('take a delegation away')
    .requiredOption('--user <name>', 'system user name')
    .requiredOption('--org <orgnr>', 'organisation number', organisationArgument)
    .action(async (options: { user: string; org: string }) => {
      await withApp(io, (app) =>
        delegationCommand(async () => {
          const removed = await removeDelegation(app.db, { userName: options.user, orgNumber: options.org });
          writeLine(io.stdout, removed ? `System user '${options.user}' may no longer act for ${options.org}.` : `System user '${options.user}' had no delegation for ${options.org}.`);
        }),
      );
    });
  delegation
    .command('list')
    .description('list delegations: user name, delegated organisation, the user\'s own organisation')
    .option('--user <name>', 'only this system user')
    .option('--org <orgnr>', 'only delegations to this organisation', organisationArgument)
    .option('--json', 'one JSON object per line')
    .action(async (options: { user?: string; org?: string; json?: boolean }) => {
      await withApp(io, (app) =>
        delegationCommand(async () => {
          const delegations = await listDelegations(app.db, { userName: options.user, orgNumber: options.org });
          if (options.json) {
            for (const d of delegations) {
              writeLine(io.stdout, JSON.stringify({ user: d.userName, org: d.orgNumber, ownOrg: d.ownOrgNumber, created: d.createdAt.toISOString() }));
            }
            return;
          }
          if (delegations.length === 0) writeLine(io.stdout, 'No delegations.');
          for (const d of delegations) writeLine(io.stdout, `${d.userName}\t${d.orgNumber}\t(own organisation ${d.ownOrgNumber})`);
        }),
      );
    });
}
