/**
 * `altinn-gateway broker webhook add|list|remove`, run in-process through main() on its own
 * DATA_DIR and database.
 */
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { configureResource } from '../../src/broker/configure-resource';
import { initializeFileTransfer } from '../../src/broker/initialize-file-transfer';
import { createCliHarness, type CliHarness } from '../helpers/cli-runner';

let cli: CliHarness;
beforeAll(async () => {
  cli = await createCliHarness();
});
afterAll(() => cli.close());

const SENDER = '991825827';
const OTHER = '974760673';

it('adds a webhook, printing its secret once, lists it with its backlog, and removes it', async () => {
  const added = await cli.run(['broker', 'webhook', 'add', '--org', SENDER, '--url', 'https://receiver.example/hooks', '--events', 'published, filepurged']);
  expect(added).toMatchObject({ code: 0, stderr: '' });
  const [first, second] = added.stdout.trimEnd().split('\n');
  const id = /^Added webhook ([0-9a-f-]{36}) for 991825827: https:\/\/receiver\.example\/hooks \(events: published, filepurged\)$/.exec(first!)?.[1];
  expect(id).toBeDefined();
  const secret = /^Signing secret \(shown only now\): (whsec_\S+)$/.exec(second!)?.[1];
  // A secret the Standard Webhooks library accepts.
  expect(() => new StandardWebhook(secret!)).not.toThrow();

  const json = await cli.run(['broker', 'webhook', 'add', '--org', `0192:${OTHER}`, '--url', 'http://127.0.0.1:9/x', '--json']);
  expect(json.code).toBe(0);
  const other = JSON.parse(json.stdout);
  expect(other).toEqual({ id: expect.any(String), org: OTHER, url: 'http://127.0.0.1:9/x', eventTypes: null, created: expect.any(String), secret: expect.stringMatching(/^whsec_/) });

  // An event for the sender's organisation waits for delivery (no job runner runs in the CLI).
  await cli.inspect(async (app) => {
    await configureResource(app.broker, { orgNumber: OTHER, partyId: `0192:${OTHER}` }, 'cli-resource', {});
    await initializeFileTransfer(app.broker, { orgNumber: OTHER, partyId: `0192:${OTHER}` }, {
      resourceId: 'cli-resource',
      fileName: 'a.zip',
      sendersFileTransferReference: 'r',
      sender: `0192:${OTHER}`,
      recipients: [`0192:${SENDER}`],
      disableVirusScan: true,
    });
  });

  const listed = await cli.run(['broker', 'webhook', 'list']);
  expect(listed.code).toBe(0);
  expect(listed.stdout.trimEnd().split('\n').sort()).toEqual(
    [
      `${id}  ${SENDER}  https://receiver.example/hooks (events: published, filepurged)  pending 0, given up 0`,
      `${other.id}  ${OTHER}  http://127.0.0.1:9/x (events: all)  pending 1, given up 0`,
    ].sort(),
  );
  expect(listed.stdout).not.toContain('whsec_');
  const onlySender = await cli.run(['broker', 'webhook', 'list', '--org', SENDER, '--json']);
  expect(onlySender.stdout.trimEnd().split('\n').map((line) => JSON.parse(line))).toEqual([
    { id, org: SENDER, url: 'https://receiver.example/hooks', eventTypes: ['published', 'filepurged'], created: expect.any(String), pendingDeliveries: 0, givenUpDeliveries: 0 },
  ]);

  // --org guards a removal: another organisation's id is "not found".
  const guarded = await cli.run(['broker', 'webhook', 'remove', '--id', id!, '--org', OTHER]);
  expect(guarded).toEqual({ code: 1, stdout: '', stderr: `error: No webhook ${id} of ${OTHER}\n` });
  expect(await cli.run(['broker', 'webhook', 'remove', '--id', id!])).toEqual({ code: 0, stdout: `Removed webhook ${id}.\n`, stderr: '' });
  expect(await cli.run(['broker', 'webhook', 'remove', '--id', id!])).toEqual({ code: 1, stdout: '', stderr: `error: No webhook ${id}\n` });
  expect((await cli.run(['broker', 'webhook', 'list', '--org', SENDER])).stdout).toBe(
    `No webhooks for ${SENDER} (add one with: altinn-gateway broker webhook add --org <orgnr> --url <url>)\n`,
  );
});

it('refuses a bad organisation number or event type as a usage error, and a bad URL with the rule it breaks', async () => {
  const badOrg = await cli.run(['broker', 'webhook', 'add', '--org', '912345678', '--url', 'https://receiver.example/']);
  expect(badOrg.code).toBe(2);
  expect(badOrg.stderr).toContain('912345678 is not a valid organisation number (its check digit is wrong).');
  const badEvents = await cli.run(['broker', 'webhook', 'add', '--org', SENDER, '--url', 'https://receiver.example/', '--events', 'published,filedpurged']);
  expect(badEvents.code).toBe(2);
  expect(badEvents.stderr).toContain("'filedpurged' is not an event type.");
  const badUrl = await cli.run(['broker', 'webhook', 'add', '--org', SENDER, '--url', 'https://user:pw@receiver.example/']);
  expect(badUrl).toEqual({ code: 1, stdout: '', stderr: 'error: The url must not contain a user name or password; verify the webhook-signature header instead.\n' });
  const missing = await cli.run(['broker', 'webhook', 'add', '--org', SENDER]);
  expect(missing.code).toBe(2);
  expect(missing.stderr).toContain("required option '--url <url>' not specified");
});

it('follows BROKER_WEBHOOK_ALLOW_PRIVATE_ADDRESSES=false', async () => {
  const env = cli.env;
  cli.env.BROKER_WEBHOOK_ALLOW_PRIVATE_ADDRESSES = 'false';
  try {
    const refused = await cli.run(['broker', 'webhook', 'add', '--org', SENDER, '--url', 'http://169.254.169.254/latest/meta-data']);
    expect(refused).toEqual({
      code: 1,
      stdout: '',
      stderr: "error: The url's host 169.254.169.254 is not a public address; this gateway delivers webhooks to public addresses only.\n",
    });
  } finally {
    delete env.BROKER_WEBHOOK_ALLOW_PRIVATE_ADDRESSES;
  }
});
