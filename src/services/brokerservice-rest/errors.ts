/**
 * Refusals of the Altinn 2 REST brokerservice API: `{ErrorCode, ErrorMessage}` as in the REST
 * messages API (CONTRACT §9). The domain's BrokerErrors get a status and a code here; the
 * messages API's own errors (authentication, `{who}`, fastify's) go through its translation.
 * Input rules are reported under the Altinn 2 names of the fields (`brokerServiceDescription.Recipients`).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { BrokerError, type BrokerErrorName } from '../../broker/errors';
import { HttpError, toErrorResponse } from '../rest-messages/http-errors';
import { jsonType } from './representations';

const STATUS: Record<BrokerErrorName, number> = {
  FileTransferNotFound: 404,
  ServiceOwnerNotConfigured: 400,
  NoFileUploaded: 400,
  FileTransferAlreadyUploaded: 409,
  ResourceNotRegistered: 403,
  NoAccessToResource: 403,
  FileTransferNotAvailable: 403,
  UploadFailed: 500,
  ChecksumMismatch: 400,
  FileTransferNotPublished: 400,
  MaxUploadSizeCannotBeNegative: 400,
  MaxUploadSizeCannotBeZero: 400,
  InvalidTimeToLiveFormat: 400,
  TimeToLiveCannotExceed365Days: 400,
  FileSizeTooBig: 400,
  InvalidGracePeriodFormat: 400,
  GracePeriodCannotExceed24Hours: 400,
  ConfirmDownloadBeforeDownloadStarted: 400,
  StorageProviderNotReady: 503,
  MaxUploadSizeOverGlobal: 400,
  ManifestShimRequiresServiceCode: 400,
  ResourceNotConfigured: 400,
  RequiredPartyNotInTransfer: 400,
  RequiredPartyMustBeOnlyRecipient: 400,
  RecipientsNotInAccessList: 400,
  RangeNotSatisfiable: 416,
  InvalidInput: 400,
  NotAZipFile: 400,
  LegacyServiceNotFound: 400,
  LegacyServiceCodeTaken: 409,
};

/** The codes the messages API already uses for the same meaning; the rest keep the domain's name. */
const CODE: Partial<Record<BrokerErrorName, string>> = { InvalidInput: 'InvalidRequest', FileTransferNotFound: 'NotFound' };

/** The domain's (Altinn 3) member names as the Altinn 2 request names them. */
export const ALTINN2_FIELD_NAMES: Record<string, string> = {
  Sender: '{who}',
  Recipients: 'brokerServiceDescription.Recipients',
  ServiceCode: 'brokerServiceDescription.ServiceCode',
  SendersFileTransferReference: 'brokerServiceDescription.SendersReference',
  PropertyList: 'brokerServiceDescription.Properties',
  FileName: 'fileName',
};

function invalidInputMessage(error: BrokerError): string {
  const errors = error.details.errors;
  if (!errors) return error.message;
  return Object.entries(errors)
    .map(([property, messages]) => {
      const name = ALTINN2_FIELD_NAMES[property] ?? property;
      const short = name.split('.').pop()!;
      return `${name}: ${messages.map((message) => message.split(property).join(short)).join(' ')}`;
    })
    .join('; ');
}

export function invalidRequest(field: string, problem: string): HttpError {
  return new HttpError(400, 'InvalidRequest', `${field}: ${problem}`);
}

export function sendError(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  let status: number;
  let body: { ErrorCode: string; ErrorMessage: string };
  let headers: Record<string, string> = {};
  if (error instanceof BrokerError) {
    status = STATUS[error.name];
    body = { ErrorCode: CODE[error.name] ?? error.name, ErrorMessage: error.name === 'InvalidInput' ? invalidInputMessage(error) : error.message };
  } else {
    ({ status, body, headers } = toErrorResponse(error, request));
  }
  // A body not read to its end (refused before it was read) is not drained: close the connection.
  if (!request.raw.complete) reply.header('connection', 'close');
  return reply.code(status).headers(headers).type(jsonType(request)).send(JSON.stringify(body));
}
