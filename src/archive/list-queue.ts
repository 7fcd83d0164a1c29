/** GetDownloadQueueItems: the oldest unpurged items of one service owner, optionally one service code. */
import { formatArchiveReference, parseArchiveReference } from './archive-reference';
import type { ArchiveContext, QueueItem, ReporteeType, ShipmentMetadataEntry, StoredQueueItem } from './types';

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

export async function listQueue(ctx: ArchiveContext, request: ListQueueRequest): Promise<QueueItem[]> {
  const ids = await pendingIds(ctx, request);
  const items = await queueItems(ctx, ids);
  return ids.map((id) => items.get(id)!);
}

/**
 * The same listing as archive references only: one index range scan, no item data. For a door that
 * keeps each item's serialized form (`queueItemsOrFragments`, `storeQueueItemFragments`).
 */
export async function listQueueReferences(ctx: ArchiveContext, request: ListQueueRequest): Promise<string[]> {
  return (await pendingIds(ctx, request)).map(formatArchiveReference);
}

/**
 * These queue items (references from `listQueueReferences`, in that order): an item with a
 * fragment stored in `format` comes back as that fragment alone, the others as full items for the
 * door to present (and store). The archive never reads a fragment: its format is the door's.
 */
export async function queueItemsOrFragments(
  ctx: ArchiveContext,
  archiveReferences: string[],
  format: string,
): Promise<Array<QueueItem | StoredQueueItem>> {
  if (archiveReferences.length === 0) return [];
  const ids = archiveReferences.map(toFormTaskId);
  const { rows } = await ctx.db.raw<{ rows: { form_task_id: number; fragment: string }[] }>(
    `SELECT form_task_id, fragment FROM queue_item_fragments WHERE form_task_id = ANY(?::bigint[]) AND format = ?`,
    [ids, format],
  );
  const fragments = new Map(rows.map((r) => [r.form_task_id, r.fragment]));
  const missing = ids.filter((id) => !fragments.has(id));
  const items = missing.length > 0 ? await queueItems(ctx, missing) : new Map<number, QueueItem>();
  return ids.map((id) => {
    const fragment = fragments.get(id);
    return fragment === undefined ? items.get(id)! : { archiveReference: formatArchiveReference(id), fragment };
  });
}

function toFormTaskId(archiveReference: string): number {
  const id = parseArchiveReference(archiveReference);
  if (id === undefined) throw new Error(`Not an archive reference: ${archiveReference}`);
  return id;
}

/**
 * Keeps each item's serialized form, made by the presenting door, beside the item. Queue items
 * never change once archived (purging only marks them), so a fragment stays valid for the item's
 * life; another `format` replaces it. Concurrent first listings may store the same fragment twice:
 * the last write wins, and both wrote the same bytes.
 */
export async function storeQueueItemFragments(
  { db }: ArchiveContext,
  format: string,
  fragments: { archiveReference: string; fragment: string }[],
): Promise<void> {
  if (fragments.length === 0) return;
  const ids = fragments.map((f) => toFormTaskId(f.archiveReference));
  const texts = fragments.map((f) => f.fragment);
  // Sorted by id: concurrent upserts then lock rows in the same order and cannot deadlock.
  await db.raw(
    `INSERT INTO queue_item_fragments (form_task_id, format, fragment)
     SELECT f.id, ?, f.fragment FROM unnest(?::bigint[], ?::text[]) AS f(id, fragment) ORDER BY f.id
     ON CONFLICT (form_task_id) DO UPDATE SET format = EXCLUDED.format, fragment = EXCLUDED.fragment`,
    [format, ids, texts],
  );
}

/** The pending items' form task ids in queue order. */
async function pendingIds({ db }: ArchiveContext, request: ListQueueRequest): Promise<number[]> {
  const serviceCode = request.serviceCode?.trim();
  // Both shapes read a partial index in order and stop after `limit` rows. With a service code,
  // each edition is its own ordered index range (LATERAL), merged and cut, so the cost does not
  // depend on how many items that service has queued.
  const { rows } = serviceCode
    ? await db.raw<{ rows: { form_task_id: number }[] }>(
        `SELECT q.form_task_id
           FROM services s
           CROSS JOIN LATERAL (
             SELECT qi.form_task_id, qi.archived_at FROM download_queue_items qi
              WHERE qi.service_id = s.id AND qi.purged_at IS NULL
              ORDER BY qi.archived_at, qi.form_task_id LIMIT ?) q
          WHERE s.service_owner_id = ? AND s.service_code = ?
          ORDER BY q.archived_at, q.form_task_id LIMIT ?`,
        [request.limit, request.serviceOwnerId, serviceCode, request.limit],
      )
    : await db.raw<{ rows: { form_task_id: number }[] }>(
        `SELECT q.form_task_id
           FROM download_queue_items q
          WHERE q.service_owner_id = ? AND q.purged_at IS NULL
          ORDER BY q.archived_at, q.form_task_id LIMIT ?`,
        [request.serviceOwnerId, request.limit],
      );
  return rows.map((r) => r.form_task_id);
}

/** The queue items of these form tasks, by id. */
async function queueItems({ db }: ArchiveContext, ids: number[]): Promise<Map<number, QueueItem>> {
  const result = new Map<number, QueueItem>();
  if (ids.length === 0) return result;
  // One array parameter rather than 500 bound values: the statements stay small and plan fast.
  const [{ rows }, { rows: metadataRows }] = await Promise.all([
    db.raw<{ rows: QueueRow[] }>(
      `SELECT q.form_task_id, q.archived_at, t.reportee, t.reportee_type, s.service_code, s.service_edition_code
         FROM download_queue_items q
         JOIN form_tasks t ON t.id = q.form_task_id
         JOIN services s ON s.id = q.service_id
        WHERE q.form_task_id = ANY(?::bigint[])`,
      [ids],
    ),
    db.raw<{ rows: { form_task_id: number; key: string; value: string | null }[] }>(
      `SELECT form_task_id, key, value FROM shipment_metadata WHERE form_task_id = ANY(?::bigint[]) ORDER BY form_task_id, position`,
      [ids],
    ),
  ]);
  const metadataByTask = new Map<number, ShipmentMetadataEntry[]>();
  for (const m of metadataRows) {
    const list = metadataByTask.get(m.form_task_id) ?? [];
    list.push({ key: m.key, value: m.value });
    metadataByTask.set(m.form_task_id, list);
  }
  for (const r of rows) {
    result.set(r.form_task_id, {
      archiveReference: formatArchiveReference(r.form_task_id),
      archivedAt: r.archived_at,
      reporteeId: r.reportee,
      reporteeType: r.reportee_type,
      serviceCode: r.service_code,
      serviceEditionCode: r.service_edition_code,
      shipmentMetadata: metadataByTask.get(r.form_task_id) ?? null,
    });
  }
  return result;
}
