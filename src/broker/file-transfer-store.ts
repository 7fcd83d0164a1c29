/**
 * Rows of file transfers, shared by the broker use cases: loading a transfer with its recipients,
 * and the only two ways a status ever changes (appendTransferStatus, appendRecipientStatus).
 *
 * Status history is append-only: a change inserts a history row and moves the transfer's (or the
 * recipient's) current-status columns to it, in the caller's transaction, after the caller has
 * locked the transfer row (lockFileTransfer). Every change to one transfer is thereby serialised,
 * so its history, its events and its current status always agree.
 */
import type { Knex } from 'knex';
import type { Db } from '../storage/db';
import { brokerError } from './errors';
import {
  FILE_TRANSFER_STATUSES,
  RECIPIENT_STATUSES,
  type BrokerCaller,
  type FileTransfer,
  type FileTransferHistory,
  type FileTransferStatus,
  type RecipientState,
  type RecipientStatus,
} from './types';

type Queryable = Db | Knex.Transaction;

export interface FileTransferRow {
  id: string;
  resource_id: string;
  sender: string;
  file_name: string;
  senders_reference: string | null;
  checksum: string | null;
  checksum_given: boolean;
  use_virus_scan: boolean;
  property_list: Record<string, string> | string;
  size_bytes: number | string;
  sha256: string | null;
  blob_key: string | null;
  created_at: Date;
  expires_at: Date;
  status: FileTransferStatus;
  status_text: string | null;
  status_changed_at: Date;
  published_at: Date | null;
  /** The upload that currently counts (upload-attempts.ts), or null. */
  upload_attempt: string | null;
  /** The process streaming that upload, and until when its claim holds. */
  upload_attempt_owner: string | null;
  upload_attempt_expires_at: Date | null;
}

interface RecipientRow {
  file_transfer_id: string;
  recipient: string;
  position: number;
  status: RecipientStatus;
  latest_status: RecipientStatus;
  status_changed_at: Date;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A file transfer id as the database stores it (lower case), or undefined when it cannot be one. */
export function normaliseFileTransferId(text: string): string | undefined {
  return UUID.test(text) ? text.toLowerCase() : undefined;
}

export function statusText(status: FileTransferStatus, stored: string | null): string {
  return stored ?? FILE_TRANSFER_STATUSES[status].text;
}

function toDate(value: Date | string): Date {
  return value instanceof Date ? value : new Date(value);
}

export function fileTransferFromRows(row: FileTransferRow, recipients: RecipientRow[]): FileTransfer {
  return {
    fileTransferId: row.id,
    resourceId: row.resource_id,
    fileName: row.file_name,
    sendersFileTransferReference: row.senders_reference,
    checksum: row.checksum,
    checksumGiven: row.checksum_given,
    useVirusScan: row.use_virus_scan,
    fileTransferSize: Number(row.size_bytes),
    sha256: row.sha256,
    blobKey: row.blob_key,
    status: { status: row.status, text: statusText(row.status, row.status_text), changedAt: toDate(row.status_changed_at) },
    created: toDate(row.created_at),
    expirationTime: toDate(row.expires_at),
    sender: row.sender,
    recipients: recipients
      .sort((a, b) => a.position - b.position)
      .map<RecipientState>((r) => ({ recipient: r.recipient, status: r.status, text: RECIPIENT_STATUSES[r.status].text, changedAt: toDate(r.status_changed_at) })),
    propertyList: typeof row.property_list === 'string' ? (JSON.parse(row.property_list) as Record<string, string>) : row.property_list,
    published: row.published_at ? toDate(row.published_at) : null,
  };
}

/** Many transfers with their recipients, in the order of `ids`. */
export async function loadFileTransfers(db: Queryable, ids: string[]): Promise<FileTransfer[]> {
  return (await loadFileTransfersWithAttempts(db, ids)).map(({ transfer }) => transfer);
}

/** A transfer row joined with one of its recipients (or with none: the recipient columns are null). */
type TransferRecipientRow = FileTransferRow & {
  r_recipient: string | null;
  r_position: number;
  r_status: RecipientStatus;
  r_latest_status: RecipientStatus;
  r_status_changed_at: Date;
};

/**
 * One statement whatever the count (a row per transfer and recipient): every broker request loads
 * its transfer, a TUS client once per chunk, so this is one round trip to the database, not two.
 */
async function loadFileTransfersWithAttempts(db: Queryable, ids: string[]): Promise<{ transfer: FileTransfer; uploadAttempt: string | null }[]> {
  if (ids.length === 0) return [];
  const joined: TransferRecipientRow[] = await db('broker_file_transfers as t')
    .leftJoin('broker_recipients as r', 'r.file_transfer_id', 't.id')
    .whereIn('t.id', ids)
    .select('t.*', 'r.recipient as r_recipient', 'r.position as r_position', 'r.status as r_status', 'r.latest_status as r_latest_status', 'r.status_changed_at as r_status_changed_at');
  const byTransfer = new Map<string, { row: FileTransferRow; recipients: RecipientRow[] }>();
  for (const row of joined) {
    let entry = byTransfer.get(row.id);
    if (!entry) byTransfer.set(row.id, (entry = { row, recipients: [] }));
    if (row.r_recipient === null) continue;
    entry.recipients.push({
      file_transfer_id: row.id,
      recipient: row.r_recipient,
      position: row.r_position,
      status: row.r_status,
      latest_status: row.r_latest_status,
      status_changed_at: row.r_status_changed_at,
    });
  }
  return ids.flatMap((id) => {
    const entry = byTransfer.get(id);
    return entry ? [{ transfer: fileTransferFromRows(entry.row, entry.recipients), uploadAttempt: entry.row.upload_attempt }] : [];
  });
}

export async function loadFileTransfer(db: Queryable, fileTransferId: string): Promise<FileTransfer | undefined> {
  return (await loadFileTransferWithAttempt(db, fileTransferId))?.transfer;
}

async function loadFileTransferWithAttempt(db: Queryable, fileTransferId: string): Promise<{ transfer: FileTransfer; uploadAttempt: string | null } | undefined> {
  const id = normaliseFileTransferId(fileTransferId);
  if (!id) return undefined;
  const [loaded] = await loadFileTransfersWithAttempts(db, [id]);
  return loaded;
}

/** The caller's role on a transfer, or undefined when it is not a party to it. */
export function roleOf(transfer: FileTransfer, caller: BrokerCaller): 'Sender' | 'Recipient' | undefined {
  if (transfer.sender === caller.partyId) return 'Sender';
  if (transfer.recipients.some((r) => r.recipient === caller.partyId)) return 'Recipient';
  return undefined;
}

export function isRecipient(transfer: FileTransfer, caller: BrokerCaller): boolean {
  return transfer.recipients.some((r) => r.recipient === caller.partyId);
}

/**
 * A transfer the caller is party to (as `role`, or either): anything else, including another
 * party's transfer, is FileTransferNotFound, so a stranger cannot learn that it exists.
 */
export async function requireFileTransfer(db: Queryable, fileTransferId: string, caller: BrokerCaller, role?: 'Sender' | 'Recipient'): Promise<FileTransfer> {
  return (await requireFileTransferWithAttempt(db, fileTransferId, caller, role)).transfer;
}

/** requireFileTransfer, with the transfer's current upload attempt read from the same row. */
export async function requireFileTransferWithAttempt(
  db: Queryable,
  fileTransferId: string,
  caller: BrokerCaller,
  role?: 'Sender' | 'Recipient',
): Promise<{ transfer: FileTransfer; uploadAttempt: string | null }> {
  const loaded = await loadFileTransferWithAttempt(db, fileTransferId);
  if (!loaded) throw brokerError('FileTransferNotFound');
  const { transfer } = loaded;
  const callerRole = roleOf(transfer, caller);
  const allowed = role === undefined ? callerRole !== undefined : role === 'Recipient' ? isRecipient(transfer, caller) : callerRole === 'Sender';
  if (!allowed) throw brokerError('FileTransferNotFound');
  return loaded;
}

/** Locks the transfer row for the rest of `trx` and returns the transfer as it is now. */
export async function lockFileTransfer(trx: Knex.Transaction, fileTransferId: string): Promise<FileTransfer | undefined> {
  return (await lockFileTransferWithAttempt(trx, fileTransferId))?.transfer;
}

/** lockFileTransfer, with the transfer's current upload attempt read from the same row. */
export async function lockFileTransferWithAttempt(trx: Knex.Transaction, fileTransferId: string): Promise<{ transfer: FileTransfer; uploadAttempt: string | null } | undefined> {
  const row = await trx<FileTransferRow>('broker_file_transfers').where({ id: fileTransferId }).forUpdate().first();
  if (!row) return undefined;
  const recipients = await trx<RecipientRow>('broker_recipients').where({ file_transfer_id: fileTransferId }).select();
  return { transfer: fileTransferFromRows(row, recipients), uploadAttempt: row.upload_attempt };
}

/** Appends a status row and makes it the transfer's current status. The caller holds the row lock. */
export async function appendTransferStatus(
  trx: Knex.Transaction,
  fileTransferId: string,
  status: FileTransferStatus,
  at: Date,
  text: string | null = null,
  extra: Partial<Pick<FileTransferRow, 'published_at' | 'blob_key' | 'size_bytes' | 'sha256' | 'checksum' | 'upload_attempt' | 'upload_attempt_owner' | 'upload_attempt_expires_at' | 'file_name'>> = {},
): Promise<void> {
  await trx('broker_file_transfer_statuses').insert({ file_transfer_id: fileTransferId, status, status_text: text, changed_at: at });
  await trx('broker_file_transfers')
    .where({ id: fileTransferId })
    .update({ status, status_text: text, status_changed_at: at, ...extra });
}

/**
 * Appends a recipient status row. The recipient's current status is the highest it has reached
 * (it never goes back: a download after confirming does not un-confirm), its time the latest row's;
 * the latest row's status is kept too (search by recipient status filters on it, as Altinn's does).
 */
export async function appendRecipientStatus(trx: Knex.Transaction, fileTransferId: string, recipient: string, status: RecipientStatus, at: Date): Promise<void> {
  await trx('broker_recipient_statuses').insert({ file_transfer_id: fileTransferId, recipient, status, changed_at: at });
  const current = await trx<RecipientRow>('broker_recipients').where({ file_transfer_id: fileTransferId, recipient }).first('status');
  const highest = current && RECIPIENT_STATUSES[current.status].number > RECIPIENT_STATUSES[status].number ? current.status : status;
  await trx('broker_recipients').where({ file_transfer_id: fileTransferId, recipient }).update({ status: highest, latest_status: status, status_changed_at: at });
}

/** Every status row of a transfer and of its recipients, oldest first. */
export async function loadHistory(db: Queryable, fileTransferId: string): Promise<FileTransferHistory> {
  const transferRows = await db('broker_file_transfer_statuses')
    .where({ file_transfer_id: fileTransferId })
    .orderBy('id')
    .select<{ status: FileTransferStatus; status_text: string | null; changed_at: Date }[]>('status', 'status_text', 'changed_at');
  const recipientRows = await db('broker_recipient_statuses')
    .where({ file_transfer_id: fileTransferId })
    .orderBy('id')
    .select<{ recipient: string; status: RecipientStatus; changed_at: Date }[]>('recipient', 'status', 'changed_at');
  return {
    fileTransferStatusHistory: transferRows.map((r) => ({ status: r.status, text: statusText(r.status, r.status_text), changedAt: toDate(r.changed_at) })),
    recipientFileTransferStatusHistory: recipientRows.map((r) => ({
      recipient: r.recipient,
      status: r.status,
      text: RECIPIENT_STATUSES[r.status].text,
      changedAt: toDate(r.changed_at),
    })),
  };
}
