/**
 * OpenAPI pieces shared by the Altinn 3 door's route schemas: its tags and its error responses
 * (problem details, CONTRACT §1). The document itself is assembled in src/services/openapi.ts.
 */
import { problemType } from './problem-details';

export const FILE_TRANSFERS_TAG = 'broker: file transfers';
export const RESOURCES_TAG = 'broker: resources';
export const EVENTS_TAG = 'broker: events';

export const BROKER_TAGS = [
  { name: FILE_TRANSFERS_TAG, description: 'Altinn 3 Broker file transfers (/broker/api/v1): initialize, upload, follow, download, confirm.' },
  { name: RESOURCES_TAG, description: "A broker resource's configuration, by its service owner (scope altinn:serviceowner)." },
  {
    name: EVENTS_TAG,
    description:
      "An organisation's broker events (CloudEvents 1.0, as Altinn sends them): pulled from a feed with a cursor, or pushed to its webhooks, " +
      'signed per Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature; verify with the secret shown when the webhook was added). ' +
      'Delivery is at least once and in order per file transfer: deduplicate by webhook-id (the event id). Failed deliveries are retried with ' +
      'backoff for 72 hours.',
  },
];

/** The organisation's Bearer token, as the document's security scheme names it. */
export const ORGANISATION_TOKEN = 'OrganisationToken';
export const BROKER_SECURITY = [{ [ORGANISATION_TOKEN]: [] }];

const problemSchema = {
  type: 'object',
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    code: { type: 'string', example: 'BRO-00001' },
    errors: { type: 'object', additionalProperties: { type: 'array', items: { type: 'string' } } },
    traceId: { type: 'string' },
  },
} as const;

const DESCRIPTIONS: Record<number, string> = {
  400: 'Validation problem (`errors` by member) or a BRO-coded refusal',
  401: 'No or invalid token (empty body, WWW-Authenticate: Bearer), or BRO-00006',
  403: 'The token lacks the scope (empty body), or a BRO-coded refusal',
  404: 'BRO-00001: no such file transfer of the caller',
  409: 'BRO-00004: already uploaded',
  413: 'The request is too large',
  416: 'BRO-00029: the range is not satisfiable (Content-Range: bytes */size)',
  500: 'BRO-00008: the upload failed',
};

export function problemResponse(status: number) {
  return {
    description: `${problemType(status).title}: ${DESCRIPTIONS[status] ?? 'problem details'}`,
    content: { 'application/problem+json': { schema: problemSchema } },
  };
}

/** Response entries for the error statuses of a route. */
export function PROBLEM_RESPONSES(statuses: number[]): Record<number, ReturnType<typeof problemResponse>> {
  return Object.fromEntries(statuses.map((status) => [status, problemResponse(status)]));
}
