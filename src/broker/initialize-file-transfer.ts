/**
 * Initialize a file transfer (CONTRACT §2.1): check the metadata, the resource and who may send
 * and receive on it, then store the transfer (Initialized, each recipient Initialized), its
 * expiry job and the `filetransferinitialized` event in one transaction.
 */
import { randomUUID } from 'node:crypto';
import { enqueueJob } from '../jobs/queue';
import { brokerError } from './errors';
import { recordEvents } from './events';
import { checkChecksum, checkFileName, checkPropertyList, checkRecipients, checkResourceId, checkSender, checkText, LIMITS, ValidationErrors } from './input-rules';
import { EXPIRE_JOB } from './job-kinds';
import { listResourceAccess, requireResource, timeToLiveMs } from './resources';
import type { BrokerCaller, BrokerContext, BrokerResource } from './types';

/** As the door received it: the rules (input-rules.ts) check every member, whatever its type. */
export interface InitializeFileTransferRequest {
  resourceId: unknown;
  fileName: unknown;
  sendersFileTransferReference?: unknown;
  sender: unknown;
  recipients: unknown;
  propertyList?: unknown;
  checksum?: unknown;
  disableVirusScan?: boolean | null;
}

export interface InitializedFileTransfer {
  fileTransferId: string;
  resource: BrokerResource;
}

export interface InitializeOptions {
  /**
   * For doors that initialize and upload in one request (the Altinn 2 outbox): checks of the
   * upload to come (its declared size, its first bytes) that run once the request is valid and
   * before anything is stored, so that a refused upload leaves no transfer behind.
   */
  beforeStore?(transfer: { resource: BrokerResource; useVirusScan: boolean }): void | Promise<void>;
}

export async function initializeFileTransfer(
  ctx: BrokerContext,
  caller: BrokerCaller,
  request: InitializeFileTransferRequest,
  options: InitializeOptions = {},
): Promise<InitializedFileTransfer> {
  // Model rules first, all of them (Altinn validates the model before any handler runs).
  const errors = new ValidationErrors();
  const fileName = checkFileName(errors, request.fileName);
  checkResourceId(errors, request.resourceId);
  const sendersReference = checkText(errors, 'SendersFileTransferReference', request.sendersFileTransferReference, LIMITS.sendersReferenceMaxLength);
  const sender = checkSender(errors, request.sender);
  const recipients = checkRecipients(errors, request.recipients);
  const propertyList = checkPropertyList(errors, request.propertyList);
  const checksum = checkChecksum(errors, request.checksum);
  errors.throwIfAny();
  if (!fileName || !sendersReference || !sender || !recipients || !propertyList) throw new Error('validation passed without values');

  const resource = await requireResource(ctx.db, request.resourceId as string);
  await checkMayUse(ctx, caller, resource, sender, recipients);
  const useVirusScan = !request.disableVirusScan && ctx.scanner !== undefined;
  await options.beforeStore?.({ resource, useVirusScan });

  const fileTransferId = randomUUID();
  const now = ctx.clock.now();
  const expiresAt = new Date(now.getTime() + timeToLiveMs(resource));
  await ctx.db.transaction(async (trx) => {
    await trx('broker_file_transfers').insert({
      id: fileTransferId,
      resource_id: resource.resourceId,
      sender,
      file_name: fileName,
      senders_reference: sendersReference,
      checksum,
      checksum_given: checksum !== null,
      use_virus_scan: useVirusScan,
      property_list: JSON.stringify(propertyList),
      created_at: now,
      expires_at: expiresAt,
      status: 'Initialized',
      status_text: null,
      status_changed_at: now,
    });
    await trx('broker_file_transfer_statuses').insert({ file_transfer_id: fileTransferId, status: 'Initialized', status_text: null, changed_at: now });
    await trx('broker_recipients').insert(
      recipients.map((recipient, position) => ({
        file_transfer_id: fileTransferId,
        recipient,
        position,
        status: 'Initialized',
        latest_status: 'Initialized',
        status_changed_at: now,
      })),
    );
    await trx('broker_recipient_statuses').insert(
      recipients.map((recipient) => ({ file_transfer_id: fileTransferId, recipient, status: 'Initialized', changed_at: now })),
    );
    await enqueueJob(trx, ctx.clock, { kind: EXPIRE_JOB, payload: { fileTransferId }, key: `${EXPIRE_JOB}:${fileTransferId}`, runAt: expiresAt });
    await recordEvents(trx, ctx.clock, { fileTransferId, resourceId: resource.resourceId }, [{ type: 'filetransferinitialized', party: sender, role: 'Sender' }]);
  });
  ctx.wakeJobs();
  return { fileTransferId, resource };
}

/**
 * The caller acts for the sender (an organisation acts for itself); the sender and recipients
 * must be on the resource's access list when it has one (Altinn checks only the recipients there,
 * but its authorization already refuses a sender without rights to the resource: same answer),
 * and its required party (if any) must be the sender or the only recipient.
 */
async function checkMayUse(ctx: BrokerContext, caller: BrokerCaller, resource: BrokerResource, sender: string, recipients: string[]): Promise<void> {
  if (caller.partyId !== sender) throw brokerError('NoAccessToResource');
  const access = await listResourceAccess(ctx.db, resource.resourceId);
  if (access.length > 0) {
    if (!access.includes(sender)) throw brokerError('NoAccessToResource');
    if (!recipients.every((recipient) => access.includes(recipient))) throw brokerError('RecipientsNotInAccessList');
  }
  if (resource.requiredParty && resource.requiredParty !== sender) {
    if (recipients.length > 1) throw brokerError('RequiredPartyMustBeOnlyRecipient');
    if (recipients[0] !== resource.requiredParty) throw brokerError('RequiredPartyNotInTransfer');
  }
}
