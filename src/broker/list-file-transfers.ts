/**
 * The operator's view of a resource's transfers (`altinn-gateway broker transfers list`): every
 * transfer on it, whoever the parties, newest first, optionally by current status.
 */
import { loadFileTransfers } from './file-transfer-store';
import { normaliseResourceId } from './resources';
import type { BrokerContext, FileTransfer, FileTransferStatus } from './types';

export interface ListFileTransfersRequest {
  resourceId: string;
  status?: FileTransferStatus;
  limit?: number;
}

export async function listFileTransfers(ctx: BrokerContext, request: ListFileTransfersRequest): Promise<FileTransfer[]> {
  const query = ctx.db('broker_file_transfers').where({ resource_id: normaliseResourceId(request.resourceId) });
  if (request.status) query.where({ status: request.status });
  const ids: string[] = await query.orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id', order: 'desc' }]).limit(request.limit ?? 1000).pluck('id');
  return loadFileTransfers(ctx.db, ids);
}
