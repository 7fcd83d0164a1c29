/** GetDownloadQueueItems: the oldest unpurged items of one service owner, optionally one service code. */
import { formatArchiveReference } from './archive-reference';
import type { ArchiveContext, QueueItem, ReporteeType, ShipmentMetadataEntry } from './types';

export interface ListQueueRequest {
  serviceOwnerId: number;
  /** Filter on a service code (all its editions); null/empty → all the owner's services. */
  serviceCode?: string | null;
  limit: number;
}

interface QueueRow {
  form_task_id: number;
  archived_at: Date;
  reportee: string;
  reportee_type: ReporteeType;
  service_code: string;
  service_edition_code: number;
}

export async function listQueue({ db }: ArchiveContext, request: ListQueueRequest): Promise<QueueItem[]> {
  const columns = `q.form_task_id, q.archived_at, t.reportee, t.reportee_type, s.service_code, s.service_edition_code`;
  const serviceCode = request.serviceCode?.trim();
  // Both shapes read a partial index in order and stop after `limit` rows. With a service code,
  // each edition is its own ordered index range (LATERAL), merged and cut, so the cost does not
  // depend on how many items that service has queued.
  const { rows } = serviceCode
    ? await db.raw<{ rows: QueueRow[] }>(
        `SELECT ${columns}
           FROM services s
           CROSS JOIN LATERAL (
             SELECT qi.form_task_id, qi.archived_at FROM download_queue_items qi
              WHERE qi.service_id = s.id AND qi.purged_at IS NULL
              ORDER BY qi.archived_at, qi.form_task_id LIMIT ?) q
           JOIN form_tasks t ON t.id = q.form_task_id
          WHERE s.service_owner_id = ? AND s.service_code = ?
          ORDER BY q.archived_at, q.form_task_id LIMIT ?`,
        [request.limit, request.serviceOwnerId, serviceCode, request.limit],
      )
    : await db.raw<{ rows: QueueRow[] }>(
        `SELECT ${columns}
           FROM download_queue_items q
           JOIN form_tasks t ON t.id = q.form_task_id
           JOIN services s ON s.id = q.service_id
          WHERE q.service_owner_id = ? AND q.purged_at IS NULL
          ORDER BY q.archived_at, q.form_task_id LIMIT ?`,
        [request.serviceOwnerId, request.limit],
      );
  if (rows.length === 0) return [];

  const metadataByTask = new Map<number, ShipmentMetadataEntry[]>();
  // One array parameter rather than 500 bound values: the statement stays small and plans fast.
  const { rows: metadataRows } = await db.raw<{ rows: { form_task_id: number; key: string; value: string | null }[] }>(
    `SELECT form_task_id, key, value FROM shipment_metadata WHERE form_task_id = ANY(?::bigint[]) ORDER BY form_task_id, position`,
    [rows.map((r) => r.form_task_id)],
  );
  for (const m of metadataRows) {
    const list = metadataByTask.get(m.form_task_id) ?? [];
    list.push({ key: m.key, value: m.value });
    metadataByTask.set(m.form_task_id, list);
  }

  return rows.map((r) => ({
    archiveReference: formatArchiveReference(r.form_task_id),
    archivedAt: r.archived_at,
    reporteeId: r.reportee,
    reporteeType: r.reportee_type,
    serviceCode: r.service_code,
    serviceEditionCode: r.service_edition_code,
    shipmentMetadata: metadataByTask.get(r.form_task_id) ?? null,
  }));
}
