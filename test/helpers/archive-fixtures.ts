/**
 * Building blocks for tests that need archived data: owners, services and small valid form tasks,
 * written through the same use cases the CLI and the intake use.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { App } from '../../src/app';
import { addService } from '../../src/archive/add-service';
import { addServiceOwner } from '../../src/archive/add-service-owner';
import type { NewAttachment, NewFormTask } from '../../src/archive/archive-form-tasks';

let nextOrg = 0;

/** A 9-digit organisation number not used before in this process. */
export function uniqueOrgNumber(): string {
  nextOrg += 1;
  return String(970_000_000 + (process.pid % 1000) * 10_000 + nextOrg);
}

export interface OwnerWithService {
  serviceOwnerId: number;
  orgNumber: string;
  serviceId: number;
  serviceCode: string;
  serviceEditionCode: number;
}

let nextServiceCode = 0;

/** A new service owner with one service (download queue on unless told otherwise). */
export async function createOwnerWithService(
  app: App,
  options: { serviceCode?: string; serviceEditionCode?: number; downloadQueue?: boolean } = {},
): Promise<OwnerWithService> {
  const orgNumber = uniqueOrgNumber();
  const { serviceOwnerId } = await addServiceOwner(app.db, { orgNumber, name: `Etat ${orgNumber}` });
  nextServiceCode += 1;
  const serviceCode = options.serviceCode ?? `${5000 + (process.pid % 1000) * 100 + nextServiceCode}`;
  const serviceEditionCode = options.serviceEditionCode ?? 1;
  const { serviceId } = await addService(app.db, {
    serviceOwnerId,
    serviceCode,
    serviceEditionCode,
    name: 'Testskjema',
    downloadQueue: options.downloadQueue ?? true,
  });
  return { serviceOwnerId, orgNumber, serviceId, serviceCode, serviceEditionCode };
}

/** An attachment whose bytes come from memory. */
export function bytesAttachment(fileName: string, bytes: Buffer, attachmentType = 'application_octet-stream'): NewAttachment {
  return { fileName, attachmentType, open: () => Readable.from([bytes]) };
}

/** A small valid form task for `service` (override any field). */
export function newTask(service: { serviceCode: string; serviceEditionCode: number }, overrides: Partial<NewFormTask> = {}): NewFormTask {
  return {
    serviceCode: service.serviceCode,
    serviceEditionCode: service.serviceEditionCode,
    reportee: '910000001',
    reporteeType: 'Organisation',
    forms: [{ dataFormatId: '5703', dataFormatVersion: 34114, formData: '<Skjema><Felt>verdi</Felt></Skjema>' }],
    approvers: [{ approverId: '01017012345', approvedAt: new Date('2024-03-05T13:05:00Z'), securityLevel: 'sensitive' }],
    attachments: [],
    ...overrides,
  };
}

/** Relative paths of all committed blob files under a DATA_DIR (temporary files excluded). */
export async function listBlobFiles(dataDir: string): Promise<string[]> {
  const root = path.join(dataDir, 'blobs');
  const entries = await readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(root, path.join(entry.parentPath ?? entry.path, entry.name)))
    .filter((file) => !file.startsWith(`tmp${path.sep}`))
    .sort();
}

/** Row counts of every archive table, to show that a failed write left nothing behind. */
export async function countArchiveRows(app: App): Promise<Record<string, number>> {
  const tables = ['form_tasks', 'forms', 'approvers', 'attachments', 'shipment_metadata', 'download_queue_items'];
  const counts: Record<string, number> = {};
  for (const table of tables) {
    const row = await app.db(table).count<{ count: string | number }[]>('* as count').first();
    counts[table] = Number(row?.count ?? 0);
  }
  return counts;
}
