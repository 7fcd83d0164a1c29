/**
 * The verifier's memory of tokens it has verified (createJwtVerifier): a client sends the same
 * token with every request, and checking its signature each time cost a quarter of a millisecond.
 * What must hold: a remembered token is accepted exactly as long as jose itself would accept it
 * (exp and nbf, with the same 30 s tolerance, by the same wall clock), and never longer than
 * VERIFIED_TOKEN_TRUST_MS without its signature being checked again; a refused token is checked
 * again every time. jose's jwtVerify is wrapped to count the signature checks.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { importJWK, jwtVerify, SignJWT, type JWTPayload } from 'jose';
import { createJwtVerifier, loadOrCreateIssuerKey, TokenError, VERIFIED_TOKEN_TRUST_MS } from '../../src/auth/end-user-tokens';
import { BROKER_SCOPES, createOrganisationTokenVerifier, issueLocalOrganisationToken } from '../../src/auth/organisation-tokens';
import { loadConfig, type MessagesConfig } from '../../src/config';

jest.mock('jose', () => {
  const actual = jest.requireActual<typeof import('jose')>('jose');
  return { ...actual, jwtVerify: jest.fn(actual.jwtVerify) };
});
const signatureChecks = jwtVerify as jest.MockedFunction<typeof jwtVerify>;

const ORG = '991825827';
const START = Date.parse('2026-11-28T12:00:00Z');

let dataDir: string;
let jwt: MessagesConfig['jwt'];
beforeEach(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'agw-verified-tokens-'));
  jwt = loadConfig({}).messages.jwt;
  // Only the wall clock is faked: jose reads it with `new Date()`, the cache with Date.now().
  jest.useFakeTimers({ now: START, doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask', 'setTimeout', 'setInterval', 'clearTimeout', 'clearInterval'] });
  signatureChecks.mockClear();
});
afterEach(async () => {
  jest.useRealTimers();
  await rm(dataDir, { recursive: true, force: true });
});

const at = (secondsAfterStart: number) => jest.setSystemTime(START + secondsAfterStart * 1000);

async function sign(claims: JWTPayload, times: { exp: number; nbf?: number }): Promise<string> {
  const { privateJwk } = await loadOrCreateIssuerKey(dataDir);
  const token = new SignJWT({ ...claims, exp: Math.floor(START / 1000) + times.exp })
    .setProtectedHeader({ alg: 'ES256', kid: privateJwk.kid })
    .setIssuer(jwt.issuer)
    .setIssuedAt(Math.floor(START / 1000));
  if (times.nbf !== undefined) token.setNotBefore(Math.floor(START / 1000) + times.nbf);
  return token.sign(await importJWK(privateJwk, 'ES256'));
}

async function refusal(verification: Promise<unknown>): Promise<string> {
  const error = await verification.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(TokenError);
  return (error as TokenError).message;
}

it('checks a token’s signature once, and answers the same claims for every later request with it', async () => {
  const verifier = createOrganisationTokenVerifier(jwt, dataDir);
  const token = await issueLocalOrganisationToken(jwt, dataDir, { orgNumber: ORG, scopes: [BROKER_SCOPES.write], ttlSeconds: 120 });
  const first = await verifier.verify(token);
  for (let request = 0; request < 5; request++) expect(await verifier.verify(token)).toEqual(first);
  expect(first).toEqual({ orgNumber: ORG, partyId: `0192:${ORG}`, scopes: new Set([BROKER_SCOPES.write]) });
  expect(signatureChecks).toHaveBeenCalledTimes(1);

  // Another token of the same organisation is another entry.
  const other = await issueLocalOrganisationToken(jwt, dataDir, { orgNumber: ORG, scopes: [BROKER_SCOPES.read], ttlSeconds: 120 });
  expect((await verifier.verify(other)).scopes).toEqual(new Set([BROKER_SCOPES.read]));
  expect(signatureChecks).toHaveBeenCalledTimes(2);
});

it('stops accepting a remembered token when jose would: 30 s after its exp, by the same clock', async () => {
  const verify = createJwtVerifier(jwt, dataDir);
  const token = await sign({ sub: 'a' }, { exp: 60 });
  expect((await verify(token)).sub).toBe('a');
  at(89);
  expect((await verify(token)).sub).toBe('a');
  expect(signatureChecks).toHaveBeenCalledTimes(1);
  at(90);
  expect(await refusal(verify(token))).toBe('the token has expired');
  expect(await refusal(verify(token))).toBe('the token has expired');
  expect(signatureChecks).toHaveBeenCalledTimes(3);
});

it('accepts a token from 30 s before its nbf, and a remembered one not before then if the clock goes back', async () => {
  const verify = createJwtVerifier(jwt, dataDir);
  const token = await sign({ sub: 'b' }, { nbf: 100, exp: 600 });
  expect(await refusal(verify(token))).toBe('the token\'s \'nbf\' claim is not accepted (check_failed)');
  at(70);
  expect((await verify(token)).sub).toBe('b');
  at(69); // the wall clock stepped back
  expect(await refusal(verify(token))).toBe('the token\'s \'nbf\' claim is not accepted (check_failed)');
  expect(signatureChecks).toHaveBeenCalledTimes(3);
});

it('checks the signature again once a token has been trusted for VERIFIED_TOKEN_TRUST_MS', async () => {
  const verify = createJwtVerifier(jwt, dataDir);
  const token = await sign({ sub: 'c' }, { exp: 3600 });
  await verify(token);
  at(VERIFIED_TOKEN_TRUST_MS / 1000 - 1);
  await verify(token);
  expect(signatureChecks).toHaveBeenCalledTimes(1);
  at(VERIFIED_TOKEN_TRUST_MS / 1000);
  await verify(token);
  expect(signatureChecks).toHaveBeenCalledTimes(2);
  await verify(token);
  expect(signatureChecks).toHaveBeenCalledTimes(2);
});

it('remembers no refused token, and no token signed by another key however often it comes', async () => {
  const verify = createJwtVerifier(jwt, dataDir);
  const good = await sign({ sub: 'd' }, { exp: 600 });
  const [header, payload] = good.split('.');
  const forged = `${header}.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload, 'base64url').toString()), sub: 'e' })).toString('base64url')}.${good.split('.')[2]}`;
  for (let attempt = 0; attempt < 3; attempt++) expect(await refusal(verify(forged))).toBe('the token signature is not valid');
  expect(signatureChecks).toHaveBeenCalledTimes(3);
  // The genuine token verified in between does not vouch for the forged one.
  expect((await verify(good)).sub).toBe('d');
  expect(await refusal(verify(forged))).toBe('the token signature is not valid');
  expect(signatureChecks).toHaveBeenCalledTimes(5);
});

it('hands every request the same frozen claims, so none can change what the next one sees', async () => {
  const verify = createJwtVerifier(jwt, dataDir);
  const token = await sign({ consumer: { authority: 'iso6523-actorid-upis', ID: `0192:${ORG}` } }, { exp: 600 });
  const claims = await verify(token);
  expect(() => {
    (claims.consumer as Record<string, string>).ID = '0192:974760673';
  }).toThrow(TypeError);
  expect(((await verify(token)).consumer as Record<string, string>).ID).toBe(`0192:${ORG}`);
});

it('keeps one verifier’s memory to itself: a verifier with an audience checks a token another accepted', async () => {
  const token = await sign({ sub: 'f' }, { exp: 600 });
  expect((await createJwtVerifier(jwt, dataDir)(token)).sub).toBe('f');
  expect(await refusal(createJwtVerifier({ ...jwt, audience: 'https://gateway.example' }, dataDir)(token))).toBe("the token has no 'aud' claim");
});
