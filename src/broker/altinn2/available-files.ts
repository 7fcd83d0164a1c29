/**
 * What a recipient may fetch through the Altinn 2 doors (REST inbox, SOAP GetAvailableFiles and
 * CheckIfAvailableFiles), on the broker services that have an Altinn 2 service code:
 *
 * - Uploaded: published transfers this recipient has not confirmed (Initialized or DownloadStarted:
 *   Altinn 2 treats them alike);
 * - Downloaded: transfers it has confirmed that can still be downloaded (not purged);
 * - Initialized: transfers to it that are not published yet (the REST inbox only).
 *
 * Sent dates filter on `created`, both bounds inclusive; oldest first, as Altinn's legacy query.
 */
import type { BrokerContext, FileTransfer } from '../types';
import { loadFileTransfers } from '../file-transfer-store';
import { legacyResources } from './services';
import type { LegacyFileStatus } from './file-status';

/** A guard against unbounded answers; Altinn's legacy query has no limit at all. */
export const AVAILABLE_FILES_LIMIT = 10_000;

export interface AvailableFilesQuery {
  /** '0192:<orgnr>' of the recipient. */
  recipient: string;
  serviceCode?: string | null;
  serviceEditionCode?: number | null;
  fileStatus: LegacyFileStatus;
  minSentDate?: Date | null;
  maxSentDate?: Date | null;
}

export interface AvailableFile {
  transfer: FileTransfer;
  serviceCode: string;
  serviceEditionCode: number;
}

export async function listAvailableFiles(ctx: BrokerContext, query: AvailableFilesQuery): Promise<AvailableFile[]> {
  const resources = await legacyResources(ctx.db, query.serviceCode, query.serviceEditionCode);
  if (resources.length === 0) return [];
  const byId = new Map(resources.map((r) => [r.resourceId, r]));
  const sql = ctx.db('broker_file_transfers as t')
    .join('broker_recipients as r', 'r.file_transfer_id', 't.id')
    .whereIn('t.resource_id', [...byId.keys()])
    .where('r.recipient', query.recipient);
  if (query.fileStatus === 'Uploaded') sql.where('t.status', 'Published').whereIn('r.status', ['Initialized', 'DownloadStarted']);
  else if (query.fileStatus === 'Downloaded') sql.whereIn('t.status', ['Published', 'AllConfirmedDownloaded']).where('r.status', 'DownloadConfirmed');
  else sql.whereIn('t.status', ['Initialized', 'UploadStarted', 'UploadProcessing', 'Failed']);
  if (query.minSentDate) sql.where('t.created_at', '>=', query.minSentDate);
  if (query.maxSentDate) sql.where('t.created_at', '<=', query.maxSentDate);
  const ids: string[] = await sql.orderBy([{ column: 't.created_at' }, { column: 't.id' }]).limit(AVAILABLE_FILES_LIMIT).pluck('t.id');
  return (await loadFileTransfers(ctx.db, ids)).map((transfer) => {
    const resource = byId.get(transfer.resourceId)!;
    return { transfer, serviceCode: resource.externalServiceCodeLegacy!, serviceEditionCode: resource.externalServiceEditionCodeLegacy! };
  });
}

/** True when any of the recipients has an Uploaded file on the service(s): the cheap poll. */
export async function hasAvailableFiles(ctx: BrokerContext, recipients: string[], serviceCode?: string | null, serviceEditionCode?: number | null): Promise<boolean> {
  const resources = await legacyResources(ctx.db, serviceCode, serviceEditionCode);
  if (resources.length === 0 || recipients.length === 0) return false;
  const row = await ctx.db('broker_file_transfers as t')
    .join('broker_recipients as r', 'r.file_transfer_id', 't.id')
    .whereIn('t.resource_id', resources.map((r) => r.resourceId))
    .whereIn('r.recipient', recipients)
    .where('t.status', 'Published')
    .whereIn('r.status', ['Initialized', 'DownloadStarted'])
    .first('t.id');
  return row !== undefined;
}
