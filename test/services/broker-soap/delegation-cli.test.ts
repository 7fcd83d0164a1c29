/**
 * The operator's side of SOAP broker access, on the command line: an organisation that owns no
 * service gets an account (`owner add`) and a system user (`system-user add`), and
 * `system-user delegation add | list | remove` manages the organisations it may act for.
 * Bad input is refused with a message; the database is the same one the server uses.
 */
import { Readable } from 'node:stream';
import { actingOrganisations } from '../../../src/auth/system-user-delegations';
import { buildProgram, EXIT_FAILURE, EXIT_USAGE } from '../../../src/cli/main';
import { registerSystemUserDelegationCommands } from '../../../src/cli/system-user-delegation';
import { CommanderError } from 'commander';
import { CapturedOutput, createCliHarness, type CliHarness } from '../../helpers/cli-runner';
import { ORGS } from './support';

let cli: CliHarness;

beforeAll(async () => {
  cli = await createCliHarness();
});
afterAll(() => cli.close());

/** Runs a command with the delegation commands registered (whether or not main already wires them in). */
async function run(args: string[], stdin = ''): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new CapturedOutput();
  const stderr = new CapturedOutput();
  const io = { stdin: Readable.from(stdin ? [Buffer.from(stdin)] : []), stdout, stderr, env: cli.env };
  const program = buildProgram(io);
  const systemUser = program.commands.find((c) => c.name() === 'system-user');
  if (!systemUser?.commands.some((c) => c.name() === 'delegation')) registerSystemUserDelegationCommands(program, io);
  try {
    await program.parseAsync(args, { from: 'user' });
    return { code: 0, stdout: stdout.text, stderr: stderr.text };
  } catch (error) {
    if (error instanceof CommanderError) return { code: error.exitCode === 0 ? 0 : EXIT_USAGE, stdout: stdout.text, stderr: stderr.text };
    return { code: EXIT_FAILURE, stdout: stdout.text, stderr: `error: ${(error as Error).message}` };
  }
}

test('an organisation that owns no service gets a system user and delegations; list and remove them', async () => {
  // A municipality's IT provider (recipient2) acting for two municipalities.
  expect((await run(['owner', 'add', '--org', ORGS.recipient2, '--name', 'IKT-samarbeidet'])).code).toBe(0);
  expect((await run(['system-user', 'add', '--owner', ORGS.recipient2, '--user', 'ikt-integrasjonspunkt'], 'a-long-password\n')).code).toBe(0);

  const added = await run(['system-user', 'delegation', 'add', '--user', 'ikt-integrasjonspunkt', '--org', ORGS.recipient]);
  expect(added).toEqual({ code: 0, stdout: `System user 'ikt-integrasjonspunkt' may now act for ${ORGS.recipient}.\n`, stderr: '' });
  expect((await run(['system-user', 'delegation', 'add', '--user', 'ikt-integrasjonspunkt', '--org', ORGS.sender])).code).toBe(0);
  expect((await run(['system-user', 'delegation', 'add', '--user', 'ikt-integrasjonspunkt', '--org', ORGS.recipient])).stdout).toBe(
    `System user 'ikt-integrasjonspunkt' could already act for ${ORGS.recipient}.\n`,
  );

  const listed = await run(['system-user', 'delegation', 'list', '--user', 'ikt-integrasjonspunkt']);
  expect(listed.stdout).toBe(
    // By organisation number.
    `ikt-integrasjonspunkt\t${ORGS.recipient}\t(own organisation ${ORGS.recipient2})\n` + `ikt-integrasjonspunkt\t${ORGS.sender}\t(own organisation ${ORGS.recipient2})\n`,
  );
  const json = (await run(['system-user', 'delegation', 'list', '--org', ORGS.recipient, '--json'])).stdout.trim().split('\n').map((line) => JSON.parse(line));
  expect(json).toEqual([{ user: 'ikt-integrasjonspunkt', org: ORGS.recipient, ownOrg: ORGS.recipient2, created: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/) }]);

  expect(await cli.inspect(async (app) => {
    const user = await app.db('system_users').where({ user_name: 'ikt-integrasjonspunkt' }).first('id');
    return actingOrganisations(app.db, user.id);
  })).toEqual({ own: ORGS.recipient2, delegated: [ORGS.sender, ORGS.recipient].sort() });

  expect((await run(['system-user', 'delegation', 'remove', '--user', 'ikt-integrasjonspunkt', '--org', ORGS.sender])).stdout).toBe(
    `System user 'ikt-integrasjonspunkt' may no longer act for ${ORGS.sender}.\n`,
  );
  expect((await run(['system-user', 'delegation', 'list', '--user', 'ikt-integrasjonspunkt'])).stdout).toBe(
    `ikt-integrasjonspunkt\t${ORGS.recipient}\t(own organisation ${ORGS.recipient2})\n`,
  );
});

test('bad input is refused with a reason', async () => {
  const badCheckDigit = await run(['system-user', 'delegation', 'add', '--user', 'x', '--org', '974760674']);
  expect(badCheckDigit.code).toBe(EXIT_USAGE);
  expect(badCheckDigit.stderr).toContain('974760674 is not a valid organisation number (its check digit is wrong).');

  expect(await run(['system-user', 'delegation', 'add', '--user', 'nobody', '--org', ORGS.recipient])).toMatchObject({
    code: EXIT_FAILURE,
    stderr: "error: No system user named 'nobody'",
  });

  expect((await run(['owner', 'add', '--org', ORGS.stranger, '--name', 'Stranger AS'])).code).toBe(0);
  expect((await run(['system-user', 'add', '--owner', ORGS.stranger, '--user', 'stranger-system'], 'another-long-password\n')).code).toBe(0);
  expect(await run(['system-user', 'delegation', 'add', '--user', 'stranger-system', '--org', ORGS.stranger])).toMatchObject({
    code: EXIT_FAILURE,
    stderr: `error: ${ORGS.stranger} is the system user's own organisation: it acts for it without a delegation`,
  });
  expect((await run(['system-user', 'delegation', 'remove', '--user', 'stranger-system', '--org', ORGS.sender])).stdout).toBe(
    `System user 'stranger-system' had no delegation for ${ORGS.sender}.\n`,
  );
});
