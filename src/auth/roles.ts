/**
 * Which person may act for which organisation in the REST API (`altinn-gateway role add`). A
 * person always acts for themself (`my`); an organisation needs a role.
 */
import { isOrgNumber } from '../archive/add-service-owner';
import type { Db } from '../storage/db';
import { isPersonNumber } from './end-user-tokens';

export interface Role {
  person: string;
  orgNumber: string;
  createdAt: Date;
}

export class RoleError extends Error {
  constructor(
    readonly reason: 'invalid_argument' | 'not_found',
    message: string,
  ) {
    super(message);
    this.name = 'RoleError';
  }
}

function check(person: string, orgNumber: string): void {
  if (!isPersonNumber(person)) throw new RoleError('invalid_argument', `'${person}' is not a national identity number (11 digits)`);
  if (!isOrgNumber(orgNumber)) throw new RoleError('invalid_argument', `'${orgNumber}' is not an organisation number (9 digits)`);
}

/** Gives the person a role for the organisation; true when it is new, false when it existed. */
export async function addRole(db: Db, request: { person: string; orgNumber: string }): Promise<boolean> {
  check(request.person, request.orgNumber);
  const inserted = await db('reportee_roles')
    .insert({ person: request.person, org_number: request.orgNumber })
    .onConflict(['person', 'org_number'])
    .ignore()
    .returning('person');
  return inserted.length > 0;
}

export async function removeRole(db: Db, request: { person: string; orgNumber: string }): Promise<void> {
  check(request.person, request.orgNumber);
  const deleted = await db('reportee_roles').where({ person: request.person, org_number: request.orgNumber }).delete().returning('person');
  if (deleted.length === 0) throw new RoleError('not_found', `${request.person} has no role for ${request.orgNumber}`);
}

export async function listRoles(db: Db, filter: { person?: string; orgNumber?: string } = {}): Promise<Role[]> {
  const query = db('reportee_roles').orderBy(['person', 'org_number']);
  if (filter.person) query.where({ person: filter.person });
  if (filter.orgNumber) query.where({ org_number: filter.orgNumber });
  const rows = await query.select<{ person: string; org_number: string; created_at: Date }[]>('person', 'org_number', 'created_at');
  return rows.map((row) => ({ person: row.person, orgNumber: row.org_number, createdAt: new Date(row.created_at) }));
}

export async function hasRole(db: Db, person: string, orgNumber: string): Promise<boolean> {
  return (await db('reportee_roles').where({ person, org_number: orgNumber }).first('person')) !== undefined;
}
