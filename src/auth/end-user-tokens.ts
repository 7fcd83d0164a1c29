/**
 * End users of the REST API authenticate with a Bearer JWT carrying their national identity
 * number and authentication level (as ID-porten / Altinn tokens do).
 *
 * - With `JWT_JWKS_URL` set, tokens are verified (jose) against that issuer's published keys,
 *   with `iss` = `JWT_ISSUER` and, when set, `aud` = `JWT_AUDIENCE`.
 * - Without it the gateway is the issuer: `altinn-gateway token --person P --level N` signs a
 *   token (ES256) with a key kept in `DATA_DIR/jwt-issuer-key.json` (created on first use, mode
 *   0600), and the server verifies against that key's public half.
 *
 * Claims read: the person from `JWT_PERSON_CLAIM` (default `pid`, 11 digits), the level from
 * `urn:altinn:authlevel` (a number) or else `acr` (`Level3`, `idporten-loa-substantial`, ...).
 *
 * The issuer, key and signature handling (`createJwtVerifier`, `signWithLocalIssuerKey`) is shared
 * with the organisations' tokens of the broker API (`organisation-tokens.ts`).
 */
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  createRemoteJWKSet,
  errors as joseErrors,
  exportJWK,
  generateKeyPair,
  importJWK,
  jwtVerify,
  SignJWT,
  type JWK,
  type JWTPayload,
  type JWTVerifyGetKey,
  type KeyLike,
} from 'jose';
import { LRUCache } from 'lru-cache';
import type { MessagesConfig } from '../config';

export interface EndUser {
  /** National identity number (11 digits). */
  person: string;
  /** Authentication level 0-4 (4 = high, e.g. BankID). */
  authLevel: number;
}

export class TokenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenError';
  }
}

export interface TokenVerifier {
  /** The end user the token vouches for; TokenError when it does not. */
  verify(token: string): Promise<EndUser>;
}

export const AUTH_LEVEL_CLAIM = 'urn:altinn:authlevel';
const PERSON_NUMBER = /^[0-9]{11}$/;
const ASYMMETRIC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
const LOCAL_ALGORITHM = 'ES256';
const KEY_FILE = 'jwt-issuer-key.json';

export function isPersonNumber(text: string): boolean {
  return PERSON_NUMBER.test(text);
}

export function createTokenVerifier(jwt: MessagesConfig['jwt'], dataDir: string): TokenVerifier {
  const verifyJwt = createJwtVerifier(jwt, dataDir);
  return {
    async verify(token: string): Promise<EndUser> {
      return endUserOf(await verifyJwt(token), jwt.personClaim);
    },
  };
}

/**
 * Checks a JWT's signature (the configured issuer's JWKS, or else the local issuer key), `iss`,
 * `aud` when configured, and its times; resolves to its claims, or rejects with TokenError.
 * Every token must carry `exp`: one without it would be valid forever. Shared by end-user and
 * organisation tokens; `requiredClaims` names further claims that must be present.
 */
export function createJwtVerifier(
  jwt: MessagesConfig['jwt'],
  dataDir: string,
  { requiredClaims }: { requiredClaims?: string[] } = {},
): (token: string) => Promise<JWTPayload> {
  let getKey: JWTVerifyGetKey;
  if (jwt.jwksUrl) {
    getKey = createRemoteJWKSet(new URL(jwt.jwksUrl));
  } else {
    // Loaded (or created) on first use; a failure is retried on the next call.
    let publicKey: Promise<KeyLike | Uint8Array> | undefined;
    getKey = () =>
      (publicKey ??= loadOrCreateIssuerKey(dataDir).then(
        ({ publicJwk }) => importJWK(publicJwk, LOCAL_ALGORITHM),
        (error: unknown) => {
          publicKey = undefined;
          throw error;
        },
      ));
  }
  const options = {
    issuer: jwt.issuer,
    audience: jwt.audience,
    algorithms: jwt.jwksUrl ? ASYMMETRIC_ALGORITHMS : [LOCAL_ALGORITHM],
    clockTolerance: 30,
    requiredClaims: ['exp', ...(requiredClaims ?? [])],
  };

  const verified = createVerifiedTokenCache(options.clockTolerance);
  return async (token) => {
    const known = verified.get(token);
    if (known) return known;
    let payload: JWTPayload;
    try {
      payload = (await jwtVerify(token, getKey, options)).payload;
    } catch (error) {
      throw new TokenError(describeJoseError(error));
    }
    verified.set(token, payload);
    return payload;
  };
}

/** How long a verified token is taken on trust without checking its signature again. */
export const VERIFIED_TOKEN_TRUST_MS = 5 * 60_000;
const VERIFIED_TOKENS_MAX_CHARS = 8 * 1024 * 1024;
const VERIFIED_TOKEN_MAX_CHARS = 16 * 1024;

/**
 * Tokens whose signature and claims were verified, by the SHA-256 of their exact text (as the
 * system users' remembered logins, the bearer secret itself is not what is kept). A client sends the same
 * token with every request until it expires (a TUS upload with every 8 MiB chunk), and an ES256
 * or RS256 check costs about a quarter of a millisecond of the main thread each time.
 *
 * An entry is used only while the token's own times would still pass (before `exp`, not before
 * `nbf`, with jose's tolerance, by the wall clock as jose reads it) and for at most
 * VERIFIED_TOKEN_TRUST_MS: a key the issuer withdraws stops being accepted that long after jose
 * refetches the JWKS (which it keeps up to 10 minutes anyway).
 * Refused tokens are not kept; the cache is bounded by the characters of the tokens it stands for and
 * evicts the least recently used.
 */
function createVerifiedTokenCache(clockToleranceSeconds: number) {
  const entries = new LRUCache<string, { payload: JWTPayload; tokenChars: number; validFromMs: number; validUntilMs: number }>({
    maxSize: VERIFIED_TOKENS_MAX_CHARS,
    sizeCalculation: (entry) => entry.tokenChars,
  });
  const keyOf = (token: string) => createHash('sha256').update(token).digest('base64');
  return {
    get(token: string): JWTPayload | undefined {
      if (token.length > VERIFIED_TOKEN_MAX_CHARS) return undefined;
      const key = keyOf(token);
      const entry = entries.get(key);
      if (!entry) return undefined;
      const now = Date.now();
      if (now >= entry.validFromMs && now < entry.validUntilMs) return entry.payload;
      entries.delete(key);
      return undefined;
    },
    set(token: string, payload: JWTPayload): void {
      if (token.length > VERIFIED_TOKEN_MAX_CHARS || typeof payload.exp !== 'number') return;
      const now = Date.now();
      const toleranceMs = clockToleranceSeconds * 1000;
      const validFromMs = typeof payload.nbf === 'number' ? payload.nbf * 1000 - toleranceMs : -Infinity;
      // Shared by every later request with this token: frozen, so no reader can change what another sees.
      entries.set(keyOf(token), { payload: deepFreeze(payload), tokenChars: token.length, validFromMs, validUntilMs: Math.min(payload.exp * 1000 + toleranceMs, now + VERIFIED_TOKEN_TRUST_MS) });
    },
  };
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const member of Object.values(value)) deepFreeze(member);
  }
  return value;
}

function endUserOf(payload: JWTPayload, personClaim: string): EndUser {
  const person = payload[personClaim];
  if (typeof person !== 'string' || !isPersonNumber(person)) {
    throw new TokenError(`the token's '${personClaim}' claim is not a national identity number (11 digits)`);
  }
  const authLevel = authLevelOf(payload);
  if (authLevel === undefined) throw new TokenError(`the token carries no authentication level ('${AUTH_LEVEL_CLAIM}' or 'acr')`);
  return { person, authLevel };
}

const ACR_LEVELS: Record<string, number> = {
  'idporten-loa-low': 2,
  'idporten-loa-substantial': 3,
  'idporten-loa-high': 4,
};

function authLevelOf(payload: JWTPayload): number | undefined {
  const claim = payload[AUTH_LEVEL_CLAIM];
  const level = typeof claim === 'number' ? claim : typeof claim === 'string' && /^[0-4]$/.test(claim) ? Number(claim) : undefined;
  if (level !== undefined && Number.isInteger(level) && level >= 0 && level <= 4) return level;
  const acr = payload.acr;
  if (typeof acr !== 'string') return undefined;
  const legacy = /^Level([0-4])$/i.exec(acr);
  if (legacy) return Number(legacy[1]);
  return ACR_LEVELS[acr];
}

function describeJoseError(error: unknown): string {
  if (error instanceof joseErrors.JWTExpired) return 'the token has expired';
  if (error instanceof joseErrors.JWTClaimValidationFailed && error.reason === 'missing') return `the token has no '${error.claim}' claim`;
  if (error instanceof joseErrors.JWTClaimValidationFailed) return `the token's '${error.claim}' claim is not accepted (${error.reason})`;
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return 'the token signature is not valid';
  if (error instanceof joseErrors.JWKSNoMatchingKey) return "no key of the issuer matches the token's key id";
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return "the token's signing algorithm is not accepted";
  if (error instanceof joseErrors.JWSInvalid || error instanceof joseErrors.JWTInvalid) return 'the token is not a well-formed signed JWT';
  if (error instanceof joseErrors.JOSEError) return `the token could not be verified (${error.code})`;
  return `the token could not be verified (${(error as Error).message})`;
}

// ---- the gateway as issuer ----

interface IssuerKey {
  privateJwk: JWK;
  publicJwk: JWK;
}

/** The local issuer's key pair from DATA_DIR, created (atomically, mode 0600) when there is none. */
export async function loadOrCreateIssuerKey(dataDir: string): Promise<IssuerKey> {
  const file = path.join(dataDir, KEY_FILE);
  const existing = await readKeyFile(file);
  if (existing) return existing;

  const { privateKey } = await generateKeyPair(LOCAL_ALGORITHM, { extractable: true });
  const privateJwk: JWK = { ...(await exportJWK(privateKey)), alg: LOCAL_ALGORITHM, use: 'sig', kid: randomUUID() };
  await fs.promises.mkdir(dataDir, { recursive: true });
  // Written whole to a temporary name, then linked into place: a concurrent reader sees either
  // no file or the complete key, and of two processes creating one at once the first link wins.
  const tmp = `${file}.${process.pid}.${randomUUID()}.tmp`;
  await fs.promises.writeFile(tmp, `${JSON.stringify(privateJwk)}\n`, { mode: 0o600, flag: 'wx', flush: true });
  try {
    await fs.promises.link(tmp, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    await fs.promises.rm(tmp, { force: true });
  }
  const key = await readKeyFile(file);
  if (!key) throw new Error(`Could not create the token signing key ${file}`);
  return key;
}

async function readKeyFile(file: string): Promise<IssuerKey | undefined> {
  let text: string;
  try {
    text = await fs.promises.readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  let privateJwk: JWK;
  try {
    privateJwk = JSON.parse(text) as JWK;
  } catch {
    throw new Error(`The token signing key ${file} is not valid JSON`);
  }
  if (privateJwk.kty !== 'EC' || !privateJwk.d) throw new Error(`The token signing key ${file} is not an EC private key (JWK)`);
  const { d: _d, ...publicJwk } = privateJwk;
  return { privateJwk, publicJwk };
}

export interface IssueTokenRequest {
  person: string;
  authLevel: number;
  /** Lifetime in seconds. */
  ttlSeconds: number;
}

/** A token signed by the gateway's own issuer key, as `altinn-gateway token` prints it. */
export async function issueLocalToken(jwt: MessagesConfig['jwt'], dataDir: string, request: IssueTokenRequest): Promise<string> {
  refuseWhenExternalIssuer(jwt);
  if (!isPersonNumber(request.person)) throw new TokenError(`'${request.person}' is not a national identity number (11 digits)`);
  if (!Number.isInteger(request.authLevel) || request.authLevel < 0 || request.authLevel > 4) {
    throw new TokenError('the authentication level must be a whole number from 0 to 4');
  }
  const claims = { [jwt.personClaim]: request.person, [AUTH_LEVEL_CLAIM]: request.authLevel, acr: `Level${request.authLevel}`, sub: request.person };
  return signWithLocalIssuerKey(jwt, dataDir, claims, request.ttlSeconds);
}

/** With JWT_JWKS_URL set another issuer makes the tokens, and the gateway signs none itself. */
export function refuseWhenExternalIssuer(jwt: MessagesConfig['jwt']): void {
  if (jwt.jwksUrl) {
    throw new TokenError(`JWT_JWKS_URL is set, so tokens come from ${jwt.issuer}: the gateway does not issue its own`);
  }
}

/** Signs `claims` with the local issuer key, adding `iss`, `iat`, `jti`, `exp` (now + ttlSeconds) and `aud` when configured. */
export async function signWithLocalIssuerKey(jwt: MessagesConfig['jwt'], dataDir: string, claims: JWTPayload, ttlSeconds: number): Promise<string> {
  refuseWhenExternalIssuer(jwt);
  // Every token the gateway signs expires (a token without `exp` is refused anyway).
  if (!Number.isInteger(ttlSeconds) || ttlSeconds === 0) throw new TokenError('the lifetime must be a whole, non-zero number of seconds');
  const { privateJwk } = await loadOrCreateIssuerKey(dataDir);
  const key = await importJWK(privateJwk, LOCAL_ALGORITHM);
  const token = new SignJWT(claims)
    .setProtectedHeader({ alg: LOCAL_ALGORITHM, typ: 'JWT', kid: privateJwk.kid })
    .setIssuer(jwt.issuer)
    .setIssuedAt()
    .setJti(randomUUID())
    .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds);
  if (jwt.audience) token.setAudience(jwt.audience);
  return token.sign(key);
}
