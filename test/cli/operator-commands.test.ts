/**
 * The operator's commands: listing owners, services and system users (a table, or JSON lines),
 * and a system user's unlock, password reset and removal, each seen by the authenticator at once.
 */
import fs from 'node:fs';
import path from 'node:path';
import { AuthenticationError } from '../../src/auth/system-users';
import { createCliHarness, type CliHarness } from '../helpers/cli-runner';

let cli: CliHarness;
const ORG = '912345678';
const OTHER_ORG = '987654321';

beforeAll(async () => {
  cli = await createCliHarness();
  const setup: [string[], string?][] = [
    [['owner', 'add', '--org', ORG, '--name', 'Skatteetaten Test']],
    [['owner', 'add', '--org', OTHER_ORG, '--name', 'Other Etat']],
    [['service', 'add', '--owner', ORG, '--code', '4711', '--edition', '1', '--name', 'Skjema A', '--download-queue']],
    [['service', 'add', '--owner', ORG, '--code', '4712', '--edition', '2']],
    [['system-user', 'add', '--owner', ORG, '--user', 'skatt-sys'], 'first-password-1\n'],
    [['system-user', 'add', '--owner', OTHER_ORG, '--user', 'other-sys'], 'other-password-1\n'],
  ];
  for (const [args, stdin] of setup) {
    const result = await cli.run(args, { stdin });
    if (result.code !== 0) throw new Error(`${args.join(' ')}: ${result.stderr}`);
  }
});
afterAll(() => cli.close());

function jsonLines(text: string): Record<string, unknown>[] {
  return text.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** Log in as the server would (a fresh authenticator: no remembered verification). */
function login(user: string, password: string): Promise<unknown> {
  return cli.inspect((app) => app.authenticator.authenticate(user, password, '127.0.0.1'));
}

it('lists service owners as a table and as JSON lines', async () => {
  const table = await cli.run(['owner', 'list']);
  expect(table.code).toBe(0);
  const lines = table.stdout.trimEnd().split('\n');
  expect(lines[0]).toMatch(/^ORG\s+SERVICES\s+SYSTEM USERS\s+CREATED\s+NAME$/);
  expect(lines[1]).toMatch(new RegExp(`^${ORG}\\s+2\\s+1\\s+\\S+Z\\s+Skatteetaten Test$`));
  expect(lines[2]).toMatch(new RegExp(`^${OTHER_ORG}\\s+0\\s+1\\s+`));

  const json = await cli.run(['owner', 'list', '--json']);
  expect(jsonLines(json.stdout)).toEqual([
    { orgNumber: ORG, name: 'Skatteetaten Test', services: 2, systemUsers: 1, createdAt: expect.any(String) },
    { orgNumber: OTHER_ORG, name: 'Other Etat', services: 0, systemUsers: 1, createdAt: expect.any(String) },
  ]);
});

it('lists services, of every owner or of one', async () => {
  const json = await cli.run(['service', 'list', '--json']);
  expect(json.code).toBe(0);
  expect(jsonLines(json.stdout)).toEqual([
    { owner: ORG, serviceCode: '4711', serviceEditionCode: 1, name: 'Skjema A', downloadQueue: true, encrypted: false, sensitiveFields: [] },
    { owner: ORG, serviceCode: '4712', serviceEditionCode: 2, name: null, downloadQueue: false, encrypted: false, sensitiveFields: [] },
  ]);
  const table = await cli.run(['service', 'list', '--owner', ORG]);
  expect(table.stdout.split('\n')[1]).toMatch(new RegExp(`^${ORG}\\s+4711\\s+1\\s+on\\s+off\\s+Skjema A$`));
  const none = await cli.run(['service', 'list', '--owner', OTHER_ORG]);
  expect(none.stdout).toMatch(/^No services/);
  const unknown = await cli.run(['service', 'list', '--owner', '111111111']);
  expect(unknown).toMatchObject({ code: 1, stderr: expect.stringContaining('No service owner with organisation number 111111111') });
});

it('lists system users with their lock-out, and unlock lets a locked user in at once', async () => {
  // Five failures (the default limit) lock the user.
  for (let attempt = 0; attempt < 5; attempt++) await expect(login('skatt-sys', 'wrong-password')).rejects.toBeInstanceOf(AuthenticationError);
  await expect(login('skatt-sys', 'first-password-1')).rejects.toMatchObject({ reason: 'locked' });

  const locked = jsonLines((await cli.run(['system-user', 'list', '--json'])).stdout);
  expect(locked).toEqual([
    { userName: 'skatt-sys', owner: ORG, failedAttempts: 5, lockedUntil: expect.stringMatching(/Z$/), createdAt: expect.any(String) },
    { userName: 'other-sys', owner: OTHER_ORG, failedAttempts: 0, lockedUntil: null, createdAt: expect.any(String) },
  ]);
  const table = await cli.run(['system-user', 'list', '--owner', ORG]);
  expect(table.stdout.trimEnd().split('\n')).toEqual([
    expect.stringMatching(/^USER\s+OWNER\s+FAILED LOGINS\s+LOCKED UNTIL\s+CREATED$/),
    expect.stringMatching(new RegExp(`^skatt-sys\\s+${ORG}\\s+5\\s+\\S+Z\\s+\\S+Z$`)),
  ]);

  const unlocked = await cli.run(['system-user', 'unlock', '--user', 'skatt-sys']);
  expect(unlocked).toMatchObject({ code: 0, stdout: "Unlocked system user 'skatt-sys'.\n" });
  await expect(login('skatt-sys', 'first-password-1')).resolves.toMatchObject({ userName: 'skatt-sys' });
  expect(jsonLines((await cli.run(['system-user', 'list', '--owner', ORG, '--json'])).stdout)[0]).toMatchObject({ failedAttempts: 0, lockedUntil: null });

  const again = await cli.run(['system-user', 'unlock', '--user', 'skatt-sys']);
  expect(again.stdout).toBe("System user 'skatt-sys' was not locked; its failed logins are reset.\n");
  const missing = await cli.run(['system-user', 'unlock', '--user', 'nobody']);
  expect(missing).toMatchObject({ code: 1, stderr: "error: No system user named 'nobody' (list them with: altinn-gateway system-user list)\n" });
});

it('reset-password reads the new password from stdin; the old one stops working', async () => {
  const reset = await cli.run(['system-user', 'reset-password', '--user', 'other-sys'], { stdin: 'second-password-2\n' });
  expect(reset).toMatchObject({ code: 0, stdout: "New password set for system user 'other-sys'.\n" });
  await expect(login('other-sys', 'other-password-1')).rejects.toMatchObject({ reason: 'invalid_credentials' });
  await expect(login('other-sys', 'second-password-2')).resolves.toMatchObject({ userName: 'other-sys' });

  const short = await cli.run(['system-user', 'reset-password', '--user', 'other-sys'], { stdin: 'short\n' });
  expect(short).toMatchObject({ code: 1, stderr: 'error: The password must be at least 8 characters\n' });
  const none = await cli.run(['system-user', 'reset-password', '--user', 'other-sys']);
  expect(none.code).toBe(1);
  expect(none.stderr).toContain('No password given');
});

it('remove takes the user away: it can no longer log in', async () => {
  const removed = await cli.run(['system-user', 'remove', '--user', 'other-sys']);
  expect(removed).toMatchObject({ code: 0, stdout: "Removed system user 'other-sys'.\n", stderr: '' });
  await expect(login('other-sys', 'second-password-2')).rejects.toMatchObject({ reason: 'invalid_credentials' });
  expect(jsonLines((await cli.run(['system-user', 'list', '--json'])).stdout).map((u) => u.userName)).toEqual(['skatt-sys']);
  const twice = await cli.run(['system-user', 'remove', '--user', 'other-sys']);
  expect(twice.code).toBe(1);
});

it('says so when there is nothing to list', async () => {
  const empty = await createCliHarness();
  try {
    expect((await empty.run(['owner', 'list'])).stdout).toMatch(/^No service owners/);
    expect((await empty.run(['system-user', 'list'])).stdout).toMatch(/^No system users/);
    expect((await empty.run(['owner', 'list', '--json'])).stdout).toBe('');
  } finally {
    await empty.close();
  }
});

it('prints its version, and what serve serves', async () => {
  const { version } = JSON.parse(fs.readFileSync(path.join(__dirname, '../../package.json'), 'utf8')) as { version: string };
  expect(await cli.run(['--version'])).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
  const help = await cli.run(['serve', '--help']);
  expect(help.code).toBe(0);
  for (const served of [
    '/ArchiveExternal/DownloadQueueExternalBasic.svc',
    '/ServiceEngineExternal/BrokerServiceExternalBasic.svc',
    '/api/{who}/messages',
    '/api/{who}/brokerservice/',
    '/broker/api/v1/',
    '/api/help/',
    '/metrics',
    '/health/live',
    '/health/ready',
    'LOG_FORMAT=pretty',
  ]) {
    expect(help.stdout).toContain(served);
  }
});
