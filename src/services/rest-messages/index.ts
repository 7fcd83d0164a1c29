/**
 * The end-user REST messages API under /api (Altinn 2's `/api/{who}/messages`), with its OpenAPI 3
 * document at /api/openapi.json and a browsable Swagger UI at /api/help, both generated from the
 * route schemas that validate the requests (schemas.ts). Everything under /api/{who}/... needs an
 * ApiKey header and a Bearer token (auth.ts); the documentation does not.
 */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
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
      await api.register(swagger, {
        openapi: {
          openapi: '3.0.3',
          info: {
            title: 'altinn-gateway: end-user messages API',
            version: '1',
            description:
              "Altinn 2's REST API for form tasks (`/api/{who}/messages`): create a form task, fill in forms and attachments, sign and " +
              "submit. A submitted task is archived and appears on the service owner's DownloadQueue (SOAP).\n\n" +
              'Every call needs the `ApiKey` header of a registered API client (`altinn-gateway apikey add`) and an end user\'s ' +
              'Bearer token (for local use: `altinn-gateway token --person 01017012345 --level 4`). Responses are ' +
              '`application/hal+json` (or `application/json` when that is all the client accepts); errors are `{ErrorCode, ErrorMessage}`.',
          },
          components: {
            securitySchemes: {
              ApiKey: { type: 'apiKey', in: 'header', name: 'ApiKey' },
              Bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
            },
          },
          security: [{ ApiKey: [], Bearer: [] }],
          tags: [
            { name: 'messages', description: 'Form tasks of a reportee' },
            { name: 'forms', description: "A message's main form and sub forms" },
            { name: 'attachments', description: "A message's attachments" },
          ],
        },
        transformObject: (documentObject) => {
          const document = (documentObject as { openapiObject: Record<string, unknown> }).openapiObject;
          // The one body no JSON schema describes (it is the file itself, streamed, never parsed).
          const paths = document.paths as Record<string, Record<string, Record<string, unknown>>>;
          const streamed = paths[STREAMED_ATTACHMENT_PATH]?.post;
          if (streamed) {
            streamed.requestBody = {
              required: true,
              description: 'The file.',
              content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } },
            };
          }
          return document;
        },
      });
      await api.register(swaggerUi, {
        routePrefix: '/help',
        uiConfig: { docExpansion: 'list', deepLinking: true, defaultModelsExpandDepth: 0 },
      });
      api.get('/openapi.json', { schema: { hide: true } }, async () => api.swagger());

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
