/**
 * Who is calling the Altinn 3 door: an organisation with a Maskinporten-shaped Bearer token whose
 * scope holds the role the route needs (`altinn:broker.write` sender, `altinn:broker.read`
 * recipient, `altinn:serviceowner` resources). Checked in onRequest, before any body is read.
 * No or invalid token → 401 with an empty body and `WWW-Authenticate: Bearer`; a token without
 * the scope → 403, empty body (ASP.NET's answers, CONTRACT §1).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { TokenError } from '../../auth/end-user-tokens';
import type { Organisation, OrganisationTokenVerifier } from '../../auth/organisation-tokens';
import type { BrokerCaller } from '../../broker/types';

declare module 'fastify' {
  interface FastifyRequest {
    /** The calling organisation (set by the broker door's onRequest hook). */
    organisation: Organisation | null;
  }
  interface FastifyContextConfig {
    /** Scopes of which the caller's token must hold at least one; unset → no authentication. */
    brokerScopes?: readonly string[];
  }
}

const BEARER = /^Bearer[ ]+([A-Za-z0-9._~+/-]+=*)$/i;

export function organisationAuthenticator(tokens: OrganisationTokenVerifier) {
  return async function authenticate(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const scopes = request.routeOptions.config.brokerScopes;
    if (!scopes) return;
    const match = BEARER.exec((request.headers.authorization ?? '').trim());
    if (!match) return refuse(request, reply, 401, { 'www-authenticate': 'Bearer' });
    let organisation: Organisation;
    try {
      organisation = await tokens.verify(match[1]!);
    } catch (error) {
      if (!(error instanceof TokenError)) throw error;
      const description = error.message.replace(/["\\]/g, '');
      return refuse(request, reply, 401, { 'www-authenticate': `Bearer error="invalid_token", error_description="${description}"` });
    }
    if (!scopes.some((scope) => organisation.scopes.has(scope))) return refuse(request, reply, 403, {});
    request.organisation = organisation;
  };
}

function refuse(request: FastifyRequest, reply: FastifyReply, status: number, headers: Record<string, string>): FastifyReply {
  // The body (an upload, perhaps) is never read: close the connection rather than drain it.
  if (!request.raw.complete) reply.header('connection', 'close');
  return reply.code(status).headers(headers).send();
}

/** The authenticated caller as the broker domain sees it. */
export function callerOf(request: FastifyRequest): BrokerCaller {
  if (!request.organisation) throw new Error('organisation missing: the route has no brokerScopes');
  return { orgNumber: request.organisation.orgNumber, partyId: request.organisation.partyId };
}
