/** How many items wait on each service owner's DownloadQueue (for monitoring). */
import type { Db } from '../storage/db';

export async function queueDepthByOwner(db: Db): Promise<{ orgNumber: string; items: number }[]> {
  // Counts the partial index of unpurged items (download_queue_pending_by_owner), not the purged history.
  const rows = await db('service_owners as o')
    .leftJoin('download_queue_items as q', (join) => join.on('q.service_owner_id', 'o.id').andOnNull('q.purged_at'))
    .groupBy('o.org_number')
    .orderBy('o.org_number')
    .select<{ org_number: string; items: number | string }[]>('o.org_number', db.raw('count(q.form_task_id) AS items'));
  return rows.map((row) => ({ orgNumber: row.org_number, items: Number(row.items) }));
}
