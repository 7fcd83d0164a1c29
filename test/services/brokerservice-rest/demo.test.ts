/**
 * The demo's Altinn 2 REST brokerservice walk-through, run as printed (bash and curl) against a
 * server with the demo seeded: the outbox POST, the sender's receipt, the inbox list, the download
 * and the confirmation, by the demo person acting for the demo sender and recipient.
 */
import { issueLocalToken } from '../../../src/auth/end-user-tokens';
import { formatDemoInstructions } from '../../../src/demo/instructions';
import { DEMO, seedDemo, type DemoInfo } from '../../../src/demo/seed';
import { buildServer } from '../../../src/server';
import { createTestApp, type TestApp } from '../../helpers/database';
import { runProcess, type ProcessRun } from '../../helpers/processes';

let app: TestApp;
let demo: DemoInfo;
let url: string;
let close: () => Promise<void>;

beforeAll(async () => {
  app = await createTestApp();
  demo = await seedDemo(app);
  const server = buildServer(app, { logger: false });
  url = await server.listen({ port: 0, host: '127.0.0.1' });
  close = async () => {
    await server.close();
    await app.close();
  };
});
afterAll(() => close?.());

function bash(script: string): Promise<ProcessRun> {
  // Asynchronous: the server answering these calls runs in this process. --norc: with its stdin a
  // socket (Node's pipes are socketpairs) and SHLVL unset or 0, as under a CI agent, bash takes
  // itself for an ssh session and reads /etc/bash.bashrc, which fails under -u.
  return runProcess('bash', ['--norc', '--noprofile', '-euo', 'pipefail', '-c', script]);
}

it('the printed Altinn 2 REST commands send, list, download and confirm a file', async () => {
  const text = formatDemoInstructions(demo, url, { dataDir: app.dataDir });
  const lines = text.split('\n');
  const start = lines.findIndex((line) => line.startsWith('Altinn 2 REST brokerservice API'));
  expect(start).toBeGreaterThan(0);
  const commands = lines.slice(start + 1).join('\n');
  const token = await issueLocalToken(app.config.messages.jwt, app.dataDir, { person: DEMO.person, authLevel: 4, ttlSeconds: 600 });
  // KEY and TOKEN as the REST walk-through above them sets them.
  const run = await bash(`KEY='${demo.apiKey!}'\nTOKEN='${token}'\n${commands}\necho "REF=$REF"`);
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  const ref = /REF=([0-9a-f-]{36})$/m.exec(run.stdout)![1]!;
  expect(run.stdout).toContain(`Upload of file ${ref} was successful.`);
  expect(run.stdout).toContain(`"FileReference":"${ref}"`);
  expect(run.stdout).toContain('Hei fra Altinn 2\n');
  expect(run.stdout).toContain('"Text":"File has been downloaded by the recipient."');
});
