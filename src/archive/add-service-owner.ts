/** Service owners (the agencies that own services and poll their DownloadQueue), by organisation number. */
import { isUniqueViolation, type Db } from '../storage/db';
import { ArchiveError } from './errors';

export interface ServiceOwner {
  serviceOwnerId: number;
  orgNumber: string;
  name: string;
}

/** Norwegian organisation numbers are nine digits. The MOD11 check digit is not enforced: test orgs often fail it. */
const ORG_NUMBER = /^[0-9]{9}$/;

export function isOrgNumber(text: string): boolean {
  return ORG_NUMBER.test(text);
}

export async function addServiceOwner(db: Db, request: { orgNumber: string; name: string }): Promise<{ serviceOwnerId: number }> {
  const orgNumber = request.orgNumber.trim();
  const name = request.name.trim();
  if (!isOrgNumber(orgNumber)) {
    throw new ArchiveError('invalid_argument', `Organisation number '${request.orgNumber}' must be exactly 9 digits`);
  }
  if (!name) throw new ArchiveError('invalid_argument', 'The service owner name must not be empty');
  try {
    const [row] = await db('service_owners').insert({ org_number: orgNumber, name }).returning<{ id: number }[]>('id');
    return { serviceOwnerId: row!.id };
  } catch (error) {
    if (isUniqueViolation(error)) {
      throw new ArchiveError('conflict', `A service owner with organisation number ${orgNumber} already exists`);
    }
    throw error;
  }
}

export async function findServiceOwnerByOrg(db: Db, orgNumber: string): Promise<ServiceOwner | undefined> {
  const row = await db('service_owners')
    .where({ org_number: orgNumber.trim() })
    .first<{ id: number; org_number: string; name: string } | undefined>('id', 'org_number', 'name');
  return row && { serviceOwnerId: row.id, orgNumber: row.org_number, name: row.name };
}

export interface ServiceOwnerSummary extends ServiceOwner {
  createdAt: Date;
  services: number;
  systemUsers: number;
}

/** Every service owner, by organisation number, with how many services and system users it has. */
export async function listServiceOwners(db: Db): Promise<ServiceOwnerSummary[]> {
  const rows = await db('service_owners as o')
    .orderBy('o.org_number')
    .select<{ id: number; org_number: string; name: string; created_at: Date; services: number | string; system_users: number | string }[]>(
      'o.id',
      'o.org_number',
      'o.name',
      'o.created_at',
      db.raw('(SELECT count(*) FROM services s WHERE s.service_owner_id = o.id) AS services'),
      db.raw('(SELECT count(*) FROM system_users u WHERE u.service_owner_id = o.id) AS system_users'),
    );
  return rows.map((row) => ({
    serviceOwnerId: row.id,
    orgNumber: row.org_number,
    name: row.name,
    createdAt: row.created_at,
    services: Number(row.services),
    systemUsers: Number(row.system_users),
  }));
}
