/**
 * Organisations call the broker API with a Maskinporten-shaped Bearer JWT (CONTRACT §1 "Auth"):
 *
 *   { "consumer": { "authority": "iso6523-actorid-upis", "ID": "0192:991825827" },
 *     "scope": "altinn:broker.write altinn:broker.read", "iss": …, "exp": …, … }
 *
 * The organisation is the consumer; its scopes are its roles (write = sender, read = recipient,
 * serviceowner = resources). Issuer, audience and keys are those of the end-user tokens
 * (JWT_ISSUER, JWT_JWKS_URL, JWT_AUDIENCE, or the local issuer key in DATA_DIR), so one identity
 * provider serves both. Like every token, it must carry `exp` (createJwtVerifier).
 *
 * Verification says who the caller is; whether it holds the scope a route needs is the route's
 * decision (a token without it is a 403, not a 401), so a missing `scope` claim is an empty set.
 */
import type { JWTPayload } from 'jose';
import { parsePartyId, toPartyId, orgNumberProblem } from '../broker/parties';
import type { MessagesConfig } from '../config';
import { createJwtVerifier, refuseWhenExternalIssuer, signWithLocalIssuerKey, TokenError } from './end-user-tokens';

export { TokenError } from './end-user-tokens';

export const BROKER_SCOPES = {
  write: 'altinn:broker.write',
  read: 'altinn:broker.read',
  serviceOwner: 'altinn:serviceowner',
} as const;

export type BrokerScope = (typeof BROKER_SCOPES)[keyof typeof BROKER_SCOPES];

export const CONSUMER_AUTHORITY = 'iso6523-actorid-upis';
/** Altinn's exchanged tokens repeat the organisation number here; when present it must agree. */
const ALTINN_ORG_NUMBER_CLAIM = 'urn:altinn:orgNumber';
/** RFC 6749 §3.3 scope-token. */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

export interface Organisation {
  orgNumber: string;
  /** `0192:<orgNumber>`, the stored form of a broker party. */
  partyId: string;
  scopes: ReadonlySet<string>;
}

export interface OrganisationTokenVerifier {
  /** The organisation the token vouches for; TokenError (with the reason) when it does not. */
  verify(token: string): Promise<Organisation>;
}

export function createOrganisationTokenVerifier(jwt: MessagesConfig['jwt'], dataDir: string): OrganisationTokenVerifier {
  const verifyJwt = createJwtVerifier(jwt, dataDir);
  return {
    async verify(token: string): Promise<Organisation> {
      return organisationOf(await verifyJwt(token));
    },
  };
}

function organisationOf(payload: JWTPayload): Organisation {
  const consumer = payload.consumer;
  if (consumer === undefined) throw new TokenError("the token names no organisation (no 'consumer' claim)");
  if (typeof consumer !== 'object' || consumer === null || Array.isArray(consumer)) {
    throw new TokenError("the token's 'consumer' claim is not an object");
  }
  const { authority, ID: id } = consumer as Record<string, unknown>;
  if (authority !== CONSUMER_AUTHORITY) throw new TokenError(`the token's consumer authority is not '${CONSUMER_AUTHORITY}'`);
  if (typeof id !== 'string') throw new TokenError("the token's consumer has no 'ID'");
  const party = parsePartyId(id);
  if ('error' in party) throw new TokenError(`the token's consumer ID is refused: ${party.error}`);
  // Maskinporten writes `0192:<orgnr>` only; the URN form is for request bodies, not tokens.
  if (party.partyId !== id) throw new TokenError("the token's consumer ID is not of the form 0192:<organisation number>");

  const altinnOrgNumber = payload[ALTINN_ORG_NUMBER_CLAIM];
  if (altinnOrgNumber !== undefined && altinnOrgNumber !== party.orgNumber) {
    throw new TokenError(`the token's '${ALTINN_ORG_NUMBER_CLAIM}' claim disagrees with its consumer`);
  }
  return { orgNumber: party.orgNumber, partyId: party.partyId, scopes: scopesOf(payload.scope) };
}

/** `scope` as OAuth writes it (one space-separated string) or as some issuers do (a list). */
function scopesOf(claim: unknown): ReadonlySet<string> {
  if (claim === undefined) return new Set();
  if (typeof claim === 'string') return new Set(claim.split(' ').filter((scope) => scope !== ''));
  if (Array.isArray(claim) && claim.every((scope) => typeof scope === 'string' && SCOPE_TOKEN.test(scope))) return new Set(claim as string[]);
  throw new TokenError("the token's 'scope' claim is neither a space-separated string nor a list of scopes");
}

export interface IssueOrganisationTokenRequest {
  /** Nine digits with a valid check digit. */
  orgNumber: string;
  /** Any RFC 6749 scope tokens (not only the broker's: a test may want a token lacking them). */
  scopes: string[];
  /** Lifetime in seconds; negative makes an already expired token (for tests). */
  ttlSeconds: number;
}

/** A Maskinporten-shaped token signed by the gateway's own issuer key (`altinn-gateway token --org`). */
export async function issueLocalOrganisationToken(jwt: MessagesConfig['jwt'], dataDir: string, request: IssueOrganisationTokenRequest): Promise<string> {
  refuseWhenExternalIssuer(jwt);
  const problem = orgNumberProblem(request.orgNumber);
  if (problem) throw new TokenError(problem);
  const badScope = request.scopes.find((scope) => !SCOPE_TOKEN.test(scope));
  if (badScope !== undefined) throw new TokenError(`'${badScope}' is not a scope (printable ASCII without spaces, quotes or backslashes)`);
  const claims = {
    consumer: { authority: CONSUMER_AUTHORITY, ID: toPartyId(request.orgNumber) },
    scope: [...new Set(request.scopes)].join(' '),
    token_type: 'Bearer',
  };
  return signWithLocalIssuerKey(jwt, dataDir, claims, request.ttlSeconds);
}
