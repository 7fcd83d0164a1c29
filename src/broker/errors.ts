/**
 * Typed failures of the broker use cases, one per rule that can refuse a request (Altinn 3's
 * Errors.cs, whose numbers the Altinn 3 door puts on the wire as `BRO-000nn`). Each door maps a
 * name to its own protocol: HTTP status and problem details, `{ErrorCode, ErrorMessage}`, or an
 * AltinnFault. The domain never speaks any of them.
 */
export const BROKER_ERRORS = {
  FileTransferNotFound: 'The requested file transfer was not found',
  ServiceOwnerNotConfigured: 'Service owner needs to be configured to use the broker API',
  NoFileUploaded: 'No file uploaded yet',
  FileTransferAlreadyUploaded: 'A file transfer has already been, or attempted to be, created. Create a new file transfer resource to try again.',
  ResourceNotRegistered: 'The resource needs to be registered as an Altinn 3 resource and it has to be associated with a service owner',
  NoAccessToResource: 'You must use a bearer token that represents a system user with access to the resource in the Resource Rights Registry',
  FileTransferNotAvailable: "The requested file transfer's file is not ready for download. See file transfer status.",
  UploadFailed: 'Error occurred while uploading file See /details for more information.',
  ChecksumMismatch: 'The checksum of uploaded file did not match the checksum specified in initialize call.',
  FileTransferNotPublished: 'A file transfer can only be confirmed to be downloaded when it is published. See file transfer status.',
  MaxUploadSizeCannotBeNegative: 'Max file transfer size cannot be negative',
  MaxUploadSizeCannotBeZero: 'Max file transfer size cannot be zero',
  InvalidTimeToLiveFormat: "Invalid file transfer time to live format. Should follow ISO8601 standard for duration. Example: 'P30D' for 30 days.",
  TimeToLiveCannotExceed365Days: 'Time to live cannot exceed 365 days',
  FileSizeTooBig: 'File size exceeds maximum',
  InvalidGracePeriodFormat: "Invalid grace period format. Should follow ISO8601 standard for duration. Example: 'PT2H' for 2 hours.",
  GracePeriodCannotExceed24Hours: 'Grace period cannot exceed 24 hours',
  ConfirmDownloadBeforeDownloadStarted: 'Cannot confirm before the files have been downloaded',
  StorageProviderNotReady: 'Storage provider is not ready yet. Please try again later.',
  /** Altinn's text names its own 100GB limit; ours names the gateway's configured one. */
  MaxUploadSizeOverGlobal: 'Max file transfer size cannot be set higher than the maximum of this gateway (BROKER_MAX_FILE_TRANSFER_SIZE)',
  ManifestShimRequiresServiceCode: 'In order to use manifest file shim you need to provide external service code and edition code',
  ResourceNotConfigured: 'The resource has not been configured.',
  RequiredPartyNotInTransfer: 'The resource requires the service owner party to be present as part of the transaction.',
  RequiredPartyMustBeOnlyRecipient: 'When required party is specified and the required party is not the sender, the number of recipients can only be one.',
  RecipientsNotInAccessList: 'All recipients need to be in the access list of the resource.',
  RangeNotSatisfiable: 'The requested byte range is not satisfiable.',
  /** The request breaks rules of the input model (fields missing, too long, malformed): `errors` by property. */
  InvalidInput: 'One or more validation errors occurred.',
  /** The bytes are not a ZIP file where the service needs one (manifest shim, Altinn 2 SOAP). */
  NotAZipFile: 'The file is not a ZIP file',
  /** An Altinn 2 service code and edition that no broker resource is configured with. */
  LegacyServiceNotFound: 'No broker service has this service code and edition',
  LegacyServiceCodeTaken: 'Another resource already uses this external service code and edition',
} as const;

export type BrokerErrorName = keyof typeof BROKER_ERRORS;

export interface BrokerErrorDetails {
  /** InvalidInput: the broken rules by model property (`FileName`, `Recipients`, ...). */
  errors?: Record<string, string[]>;
  /** RangeNotSatisfiable: the size the range was checked against. */
  size?: number;
}

export class BrokerError extends Error {
  constructor(
    override readonly name: BrokerErrorName,
    message: string = BROKER_ERRORS[name],
    readonly details: BrokerErrorDetails = {},
  ) {
    super(message);
  }
}

export function brokerError(name: BrokerErrorName): BrokerError {
  return new BrokerError(name);
}

/** One broken input rule, by model property. */
export function invalidInput(property: string, message: string): BrokerError {
  return new BrokerError('InvalidInput', `${property}: ${message}`, { errors: { [property]: [message] } });
}

export function isBrokerError(error: unknown, name?: BrokerErrorName): error is BrokerError {
  return error instanceof BrokerError && (name === undefined || error.name === name);
}
