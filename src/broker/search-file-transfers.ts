/**
 * Search the caller's transfers on a resource (CONTRACT §2.4): as sender, recipient or either;
 * by current status and the caller's own latest recipient status; `from`/`to` on the creation time,
 * or with a status on when the transfer entered it (`from` alone is exclusive, `to` alone exclusive,
 * both together inclusive, as Altinn's query). Newest first unless ascending, at most 100 ids.
 */
import type { Knex } from 'knex';
import { normaliseResourceId } from './resources';
import type { BrokerCaller, BrokerContext, FileTransferStatus, RecipientStatus, Role } from './types';

export const SEARCH_LIMIT = 100;

export interface SearchFileTransfersRequest {
  resourceId: string;
  status?: FileTransferStatus;
  recipientStatus?: RecipientStatus;
  from?: Date;
  to?: Date;
  orderAscending?: boolean;
  role?: Role;
}

export async function searchFileTransfers(ctx: BrokerContext, caller: BrokerCaller, request: SearchFileTransfersRequest): Promise<string[]> {
  const db = ctx.db;
  // A recipient status only exists for recipients: asking for one implies the recipient role.
  const role: Role | undefined = request.recipientStatus !== undefined ? 'Recipient' : request.role;
  const recipientRow = (): Knex.QueryBuilder => {
    const sub = db('broker_recipients as r').select(db.raw('1')).whereRaw('r.file_transfer_id = t.id').where('r.recipient', caller.partyId);
    if (request.recipientStatus !== undefined) sub.where('r.latest_status', request.recipientStatus);
    return sub;
  };

  const query = db('broker_file_transfers as t').where('t.resource_id', normaliseResourceId(request.resourceId));
  if (role === 'Sender') query.where('t.sender', caller.partyId);
  else if (role === 'Recipient') query.whereExists(recipientRow());
  else query.where((either) => either.where('t.sender', caller.partyId).orWhereExists(recipientRow()));

  let timeColumn = 't.created_at';
  if (request.status !== undefined) {
    query.where('t.status', request.status);
    // When the transfer (last) entered the status it is in now.
    query.join(
      db('broker_file_transfer_statuses').select('file_transfer_id').max({ entered_at: 'changed_at' }).where('status', request.status).groupBy('file_transfer_id').as('s'),
      's.file_transfer_id',
      't.id',
    );
    timeColumn = 's.entered_at';
  }
  if (request.from && request.to) query.whereBetween(timeColumn, [request.from, request.to]);
  else if (request.from) query.where(timeColumn, '>', request.from);
  else if (request.to) query.where(timeColumn, '<', request.to);

  const direction = request.orderAscending ? 'asc' : 'desc';
  const rows = await query.orderBy([{ column: timeColumn, order: direction }, { column: 't.id', order: direction }]).limit(SEARCH_LIMIT).select<{ id: string }[]>('t.id');
  return rows.map((row) => row.id);
}
