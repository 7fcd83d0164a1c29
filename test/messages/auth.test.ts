/**
 * Who may call the REST API, below HTTP: API keys (hashed, revocable), end-user tokens from a
 * configured issuer's JWKS or from the gateway's own key in DATA_DIR, and roles.
 */
import { stat, mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { exportJWK, generateKeyPair, importJWK, SignJWT, type KeyLike } from 'jose';
import { addApiKey, ApiKeyError, findApiClientByKey, hashApiKey, listApiClients, revokeApiKey } from '../../src/auth/api-keys';
import { createTokenVerifier, issueLocalToken, loadOrCreateIssuerKey, TokenError } from '../../src/auth/end-user-tokens';
import { addRole, hasRole, listRoles, removeRole, RoleError } from '../../src/auth/roles';
import { loadConfig, type MessagesConfig } from '../../src/config';
import { resolveReportee } from '../../src/messages/reportees';
import { securityLevelFor } from '../../src/messages/types';
import { createTestApp, type TestApp } from '../helpers/database';

const PERSON = '01017012345';

describe('API keys', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await createTestApp();
  });
  afterAll(() => app.close());

  it('prints a key once, stores only its hash, finds the client by it, and revokes it', async () => {
    const { key, name } = await addApiKey(app.db, { name: ' Regnskap AS ' });
    expect(name).toBe('Regnskap AS');
    expect(key).toMatch(/^agw_[A-Za-z0-9_-]{43}$/);
    const row = await app.db('api_clients').where({ name }).first();
    expect(row.key_hash).toBe(hashApiKey(key));
    expect(JSON.stringify(row)).not.toContain(key.slice(4));
    expect(await findApiClientByKey(app.db, key)).toMatchObject({ name, revokedAt: null });
    expect(await findApiClientByKey(app.db, `${key}x`)).toBeUndefined();
    await expect(addApiKey(app.db, { name: 'Regnskap AS' })).rejects.toThrow(new ApiKeyError('conflict', "An API client named 'Regnskap AS' already exists"));
    await revokeApiKey(app.db, 'Regnskap AS');
    expect(await findApiClientByKey(app.db, key)).toBeUndefined();
    await expect(revokeApiKey(app.db, 'Regnskap AS')).rejects.toThrow("The API key of 'Regnskap AS' is already revoked");
    await expect(revokeApiKey(app.db, 'nobody')).rejects.toThrow("No API client named 'nobody'");
    expect((await listApiClients(app.db)).map((c) => [c.name, c.revokedAt !== null])).toEqual([['Regnskap AS', true]]);
  });

  it('roles: a person acts for themself and for organisations they have a role for', async () => {
    expect(await addRole(app.db, { person: PERSON, orgNumber: '912345678' })).toBe(true);
    expect(await addRole(app.db, { person: PERSON, orgNumber: '912345678' })).toBe(false);
    expect(await hasRole(app.db, PERSON, '912345678')).toBe(true);
    expect((await listRoles(app.db, { person: PERSON })).map((r) => r.orgNumber)).toEqual(['912345678']);
    await expect(addRole(app.db, { person: '123', orgNumber: '912345678' })).rejects.toBeInstanceOf(RoleError);

    const actor = { person: PERSON, authLevel: 3 };
    const me = await resolveReportee(app.db, actor, 'my');
    expect(me).toMatchObject({ type: 'Person', identifier: PERSON });
    expect(await resolveReportee(app.db, actor, `r${me.reporteeId}`)).toEqual(me);
    const org = await resolveReportee(app.db, actor, '912345678');
    expect(org).toMatchObject({ type: 'Organisation', identifier: '912345678' });
    expect(await resolveReportee(app.db, actor, `R${org.reporteeId}`)).toEqual(org);
    await expect(resolveReportee(app.db, { person: '02029012345', authLevel: 4 }, `r${me.reporteeId}`)).rejects.toMatchObject({ kind: 'forbidden' });

    await removeRole(app.db, { person: PERSON, orgNumber: '912345678' });
    await expect(resolveReportee(app.db, actor, '912345678')).rejects.toMatchObject({ kind: 'forbidden' });
    await expect(resolveReportee(app.db, actor, `r${org.reporteeId}`)).rejects.toMatchObject({ kind: 'forbidden' });
    await expect(removeRole(app.db, { person: PERSON, orgNumber: '912345678' })).rejects.toThrow('has no role');
  });
});

describe('security level of an approver', () => {
  it.each([
    [4, 'verySensitive'],
    [3, 'sensitive'],
    [2, 'lessSensitive'],
    [1, 'notSensitive'],
    [0, 'notSensitive'],
  ])('authentication level %i → %s', (level, expected) => {
    expect(securityLevelFor(level)).toBe(expected);
  });
});

describe('end-user tokens', () => {
  let dataDir: string;
  let jwt: MessagesConfig['jwt'];
  beforeEach(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'agw-tokens-'));
    jwt = loadConfig({}).messages.jwt;
  });
  afterEach(() => rm(dataDir, { recursive: true, force: true }));

  it('the gateway as issuer: a key made once in DATA_DIR (mode 0600), tokens it signs verify', async () => {
    const token = await issueLocalToken(jwt, dataDir, { person: PERSON, authLevel: 4, ttlSeconds: 60 });
    const keyFile = path.join(dataDir, 'jwt-issuer-key.json');
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
    const key = JSON.parse(await readFile(keyFile, 'utf8'));
    expect(key).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', kid: expect.any(String), d: expect.any(String) });
    // The same key again, also when asked for concurrently.
    const again = await Promise.all([loadOrCreateIssuerKey(dataDir), loadOrCreateIssuerKey(dataDir)]);
    expect(again.map((k) => k.privateJwk.kid)).toEqual([key.kid, key.kid]);

    const verifier = createTokenVerifier(jwt, dataDir);
    expect(await verifier.verify(token)).toEqual({ person: PERSON, authLevel: 4 });
    await expect(issueLocalToken(jwt, dataDir, { person: '0101', authLevel: 4, ttlSeconds: 60 })).rejects.toBeInstanceOf(TokenError);
    await expect(issueLocalToken(jwt, dataDir, { person: PERSON, authLevel: 5, ttlSeconds: 60 })).rejects.toBeInstanceOf(TokenError);
    // Every token it signs expires.
    await expect(issueLocalToken(jwt, dataDir, { person: PERSON, authLevel: 4, ttlSeconds: Number.NaN })).rejects.toThrow('the lifetime must be a whole, non-zero number of seconds');
    expect(JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString())).toMatchObject({ exp: expect.any(Number) });
  });

  it('a token without exp is refused (it would never expire)', async () => {
    const { privateJwk } = await loadOrCreateIssuerKey(dataDir);
    const key = await importJWK(privateJwk, 'ES256');
    const neverExpires = await new SignJWT({ pid: PERSON, acr: 'Level4' }).setProtectedHeader({ alg: 'ES256', kid: privateJwk.kid }).setIssuer(jwt.issuer).setIssuedAt().sign(key);
    await expect(createTokenVerifier(jwt, dataDir).verify(neverExpires)).rejects.toThrow("the token has no 'exp' claim");
  });

  it('a token made under another DATA_DIR key is refused', async () => {
    const otherDir = await mkdtemp(path.join(tmpdir(), 'agw-tokens-other-'));
    try {
      const foreign = await issueLocalToken(jwt, otherDir, { person: PERSON, authLevel: 4, ttlSeconds: 60 });
      await expect(createTokenVerifier(jwt, dataDir).verify(foreign)).rejects.toThrow('the token signature is not valid');
    } finally {
      await rm(otherDir, { recursive: true, force: true });
    }
  });

  describe('a configured issuer with a JWKS URL', () => {
    let server: http.Server;
    let privateKey: KeyLike;
    let remote: MessagesConfig['jwt'];
    beforeAll(async () => {
      const pair = await generateKeyPair('RS256');
      privateKey = pair.privateKey;
      const publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 'idp-key-1', alg: 'RS256', use: 'sig' };
      server = http.createServer((_request, response) => {
        response.setHeader('content-type', 'application/json');
        response.end(JSON.stringify({ keys: [publicJwk] }));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as AddressInfo;
      remote = loadConfig({ JWT_ISSUER: 'https://idporten.test/', JWT_JWKS_URL: `http://127.0.0.1:${port}/jwks.json`, JWT_AUDIENCE: 'altinn-gateway' }).messages.jwt;
    });
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

    const sign = (claims: Record<string, unknown>, options: { issuer?: string; audience?: string; kid?: string } = {}) =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: 'RS256', kid: options.kid ?? 'idp-key-1' })
        .setIssuer(options.issuer ?? 'https://idporten.test/')
        .setAudience(options.audience ?? 'altinn-gateway')
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(privateKey);

    it('verifies against the published keys and reads pid and the level (urn:altinn:authlevel or acr)', async () => {
      const verifier = createTokenVerifier(remote, dataDir);
      expect(await verifier.verify(await sign({ pid: PERSON, 'urn:altinn:authlevel': 3 }))).toEqual({ person: PERSON, authLevel: 3 });
      expect(await verifier.verify(await sign({ pid: PERSON, acr: 'idporten-loa-high' }))).toEqual({ person: PERSON, authLevel: 4 });
      expect(await verifier.verify(await sign({ pid: PERSON, acr: 'Level3' }))).toEqual({ person: PERSON, authLevel: 3 });
      await expect(verifier.verify(await sign({ pid: PERSON, acr: 'Level3' }, { audience: 'someone-else' }))).rejects.toThrow("the token's 'aud' claim is not accepted");
      await expect(verifier.verify(await sign({ pid: PERSON, acr: 'Level3' }, { issuer: 'https://evil.test/' }))).rejects.toThrow("the token's 'iss' claim is not accepted");
      await expect(verifier.verify(await sign({ pid: PERSON, acr: 'Level3' }, { kid: 'unknown' }))).rejects.toThrow("no key of the issuer matches the token's key id");
      await expect(verifier.verify(await sign({ pid: 'abc', acr: 'Level3' }))).rejects.toThrow("'pid' claim is not a national identity number");
      // The gateway's own tokens are not accepted then, and it does not issue any.
      await expect(issueLocalToken(remote, dataDir, { person: PERSON, authLevel: 4, ttlSeconds: 60 })).rejects.toThrow('JWT_JWKS_URL is set');
    });
  });
});
