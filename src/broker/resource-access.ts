/**
 * A resource's access list (managed by the operator's CLI): the organisations that may send and
 * receive on it. Empty means every organisation may; once it has entries, the sender and every
 * recipient of a new transfer must be on it (NoAccessToResource, RecipientsNotInAccessList).
 */
import { invalidInput } from './errors';
import { parsePartyId } from './parties';
import { listResourceAccess, normaliseResourceId, requireResource } from './resources';
import type { BrokerContext } from './types';

function partyOf(text: string): string {
  const parsed = parsePartyId(text);
  if ('error' in parsed) throw invalidInput('party', parsed.error);
  return parsed.partyId;
}

/** Adds a party; true if it was not on the list yet. */
export async function addResourceAccess(ctx: BrokerContext, resourceId: string, party: string): Promise<boolean> {
  const resource = await requireResource(ctx.db, resourceId);
  const inserted = await ctx.db('broker_resource_access')
    .insert({ resource_id: resource.resourceId, party: partyOf(party), created_at: ctx.clock.now() })
    .onConflict(['resource_id', 'party'])
    .ignore()
    .returning('party');
  return inserted.length > 0;
}

/** Removes a party; true if it was on the list. */
export async function removeResourceAccess(ctx: BrokerContext, resourceId: string, party: string): Promise<boolean> {
  const resource = await requireResource(ctx.db, resourceId);
  // returning(): knex-pglite answers a delete with a result object, not a row count.
  const removed = await ctx.db('broker_resource_access').where({ resource_id: resource.resourceId, party: partyOf(party) }).delete().returning('party');
  return removed.length > 0;
}

export async function getResourceAccess(ctx: BrokerContext, resourceId: string): Promise<string[]> {
  await requireResource(ctx.db, resourceId);
  return listResourceAccess(ctx.db, normaliseResourceId(resourceId));
}
