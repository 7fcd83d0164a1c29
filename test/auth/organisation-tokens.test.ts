/**
 * Organisations' Maskinporten-shaped tokens for the broker API: the gateway's own issuer key in
 * DATA_DIR (shared with end-user tokens), and a configured issuer's JWKS served over real HTTP.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWTPayload, type KeyLike } from 'jose';
import { createTokenVerifier, issueLocalToken, loadOrCreateIssuerKey } from '../../src/auth/end-user-tokens';
import {
  BROKER_SCOPES,
  createOrganisationTokenVerifier,
  issueLocalOrganisationToken,
  TokenError,
  type Organisation,
} from '../../src/auth/organisation-tokens';
import { loadConfig, type MessagesConfig } from '../../src/config';

const ORG = '991825827';
const CONSUMER = { authority: 'iso6523-actorid-upis', ID: `0192:${ORG}` };

function organisation(scopes: string[], orgNumber = ORG): Organisation {
  return { orgNumber, partyId: `0192:${orgNumber}`, scopes: new Set(scopes) };
}

async function expectRefused(verification: Promise<unknown>, reason: string): Promise<void> {
  const error: unknown = await verification.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(TokenError);
  expect((error as TokenError).message).toBe(reason);
}

it('exports the three broker scopes', () => {
  expect(BROKER_SCOPES).toEqual({ write: 'altinn:broker.write', read: 'altinn:broker.read', serviceOwner: 'altinn:serviceowner' });
});

describe('the gateway as issuer (DATA_DIR key)', () => {
  let dataDir: string;
  let jwt: MessagesConfig['jwt'];
  beforeEach(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'agw-org-tokens-'));
    jwt = loadConfig({}).messages.jwt;
  });
  afterEach(() => rm(dataDir, { recursive: true, force: true }));

  /** Signs arbitrary claims with the local issuer key, as a misbehaving client of it could. */
  async function signLocally(claims: JWTPayload, options: { issuer?: string; expiresAt?: number | null } = {}): Promise<string> {
    const { privateJwk } = await loadOrCreateIssuerKey(dataDir);
    const token = new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: privateJwk.kid }).setIssuer(options.issuer ?? jwt.issuer).setIssuedAt();
    if (options.expiresAt !== null) token.setExpirationTime(options.expiresAt ?? Math.floor(Date.now() / 1000) + 300);
    return token.sign(await importJWK(privateJwk, 'ES256'));
  }

  it('issues a Maskinporten-shaped token that verifies to the organisation, its party id and scopes', async () => {
    const token = await issueLocalOrganisationToken(jwt, dataDir, { orgNumber: ORG, scopes: [BROKER_SCOPES.write, BROKER_SCOPES.read], ttlSeconds: 300 });
    const [header, payload] = token.split('.').slice(0, 2).map((part) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8')));
    expect(header).toMatchObject({ alg: 'ES256', typ: 'JWT', kid: expect.any(String) });
    expect(payload).toEqual({
      consumer: CONSUMER,
      scope: 'altinn:broker.write altinn:broker.read',
      token_type: 'Bearer',
      iss: jwt.issuer,
      iat: expect.any(Number),
      exp: payload.iat + 300,
      jti: expect.stringMatching(/^[0-9a-f-]{36}$/),
    });
    expect(await createOrganisationTokenVerifier(jwt, dataDir).verify(token)).toEqual(organisation([BROKER_SCOPES.write, BROKER_SCOPES.read]));
  });

  it('shares the key with end-user tokens, yet neither verifier accepts the other kind', async () => {
    const orgToken = await issueLocalOrganisationToken(jwt, dataDir, { orgNumber: ORG, scopes: [BROKER_SCOPES.serviceOwner], ttlSeconds: 60 });
    const endUserToken = await issueLocalToken(jwt, dataDir, { person: '01017012345', authLevel: 4, ttlSeconds: 60 });
    await expectRefused(createOrganisationTokenVerifier(jwt, dataDir).verify(endUserToken), "the token names no organisation (no 'consumer' claim)");
    await expectRefused(createTokenVerifier(jwt, dataDir).verify(orgToken), "the token's 'pid' claim is not a national identity number (11 digits)");
  });

  it('refuses a token signed by another key, another issuer, an audience it lacks, expired, or without exp', async () => {
    const verifier = createOrganisationTokenVerifier(jwt, dataDir);
    const otherDir = await mkdtemp(path.join(tmpdir(), 'agw-org-tokens-other-'));
    try {
      const foreign = await issueLocalOrganisationToken(jwt, otherDir, { orgNumber: ORG, scopes: [BROKER_SCOPES.write], ttlSeconds: 60 });
      await expectRefused(verifier.verify(foreign), 'the token signature is not valid');
    } finally {
      await rm(otherDir, { recursive: true, force: true });
    }
    await expectRefused(verifier.verify(await signLocally({ consumer: CONSUMER }, { issuer: 'https://maskinporten.test/' })), "the token's 'iss' claim is not accepted (check_failed)");
    const expired = await issueLocalOrganisationToken(jwt, dataDir, { orgNumber: ORG, scopes: [BROKER_SCOPES.write], ttlSeconds: -300 });
    await expectRefused(verifier.verify(expired), 'the token has expired');
    // End-user tokens may omit exp; an organisation's machine credential may not.
    await expectRefused(verifier.verify(await signLocally({ consumer: CONSUMER, scope: BROKER_SCOPES.write }, { expiresAt: null })), "the token has no 'exp' claim");
    await expectRefused(verifier.verify('not.a.token'), 'the token is not a well-formed signed JWT');

    const withAudience = { ...jwt, audience: 'altinn-gateway-broker' };
    const noAudience = await issueLocalOrganisationToken(jwt, dataDir, { orgNumber: ORG, scopes: [BROKER_SCOPES.write], ttlSeconds: 60 });
    await expectRefused(createOrganisationTokenVerifier(withAudience, dataDir).verify(noAudience), "the token has no 'aud' claim");
    const otherAudience = await issueLocalOrganisationToken({ ...jwt, audience: 'someone-else' }, dataDir, { orgNumber: ORG, scopes: [BROKER_SCOPES.write], ttlSeconds: 60 });
    await expectRefused(createOrganisationTokenVerifier(withAudience, dataDir).verify(otherAudience), "the token's 'aud' claim is not accepted (check_failed)");
    const rightAudience = await issueLocalOrganisationToken(withAudience, dataDir, { orgNumber: ORG, scopes: [BROKER_SCOPES.write], ttlSeconds: 60 });
    expect(await createOrganisationTokenVerifier(withAudience, dataDir).verify(rightAudience)).toEqual(organisation([BROKER_SCOPES.write]));
  });

  it.each<[string, JWTPayload, string]>([
    ['no consumer', { scope: BROKER_SCOPES.write }, "the token names no organisation (no 'consumer' claim)"],
    ['a consumer that is a string', { consumer: JSON.stringify(CONSUMER) }, "the token's 'consumer' claim is not an object"],
    ['a consumer that is a list', { consumer: [CONSUMER] }, "the token's 'consumer' claim is not an object"],
    ['another authority', { consumer: { ...CONSUMER, authority: 'iso6523' } }, "the token's consumer authority is not 'iso6523-actorid-upis'"],
    ['no authority', { consumer: { ID: CONSUMER.ID } }, "the token's consumer authority is not 'iso6523-actorid-upis'"],
    ['no ID', { consumer: { authority: CONSUMER.authority } }, "the token's consumer has no 'ID'"],
    ['a numeric ID', { consumer: { ...CONSUMER, ID: 991825827 } }, "the token's consumer has no 'ID'"],
    [
      'a bad check digit',
      { consumer: { ...CONSUMER, ID: '0192:912345678' } },
      "the token's consumer ID is refused: 912345678 is not a valid organisation number (its check digit is wrong)",
    ],
    [
      'another register',
      { consumer: { ...CONSUMER, ID: '9908:991825827' } },
      "the token's consumer ID is refused: '9908:991825827' names a party in the register with ICD 9908: only 0192 (Norwegian organisation numbers) is accepted; 9908 is the retired code of the same register: write 0192:991825827",
    ],
    [
      'a person',
      { consumer: { ...CONSUMER, ID: '01017012345' } },
      "the token's consumer ID is refused: a national identity number cannot be a broker party: give an organisation as 0192:<organisation number>",
    ],
    ['the URN form', { consumer: { ...CONSUMER, ID: `urn:altinn:organization:identifier-no:${ORG}` } }, "the token's consumer ID is not of the form 0192:<organisation number>"],
    ['a disagreeing urn:altinn:orgNumber', { consumer: CONSUMER, 'urn:altinn:orgNumber': '974760673' }, "the token's 'urn:altinn:orgNumber' claim disagrees with its consumer"],
    ['a scope that is a number', { consumer: CONSUMER, scope: 42 }, "the token's 'scope' claim is neither a space-separated string nor a list of scopes"],
    ['a scope list with a non-string', { consumer: CONSUMER, scope: [BROKER_SCOPES.write, 7] }, "the token's 'scope' claim is neither a space-separated string nor a list of scopes"],
    ['a scope list with a space inside', { consumer: CONSUMER, scope: ['altinn:broker.write altinn:broker.read'] }, "the token's 'scope' claim is neither a space-separated string nor a list of scopes"],
  ])('refuses a token with %s', async (_case, claims, reason) => {
    await expectRefused(createOrganisationTokenVerifier(jwt, dataDir).verify(await signLocally(claims)), reason);
  });

  it.each<[string, JWTPayload, string[]]>([
    ['a space-separated string', { scope: ' altinn:broker.read  altinn:serviceowner ' }, [BROKER_SCOPES.read, BROKER_SCOPES.serviceOwner]],
    ['a list', { scope: [BROKER_SCOPES.write, 'altinn:instances.read'] }, [BROKER_SCOPES.write, 'altinn:instances.read']],
    ['an empty string', { scope: '' }, []],
    ['no scope claim (a 403 for the route to give, not a 401)', {}, []],
    ["Altinn's agreeing urn:altinn:orgNumber", { scope: BROKER_SCOPES.read, 'urn:altinn:orgNumber': ORG }, [BROKER_SCOPES.read]],
  ])('reads scopes from %s', async (_case, claims, scopes) => {
    const verified = await createOrganisationTokenVerifier(jwt, dataDir).verify(await signLocally({ consumer: CONSUMER, ...claims }));
    expect(verified).toEqual(organisation(scopes));
  });

  it('issues only for a valid organisation, scope tokens and a whole lifetime', async () => {
    const issue = (request: { orgNumber?: string; scopes?: string[]; ttlSeconds?: number }) =>
      issueLocalOrganisationToken(jwt, dataDir, { orgNumber: ORG, scopes: [BROKER_SCOPES.write], ttlSeconds: 60, ...request });
    await expectRefused(issue({ orgNumber: '912345678' }), '912345678 is not a valid organisation number (its check digit is wrong)');
    await expectRefused(issue({ orgNumber: '0192:991825827' }), 'an organisation number is exactly 9 digits');
    await expectRefused(issue({ scopes: ['altinn:broker.write altinn:broker.read'] }), "'altinn:broker.write altinn:broker.read' is not a scope (printable ASCII without spaces, quotes or backslashes)");
    await expectRefused(issue({ scopes: [''] }), "'' is not a scope (printable ASCII without spaces, quotes or backslashes)");
    await expectRefused(issue({ ttlSeconds: 1.5 }), 'the lifetime must be a whole, non-zero number of seconds');
    // Repeated scopes are written once; a scope outside the broker's is allowed (a token lacking the broker's).
    const token = await issue({ scopes: [BROKER_SCOPES.read, BROKER_SCOPES.read, 'altinn:instances.read'] });
    expect(await createOrganisationTokenVerifier(jwt, dataDir).verify(token)).toEqual(organisation([BROKER_SCOPES.read, 'altinn:instances.read']));
  });
});

describe('a configured issuer with a JWKS URL (Maskinporten)', () => {
  let server: http.Server;
  let privateKey: KeyLike;
  let remote: MessagesConfig['jwt'];
  let dataDir: string;
  let jwksRequests = 0;
  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'agw-org-tokens-jwks-'));
    const pair = await generateKeyPair('RS256');
    privateKey = pair.privateKey;
    const publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 'maskinporten-key-1', alg: 'RS256', use: 'sig' };
    server = http.createServer((request, response) => {
      jwksRequests += 1;
      if (request.url !== '/jwk') {
        response.statusCode = 404;
        response.end();
        return;
      }
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify({ keys: [publicJwk] }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    remote = loadConfig({ JWT_ISSUER: 'https://maskinporten.test/', JWT_JWKS_URL: `http://127.0.0.1:${port}/jwk`, JWT_AUDIENCE: 'https://broker.example/' }).messages.jwt;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(dataDir, { recursive: true, force: true });
  });

  const sign = (claims: JWTPayload, options: { issuer?: string; audience?: string; kid?: string; key?: KeyLike } = {}) =>
    new SignJWT({ token_type: 'Bearer', client_id: 'e5f0c5e2-0000-4000-8000-000000000001', ...claims })
      .setProtectedHeader({ alg: 'RS256', kid: options.kid ?? 'maskinporten-key-1' })
      .setIssuer(options.issuer ?? 'https://maskinporten.test/')
      .setAudience(options.audience ?? 'https://broker.example/')
      .setIssuedAt()
      .setExpirationTime('2m')
      .sign(options.key ?? privateKey);

  it('verifies an RS256 token against the published keys', async () => {
    const verifier = createOrganisationTokenVerifier(remote, dataDir);
    const token = await sign({ consumer: CONSUMER, scope: 'altinn:broker.write altinn:broker.read' });
    expect(await verifier.verify(token)).toEqual(organisation([BROKER_SCOPES.write, BROKER_SCOPES.read]));
    expect(jwksRequests).toBeGreaterThan(0);
  });

  it('refuses a wrong issuer, audience, key id or signature, and the gateway then issues no tokens of its own', async () => {
    const verifier = createOrganisationTokenVerifier(remote, dataDir);
    const claims = { consumer: CONSUMER, scope: BROKER_SCOPES.write };
    await expectRefused(verifier.verify(await sign(claims, { issuer: 'https://evil.test/' })), "the token's 'iss' claim is not accepted (check_failed)");
    await expectRefused(verifier.verify(await sign(claims, { audience: 'https://elsewhere.example/' })), "the token's 'aud' claim is not accepted (check_failed)");
    await expectRefused(verifier.verify(await sign(claims, { kid: 'unknown' })), "no key of the issuer matches the token's key id");
    const { privateKey: impostor } = await generateKeyPair('RS256');
    await expectRefused(verifier.verify(await sign(claims, { key: impostor })), 'the token signature is not valid');
    await expectRefused(
      verifier.verify(await sign({ consumer: { ...CONSUMER, ID: '0192:991825828' } })),
      "the token's consumer ID is refused: 991825828 is not a valid organisation number (its check digit is wrong)",
    );
    await expectRefused(
      issueLocalOrganisationToken(remote, dataDir, { orgNumber: ORG, scopes: [BROKER_SCOPES.write], ttlSeconds: 60 }),
      'JWT_JWKS_URL is set, so tokens come from https://maskinporten.test/: the gateway does not issue its own',
    );
  });
});
