/**
 * Errors of the Altinn 3 door as Altinn writes them (CONTRACT §1, §8): `application/problem+json`
 * with `type`/`title` by status, `detail`, `code` = `BRO-` + Altinn's error number, and a W3C
 * `traceId`; model validation as `{type, title, status, errors, traceId}` without a code. The
 * numbers are this door's translation of the domain's error names; the domain knows none of them.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { BrokerErrorName } from '../../broker/errors';

export const PROBLEM_JSON = 'application/problem+json; charset=utf-8';

/** Altinn's error number and HTTP status for each domain error this door can meet. */
export const ALTINN3_ERRORS: Record<BrokerErrorName, { status: number; number?: number }> = {
  FileTransferNotFound: { status: 404, number: 1 },
  ServiceOwnerNotConfigured: { status: 400, number: 2 },
  NoFileUploaded: { status: 400, number: 3 },
  FileTransferAlreadyUploaded: { status: 409, number: 4 },
  ResourceNotRegistered: { status: 403, number: 5 },
  NoAccessToResource: { status: 401, number: 6 },
  FileTransferNotAvailable: { status: 403, number: 7 },
  UploadFailed: { status: 500, number: 8 },
  ChecksumMismatch: { status: 400, number: 9 },
  FileTransferNotPublished: { status: 400, number: 10 },
  MaxUploadSizeCannotBeNegative: { status: 400, number: 11 },
  MaxUploadSizeCannotBeZero: { status: 400, number: 12 },
  InvalidTimeToLiveFormat: { status: 400, number: 14 },
  TimeToLiveCannotExceed365Days: { status: 400, number: 15 },
  FileSizeTooBig: { status: 400, number: 16 },
  InvalidGracePeriodFormat: { status: 400, number: 17 },
  GracePeriodCannotExceed24Hours: { status: 400, number: 18 },
  ConfirmDownloadBeforeDownloadStarted: { status: 400, number: 19 },
  StorageProviderNotReady: { status: 503, number: 21 },
  MaxUploadSizeOverGlobal: { status: 400, number: 22 },
  ManifestShimRequiresServiceCode: { status: 400, number: 23 },
  ResourceNotConfigured: { status: 400, number: 25 },
  RequiredPartyNotInTransfer: { status: 400, number: 26 },
  RequiredPartyMustBeOnlyRecipient: { status: 400, number: 27 },
  RecipientsNotInAccessList: { status: 400, number: 28 },
  RangeNotSatisfiable: { status: 416, number: 29 },
  // Ours, not Altinn's: validation problems (no code), or plain problems without a BRO number.
  InvalidInput: { status: 400 },
  NotAZipFile: { status: 400 },
  LegacyServiceNotFound: { status: 400 },
  LegacyServiceCodeTaken: { status: 409 },
};

const RFC9110 = 'https://tools.ietf.org/html/rfc9110#section-';
const PROBLEM_TYPES: Record<number, [string, string]> = {
  400: ['15.5.1', 'Bad Request'],
  401: ['15.5.2', 'Unauthorized'],
  403: ['15.5.4', 'Forbidden'],
  404: ['15.5.5', 'Not Found'],
  405: ['15.5.6', 'Method Not Allowed'],
  406: ['15.5.7', 'Not Acceptable'],
  409: ['15.5.10', 'Conflict'],
  411: ['15.5.12', 'Length Required'],
  413: ['15.5.14', 'Content Too Large'],
  415: ['15.5.16', 'Unsupported Media Type'],
  416: ['15.5.17', 'Range Not Satisfiable'],
  500: ['15.6.1', 'Internal Server Error'],
  502: ['15.6.3', 'Bad Gateway'],
  503: ['15.6.4', 'Service Unavailable'],
};

export function problemType(status: number): { type: string; title: string } {
  const [section, title] = PROBLEM_TYPES[status] ?? PROBLEM_TYPES[status >= 500 ? 500 : 400]!;
  return { type: `${RFC9110}${section}`, title };
}

/** A W3C traceparent-style id made from the request id, so a client's report finds the log line. */
export function traceIdOf(request: FastifyRequest): string {
  const hex = request.id.replace(/[^0-9a-f]/gi, '').toLowerCase().padEnd(32, '0').slice(0, 32);
  return `00-${hex}-${hex.slice(0, 16)}-00`;
}

export interface Problem {
  status: number;
  detail?: string;
  code?: string;
  errors?: Record<string, string[]>;
  title?: string;
}

export function sendProblem(request: FastifyRequest, reply: FastifyReply, problem: Problem): FastifyReply {
  const { type, title } = problemType(problem.status);
  const body: Record<string, unknown> = { type, title: problem.title ?? title, status: problem.status };
  if (problem.detail !== undefined) body.detail = problem.detail;
  if (problem.errors) body.errors = problem.errors;
  if (problem.code) body.code = problem.code;
  body.traceId = traceIdOf(request);
  // A body not read to its end (refused before it was read) is not drained: close the connection.
  if (!request.raw.complete) reply.header('connection', 'close');
  return reply.code(problem.status).type(PROBLEM_JSON).send(body);
}

/** `BRO-00001` for 1. */
export function broCode(errorNumber: number): string {
  return `BRO-${String(errorNumber).padStart(5, '0')}`;
}

/** The model-validation problem (HTTP 400, `errors` by property, no code). */
export function sendValidationProblem(request: FastifyRequest, reply: FastifyReply, errors: Record<string, string[]>): FastifyReply {
  return sendProblem(request, reply, { status: 400, title: 'One or more validation errors occurred.', errors });
}
