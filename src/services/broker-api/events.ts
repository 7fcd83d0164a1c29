/**
 * Events of the Altinn 3 door (our design: Altinn pushes its events to its own event bus instead,
 * CONTRACT §6 [I]). An organisation calls these with either broker scope; the subject is always
 * the calling organisation.
 *
 *   GET    /events?after=<cursor>&limit=<n>  its events as CloudEvents, in order, with a cursor
 *                                            (src/broker/event-feed.ts): {"events":[…],"cursor":"…","hasMore":false}
 *   POST   /webhooks {url, eventTypes?}      201 {id, url, eventTypes, created, secret} (the secret only here)
 *   GET    /webhooks                         200 [{id, url, eventTypes, created}]
 *   DELETE /webhooks/{id}                    204; another organisation's or an unknown id: 404
 *
 * Deliveries are CloudEvents signed Standard Webhooks style (src/broker/webhooks.ts). How the
 * receivers answered is not shown here: that would let an organisation probe whatever the gateway
 * can reach; operators see it in the log and with `altinn-gateway broker webhook list`.
 */
import type { FastifyInstance } from 'fastify';
import { BROKER_SCOPES } from '../../auth/organisation-tokens';
import { readEventFeed } from '../../broker/event-feed';
import { BROKER_EVENT_TYPES, EVENT_TYPE_PREFIX } from '../../broker/events';
import { DEFAULT_FEED_LIMIT, MAX_FEED_LIMIT } from '../../broker/event-feed';
import { addWebhook, listWebhooks, removeWebhook, type Webhook } from '../../broker/webhooks';
import { callerOf } from './auth';
import type { BrokerApiDeps } from './index';
import { formatTimestamp, guidParameter, queryValue, readJsonBody, registerBrokerBodyParsers, SCHEMAS_DOCUMENT_ONLY, sendJson, type JsonModel } from './json';
import { BROKER_SECURITY, EVENTS_TAG, PROBLEM_RESPONSES } from './openapi';
import { sendProblem } from './problem-details';

const READ_OR_WRITE = [BROKER_SCOPES.read, BROKER_SCOPES.write] as const;

const eventTypeList = { type: 'array', items: { type: 'string', enum: [...BROKER_EVENT_TYPES] } } as const;

const webhookRequest = {
  type: 'object',
  description: 'Member names are read case-insensitively.',
  properties: {
    url: { type: 'string', format: 'uri', example: 'https://receiver.example/altinn-events', description: 'http or https, no credentials, at most 2048 characters.' },
    eventTypes: {
      ...eventTypeList,
      nullable: true,
      description: `Event types to deliver (short names, or with the ${EVENT_TYPE_PREFIX} prefix); left out or null: all.`,
    },
  },
  required: ['url'],
} as const;

const WEBHOOK_MODEL: JsonModel = { parameter: 'webhook', clrType: 'WebhookRequest', schema: webhookRequest as unknown as JsonModel['schema'] };

const webhookProperties = {
  id: { type: 'string', format: 'uuid' },
  url: { type: 'string' },
  eventTypes: { ...eventTypeList, nullable: true, description: 'null: every event type' },
  created: { type: 'string', format: 'date-time' },
} as const;

const webhookSchema = { type: 'object', properties: webhookProperties } as const;

const cloudEventSchema = {
  type: 'object',
  description: 'A CloudEvent 1.0 with members in this order.',
  properties: {
    specversion: { type: 'string', example: '1.0' },
    id: { type: 'string', format: 'uuid' },
    type: { type: 'string', example: 'no.altinn.broker.published' },
    time: { type: 'string', format: 'date-time' },
    resource: { type: 'string', example: 'urn:altinn:resource:my-resource' },
    resourceinstance: { type: 'string', format: 'uuid', description: 'The file transfer id' },
    subject: { type: 'string', example: 'urn:altinn:organization:identifier-no:991825827' },
    source: { type: 'string', example: 'https://gateway.example/broker/api/v1/filetransfer' },
    data: { type: 'object', properties: { Role: { type: 'string', enum: ['Sender', 'Recipient'] } } },
  },
} as const;

function webhookJson(webhook: Webhook) {
  return { id: webhook.id, url: webhook.url, eventTypes: webhook.eventTypes, created: formatTimestamp(webhook.created) };
}

export function registerEventRoutes(api: FastifyInstance, deps: BrokerApiDeps): void {
  const ctx = deps.app.broker;

  api.register(async (scope) => {
    registerBrokerBodyParsers(scope);

    scope.get(
      '/events',
      {
        config: { brokerScopes: READ_OR_WRITE, producesJson: true },
        schema: {
          tags: [EVENTS_TAG],
          security: BROKER_SECURITY,
          summary: "The caller's events, in order, from a cursor",
          description:
            'Events whose subject is the calling organisation, oldest first. Pass the returned `cursor` as `after` to continue; an empty page ' +
            'keeps the cursor. `hasMore` says that more events were already waiting. An event appears once its status change has committed ' +
            'and every transaction that began writing before it has finished, so a cursor never skips one.',
          querystring: {
            type: 'object',
            properties: {
              after: { type: 'string', description: 'The cursor of the previous page; left out: from the first event.' },
              limit: { type: 'integer', minimum: 1, maximum: MAX_FEED_LIMIT, default: DEFAULT_FEED_LIMIT },
            },
          },
          response: {
            200: {
              description: 'A page of events',
              type: 'object',
              properties: {
                events: { type: 'array', items: cloudEventSchema },
                cursor: { type: 'string', nullable: true, description: 'Pass as `after`; null while the caller has no events.' },
                hasMore: { type: 'boolean' },
              },
            },
            ...PROBLEM_RESPONSES([400, 401, 403]),
          },
        },
        ...SCHEMAS_DOCUMENT_ONLY,
      },
      async (request, reply) => {
        const page = await readEventFeed(ctx, callerOf(request), { after: queryValue(request.query, 'after'), limit: queryValue(request.query, 'limit') });
        return sendJson(reply, 200, { events: page.events, cursor: page.cursor, hasMore: page.hasMore });
      },
    );

    scope.post(
      '/webhooks',
      {
        config: { brokerScopes: READ_OR_WRITE, producesJson: true },
        schema: {
          tags: [EVENTS_TAG],
          security: BROKER_SECURITY,
          summary: 'Subscribe a webhook to the caller’s events',
          description:
            'Events of the calling organisation are POSTed to `url` as `application/cloudevents+json`, signed per Standard Webhooks. The ' +
            '`secret` (whsec_…) is shown in this answer only: keep it to verify webhook-signature. At most 10 webhooks per organisation.',
          body: webhookRequest,
          response: {
            201: {
              description: 'Subscribed',
              type: 'object',
              properties: { ...webhookProperties, secret: { type: 'string', example: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', description: 'Shown once.' } },
            },
            ...PROBLEM_RESPONSES([400, 401, 403]),
          },
        },
        ...SCHEMAS_DOCUMENT_ONLY,
      },
      async (request, reply) => {
        const body = readJsonBody(request, WEBHOOK_MODEL);
        const webhook = await addWebhook(ctx, callerOf(request), { url: body.url, eventTypes: body.eventTypes });
        reply.header('location', `${request.url.split('?')[0]!.replace(/\/$/, '')}/${webhook.id}`);
        return sendJson(reply, 201, { ...webhookJson(webhook), secret: webhook.secret });
      },
    );

    scope.get(
      '/webhooks',
      {
        config: { brokerScopes: READ_OR_WRITE, producesJson: true },
        schema: {
          tags: [EVENTS_TAG],
          security: BROKER_SECURITY,
          summary: "The caller's webhooks (without their secrets)",
          response: { 200: { description: 'Oldest first', type: 'array', items: webhookSchema }, ...PROBLEM_RESPONSES([401, 403]) },
        },
        ...SCHEMAS_DOCUMENT_ONLY,
      },
      async (request, reply) => {
        const webhooks = await listWebhooks(ctx, { orgNumber: callerOf(request).orgNumber });
        return sendJson(reply, 200, webhooks.map(webhookJson));
      },
    );

    scope.delete<{ Params: { webhookId: string } }>(
      '/webhooks/:webhookId',
      {
        config: { brokerScopes: READ_OR_WRITE, producesJson: true },
        schema: {
          tags: [EVENTS_TAG],
          security: BROKER_SECURITY,
          summary: 'Remove one of the caller’s webhooks, with its undelivered events',
          params: { type: 'object', properties: { webhookId: { type: 'string', format: 'uuid' } }, required: ['webhookId'] },
          response: { 204: { description: 'Removed', type: 'null' }, ...PROBLEM_RESPONSES([400, 401, 403, 404]) },
        },
        ...SCHEMAS_DOCUMENT_ONLY,
      },
      async (request, reply) => {
        const webhookId = guidParameter('webhookId', request.params.webhookId);
        // Another organisation's webhook answers exactly like one that does not exist.
        if (!(await removeWebhook(ctx, webhookId, { orgNumber: callerOf(request).orgNumber }))) {
          return sendProblem(request, reply, { status: 404, detail: 'The requested webhook was not found' });
        }
        return reply.code(204).send();
      },
    );
  });
}
