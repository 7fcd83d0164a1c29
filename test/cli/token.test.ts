/**
 * `altinn-gateway token --org … --scope …`, run in-process through main(): it prints an
 * organisation token the broker's verifier accepts, and refuses bad combinations as usage errors
 * (exit 2). The command needs no database, only DATA_DIR's issuer key.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { createTokenVerifier } from '../../src/auth/end-user-tokens';
import { createOrganisationTokenVerifier } from '../../src/auth/organisation-tokens';
import { main } from '../../src/cli/main';
import { loadConfig } from '../../src/config';
import { CapturedOutput, type CliRun } from '../helpers/cli-runner';

let workDir: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), 'agw-cli-token-'));
  env = { DATA_DIR: path.join(workDir, 'data'), LOG_LEVEL: 'silent' };
});
afterAll(() => rm(workDir, { recursive: true, force: true }));

async function token(args: string[], environment = env): Promise<CliRun> {
  const stdout = new CapturedOutput();
  const stderr = new CapturedOutput();
  const code = await main(['token', ...args], { stdin: Readable.from([]), stdout, stderr, env: environment });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

const config = () => loadConfig(env);

it('prints an organisation token that verifies, with its scopes and lifetime', async () => {
  const printed = await token(['--org', '991825827', '--scope', 'altinn:broker.write altinn:broker.read', '--minutes', '5']);
  expect(printed).toMatchObject({ code: 0, stderr: '' });
  expect(printed.stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
  const jwt = printed.stdout.trim();
  expect(await createOrganisationTokenVerifier(config().messages.jwt, config().dataDir).verify(jwt)).toEqual({
    orgNumber: '991825827',
    partyId: '0192:991825827',
    scopes: new Set(['altinn:broker.write', 'altinn:broker.read']),
  });
  const claims = JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8'));
  expect(claims.exp - claims.iat).toBe(300);
});

it('takes --scope more than once, and keeps the --person form', async () => {
  const twice = await token(['--org', '974760673', '--scope', 'altinn:serviceowner', '--scope', 'altinn:broker.read altinn:serviceowner']);
  expect(twice.code).toBe(0);
  expect(await createOrganisationTokenVerifier(config().messages.jwt, config().dataDir).verify(twice.stdout.trim())).toMatchObject({
    orgNumber: '974760673',
    scopes: new Set(['altinn:serviceowner', 'altinn:broker.read']),
  });
  const person = await token(['--person', '01017012345', '--level', '4']);
  expect(person.code).toBe(0);
  expect(await createTokenVerifier(config().messages.jwt, config().dataDir).verify(person.stdout.trim())).toEqual({ person: '01017012345', authLevel: 4 });
});

it.each<[string, string[], string]>([
  ['neither --person nor --org', [], 'error: give --person <fnr> (an end user) or --org <orgnr> (an organisation)'],
  ['both --person and --org', ['--person', '01017012345', '--org', '991825827', '--scope', 'altinn:broker.read'], "error: option '--org <orgnr>' cannot be used with option '--person <fnr>'"],
  ['--org without --scope', ['--org', '991825827'], 'error: --org needs --scope (any of altinn:broker.write, altinn:broker.read, altinn:serviceowner)'],
  ['--scope with --person', ['--person', '01017012345', '--scope', 'altinn:broker.read'], "error: option '--scope <scopes>' cannot be used with option '--person <fnr>'"],
  ['--level with --org', ['--org', '991825827', '--scope', 'altinn:broker.read', '--level', '4'], "error: option '--level <n>' cannot be used with option '--org <orgnr>'"],
  [
    'an unknown scope',
    ['--org', '991825827', '--scope', 'altinn:broker.write altinn:instances.read'],
    "Unknown scope 'altinn:instances.read': the broker's scopes are altinn:broker.write, altinn:broker.read, altinn:serviceowner.",
  ],
  ['an empty --scope', ['--org', '991825827', '--scope', ' '], 'Give one or more of altinn:broker.write, altinn:broker.read, altinn:serviceowner.'],
  ['a bad check digit', ['--org', '912345678', '--scope', 'altinn:broker.read'], '912345678 is not a valid organisation number (its check digit is wrong).'],
  ['a party id instead of a number', ['--org', '0192:991825827', '--scope', 'altinn:broker.read'], 'An organisation number is exactly 9 digits.'],
])('%s is a usage error', async (_case, args, message) => {
  const refused = await token(args);
  expect(refused.code).toBe(2);
  expect(refused.stdout).toBe('');
  expect(refused.stderr).toContain(message);
});

it('with JWT_JWKS_URL set, the gateway issues no organisation tokens', async () => {
  const elsewhere = { ...env, JWT_JWKS_URL: 'https://maskinporten.test/jwk', JWT_ISSUER: 'https://maskinporten.test/' };
  expect(await token(['--org', '991825827', '--scope', 'altinn:broker.write'], elsewhere)).toEqual({
    code: 1,
    stdout: '',
    stderr: 'error: JWT_JWKS_URL is set, so tokens come from https://maskinporten.test/: the gateway does not issue its own\n',
  });
});

it('--help describes both forms', async () => {
  const help = await token(['--help']);
  expect(help.code).toBe(0);
  const text = help.stdout.replace(/\s+/g, ' '); // commander wraps the description
  expect(text).toContain("an organisation's Maskinporten-shaped one for the broker API (--org with --scope)");
  expect(text).toContain('altinn-gateway token --org 991825827 --scope "altinn:broker.write altinn:broker.read"');
});
