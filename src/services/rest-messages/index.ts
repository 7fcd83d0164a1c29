/**
 * The end-user REST messages API under /api (Altinn 2's `/api/{who}/messages`). Its route schemas
 * (schemas.ts) validate the requests and feed the OpenAPI document at /api/openapi.json and the
 * Swagger UI at /api/help (src/services/openapi.ts). Everything under /api/{who}/... needs an
 * ApiKey header and a Bearer token (auth.ts); the documentation does not.
 */
import type { FastifyInstance } from 'fastify';
import type { App } from '../../app';
import { createTokenVerifier, type TokenVerifier } from '../../auth/end-user-tokens';
import type { MessageContext } from '../../messages/types';
import { authenticator } from './auth';
import { sendError } from './http-errors';
import { registerMessageRoutes } from './routes';
import { HAL_JSON } from './schemas';

export const STREAMED_ATTACHMENT_PATH = '/api/{who}/messages/{messageId}/attachments/streamedattachment';

export interface RestMessagesOptions {
  /** Defaults to the configured issuer (JWT_ISSUER/JWT_JWKS_URL) or the local one in DATA_DIR. */
  tokens?: TokenVerifier;
}

export function registerRestMessages(server: FastifyInstance, app: App, options: RestMessagesOptions = {}): void {
  const config = app.config.messages;
  const tokens = options.tokens ?? createTokenVerifier(config.jwt, app.config.dataDir);
  const ctx: MessageContext = {
    db: app.db,
    blobs: app.blobs,
    limits: { defaultAttachmentMaxBytes: config.defaultAttachmentMaxBytes, defaultAttachmentMaxCount: config.defaultAttachmentMaxCount },
  };

  server.register(
    async (api) => {
      api.setErrorHandler((error, request, reply) => sendError(error, request, reply));
      api.setNotFoundHandler((request, reply) =>
        reply.code(404).type(`${HAL_JSON}; charset=utf-8`).send({ ErrorCode: 'NotFound', ErrorMessage: `No resource at ${request.method} ${request.url.split('?')[0]}` }),
      );

      await api.register(async (secured) => {
        // JSON bodies arrive as application/hal+json too; the file of a streamed attachment stays a stream.
        secured.addContentTypeParser(HAL_JSON, { parseAs: 'string' }, secured.getDefaultJsonParser('error', 'error'));
        secured.addContentTypeParser('application/octet-stream', (_request, payload, done) => done(null, payload));
        secured.decorateRequest('endUser', null);
        secured.addHook('onRequest', authenticator(app.db, tokens));
        registerMessageRoutes(secured, ctx, config.maxJsonBytes);
      });
    },
    { prefix: '/api' },
  );
}
