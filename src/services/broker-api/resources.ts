/**
 * Resource configuration routes of the Altinn 3 door (CONTRACT §2.7): the service owner
 * (scope `altinn:serviceowner`) sets and reads a broker resource's settings (ResourceExt). Members
 * left out or null keep their value; the rules (BRO-00011 … 00023) and who owns a resource are the
 * domain's (src/broker/configure-resource.ts).
 */
import type { FastifyInstance } from 'fastify';
import { BROKER_SCOPES } from '../../auth/organisation-tokens';
import { configureResource, getResource, type ResourceSettings } from '../../broker/configure-resource';
import type { BrokerResource } from '../../broker/types';
import { callerOf } from './auth';
import type { BrokerApiDeps } from './index';
import { readJsonBody, registerBrokerBodyParsers, SCHEMAS_DOCUMENT_ONLY, sendJson, type JsonModel } from './json';
import { BROKER_SECURITY, PROBLEM_RESPONSES, RESOURCES_TAG } from './openapi';

const SERVICE_OWNER = [BROKER_SCOPES.serviceOwner] as const;

const resourceExt = {
  type: 'object',
  description: 'ResourceExt. Member names are read case-insensitively and numbers may be quoted; members left out or null keep their value.',
  properties: {
    maxFileTransferSize: { type: 'integer', format: 'int64', nullable: true, minimum: 1, description: 'Bytes; at most the gateway\'s BROKER_MAX_FILE_TRANSFER_SIZE.' },
    fileTransferTimeToLive: { type: 'string', nullable: true, example: 'P30D', description: 'ISO 8601 duration, at most 365 days (default P30D).' },
    purgeFileTransferAfterAllRecipientsConfirmed: { type: 'boolean', nullable: true, description: 'Default true.' },
    purgeFileTransferGracePeriod: { type: 'string', nullable: true, example: 'PT2H', description: 'ISO 8601 duration, at most 24 hours (default PT2H).' },
    useManifestFileShim: { type: 'boolean', nullable: true, description: 'Needs both legacy codes.' },
    externalServiceCodeLegacy: { type: 'string', nullable: true, description: 'Altinn 2 service code (the Altinn 2 doors find the resource by it).' },
    externalServiceEditionCodeLegacy: { type: 'integer', format: 'int32', nullable: true, description: 'Altinn 2 service edition code.' },
    requiredParty: { type: 'string', nullable: true, description: 'This party must be the sender or the only recipient ("" clears it).' },
  },
} as const;

const RESOURCE_MODEL: JsonModel = { parameter: 'resourceExt', clrType: 'Altinn.Broker.Models.ResourceExt', schema: resourceExt };

const resourceIdParams = {
  type: 'object',
  properties: { resourceId: { type: 'string', description: 'With or without urn:altinn:resource:' } },
  required: ['resourceId'],
} as const;

/** ResourceExt with Altinn's 8 members in Altinn's order, nulls written; durations as configured (ISO 8601). */
export function resourceJson(resource: BrokerResource) {
  return {
    maxFileTransferSize: resource.maxFileTransferSize,
    fileTransferTimeToLive: resource.fileTransferTimeToLive,
    purgeFileTransferAfterAllRecipientsConfirmed: resource.purgeFileTransferAfterAllRecipientsConfirmed,
    purgeFileTransferGracePeriod: resource.purgeFileTransferGracePeriod,
    useManifestFileShim: resource.useManifestFileShim,
    externalServiceCodeLegacy: resource.externalServiceCodeLegacy,
    externalServiceEditionCodeLegacy: resource.externalServiceEditionCodeLegacy,
    requiredParty: resource.requiredParty,
  };
}

export function registerResourceRoutes(api: FastifyInstance, deps: BrokerApiDeps): void {
  const ctx = deps.app.broker;

  api.register(async (scope) => {
    registerBrokerBodyParsers(scope);

    scope.put<{ Params: { resourceId: string } }>(
      '/resource/:resourceId',
      {
        config: { brokerScopes: SERVICE_OWNER, producesJson: true },
        schema: {
          tags: [RESOURCES_TAG],
          security: BROKER_SECURITY,
          summary: 'Configure a broker resource',
          description: 'The first service owner to configure a resource owns it; another gets 401 BRO-00006.',
          params: resourceIdParams,
          body: resourceExt,
          response: { 204: { description: 'Configured', type: 'null' }, ...PROBLEM_RESPONSES([400, 401, 403, 409]) },
        },
        ...SCHEMAS_DOCUMENT_ONLY,
      },
      async (request, reply) => {
        const settings = readJsonBody(request, RESOURCE_MODEL) as ResourceSettings;
        await configureResource(ctx, callerOf(request), request.params.resourceId, settings);
        return reply.code(204).send();
      },
    );

    scope.get<{ Params: { resourceId: string } }>(
      '/resource/:resourceId',
      {
        config: { brokerScopes: SERVICE_OWNER, producesJson: true },
        schema: {
          tags: [RESOURCES_TAG],
          security: BROKER_SECURITY,
          summary: "A broker resource's configuration (its service owner)",
          params: resourceIdParams,
          response: { 200: resourceExt, ...PROBLEM_RESPONSES([400, 401, 403]) },
        },
        ...SCHEMAS_DOCUMENT_ONLY,
      },
      async (request, reply) => {
        const resource = await getResource(ctx, callerOf(request), request.params.resourceId);
        return sendJson(reply, 200, resourceJson(resource));
      },
    );
  });
}
