/**
 * Altinn 2 names a broker service by service code and edition; each maps to the resource
 * configured with those legacy codes (CONTRACT §9, altinn2-broker §13). Without a code, the doors
 * look at every resource that has one.
 */
import type { Knex } from 'knex';
import type { Db } from '../../storage/db';
import { BrokerError } from '../errors';
import { findResourceByLegacyCode, listLegacyResources } from '../resources';
import type { BrokerResource } from '../types';

type Queryable = Db | Knex.Transaction;

export async function requireLegacyResource(db: Queryable, serviceCode: string, serviceEditionCode: number): Promise<BrokerResource> {
  const resource = await findResourceByLegacyCode(db, serviceCode, serviceEditionCode);
  if (!resource) throw new BrokerError('LegacyServiceNotFound', `No broker service has service code ${serviceCode} and edition ${serviceEditionCode}`);
  return resource;
}

/** The resources a query with an optional service code (and edition) covers. */
export async function legacyResources(db: Queryable, serviceCode?: string | null, serviceEditionCode?: number | null): Promise<BrokerResource[]> {
  if (serviceCode) {
    const all = await listLegacyResources(db);
    return all.filter((r) => r.externalServiceCodeLegacy === serviceCode && (serviceEditionCode == null || r.externalServiceEditionCodeLegacy === serviceEditionCode));
  }
  return listLegacyResources(db);
}
