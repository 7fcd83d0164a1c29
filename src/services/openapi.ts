/**
 * One OpenAPI 3 document for the gateway's REST APIs, at /api/openapi.json, with a browsable
 * Swagger UI at /api/help: the end-user messages API under /api and the Altinn 3 Broker API under
 * /broker/api/v1. It is generated from the route schemas, so it is registered on the root server
 * before any route plugin (it collects every route added after it); routes outside those two APIs
 * (SOAP, /health, /metrics) are left out.
 */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { BROKER_TAGS, ORGANISATION_TOKEN } from './broker-api/openapi';
import { BROKERSERVICE_REST_TAGS } from './brokerservice-rest/schemas';
import { STREAMED_ATTACHMENT_PATH } from './rest-messages';

export const OPENAPI_PATH = '/api/openapi.json';
export const HELP_PREFIX = '/api/help';

const DOCUMENTED_PREFIXES = ['/api/', '/broker/api/v1/'];

const DESCRIPTION =
  "**End-user messages API** (`/api/{who}/messages`): Altinn 2's REST API for form tasks. Create a form task, fill in forms and " +
  "attachments, sign and submit. A submitted task is archived and appears on the service owner's DownloadQueue (SOAP). " +
  "Every call needs the `ApiKey` header of a registered API client (`altinn-gateway apikey add`) and an end user's " +
  'Bearer token (for local use: `altinn-gateway token --person 01017012345 --level 4`). Responses are ' +
  '`application/hal+json` (or `application/json` when that is all the client accepts); errors are `{ErrorCode, ErrorMessage}`.\n\n' +
  '**Altinn 3 Broker API** (`/broker/api/v1`): file transfers between organisations, wire-compatible with Altinn 3 Broker. ' +
  "An organisation calls it with a Maskinporten-shaped Bearer token whose `consumer` is the organisation (`0192:<orgnr>`) and whose " +
  '`scope` holds its roles: `altinn:broker.write` (sender), `altinn:broker.read` (recipient), `altinn:serviceowner` (resource ' +
  'configuration). For local use the gateway issues such tokens itself: ' +
  '`altinn-gateway token --org 991825827 --scope "altinn:broker.write altinn:broker.read"`. No token answers 401, a token without ' +
  'the route\'s scope 403 (both with an empty body); errors are `application/problem+json` with a `code` such as `BRO-00001`.\n\n' +
  "**Altinn 2 REST brokerservice API** (`/api/{who}/brokerservice/…`): Altinn 2's broker REST operations over the same file " +
  'transfers, as Altinn served them to services moved to Altinn 3 (pseudo-receipts, Norwegian local times). Auth as the messages ' +
  'API (ApiKey and an end user\'s Bearer token, `{who}` an organisation the person has a role for).';

export function registerOpenApi(server: FastifyInstance): void {
  server.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'altinn-gateway: REST APIs', version: '1', description: DESCRIPTION },
      components: {
        securitySchemes: {
          ApiKey: { type: 'apiKey', in: 'header', name: 'ApiKey' },
          Bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
          [ORGANISATION_TOKEN]: {
            type: 'http',
            scheme: 'bearer',
            bearerFormat: 'JWT',
            description: 'An organisation\'s Maskinporten-shaped token (altinn-gateway token --org <orgnr> --scope "<scopes>").',
          },
        },
      },
      // The messages API's; each broker operation names its own (OrganisationToken).
      security: [{ ApiKey: [], Bearer: [] }],
      tags: [
        { name: 'messages', description: 'Form tasks of a reportee' },
        { name: 'forms', description: "A message's main form and sub forms" },
        { name: 'attachments', description: "A message's attachments" },
        ...BROKER_TAGS,
        ...BROKERSERVICE_REST_TAGS,
      ],
    },
    transform: ({ schema, url }) => {
      const documented = DOCUMENTED_PREFIXES.some((prefix) => url.startsWith(prefix)) && !url.startsWith(HELP_PREFIX);
      return { schema: documented ? schema : { ...schema, hide: true }, url };
    },
    transformObject: (documentObject) => {
      const document = (documentObject as { openapiObject: Record<string, unknown> }).openapiObject;
      // The one messages body no JSON schema describes (it is the file itself, streamed, never parsed).
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
  server.register(swaggerUi, {
    routePrefix: HELP_PREFIX,
    uiConfig: { docExpansion: 'list', deepLinking: true, defaultModelsExpandDepth: 0 },
    uiHooks: {
      // The page's assets and its document are addressed relative to the page, which resolves right
      // only from /api/help/ (also behind a proxy that mounts the gateway under a path): go there.
      onRequest: async (request, reply) => {
        const [pathname, query] = splitQuery(request.url);
        if (pathname === HELP_PREFIX) return reply.redirect(`${HELP_PREFIX.slice(HELP_PREFIX.lastIndexOf('/') + 1)}/${query}`, 301);
      },
    },
  });
  server.register(async (scope) => {
    scope.get(OPENAPI_PATH, { schema: { hide: true } }, async () => server.swagger());
  });
}

function splitQuery(url: string): [string, string] {
  const at = url.indexOf('?');
  return at === -1 ? [url, ''] : [url.slice(0, at), url.slice(at)];
}
