/**
 * The Altinn 2 REST brokerservice API (CONTRACT §9) under /api: Altinn 2's broker REST operations
 * (`/api/{who}/brokerservice/outbox|inbox…`, `/api/brokerservice/inbox/hasavailablefiles`) served
 * over the broker's transfers, as Altinn served them for services moved to Altinn 3. Auth is the
 * REST messages API's (auth.ts); errors are `{ErrorCode, ErrorMessage}` (errors.ts); the routes
 * (routes.ts) are documented in /api/openapi.json under the tag `broker: Altinn 2 REST`.
 *
 * Bodies are never parsed: whatever the Content-Type (clients send `application/zip`, even on GET),
 * the body stays a stream for the route, which streams the outbox file to storage unbuffered.
 */
import type { FastifyInstance } from 'fastify';
import type { App } from '../../app';
import { createTokenVerifier, type TokenVerifier } from '../../auth/end-user-tokens';
import { brokerserviceAuthenticator } from './auth';
import { sendError } from './errors';
import { registerBrokerserviceRoutes } from './routes';

export interface BrokerserviceRestOptions {
  /** Defaults to the configured issuer (JWT_ISSUER/JWT_JWKS_URL) or the local one in DATA_DIR. */
  tokens?: TokenVerifier;
}

export function registerBrokerserviceRest(server: FastifyInstance, app: App, options: BrokerserviceRestOptions = {}): void {
  const tokens = options.tokens ?? createTokenVerifier(app.config.messages.jwt, app.config.dataDir);
  server.register(
    async (api) => {
      api.removeAllContentTypeParsers();
      api.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
      api.decorateRequest('endUser', null);
      api.addHook('onRequest', brokerserviceAuthenticator(app.db, tokens));
      api.setErrorHandler((error, request, reply) => sendError(error, request, reply));
      registerBrokerserviceRoutes(api, app.broker, app.db);
    },
    { prefix: '/api' },
  );
}
