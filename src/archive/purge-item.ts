/** PurgeItem: take one item out of the owner's DownloadQueue, exactly once. */
import { parseArchiveReference } from './archive-reference';
import { ArchiveError, notFound } from './errors';
import type { ArchiveContext } from './types';

export interface PurgeItemRequest {
  serviceOwnerId: number;
  systemUserId: number;
  archiveReference: string;
}

export async function purgeItem({ db }: ArchiveContext, request: PurgeItemRequest): Promise<void> {
  const formTaskId = parseArchiveReference(request.archiveReference);
  if (formTaskId === undefined) throw notFound(`Archive reference '${request.archiveReference}'`);
  // One conditional UPDATE: of two concurrent purges exactly one matches `purged_at IS NULL`.
  const updated = await db('download_queue_items')
    .where({ form_task_id: formTaskId, service_owner_id: request.serviceOwnerId })
    .whereNull('purged_at')
    .update({ purged_at: db.fn.now(), purged_by_system_user_id: request.systemUserId });
  if (updated === 1) return;

  const existing = await db('download_queue_items')
    .where({ form_task_id: formTaskId, service_owner_id: request.serviceOwnerId })
    .first('purged_at');
  if (existing) {
    throw new ArchiveError('already_purged', `Archive reference '${request.archiveReference}' has already been purged from the download queue`);
  }
  throw notFound(`Archive reference '${request.archiveReference}' in the download queue`);
}
