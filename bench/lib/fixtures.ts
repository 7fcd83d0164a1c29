/**
 * Benchmark data. Owners, system users and services go through the application's own functions;
 * queue-sized data is loaded with set-based SQL (INSERT … SELECT generate_series) straight into
 * form_tasks, download_queue_items and shipment_metadata: the listing reads only those, and going
 * through the write path a million times would take longer than the benchmark. Attachments and
 * form tasks that are fetched whole go through the real write path (archiveFormTasks).
 */
import type { App } from '../../src/app';
import { addService } from '../../src/archive/add-service';
import { addServiceOwner } from '../../src/archive/add-service-owner';
import { addSystemUser } from '../../src/auth/system-users';
import type { Credentials } from './soap';

export interface BenchOwner {
  serviceOwnerId: number;
  systemUserId: number;
  serviceId: number;
  orgNumber: string;
  serviceCode: string;
  serviceEditionCode: number;
  credentials: Credentials;
}

/**
 * A service owner with one system user and one service that has a DownloadQueue (`encrypted`: its
 * content is encrypted for the owner when archived; the owner then needs a certificate).
 */
export async function createOwner(app: App, orgNumber: string, label: string, options: { encrypted?: boolean } = {}): Promise<BenchOwner> {
  const { serviceOwnerId } = await addServiceOwner(app.db, { orgNumber, name: `Bench ${label}` });
  const credentials = { userName: `bench-${label}`, password: `bench-password-${label}` };
  const { systemUserId } = await addSystemUser(app.db, { serviceOwnerId, userName: credentials.userName, password: credentials.password });
  const serviceCode = `B${orgNumber.slice(-4)}`;
  const { serviceId } = await addService(app.db, { serviceOwnerId, serviceCode, serviceEditionCode: 1, name: `Bench ${label}`, downloadQueue: true, encrypted: options.encrypted ?? false });
  return { serviceOwnerId, systemUserId, serviceId, orgNumber, serviceCode, serviceEditionCode: 1, credentials };
}

export interface QueueLoadOptions {
  /** Number of archived form tasks (each queued). */
  count: number;
  /** Fraction of the oldest items purged afterwards (by an UPDATE, as PurgeItem does). */
  purgedFraction: number;
  /** Every n-th task gets two shipment metadata entries (0: none). */
  metadataEvery: number;
  /** Rows per INSERT statement (progress is reported per chunk). */
  chunk?: number;
  onProgress?(done: number, total: number): void;
}

export interface QueueLoadResult {
  firstTaskId: number;
  lastTaskId: number;
  /** The oldest item left unpurged: what GetDownloadQueueItems must list first. */
  firstPendingTaskId: number;
  pending: number;
  seconds: number;
}

const BASE_TIME = '2024-01-01T00:00:00Z';

export async function loadQueue(app: App, owner: BenchOwner, options: QueueLoadOptions): Promise<QueueLoadResult> {
  const started = Date.now();
  const chunk = options.chunk ?? 100_000;
  const { db } = app;
  const before = await db('form_tasks').max<{ max: number | null }>('id as max').first();
  const startId = (before?.max ?? 0) + 1;
  for (let from = 1; from <= options.count; from += chunk) {
    const to = Math.min(options.count, from + chunk - 1);
    // archived_at one second apart, in id order, as the write path would produce.
    await db.raw(
      `INSERT INTO form_tasks (service_id, service_owner_id, reportee, reportee_type, archived_at, case_id)
       SELECT ?, ?, (910000000 + g % 100000)::text, 'Organisation', ?::timestamptz + g * interval '1 second', NULL
         FROM generate_series(?::int, ?::int) g ORDER BY g`,
      [owner.serviceId, owner.serviceOwnerId, BASE_TIME, from, to],
    );
    options.onProgress?.(to, options.count);
  }
  const range = await db('form_tasks')
    .where({ service_owner_id: owner.serviceOwnerId })
    .andWhere('id', '>=', startId)
    .first<{ first: number; last: number }>(db.raw('min(id) as first'), db.raw('max(id) as last'));
  const firstTaskId = Number(range!.first);
  const lastTaskId = Number(range!.last);
  if (lastTaskId - firstTaskId + 1 !== options.count) throw new Error(`loadQueue: expected ${options.count} consecutive task ids`);

  await db.raw(
    `INSERT INTO download_queue_items (form_task_id, service_owner_id, service_id, archived_at)
     SELECT id, service_owner_id, service_id, archived_at FROM form_tasks WHERE id BETWEEN ? AND ?`,
    [firstTaskId, lastTaskId],
  );
  if (options.metadataEvery > 0) {
    await db.raw(
      `INSERT INTO shipment_metadata (form_task_id, position, key, value)
       SELECT t.id, p, 'key' || p, 'value ' || t.id || '/' || p
         FROM form_tasks t CROSS JOIN generate_series(0, 1) p
        WHERE t.id BETWEEN ? AND ? AND t.id % ? = 0`,
      [firstTaskId, lastTaskId, options.metadataEvery],
    );
  }
  const purged = Math.floor(options.count * options.purgedFraction);
  if (purged > 0) {
    await db.raw(
      `UPDATE download_queue_items SET purged_at = archived_at + interval '1 hour', purged_by_system_user_id = ?
        WHERE form_task_id BETWEEN ? AND ?`,
      [owner.systemUserId, firstTaskId, firstTaskId + purged - 1],
    );
  }
  return {
    firstTaskId,
    lastTaskId,
    firstPendingTaskId: firstTaskId + purged,
    pending: options.count - purged,
    seconds: (Date.now() - started) / 1000,
  };
}

/** VACUUM ANALYZE the tables the queue listing reads: the state autovacuum leaves behind. */
export async function vacuumAnalyze(app: App): Promise<void> {
  await app.db.raw('VACUUM ANALYZE form_tasks, download_queue_items, shipment_metadata, services');
}
