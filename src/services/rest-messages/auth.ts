/**
 * Who is calling the REST API, checked before anything else (onRequest, so before a body is
 * read): the `ApiKey` header of a registered API client, then the end user's Bearer JWT.
 */
import type { FastifyRequest } from 'fastify';
import { findApiClientByKey } from '../../auth/api-keys';
import { TokenError, type EndUser, type TokenVerifier } from '../../auth/end-user-tokens';
import type { Db } from '../../storage/db';
import { HttpError } from './http-errors';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated end user (set by the REST API's onRequest hook). */
    endUser: EndUser | null;
  }
}

export const MISSING_API_KEY = "Required header 'ApiKey' is missing.";

export function authenticator(db: Db, tokens: TokenVerifier) {
  return async function authenticate(request: FastifyRequest): Promise<void> {
    const apiKey = request.headers.apikey;
    if (typeof apiKey !== 'string' || apiKey.trim() === '') throw new HttpError(400, 'MissingApiKey', MISSING_API_KEY);
    if (!(await findApiClientByKey(db, apiKey.trim()))) throw new HttpError(403, 'InvalidApiKey', 'The ApiKey is not valid: unknown or revoked.');

    const authorization = request.headers.authorization ?? '';
    const match = /^Bearer[ ]+([A-Za-z0-9._~+/-]+=*)$/i.exec(authorization.trim());
    if (!match) {
      throw new HttpError(401, 'Unauthenticated', "An authenticated user is required: send the header 'Authorization: Bearer <token>'.", {
        'www-authenticate': 'Bearer',
      });
    }
    try {
      request.endUser = await tokens.verify(match[1]!);
    } catch (error) {
      if (!(error instanceof TokenError)) throw error;
      throw new HttpError(401, 'InvalidToken', `The bearer token is not accepted: ${error.message}.`, {
        'www-authenticate': `Bearer error="invalid_token", error_description="${error.message.replace(/["\\]/g, '')}"`,
      });
    }
  };
}

export function endUserOf(request: FastifyRequest): EndUser {
  if (!request.endUser) throw new Error('endUser missing: the authentication hook did not run');
  return request.endUser;
}
