/**
 * The admin commands of the REST messages API, run in-process: `apikey`, `token`, `role`, and the
 * service definition options of `service add` / `service define` / `service definition`. Then a
 * server on the same DATA_DIR accepts the key and the token the commands printed.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { openApp } from '../../src/app';
import { findApiClientByKey } from '../../src/auth/api-keys';
import { createTokenVerifier } from '../../src/auth/end-user-tokens';
import { loadConfig } from '../../src/config';
import { getServiceDefinition } from '../../src/messages/service-definitions';
import { buildServer } from '../../src/server';
import { createCliHarness, type CliHarness } from '../helpers/cli-runner';

const ORG = '912345678';
const PERSON = '01017012345';
let cli: CliHarness;

beforeAll(async () => {
  cli = await createCliHarness();
  expect((await cli.run(['owner', 'add', '--org', ORG, '--name', 'Etaten'])).code).toBe(0);
});
afterAll(() => cli?.close());

it('apikey add prints a key alone on stdout; list shows clients but never keys; revoke stops it', async () => {
  const added = await cli.run(['apikey', 'add', '--name', 'Fagsystem']);
  expect(added.code).toBe(0);
  const key = added.stdout.trim();
  expect(key).toMatch(/^agw_[A-Za-z0-9_-]{43}$/);
  expect(added.stderr).toContain('shown only now');
  expect(await cli.inspect((app) => findApiClientByKey(app.db, key))).toMatchObject({ name: 'Fagsystem' });

  const duplicate = await cli.run(['apikey', 'add', '--name', 'Fagsystem']);
  expect(duplicate).toMatchObject({ code: 1, stderr: "error: An API client named 'Fagsystem' already exists\n" });
  const listed = await cli.run(['apikey', 'list']);
  expect(listed.stdout).toMatch(/^Fagsystem\tcreated \S+\tactive\n$/);
  expect(listed.stdout).not.toContain(key.slice(4, 20));

  expect((await cli.run(['apikey', 'revoke', '--name', 'Fagsystem'])).stdout).toBe("Revoked the API key of 'Fagsystem'.\n");
  expect(await cli.inspect((app) => findApiClientByKey(app.db, key))).toBeUndefined();
  expect((await cli.run(['apikey', 'list'])).stdout).toMatch(/\trevoked /);
});

it('token prints a token the server verifies (person and level); bad arguments are usage errors', async () => {
  const printed = await cli.run(['token', '--person', PERSON, '--level', '4', '--minutes', '5']);
  expect(printed.code).toBe(0);
  const token = printed.stdout.trim();
  const config = loadConfig(cli.env);
  expect(await createTokenVerifier(config.messages.jwt, config.dataDir).verify(token)).toEqual({ person: PERSON, authLevel: 4 });
  expect((await cli.run(['token', '--person', '123', '--level', '4'])).code).toBe(2);
  expect((await cli.run(['token', '--person', PERSON, '--level', '7'])).code).toBe(2);
  const elsewhere = { ...cli.env, JWT_JWKS_URL: 'https://idporten.test/jwks.json', JWT_ISSUER: 'https://idporten.test/' };
  const saved = { ...cli.env };
  Object.assign(cli.env, elsewhere);
  try {
    expect(await cli.run(['token', '--person', PERSON])).toMatchObject({ code: 1, stderr: expect.stringContaining('JWT_JWKS_URL is set') });
  } finally {
    for (const key of Object.keys(cli.env)) delete cli.env[key];
    Object.assign(cli.env, saved);
  }
});

it('role add / list / remove', async () => {
  expect((await cli.run(['role', 'add', '--person', PERSON, '--org', ORG])).stdout).toBe(`${PERSON} may now act for ${ORG}.\n`);
  expect((await cli.run(['role', 'add', '--person', PERSON, '--org', ORG])).stdout).toBe(`${PERSON} could already act for ${ORG}.\n`);
  expect((await cli.run(['role', 'list', '--org', ORG])).stdout).toBe(`${PERSON}\t${ORG}\n`);
  expect((await cli.run(['role', 'remove', '--person', PERSON, '--org', ORG])).code).toBe(0);
  expect((await cli.run(['role', 'list'])).stdout).toBe('No roles.\n');
  expect(await cli.run(['role', 'remove', '--person', PERSON, '--org', ORG])).toMatchObject({ code: 1, stderr: `error: ${PERSON} has no role for ${ORG}\n` });
  expect((await cli.run(['role', 'add', '--person', PERSON, '--org', '12'])).code).toBe(2);
});

it('service add takes a definition as options or as a file; service define replaces it; service definition prints it', async () => {
  const added = await cli.run([
    'service', 'add', '--owner', ORG, '--code', '4711', '--edition', '1', '--download-queue',
    '--main-form', '5703:34114,34115', '--sub-form', '5704:1', '--sub-form', '5705:2',
    '--attachment-rule', 'Vedlegg;application/pdf,image/png;10MiB;5', '--attachment-rule', 'Stort;*;1GB;1',
  ]);
  expect(added.code).toBe(0);
  const shown = await cli.run(['service', 'definition', '--owner', ORG, '--code', '4711', '--edition', '1']);
  expect(JSON.parse(shown.stdout)).toEqual({
    mainForm: { dataFormatId: '5703', dataFormatVersions: [34114, 34115] },
    subForms: [{ dataFormatId: '5704', dataFormatVersions: [1] }, { dataFormatId: '5705', dataFormatVersions: [2] }],
    attachmentRules: [
      { attachmentTypeName: 'Vedlegg', allowedMimeTypes: ['application/pdf', 'image/png'], maxFileSizeBytes: 10 * 1024 * 1024, maxAttachmentCount: 5 },
      { attachmentTypeName: 'Stort', allowedMimeTypes: ['*'], maxFileSizeBytes: 1e9, maxAttachmentCount: 1 },
    ],
  });

  const file = path.join(cli.workDir, 'service.json');
  await writeFile(file, JSON.stringify({ mainForm: { dataFormatId: '6000', dataFormatVersions: [1] }, subForms: [], attachmentRules: [] }));
  expect((await cli.run(['service', 'add', '--owner', ORG, '--code', '4712', '--edition', '1', '--definition', file])).code).toBe(0);
  const defined = await cli.run(['service', 'define', '--owner', ORG, '--code', '4711', '--edition', '1', '--definition', file]);
  expect(defined.stdout).toBe('Service 4711 edition 1 now accepts: main form 6000 v1; sub forms none; attachments none.\n');

  // A bad file is named with the member, and nothing is added.
  await writeFile(file, JSON.stringify({ mainForm: { dataFormatId: '6000', dataFormatVersions: ['x'] } }));
  const bad = await cli.run(['service', 'add', '--owner', ORG, '--code', '4713', '--edition', '1', '--definition', file]);
  expect(bad).toMatchObject({ code: 1, stderr: 'error: service.json.mainForm.dataFormatVersions[0]: must be a whole number from 0 to 2147483647\n' });
  expect(await cli.inspect((app) => app.db('services').where({ service_code: '4713' }).first())).toBeUndefined();
  expect((await cli.run(['service', 'add', '--owner', ORG, '--code', '4714', '--edition', '1', '--attachment-rule', 'Vedlegg;pdf;1MB;1'])).code).toBe(2);

  expect((await cli.run(['service', 'define', '--owner', ORG, '--code', '4711', '--edition', '1', '--clear'])).code).toBe(0);
  expect(await cli.inspect(async (app) => getServiceDefinition(app.db, (await app.db('services').where({ service_code: '4711' }).first()).id))).toBeUndefined();
});

it('a server on the same DATA_DIR accepts the printed key and token', async () => {
  const key = (await cli.run(['apikey', 'add', '--name', 'Server test'])).stdout.trim();
  const token = (await cli.run(['token', '--person', PERSON, '--level', '3'])).stdout.trim();
  const app = await openApp(loadConfig(cli.env));
  const server = buildServer(app, { logger: false });
  try {
    const url = await server.listen({ port: 0, host: '127.0.0.1' });
    const response = await fetch(`${url}/api/my/messages`, { headers: { apikey: key, authorization: `Bearer ${token}` } });
    expect(response.status).toBe(200);
    expect(((await response.json()) as any)._embedded.messages).toEqual([]);
  } finally {
    await server.close();
    await app.close();
  }
});
