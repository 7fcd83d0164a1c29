/**
 * Services (code + edition) of a service owner. Whether a service has a DownloadQueue decides if
 * its archived form tasks become queue items; tasks archived while it is off are never queued.
 * Whether it is encrypted decides if its tasks' content is encrypted for the owner when archived
 * (tasks archived before the switch stay as they were); its sensitive fields, if it lists any,
 * which elements of the form data are encrypted instead of the root (src/crypto/sensitive-fields.ts).
 */
import { parseSensitiveFields, SensitiveFieldError } from '../crypto/sensitive-fields';
import { isUniqueViolation, type Db } from '../storage/db';
import { ArchiveError } from './errors';

export interface Service {
  serviceId: number;
  serviceOwnerId: number;
  serviceCode: string;
  serviceEditionCode: number;
  name: string | null;
  downloadQueue: boolean;
  /** Content of its form tasks is encrypted under the owner's current certificate when archived. */
  encrypted: boolean;
  /** Field paths encrypted one by one in its form data; empty: the root element is encrypted. */
  sensitiveFields: string[];
}

export interface ServiceKey {
  serviceOwnerId: number;
  serviceCode: string;
  serviceEditionCode: number;
}

const SERVICE_CODE = /^[\w.-]{1,50}$/;
const INT32_MAX = 2_147_483_647;

/** Why a service code is unacceptable, or undefined when it is fine. */
export function serviceCodeProblem(code: string): string | undefined {
  return SERVICE_CODE.test(code) ? undefined : `service code '${code}' must be 1-50 letters, digits, '.', '_' or '-'`;
}

/** Why an edition code is unacceptable (it is an xs:int on the wire), or undefined when it is fine. */
export function serviceEditionCodeProblem(edition: number): string | undefined {
  return Number.isInteger(edition) && edition >= 1 && edition <= INT32_MAX
    ? undefined
    : `service edition code '${edition}' must be a whole number from 1 to ${INT32_MAX}`;
}

export async function addService(
  db: Db,
  request: ServiceKey & { name?: string | null; downloadQueue: boolean; encrypted?: boolean; sensitiveFields?: readonly string[] },
): Promise<{ serviceId: number }> {
  const problem = serviceCodeProblem(request.serviceCode) ?? serviceEditionCodeProblem(request.serviceEditionCode);
  if (problem) throw new ArchiveError('invalid_argument', capitalize(problem));
  const sensitiveFields = checkedSensitiveFields(request.sensitiveFields ?? [], request.encrypted ?? false);
  const owner = await db('service_owners').where({ id: request.serviceOwnerId }).first('id');
  if (!owner) throw new ArchiveError('invalid_argument', `Service owner id ${request.serviceOwnerId} does not exist`);
  try {
    const [row] = await db('services')
      .insert({
        service_owner_id: request.serviceOwnerId,
        service_code: request.serviceCode,
        service_edition_code: request.serviceEditionCode,
        name: request.name?.trim() || null,
        download_queue: request.downloadQueue,
        encrypted: request.encrypted ?? false,
        sensitive_fields: JSON.stringify(sensitiveFields),
      })
      .returning<{ id: number }[]>('id');
    return { serviceId: row!.id };
  } catch (error) {
    // Code + edition is unique across owners: Altinn has one global service catalogue.
    if (isUniqueViolation(error)) {
      throw new ArchiveError('conflict', `Service ${request.serviceCode} edition ${request.serviceEditionCode} already exists`);
    }
    throw error;
  }
}

export async function findService(db: Db, key: ServiceKey): Promise<Service | undefined> {
  const row = await db('services')
    .where({ service_owner_id: key.serviceOwnerId, service_code: key.serviceCode, service_edition_code: key.serviceEditionCode })
    .first<ServiceRow | undefined>(SERVICE_COLUMNS);
  return row && toService(row);
}

/** All services of one owner (a handful per owner; used to resolve many tasks with one query). */
export async function listServices(db: Db, serviceOwnerId: number): Promise<Service[]> {
  const rows = await db('services').where({ service_owner_id: serviceOwnerId }).orderBy(['service_code', 'service_edition_code']).select<ServiceRow[]>(SERVICE_COLUMNS);
  return rows.map(toService);
}

/** Turn the DownloadQueue of a service on or off (affects tasks archived from now on). */
export async function setServiceDownloadQueue(db: Db, request: ServiceKey & { downloadQueue: boolean }): Promise<void> {
  await updateService(db, request, { download_queue: request.downloadQueue });
}

/**
 * Turn encryption of a service's content on or off (affects tasks archived from now on). With
 * `sensitiveFields` (only when turning it on) the list is replaced, `[]` going back to encrypting
 * the root element; without, the list stays as it was.
 */
export async function setServiceEncryption(db: Db, request: ServiceKey & { encrypted: boolean; sensitiveFields?: readonly string[] }): Promise<void> {
  const changes: Record<string, unknown> = { encrypted: request.encrypted };
  if (request.sensitiveFields !== undefined) {
    changes.sensitive_fields = JSON.stringify(checkedSensitiveFields(request.sensitiveFields, request.encrypted));
  }
  await updateService(db, request, changes);
}

function checkedSensitiveFields(fields: readonly string[], encrypted: boolean): string[] {
  try {
    const checked = parseSensitiveFields(fields);
    if (checked.length > 0 && !encrypted) throw new SensitiveFieldError('Sensitive fields can only be set for an encrypted service');
    return checked;
  } catch (error) {
    if (error instanceof SensitiveFieldError) throw new ArchiveError('invalid_argument', error.message);
    throw error;
  }
}

async function updateService(db: Db, key: ServiceKey, changes: Record<string, unknown>): Promise<void> {
  const updated = await db('services')
    .where({ service_owner_id: key.serviceOwnerId, service_code: key.serviceCode, service_edition_code: key.serviceEditionCode })
    .update(changes);
  if (updated === 0) {
    throw new ArchiveError('not_found', `Service ${key.serviceCode} edition ${key.serviceEditionCode} was not found for this service owner`);
  }
}

interface ServiceRow {
  id: number;
  service_owner_id: number;
  service_code: string;
  service_edition_code: number;
  name: string | null;
  download_queue: boolean;
  encrypted: boolean;
  sensitive_fields: string[] | string;
}

const SERVICE_COLUMNS = ['id', 'service_owner_id', 'service_code', 'service_edition_code', 'name', 'download_queue', 'encrypted', 'sensitive_fields'];

function toService(row: ServiceRow): Service {
  return {
    serviceId: row.id,
    serviceOwnerId: row.service_owner_id,
    serviceCode: row.service_code,
    serviceEditionCode: row.service_edition_code,
    name: row.name,
    downloadQueue: row.download_queue,
    encrypted: row.encrypted,
    // jsonb: parsed by the pg driver, a string from some drivers.
    sensitiveFields: typeof row.sensitive_fields === 'string' ? (JSON.parse(row.sensitive_fields) as string[]) : row.sensitive_fields,
  };
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
