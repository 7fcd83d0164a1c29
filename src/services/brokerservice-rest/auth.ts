/**
 * Who calls the Altinn 2 REST brokerservice API (CONTRACT §9), as the REST messages API decides
 * it: the `ApiKey` header of a registered API client and the end user's Bearer JWT (the messages
 * API's authenticator, run before the body is read), then `{who}` resolved with the messages API's
 * reportee rules (an organisation number the person has a role for, or `r<reporteeId>`).
 *
 * The broker knows only organisations: a `{who}` that names the person (`my`, or their own
 * reportee id) is refused 403 ("not a broker party"), as is an organisation number that cannot
 * be one (wrong check digit). `hasavailablefiles` takes only the ApiKey (CONTRACT).
 */
import type { FastifyRequest } from 'fastify';
import { findApiClientByKey } from '../../auth/api-keys';
import type { TokenVerifier } from '../../auth/end-user-tokens';
import { parsePartyId } from '../../broker/parties';
import type { BrokerCaller } from '../../broker/types';
import { resolveReportee } from '../../messages/reportees';
import type { Db } from '../../storage/db';
import { authenticator, endUserOf, MISSING_API_KEY } from '../rest-messages/auth';
import { HttpError } from '../rest-messages/http-errors';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** What a brokerservice route needs: the ApiKey alone, or the ApiKey and an end user. */
    brokerserviceAuth?: 'apiKey' | 'endUser';
  }
}

/** onRequest hook: the route's authentication, before the body is read. */
export function brokerserviceAuthenticator(db: Db, tokens: TokenVerifier) {
  const endUser = authenticator(db, tokens);
  return async function authenticate(request: FastifyRequest): Promise<void> {
    const needs = request.routeOptions.config.brokerserviceAuth;
    if (needs === 'endUser') return endUser(request);
    if (needs === 'apiKey') return requireApiKey(db, request);
  };
}

/** The ApiKey check of the messages API's authenticator, without the end user. */
async function requireApiKey(db: Db, request: FastifyRequest): Promise<void> {
  const apiKey = request.headers.apikey;
  if (typeof apiKey !== 'string' || apiKey.trim() === '') throw new HttpError(400, 'MissingApiKey', MISSING_API_KEY);
  if (!(await findApiClientByKey(db, apiKey.trim()))) throw new HttpError(403, 'InvalidApiKey', 'The ApiKey is not valid: unknown or revoked.');
}

/** The organisation `{who}` names, as a broker party; 403 when the person may not act for it or it is no organisation. */
export async function brokerCallerOf(db: Db, request: FastifyRequest, who: string): Promise<BrokerCaller> {
  const reportee = await resolveReportee(db, endUserOf(request), who);
  if (reportee.type !== 'Organisation') {
    throw new HttpError(403, 'NotABrokerParty', `'${who}' names a person: broker files are sent and received by organisations, so {who} must be an organisation number (or its r<reporteeId>)`);
  }
  const parsed = parsePartyId(`0192:${reportee.identifier}`);
  if ('error' in parsed) throw new HttpError(403, 'NotABrokerParty', `'${who}' cannot be a broker party: ${parsed.error}`);
  return { partyId: parsed.partyId, orgNumber: parsed.orgNumber };
}
