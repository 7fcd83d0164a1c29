/**
 * Every refusal of the REST API is `{ ErrorCode, ErrorMessage }` with a status: domain errors by
 * kind, fastify's own (schema validation, body parsing) translated so the message names the field.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { MessageError } from '../../messages/errors';
import { mediaTypeFor } from './hal';
import { NO_CONTROL_CHARACTERS } from './schemas';

export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly errorCode: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

const STATUS_BY_KIND = { invalid: 400, forbidden: 403, not_found: 404, conflict: 409 } as const;

interface ErrorBody {
  ErrorCode: string;
  ErrorMessage: string;
}

export function toErrorResponse(error: unknown, request: FastifyRequest): { status: number; body: ErrorBody; headers: Record<string, string> } {
  if (error instanceof MessageError) return { status: STATUS_BY_KIND[error.kind], body: body(error.errorCode, error.message), headers: {} };
  if (error instanceof HttpError) return { status: error.statusCode, body: body(error.errorCode, error.message), headers: error.headers };
  const fastifyError = error as FastifyError;
  if (fastifyError.validation) {
    return { status: 400, body: body('InvalidRequest', describeValidation(fastifyError)), headers: {} };
  }
  const status = fastifyError.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const code = ERROR_CODES[fastifyError.code ?? ''] ?? 'InvalidRequest';
    return { status, body: body(code, fastifyError.message), headers: {} };
  }
  request.log.error({ err: error }, 'REST request failed');
  return { status: 500, body: body('InternalError', `Internal error (reference ${request.id})`), headers: {} };
}

const ERROR_CODES: Record<string, string> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UnsupportedMediaType',
  FST_ERR_CTP_BODY_TOO_LARGE: 'RequestTooLarge',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'InvalidJson',
  FST_ERR_CTP_INVALID_JSON_BODY: 'InvalidJson',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'InvalidRequest',
};

function body(code: string, message: string): ErrorBody {
  return { ErrorCode: code, ErrorMessage: message };
}

/** `body/_embedded/forms/0 must have required property 'FormData'` → `_embedded.forms[0].FormData: is required`. */
function describeValidation(error: FastifyError): string {
  const first = error.validation![0]!;
  const context = (error as FastifyError & { validationContext?: string }).validationContext ?? 'body';
  const path = first.instancePath
    .split('/')
    .filter(Boolean)
    .map((part) => (/^\d+$/.test(part) ? `[${part}]` : `.${part.replace(/~1/g, '/').replace(/~0/g, '~')}`))
    .join('')
    .replace(/^\./, '');
  const params = first.params as Record<string, unknown>;
  if (first.keyword === 'required') {
    const member = String(params.missingProperty);
    const field = path ? `${path}.${member}` : member;
    return `${field}: is required${context === 'body' ? '' : ` (in the ${context === 'querystring' ? 'query string' : context})`}`;
  }
  const field = path || context;
  if (first.keyword === 'enum') return `${field}: must be one of ${(params.allowedValues as unknown[]).join(', ')}`;
  if (first.keyword === 'pattern' && params.pattern === NO_CONTROL_CHARACTERS) return `${field}: must not contain control characters (U+0000-U+001F, U+007F)`;
  return `${field}: ${first.message ?? 'is not valid'}`;
}

export function sendError(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const { status, body: errorBody, headers } = toErrorResponse(error, request);
  // A body not read to its end (refused early, or too large) is not drained: close the connection.
  if (!request.raw.complete) reply.header('connection', 'close');
  return reply.code(status).headers(headers).type(mediaTypeFor(request)).send(errorBody);
}
