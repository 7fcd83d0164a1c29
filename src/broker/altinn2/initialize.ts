/**
 * Initiate a transfer the Altinn 2 way (REST outbox POST, SOAP InitiateBrokerService): the service
 * is a service code and edition, parties are bare organisation numbers (Altinn 3 has only
 * organisations, so a national identity number is refused), no checksum, always scanned when the
 * gateway scans. Everything else is the Altinn 3 initialize (its rules, events and jobs).
 */
import { initializeFileTransfer, type InitializedFileTransfer, type InitializeOptions } from '../initialize-file-transfer';
import { isNationalIdentityNumber, PERSON_CANNOT_BE_PARTY, parsePartyId } from '../parties';
import { ValidationErrors } from '../input-rules';
import type { BrokerCaller, BrokerContext } from '../types';
import { requireLegacyResource } from './services';

/** Altinn 2 service codes are short ("4747"); the bound keeps a refusal from echoing a long one. */
const SERVICE_CODE_MAX_LENGTH = 255;

export interface LegacyInitializeRequest {
  serviceCode: string;
  serviceEditionCode: number;
  /** Bare organisation number of the sender. */
  sender: string;
  /** Bare organisation numbers. */
  recipients: string[];
  sendersReference: string | null | undefined;
  properties?: Record<string, string> | null;
  fileName: string;
}

/** A bare organisation number as a party id; the property name is the Altinn 2 member's. */
function legacyParty(errors: ValidationErrors, property: string, orgNumber: string): string | undefined {
  if (isNationalIdentityNumber(orgNumber)) {
    errors.add(property, PERSON_CANNOT_BE_PARTY);
    return undefined;
  }
  const parsed = parsePartyId(`0192:${orgNumber}`);
  if ('error' in parsed) {
    errors.add(property, /^\d{9}$/.test(orgNumber) ? parsed.error : `'${orgNumber.slice(0, 20)}' is not an organisation number (9 digits)`);
    return undefined;
  }
  return parsed.partyId;
}

export async function initializeLegacyFileTransfer(
  ctx: BrokerContext,
  caller: BrokerCaller,
  request: LegacyInitializeRequest,
  options: InitializeOptions = {},
): Promise<InitializedFileTransfer> {
  const errors = new ValidationErrors();
  const sender = legacyParty(errors, 'Sender', request.sender);
  const recipients = request.recipients.map((recipient) => legacyParty(errors, 'Recipients', recipient));
  if (request.recipients.length === 0) errors.add('Recipients', 'One or more recipients are required');
  // A service code names a resource: one that is long or holds control characters names none (and
  // PostgreSQL refuses U+0000 in the look-up).
  if (request.serviceCode.length > SERVICE_CODE_MAX_LENGTH || /[\x00-\x1f\x7f]/.test(request.serviceCode)) {
    errors.add('ServiceCode', `The field ServiceCode must be at most ${SERVICE_CODE_MAX_LENGTH} characters, without control characters.`);
  }
  errors.throwIfAny();
  const resource = await requireLegacyResource(ctx.db, request.serviceCode, request.serviceEditionCode);
  return initializeFileTransfer(ctx, caller, {
    resourceId: resource.resourceId,
    fileName: request.fileName,
    sendersFileTransferReference: request.sendersReference,
    sender,
    recipients,
    propertyList: request.properties ?? {},
    checksum: null,
    disableVirusScan: false,
  }, options);
}
