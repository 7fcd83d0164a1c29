/**
 * A transfer as the Altinn 2 doors reach it: by its id (Altinn 2's FileReference), for its sender
 * (outbox) or one of its recipients (inbox), on a resource that has an Altinn 2 service code and
 * edition. Any other transfer does not exist for Altinn 2 (it could name no service): it answers
 * exactly as an unknown one, as does a transfer the caller is not party to in that role.
 */
import { brokerError } from '../errors';
import { requireFileTransfer } from '../file-transfer-store';
import { requireResource } from '../resources';
import type { BrokerCaller, BrokerContext, BrokerResource, FileTransfer, Role } from '../types';

export interface LegacyFileTransfer {
  transfer: FileTransfer;
  resource: BrokerResource;
  serviceCode: string;
  serviceEditionCode: number;
}

export async function requireLegacyFileTransfer(ctx: BrokerContext, caller: BrokerCaller, fileReference: string, role: Role): Promise<LegacyFileTransfer> {
  const transfer = await requireFileTransfer(ctx.db, fileReference, caller, role);
  const resource = await requireResource(ctx.db, transfer.resourceId);
  return legacyView(transfer, resource);
}

/** The transfer with its Altinn 2 service, or FileTransferNotFound when its resource has none. */
export function legacyView(transfer: FileTransfer, resource: BrokerResource): LegacyFileTransfer {
  const serviceCode = resource.externalServiceCodeLegacy;
  const serviceEditionCode = resource.externalServiceEditionCodeLegacy;
  if (serviceCode === null || serviceEditionCode === null) throw brokerError('FileTransferNotFound');
  return { transfer, resource, serviceCode, serviceEditionCode };
}
