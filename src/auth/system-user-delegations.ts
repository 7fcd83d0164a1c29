/**
 * Which organisations a system user may act for on the Altinn 2 broker (altinn2-broker CONTRACT
 * §8): the organisation its account belongs to (`service_owners.org_number`: that table holds
 * every organisation account, whether or not it owns services) plus the organisations delegated to
 * it (`system_user_delegations`, managed with `altinn-gateway system-user delegation …`).
 */
import type { Db } from '../storage/db';
import { orgNumberProblem } from '../broker/parties';

export class DelegationError extends Error {
  override name = 'DelegationError';
}

export interface ActingOrganisations {
  /** The organisation number of the system user's own account. */
  own: string;
  /** Organisation numbers delegated to it, sorted. */
  delegated: string[];
}

export interface Delegation {
  userName: string;
  /** The system user's own organisation. */
  ownOrgNumber: string;
  /** The organisation it may act for. */
  orgNumber: string;
  createdAt: Date;
}

/** The organisations the system user may act for; undefined when no such user exists. */
export async function actingOrganisations(db: Db, systemUserId: number): Promise<ActingOrganisations | undefined> {
  const own = await db('system_users as u')
    .join('service_owners as o', 'o.id', 'u.service_owner_id')
    .where('u.id', systemUserId)
    .first<{ org_number: string } | undefined>('o.org_number');
  if (!own) return undefined;
  const delegated: string[] = await db('system_user_delegations').where({ system_user_id: systemUserId }).orderBy('org_number').pluck('org_number');
  return { own: own.org_number, delegated };
}

export function mayActFor(organisations: ActingOrganisations, orgNumber: string): boolean {
  return organisations.own === orgNumber || organisations.delegated.includes(orgNumber);
}

async function requireSystemUser(db: Db, userName: string): Promise<{ id: number; ownOrgNumber: string }> {
  const row = await db('system_users as u')
    .join('service_owners as o', 'o.id', 'u.service_owner_id')
    .where('u.user_name', userName)
    .first<{ id: number; org_number: string } | undefined>('u.id', 'o.org_number');
  if (!row) throw new DelegationError(`No system user named '${userName}'`);
  return { id: row.id, ownOrgNumber: row.org_number };
}

function validOrgNumber(orgNumber: string): string {
  const problem = orgNumberProblem(orgNumber);
  if (problem) throw new DelegationError(`${problem[0]!.toUpperCase()}${problem.slice(1)}`);
  return orgNumber;
}

/** Lets the system user act for `orgNumber`; false when it already could (delegated before). */
export async function addDelegation(db: Db, request: { userName: string; orgNumber: string; now: Date }): Promise<boolean> {
  const orgNumber = validOrgNumber(request.orgNumber);
  const user = await requireSystemUser(db, request.userName);
  if (user.ownOrgNumber === orgNumber) {
    throw new DelegationError(`${orgNumber} is the system user's own organisation: it acts for it without a delegation`);
  }
  const inserted = await db('system_user_delegations')
    .insert({ system_user_id: user.id, org_number: orgNumber, created_at: request.now })
    .onConflict(['system_user_id', 'org_number'])
    .ignore()
    .returning('org_number');
  return inserted.length > 0;
}

/** Takes a delegation away; false when there was none. */
export async function removeDelegation(db: Db, request: { userName: string; orgNumber: string }): Promise<boolean> {
  const user = await requireSystemUser(db, request.userName);
  // RETURNING rather than the affected-row count, which the embedded database's driver does not give as a number.
  const removed = await db('system_user_delegations').where({ system_user_id: user.id, org_number: request.orgNumber }).delete().returning('org_number');
  return removed.length > 0;
}

/** Delegations, optionally of one system user or to one organisation, by user name then organisation. */
export async function listDelegations(db: Db, filter: { userName?: string; orgNumber?: string } = {}): Promise<Delegation[]> {
  if (filter.userName) await requireSystemUser(db, filter.userName);
  const query = db('system_user_delegations as d')
    .join('system_users as u', 'u.id', 'd.system_user_id')
    .join('service_owners as o', 'o.id', 'u.service_owner_id')
    .orderBy([{ column: 'u.user_name' }, { column: 'd.org_number' }])
    .select<{ user_name: string; own: string; org_number: string; created_at: Date | string }[]>('u.user_name', 'o.org_number as own', 'd.org_number', 'd.created_at');
  if (filter.userName) query.where('u.user_name', filter.userName);
  if (filter.orgNumber) query.where('d.org_number', filter.orgNumber);
  return (await query).map((row) => ({
    userName: row.user_name,
    ownOrgNumber: row.own,
    orgNumber: row.org_number,
    createdAt: row.created_at instanceof Date ? row.created_at : new Date(row.created_at),
  }));
}
