/**
 * The broker's AltinnFaults (altinn2-broker CONTRACT §7): the ErrorID for every way a call can be
 * refused, and the translation of the broker domain's errors into them. The domain names the rule
 * (BrokerError); this door only chooses Altinn 2's number and words for it.
 *
 * Credentials: ErrorID 989 as on our DownloadQueue, with the text "Incorrect username/password"
 * that the integrasjonspunkt looks for when it reports a credentials failure at start-up.
 */
import { AuthenticationError } from '../../auth/system-users';
import { BrokerError } from '../../broker/errors';
import { altinnFault, type SoapFault } from '../../soap/fault';

export const BROKER_ERROR_ID = {
  /** Other problems with the request (e.g. a property list over its limits). */
  generic: 0,
  /** Wrong or missing system user name/password, or a locked system user (as our DownloadQueue). */
  invalidCredentials: 989,
  /** The reportee has no right to send on the service (not on the resource's access list). */
  noRightToSend: 40201,
  /** A recipient is not a valid organisation, or may not receive on the service. */
  invalidRecipient: 40202,
  /** The file is larger than the service accepts. */
  fileTooLarge: 40204,
  /** No file data arrived (no DataStream, an empty one, or a transfer that broke off). */
  noFileData: 40205,
  /** The payload is not a ZIP file. */
  notAZipFile: 40206,
  /** The reference has no file ready for download (not uploaded, still processing, failed, or gone). */
  notReadyForDownload: 40207,
  /** A file was already uploaded on this reference. */
  alreadyUploaded: 40208,
  /** Service code/edition missing, 0, or no broker service. */
  unknownService: 40210,
  /** The system user may not act for the reportee. */
  notAuthorisedForReportee: 40211,
  /** The reference names no broker file (that this system user may know of). */
  notABrokerFile: 40212,
  /** The reportee is not the sender of the file being uploaded. */
  reporteeNotSender: 40213,
  /** The reportee is not an organisation number (a national identity number included: Altinn 3 has only organisations). */
  invalidReportee: 40214,
  /** The reportee is not a recipient of the file. */
  reporteeNotRecipient: 40215,
} as const;

export const INCORRECT_CREDENTIALS = 'Incorrect username/password';

export function brokerFault(errorId: number, message: string, extendedMessage?: string): SoapFault {
  return altinnFault(errorId, message, extendedMessage);
}

const ERROR_IDS: Partial<Record<BrokerError['name'], number>> = {
  LegacyServiceNotFound: BROKER_ERROR_ID.unknownService,
  ResourceNotConfigured: BROKER_ERROR_ID.unknownService,
  NoAccessToResource: BROKER_ERROR_ID.noRightToSend,
  RecipientsNotInAccessList: BROKER_ERROR_ID.invalidRecipient,
  RequiredPartyNotInTransfer: BROKER_ERROR_ID.invalidRecipient,
  RequiredPartyMustBeOnlyRecipient: BROKER_ERROR_ID.invalidRecipient,
  FileSizeTooBig: BROKER_ERROR_ID.fileTooLarge,
  UploadFailed: BROKER_ERROR_ID.noFileData,
  NotAZipFile: BROKER_ERROR_ID.notAZipFile,
  FileTransferNotAvailable: BROKER_ERROR_ID.notReadyForDownload,
  NoFileUploaded: BROKER_ERROR_ID.notReadyForDownload,
  FileTransferNotPublished: BROKER_ERROR_ID.notReadyForDownload,
  FileTransferAlreadyUploaded: BROKER_ERROR_ID.alreadyUploaded,
  FileTransferNotFound: BROKER_ERROR_ID.notABrokerFile,
};

/** Input rules broken at initiate, by the model property the domain names, mapped to the member the client sent. */
const INVALID_INPUT: Record<string, { errorId: number; member: string }> = {
  Sender: { errorId: BROKER_ERROR_ID.invalidReportee, member: 'Manifest/Reportee' },
  Recipients: { errorId: BROKER_ERROR_ID.invalidRecipient, member: 'RecipientList' },
  SendersFileTransferReference: { errorId: BROKER_ERROR_ID.generic, member: 'Manifest/SendersReference' },
  PropertyList: { errorId: BROKER_ERROR_ID.generic, member: 'Manifest/PropertyList' },
  FileName: { errorId: BROKER_ERROR_ID.generic, member: 'Manifest/FileList/File/FileName' },
};

export function mapBrokerSoapError(error: unknown): SoapFault | undefined {
  if (error instanceof AuthenticationError) {
    return brokerFault(BROKER_ERROR_ID.invalidCredentials, error.reason === 'locked' ? error.message : INCORRECT_CREDENTIALS);
  }
  if (!(error instanceof BrokerError)) return undefined;
  if (error.name === 'InvalidInput') {
    const [property, messages] = Object.entries(error.details.errors ?? {})[0] ?? ['', [error.message]];
    const known = INVALID_INPUT[property];
    const message = `${known?.member ?? property}: ${messages.join(' ')}`;
    return brokerFault(known?.errorId ?? BROKER_ERROR_ID.generic, message);
  }
  return brokerFault(ERROR_IDS[error.name] ?? BROKER_ERROR_ID.generic, error.message);
}
