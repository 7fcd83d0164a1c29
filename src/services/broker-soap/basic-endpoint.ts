/**
 * /ServiceEngineExternal/BrokerServiceExternalBasic.svc (altinn2-broker CONTRACT §4): initiate a
 * transfer, poll for and list available files, confirm a download. Thin: each operation signs the
 * system user in, turns the reportee into the broker caller and calls one use case of
 * src/broker/ (the Altinn 2 rules in src/broker/altinn2/); the answer is shaped as WCF wrote it.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import type { App } from '../../app';
import { hasAvailableFiles, listAvailableFiles, type AvailableFile } from '../../broker/altinn2/available-files';
import { legacyFileStatus, type LegacyFileStatus } from '../../broker/altinn2/file-status';
import { initializeLegacyFileTransfer } from '../../broker/altinn2/initialize';
import { requireLegacyFileTransfer } from '../../broker/altinn2/legacy-file-transfer';
import { legacyResources } from '../../broker/altinn2/services';
import { confirmDownload } from '../../broker/confirm-download';
import { isBrokerError } from '../../broker/errors';
import { loadFileTransfer } from '../../broker/file-transfer-store';
import { orgNumberOf } from '../../broker/parties';
import type { BrokerCaller } from '../../broker/types';
import { clientFault } from '../../soap/fault';
import { contractOperations, type SoapEndpointDefinition } from '../../soap/endpoint';
import { testOperation } from '../altinn-common';
import { actFor, fileNotFoundFault, signIn } from './acting-system-user';
import { BASIC_SOAP_ACTION_PREFIX, BROKER_RESPONSE_NAMESPACES, brokerBasicContract as contract } from './contract';
import { BROKER_ERROR_ID, brokerFault, mapBrokerSoapError } from './faults';
import { formatSentDate, parseNorwegianDateTime } from './norwegian-time';

export const BROKER_BASIC_PATH = '/ServiceEngineExternal/BrokerServiceExternalBasic.svc';

type Struct = Record<string, unknown> | null | undefined;

export function brokerBasicEndpoint(app: App, wsdlDir: string): SoapEndpointDefinition {
  const operation = contractOperations(contract, BASIC_SOAP_ACTION_PREFIX);

  return {
    name: 'BrokerServiceExternalBasic',
    path: BROKER_BASIC_PATH,
    wsdlFile: path.join(wsdlDir, 'BrokerServiceExternalBasic.wsdl'),
    responseNamespaces: BROKER_RESPONSE_NAMESPACES,
    mapError: mapBrokerSoapError,
    operations: [
      testOperation,

      operation('InitiateBrokerServiceBasic', async (input, context) => {
        const user = await signIn(app, input.systemUserName, input.systemPassword, context);
        const manifest = (input.brokerServiceInitiation as Struct)?.Manifest as Struct;
        if (!manifest) throw brokerFault(BROKER_ERROR_ID.generic, 'brokerServiceInitiation/Manifest is required');
        const service = serviceOf(manifest, { required: true })!;
        const caller = actFor(user, manifest.Reportee, 'Manifest/Reportee');
        const recipientList = (input.brokerServiceInitiation as Struct)?.RecipientList as Struct;
        const recipients = ((recipientList?.Recipient as Struct[] | undefined) ?? []).map((r) => (typeof r?.PartyNumber === 'string' ? r.PartyNumber.trim() : ''));
        const { fileTransferId } = await initializeLegacyFileTransfer(app.broker, caller, {
          serviceCode: service.serviceCode,
          serviceEditionCode: service.serviceEditionCode!,
          sender: caller.orgNumber,
          recipients,
          sendersReference: manifest.SendersReference as string | null,
          properties: propertiesOf(manifest.PropertyList as Struct),
          fileName: firstFileName(manifest) ?? `${randomUUID()}.zip`,
        });
        return { InitiateBrokerServiceBasicResult: fileTransferId };
      }),

      operation('GetAvailableFilesBasic', async (input, context) => {
        const user = await signIn(app, input.systemUserName, input.systemPassword, context);
        const search = input.searchParameters as Struct;
        if (!search) throw brokerFault(BROKER_ERROR_ID.generic, 'searchParameters is required');
        const fileStatus = search.FileStatus;
        if (fileStatus !== 'Uploaded' && fileStatus !== 'Downloaded') {
          throw clientFault(`searchParameters/FileStatus must be Uploaded or Downloaded, not '${String(fileStatus ?? '').slice(0, 40)}'`);
        }
        const caller = actFor(user, search.Reportee, 'searchParameters/Reportee');
        const service = serviceOf(search, { required: false });
        await requireKnownService(app, service);
        const files = await listAvailableFiles(app.broker, {
          recipient: caller.partyId,
          serviceCode: service?.serviceCode,
          serviceEditionCode: service?.serviceEditionCode,
          fileStatus,
          minSentDate: dateOf(search.MinSentDateTime, 'MinSentDateTime'),
          maxSentDate: dateOf(search.MaxSentDateTime, 'MaxSentDateTime'),
        });
        // Never nil, even when empty: the integrasjonspunkt wraps the result in Optional.of.
        return { GetAvailableFilesBasicResult: { BrokerServiceAvailableFile: files.map((file) => availableFileValue(file, caller)) } };
      }),

      operation('CheckIfAvailableFilesBasic', async (input, context) => {
        const user = await signIn(app, input.systemUserName, input.systemPassword, context);
        const poll = input.pollParameters as Struct;
        if (!poll) throw brokerFault(BROKER_ERROR_ID.generic, 'pollParameters is required');
        // Each string is an organisation number; Altinn also took comma-separated lists.
        const strings = ((poll.Recipients as Struct)?.string as (string | null)[] | undefined) ?? [];
        const recipients = strings.flatMap((s) => (s ?? '').split(',')).map((s) => s.trim()).filter((s) => s !== '');
        const callers = recipients.map((recipient) => actFor(user, recipient, 'pollParameters/Recipients'));
        const service = serviceOf(poll, { required: false });
        await requireKnownService(app, service);
        const available = await hasAvailableFiles(app.broker, callers.map((c) => c.partyId), service?.serviceCode, service?.serviceEditionCode);
        return { CheckIfAvailableFilesBasicResult: available };
      }),

      operation('ConfirmDownloadedBasic', async (input, context) => {
        const user = await signIn(app, input.systemUserName, input.systemPassword, context);
        const caller = actFor(user, input.reportee, 'reportee');
        const reference = referenceOf(input.fileReference);
        try {
          // Only transfers on a service with an Altinn 2 code exist for this door.
          await requireLegacyFileTransfer(app.broker, caller, reference, 'Recipient');
          await confirmDownload(app.broker, caller, reference, { requireDownloadStarted: false });
        } catch (error) {
          if (isBrokerError(error, 'FileTransferNotFound')) throw await fileNotFoundFault(app, user, reference, caller, 'Recipient');
          // A repeated confirmation is a no-op, also once every recipient has confirmed (CONTRACT §13).
          if (isBrokerError(error, 'FileTransferNotPublished') && (await confirmedBy(app, reference, caller))) return {};
          throw error;
        }
        return {};
      }),
    ],
  };
}

interface LegacyService {
  serviceCode: string;
  serviceEditionCode: number | null;
}

/**
 * ExternalServiceCode and ExternalServiceEditionCode (an edition of 0 counts as none). Initiate
 * needs both (40210); a search may give neither (every broker service with a legacy code).
 */
function serviceOf(struct: NonNullable<Struct>, options: { required: boolean }): LegacyService | undefined {
  const code = typeof struct.ExternalServiceCode === 'string' ? struct.ExternalServiceCode.trim() : '';
  const edition = typeof struct.ExternalServiceEditionCode === 'number' && struct.ExternalServiceEditionCode !== 0 ? struct.ExternalServiceEditionCode : null;
  if (options.required && (!code || edition === null)) {
    throw brokerFault(BROKER_ERROR_ID.unknownService, 'ExternalServiceCode and ExternalServiceEditionCode are required and name a broker service');
  }
  return code ? { serviceCode: code, serviceEditionCode: edition } : undefined;
}

/** A service code that names no broker service is a fault (the integrasjonspunkt's start-up check relies on it), not an empty answer. */
async function requireKnownService(app: App, service: LegacyService | undefined): Promise<void> {
  if (!service) return;
  if ((await legacyResources(app.db, service.serviceCode, service.serviceEditionCode)).length === 0) {
    const edition = service.serviceEditionCode === null ? '' : ` and edition ${service.serviceEditionCode}`;
    throw brokerFault(BROKER_ERROR_ID.unknownService, `No broker service has service code ${service.serviceCode}${edition}`);
  }
}

function referenceOf(value: unknown): string {
  const reference = typeof value === 'string' ? value.trim() : '';
  if (!reference) throw brokerFault(BROKER_ERROR_ID.notABrokerFile, 'fileReference is required');
  return reference;
}

function dateOf(value: unknown, member: string): Date | null {
  if (typeof value !== 'string' || value.trim() === '') return null;
  const date = parseNorwegianDateTime(value);
  if (!date) throw clientFault(`searchParameters/${member} must be an xs:dateTime, got '${value.slice(0, 40)}'`);
  return date;
}

function propertiesOf(list: Struct): Record<string, string> | null {
  const items = (list?.Property as Struct[] | undefined) ?? [];
  const properties: Record<string, string> = {};
  for (const item of items) {
    const key = typeof item?.PropertyKey === 'string' ? item.PropertyKey : '';
    if (!key) throw brokerFault(BROKER_ERROR_ID.generic, 'Manifest/PropertyList: every Property needs a PropertyKey');
    if (key in properties) throw brokerFault(BROKER_ERROR_ID.generic, `Manifest/PropertyList: the key '${key.slice(0, 50)}' is given twice`);
    properties[key] = typeof item?.PropertyValue === 'string' ? item.PropertyValue : '';
  }
  return properties;
}

/** The first file name of FileList, or of the integrasjonspunkt's misnamed ArrayOfFile. */
function firstFileName(manifest: NonNullable<Struct>): string | undefined {
  for (const list of [manifest.FileList, manifest.ArrayOfFile] as Struct[]) {
    const name = ((list?.File as Struct[] | undefined) ?? []).map((f) => f?.FileName).find((n): n is string => typeof n === 'string' && n.trim() !== '');
    if (name) return name.trim();
  }
  return undefined;
}

/** True when this recipient has confirmed the transfer (Altinn 2's Downloaded). */
async function confirmedBy(app: App, reference: string, caller: BrokerCaller): Promise<boolean> {
  const transfer = await loadFileTransfer(app.db, reference);
  const status: LegacyFileStatus | undefined = transfer && legacyFileStatus(transfer, caller.partyId);
  return status === 'Downloaded' && transfer!.recipients.some((r) => r.recipient === caller.partyId);
}

function availableFileValue({ transfer, serviceCode, serviceEditionCode }: AvailableFile, caller: BrokerCaller): Record<string, unknown> {
  return {
    ExternalServiceCode: serviceCode,
    ExternalServiceEditionCode: serviceEditionCode,
    FileName: transfer.fileName,
    FileReference: transfer.fileTransferId,
    FileSize: transfer.fileTransferSize,
    FileStatus: legacyFileStatus(transfer, caller.partyId),
    IsSftpDownloadOnly: false,
    ReceiptID: 0,
    // The sender (CONTRACT §5): the party the file came from.
    Reportee: orgNumberOf(transfer.sender),
    SendersReference: transfer.sendersFileTransferReference,
    SentDate: formatSentDate(transfer.created),
  };
}
