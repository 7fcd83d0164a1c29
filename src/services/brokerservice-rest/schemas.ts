/**
 * OpenAPI descriptions of the Altinn 2 REST brokerservice routes (CONTRACT §9). They document;
 * the routes read their own input (names in any case, as Altinn's model binding) and the domain
 * checks the rules, so they are registered with SCHEMAS_DOCUMENT_ONLY.
 */
import { LIMITS } from '../../broker/input-rules';
import { errorSchema } from '../rest-messages/schemas';

export const BROKERSERVICE_REST_TAG = 'broker: Altinn 2 REST';

export const BROKERSERVICE_REST_TAGS = [
  {
    name: BROKERSERVICE_REST_TAG,
    description:
      "Altinn 2's REST brokerservice API (`/api/{who}/brokerservice/…`) over the same file transfers as the Altinn 3 Broker API, as " +
      "Altinn served it to transitioned services: a file sent here is an Altinn 3 transfer (its FileReference is the fileTransferId), " +
      'and an Altinn 3 transfer on a resource with an Altinn 2 service code and edition is in its recipients\' inbox here. Receipts are ' +
      'pseudo-receipts made from the transfer\'s status (ReceiptID 0). Auth as the messages API: the `ApiKey` header and an end user\'s ' +
      'Bearer token; `{who}` is an organisation number the person has a role for, the sender in outbox routes and the recipient in inbox ' +
      'routes. Times are Norwegian local time without an offset. Errors are `{ErrorCode, ErrorMessage}`.',
  },
];

const who = {
  type: 'string',
  description: 'The organisation the call acts for: an organisation number the person has a role for, or `r<reporteeId>`. Not `my`: a person is no broker party.',
} as const;
const fileReference = { type: 'string', format: 'uuid', description: 'FileReference of the file (the Altinn 3 fileTransferId).' } as const;

export const whoParams = { type: 'object', properties: { who }, required: ['who'] } as const;
export const fileParams = { type: 'object', properties: { who, fileReference }, required: ['who', 'fileReference'] } as const;

const localTime = {
  type: 'string',
  description: 'Norwegian local time without an offset (Europe/Oslo), milliseconds with trailing zeros trimmed.',
  example: '2024-04-26T13:17:33.911',
} as const;

export const fileSchema = {
  type: 'object',
  description: 'BrokerServiceAvailableFile. With `Accept: application/hal+json` it ends with `_links` (self, receipt; inbox also download).',
  properties: {
    ServiceCode: { type: 'string', example: '4747' },
    ServiceEditionCode: { type: 'integer', example: 1 },
    FileName: { type: 'string' },
    FileReference: { type: 'string', format: 'uuid' },
    FileSize: { type: 'integer', format: 'int64', description: '0 until the upload is stored.' },
    FileStatus: {
      type: 'string',
      enum: ['Initialized', 'Uploaded', 'Downloaded'],
      description: 'Initialized until processed (also when processing failed: see the receipt), Uploaded when downloadable, Downloaded once confirmed (inbox: by this recipient).',
    },
    ReceiptID: { type: 'integer', enum: [0] },
    Sender: { type: 'string', description: 'Organisation number of the sender.' },
    SentDate: localTime,
    SendersReference: { type: 'string', nullable: true },
    _links: { type: 'object', additionalProperties: { type: 'string', format: 'uri' } },
  },
} as const;

const receiptProperties = {
  ReceiptID: { type: 'integer', enum: [0] },
  ParentReceiptID: { type: 'integer', nullable: true, description: 'Always null.' },
  LastChanged: localTime,
  Status: { type: 'string', enum: ['Ok', 'Rejected'] },
  Text: { type: 'string' },
  SendersReference: { type: 'string', nullable: true, description: 'Always null.' },
  ServiceOwnerPartyReference: { type: 'string', nullable: true, description: 'Always null.' },
  PartyReference: { type: 'string', description: 'Organisation number of the party the receipt is for.' },
  ReceiptHistory: { type: 'string', nullable: true, description: 'Always null.' },
} as const;

export const recipientReceiptSchema = {
  type: 'object',
  description: "A recipient's pseudo-receipt (SubReceipts null).",
  properties: { ...receiptProperties, SubReceipts: { type: 'array', nullable: true, items: {}, description: 'Always null.' } },
} as const;

export const senderReceiptSchema = {
  type: 'object',
  description: "The sender's pseudo-receipt: Ok once uploaded (or while processing), Rejected with the reason when processing failed; one sub-receipt per recipient.",
  properties: { ...receiptProperties, SubReceipts: { type: 'array', items: recipientReceiptSchema } },
} as const;

export const outboxQuery = {
  type: 'object',
  properties: {
    fileName: { type: 'string', maxLength: LIMITS.fileNameMaxLength, description: 'Name of the file; default `<uuid>.zip`.' },
    brokerServiceDescription: {
      type: 'string',
      description:
        'JSON (URL-encoded): `{"ServiceCode":"4747","ServiceEditionCode":1,"SendersReference":"ref","Recipients":["974760673"],"Properties":{"k":"v"},"FileList":null}`. ' +
        `Recipients are organisation numbers (a national identity number is refused); at most ${LIMITS.propertyListMaxEntries} Properties; FileList is ignored.`,
    },
  },
  required: ['brokerServiceDescription'],
} as const;

export const inboxQuery = {
  type: 'object',
  properties: {
    serviceCode: { type: 'string', description: 'Without it: every broker service that has an Altinn 2 service code.' },
    serviceEditionCode: { type: 'integer' },
    fileStatus: { type: 'string', enum: ['Uploaded', 'Downloaded', 'Initialized'], default: 'Uploaded', description: 'Uploaded: not yet confirmed by this recipient.' },
    minSentDateTime: { type: 'string', description: 'SentDate at or after this time (Norwegian local time unless an offset is given).' },
    maxSentDateTime: { type: 'string', description: 'SentDate at or before this time.' },
  },
} as const;

export const availableFilesQuery = {
  type: 'object',
  properties: {
    serviceCode: { type: 'string' },
    serviceEditionCode: { type: 'integer' },
    recipients: { type: 'string', description: 'Organisation numbers, comma-separated.' },
  },
  required: ['recipients'],
} as const;

const json = (schema: object, description: string) => ({
  description,
  content: { 'application/json': { schema }, 'application/hal+json': { schema } },
});

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'Bad input: no ApiKey (MissingApiKey), a field named in ErrorMessage (InvalidRequest), an unknown service, no Content-Length, a repeated confirmation',
  401: 'No or invalid Bearer token',
  403: 'ApiKey refused, or {who} not allowed (no role, or not an organisation)',
  404: 'No such file for {who} in this box (unknown, and other parties\' files, alike)',
  409: 'The file cannot be served as this service needs (not a ZIP file where a manifest is added)',
  500: 'Internal error, or the upload broke off (the file is then Rejected on its receipt)',
};

export function responses(success: Record<number, { schema?: object; description: string; content?: object }>, errors: number[]) {
  const result: Record<string, object> = {};
  for (const [status, response] of Object.entries(success)) {
    result[status] = response.content ? { description: response.description, content: response.content } : json(response.schema!, response.description);
  }
  for (const status of errors) result[status] = json(errorSchema, ERROR_DESCRIPTIONS[status]!);
  return result;
}
