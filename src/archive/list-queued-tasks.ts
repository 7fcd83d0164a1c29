/**
 * Every form task still on an owner's DownloadQueue (not purged), for bulk work such as
 * `archive export`: unlike GetDownloadQueueItems there is no 500-item cap; pages are read by
 * form task id, so tasks archived while the walk runs do not shift it.
 */
import { formatArchiveReference } from './archive-reference';
import type { ArchiveContext } from './types';

export interface QueuedTasksFilter {
  serviceOwnerId: number;
  /** Only this service code (all editions). */
  serviceCode?: string | null;
  /** Only tasks archived at or after this time. */
  since?: Date | null;
}

function queuedTasks({ db }: ArchiveContext, filter: QueuedTasksFilter) {
  const query = db('download_queue_items as q').where('q.service_owner_id', filter.serviceOwnerId).whereNull('q.purged_at');
  if (filter.serviceCode) query.join('services as s', 's.id', 'q.service_id').where('s.service_code', filter.serviceCode);
  if (filter.since) query.where('q.archived_at', '>=', filter.since);
  return query;
}

export async function countQueuedTasks(ctx: ArchiveContext, filter: QueuedTasksFilter): Promise<number> {
  const row = await queuedTasks(ctx, filter).count<{ count: string | number }[]>('* as count').first();
  return Number(row?.count ?? 0);
}

/** Archive references of the queued tasks, oldest id first, read `pageSize` at a time. */
export async function* listQueuedTasks(ctx: ArchiveContext, filter: QueuedTasksFilter, pageSize = 500): AsyncGenerator<string> {
  let after = 0;
  for (;;) {
    const rows = await queuedTasks(ctx, filter)
      .where('q.form_task_id', '>', after)
      .orderBy('q.form_task_id')
      .limit(pageSize)
      .select<{ form_task_id: number }[]>('q.form_task_id');
    for (const row of rows) yield formatArchiveReference(row.form_task_id);
    if (rows.length < pageSize) return;
    after = rows[rows.length - 1]!.form_task_id;
  }
}
