/**
 * The Altinn 3 Broker API door at /broker/api/v1 (CONTRACT §1-8): file transfers (file-transfers.ts),
 * resumable uploads (tus.ts), resources (resources.ts), events and webhooks (events.ts). Every
 * route translates HTTP to one use case in src/broker/ and its result or BrokerError back.
 *
 * What every route shares lives here: the security headers, the 406 for a foreign Accept (before
 * authentication, as Altinn), the organisation's token (auth.ts), and errors as problem details
 * (problem-details.ts).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { App } from '../../app';
import { createOrganisationTokenVerifier, type OrganisationTokenVerifier } from '../../auth/organisation-tokens';
import { BrokerError } from '../../broker/errors';
import { organisationAuthenticator } from './auth';
import { registerEventRoutes } from './events';
import { registerFileTransferRoutes } from './file-transfers';
import { ALTINN3_ERRORS, broCode, sendProblem, sendValidationProblem } from './problem-details';
import { registerResourceRoutes } from './resources';
import { registerTusRoutes } from './tus';
import { databaseProblem } from '../../storage/db';

export const BROKER_API_PREFIX = '/broker/api/v1';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route answers JSON: a request whose Accept allows neither JSON nor anything gets 406. */
    producesJson?: boolean;
  }
}

export interface BrokerApiOptions {
  /** Defaults to the configured issuer (JWT_ISSUER/JWT_JWKS_URL) or the local one in DATA_DIR. */
  tokens?: OrganisationTokenVerifier;
}

/** What the route modules need. */
export interface BrokerApiDeps {
  app: App;
}

const NOT_ACCEPTABLE = 'This endpoint does not support the requested Accept header. Supported Accept headers are: application/json, */*.';

/** True when an Accept header lists neither application/json nor * / * (parameters ignored). */
export function acceptsJson(accept: string | undefined): boolean {
  if (accept === undefined) return true;
  return accept
    .split(',')
    .map((range) => range.split(';')[0]!.trim().toLowerCase())
    .some((range) => range === 'application/json' || range === '*/*');
}

export function registerBrokerApi(server: FastifyInstance, app: App, options: BrokerApiOptions = {}): void {
  const tokens = options.tokens ?? createOrganisationTokenVerifier(app.config.messages.jwt, app.config.dataDir);
  const deps: BrokerApiDeps = { app };

  server.register(
    async (api) => {
      api.decorateRequest('organisation', null);
      api.addHook('onRequest', async (request, reply) => {
        reply.header('x-content-type-options', 'nosniff').header('cache-control', 'no-store');
        if (request.routeOptions.config.producesJson && !acceptsJson(request.headers.accept)) {
          if (!request.raw.complete) reply.header('connection', 'close');
          // Altinn writes this text with no Content-Type.
          reply.code(406).removeHeader('content-type');
          return reply.send(NOT_ACCEPTABLE);
        }
      });
      api.addHook('onRequest', organisationAuthenticator(tokens));

      // Bodies: each route module registers its parsers (json.ts: JSON read by the door's own
      // reader, uploads left as streams; tus.ts: every chunk a stream).

      api.setErrorHandler((error, request, reply) => sendError(error, request, reply));
      api.setNotFoundHandler((request, reply) => sendProblem(request, reply, { status: 404, detail: `No resource at ${request.method} ${request.url.split('?')[0]}` }));

      api.get('/health', { schema: { hide: true } }, async (_request, reply) => {
        if (await databaseProblem(app.db)) {
          return reply.code(400).type('text/plain; charset=utf-8').send('Unable to query database. Is the database reachable and migrated?');
        }
        return reply.type('text/plain; charset=utf-8').send('Environment properly configured');
      });
      registerFileTransferRoutes(api, deps);
      registerResourceRoutes(api, deps);
      registerTusRoutes(api, deps);
      registerEventRoutes(api, deps);
    },
    { prefix: BROKER_API_PREFIX },
  );
}

/** Every error of the door as problem details: domain errors by name, fastify's own by status. */
export function sendError(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (error instanceof BrokerError) {
    if (error.name === 'InvalidInput') return sendValidationProblem(request, reply, error.details.errors ?? { '': [error.message] });
    const { status, number } = ALTINN3_ERRORS[error.name];
    if (status === 416 && error.details.size !== undefined) reply.header('content-range', `bytes */${error.details.size}`);
    return sendProblem(request, reply, { status, detail: error.message, ...(number !== undefined && { code: broCode(number) }) });
  }
  const fastifyError = error as { validation?: { instancePath: string; message?: string; params: Record<string, unknown>; keyword: string }[]; validationContext?: string; statusCode?: number; message?: string; code?: string };
  if (fastifyError.validation) {
    const errors: Record<string, string[]> = {};
    for (const issue of fastifyError.validation) {
      const key = validationKey(issue, fastifyError.validationContext);
      (errors[key] ??= []).push(validationMessage(issue, key));
    }
    return sendValidationProblem(request, reply, errors);
  }
  const status = fastifyError.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) return sendProblem(request, reply, { status, detail: fastifyError.message });
  request.log.error({ err: error }, 'broker API request failed');
  return sendProblem(request, reply, { status: 500, detail: `Internal error (trace ${request.id})` });
}

/** ASP.NET keys a body error by the model's (PascalCase) property, a query error by the parameter. */
function validationKey(issue: { instancePath: string; params: Record<string, unknown>; keyword: string }, context: string | undefined): string {
  const segments = issue.instancePath.split('/').filter(Boolean);
  if (issue.keyword === 'required') segments.push(String(issue.params.missingProperty));
  const name = segments.find((segment) => !/^\d+$/.test(segment)) ?? '';
  if (context === 'body') return name.charAt(0).toUpperCase() + name.slice(1);
  return name;
}

function validationMessage(issue: { keyword: string; message?: string; params: Record<string, unknown> }, key: string): string {
  if (issue.keyword === 'required') return `The ${key} field is required.`;
  if (issue.keyword === 'enum') return `The value is not valid for ${key}.`;
  return `The field ${key} ${issue.message ?? 'is not valid'}.`;
}
