/**
 * The end-user REST messages API under /api (Altinn 2's `/api/{who}/messages`). Its route schemas
 * (schemas.ts) validate the requests and feed the OpenAPI document at /api/openapi.json and the
 * Swagger UI at /api/help (src/services/openapi.ts). Everything under /api/{who}/... needs an
 * ApiKey header and a Bearer token (auth.ts); the documentation does not.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { App } from '../../app';
import { createTokenVerifier, type TokenVerifier } from '../../auth/end-user-tokens';
import type { MessageContext } from '../../messages/types';
import { authenticator } from './auth';
import { decodeUtf8 } from '../../encoding/utf8';
import { HttpError, sendError } from './http-errors';
import { registerMessageRoutes } from './routes';
import { HAL_JSON, PLAIN_JSON } from './schemas';

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
        // JSON bodies arrive as application/json or application/hal+json, the file of a streamed
        // attachment (application/octet-stream) stays a stream; any other type is a 415.
        const parseJson = secured.getDefaultJsonParser('error', 'error');
        secured.removeAllContentTypeParsers();
        secured.addContentTypeParser([PLAIN_JSON, HAL_JSON], { parseAs: 'buffer' }, (request, body, done) => {
          const text = decodeUtf8(body as Buffer);
          if (text === undefined) done(new HttpError(400, 'InvalidJson', 'body: is not valid UTF-8'), undefined);
          else parseJson(request, text, done);
        });
        secured.addContentTypeParser('application/octet-stream', (_request, payload, done) => done(null, payload));
        secured.decorateRequest('endUser', null);
        secured.addHook('onRequest', authenticator(app.db, tokens));
        secured.addHook('preParsing', refuseUnacceptedMediaType);
        registerMessageRoutes(secured, ctx, config.maxJsonBytes);
      });
    },
    { prefix: '/api' },
  );
}

/**
 * A route that takes a body takes it in the media types its schema lists (`body.content`), and
 * only those: a body of another type would otherwise reach the route unvalidated. Checked before
 * the body is read.
 */
async function refuseUnacceptedMediaType(request: FastifyRequest): Promise<void> {
  const content = (request.routeOptions.schema?.body as { content?: Record<string, unknown> } | undefined)?.content;
  if (!content) return;
  const accepted = Object.keys(content);
  const header = request.headers['content-type'];
  const mediaType = header?.split(';')[0]!.trim().toLowerCase();
  if (mediaType !== undefined && accepted.includes(mediaType)) return;
  const got = mediaType ? `Content-Type ${mediaType} is not accepted here` : 'The request has no Content-Type';
  throw new HttpError(415, 'UnsupportedMediaType', `${got}: send ${accepted.join(' or ')}`);
}
