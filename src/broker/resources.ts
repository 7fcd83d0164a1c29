/**
 * Broker resources (services) as stored, with the defaults Altinn applies to what the service
 * owner left out, and who may use one (the access list and the required party).
 */
import type { Knex } from 'knex';
import type { Db } from '../storage/db';
import { parseIsoDuration } from './durations';
import { brokerError } from './errors';
import type { BrokerResource } from './types';

type Queryable = Db | Knex.Transaction;

export const DEFAULT_TIME_TO_LIVE = 'P30D';
export const DEFAULT_GRACE_PERIOD = 'PT2H';

interface ResourceRow {
  resource_id: string;
  service_owner_org: string;
  max_file_transfer_size: number | string | null;
  file_transfer_time_to_live: string | null;
  purge_after_all_confirmed: boolean;
  purge_grace_period: string | null;
  use_manifest_file_shim: boolean;
  external_service_code_legacy: string | null;
  external_service_edition_code_legacy: number | null;
  required_party: string | null;
}

const RESOURCE_PREFIX = 'urn:altinn:resource:';

/** `urn:altinn:resource:x` and `x` name the same resource; it is stored and returned without the prefix. */
export function normaliseResourceId(text: string): string {
  return text.startsWith(RESOURCE_PREFIX) ? text.slice(RESOURCE_PREFIX.length) : text;
}

export function resourceFromRow(row: ResourceRow): BrokerResource {
  return {
    resourceId: row.resource_id,
    serviceOwnerOrg: row.service_owner_org,
    maxFileTransferSize: row.max_file_transfer_size === null ? null : Number(row.max_file_transfer_size),
    fileTransferTimeToLive: row.file_transfer_time_to_live,
    purgeFileTransferAfterAllRecipientsConfirmed: row.purge_after_all_confirmed,
    purgeFileTransferGracePeriod: row.purge_grace_period,
    useManifestFileShim: row.use_manifest_file_shim,
    externalServiceCodeLegacy: row.external_service_code_legacy,
    externalServiceEditionCodeLegacy: row.external_service_edition_code_legacy,
    requiredParty: row.required_party,
  };
}

export async function findResource(db: Queryable, resourceId: string): Promise<BrokerResource | undefined> {
  const row = await db<ResourceRow>('broker_resources').where({ resource_id: normaliseResourceId(resourceId) }).first();
  return row && resourceFromRow(row);
}

/** A configured resource, or ResourceNotConfigured. */
export async function requireResource(db: Queryable, resourceId: string): Promise<BrokerResource> {
  const resource = await findResource(db, resourceId);
  if (!resource) throw brokerError('ResourceNotConfigured');
  return resource;
}

/** The resource an Altinn 2 door means by a service code and edition. */
export async function findResourceByLegacyCode(db: Queryable, serviceCode: string, serviceEditionCode: number): Promise<BrokerResource | undefined> {
  const row = await db<ResourceRow>('broker_resources')
    .where({ external_service_code_legacy: serviceCode, external_service_edition_code_legacy: serviceEditionCode })
    .first();
  return row && resourceFromRow(row);
}

/** Every resource that an Altinn 2 door can reach (it has a legacy service code and edition). */
export async function listLegacyResources(db: Queryable): Promise<BrokerResource[]> {
  const rows = await db<ResourceRow>('broker_resources')
    .whereNotNull('external_service_code_legacy')
    .whereNotNull('external_service_edition_code_legacy')
    .orderBy('resource_id');
  return rows.map(resourceFromRow);
}

export function timeToLiveMs(resource: BrokerResource): number {
  return parseIsoDuration(resource.fileTransferTimeToLive ?? DEFAULT_TIME_TO_LIVE) ?? parseIsoDuration(DEFAULT_TIME_TO_LIVE)!;
}

export function gracePeriodMs(resource: BrokerResource): number {
  return parseIsoDuration(resource.purgeFileTransferGracePeriod ?? DEFAULT_GRACE_PERIOD) ?? parseIsoDuration(DEFAULT_GRACE_PERIOD)!;
}

export function purgesAfterAllConfirmed(resource: BrokerResource): boolean {
  return resource.purgeFileTransferAfterAllRecipientsConfirmed;
}

/** The parties on the resource's access list ('0192:<orgnr>'); empty means open to every organisation. */
export async function listResourceAccess(db: Queryable, resourceId: string): Promise<string[]> {
  return db('broker_resource_access').where({ resource_id: normaliseResourceId(resourceId) }).orderBy('party').pluck('party');
}
