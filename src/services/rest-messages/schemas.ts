/**
 * JSON schemas of the REST messages API: fastify validates requests and serializes responses with
 * them, and @fastify/swagger turns the very same objects into /api/openapi.json (OpenAPI 3.0).
 * Member names follow Altinn's REST API (PascalCase, HAL `_links` / `_embedded`).
 */
import { MAX_PAGE_SIZE } from '../../messages/list-messages';
import { STATUS } from '../../messages/types';

export const HAL_JSON = 'application/hal+json';
export const PLAIN_JSON = 'application/json';

// ---- shared pieces ----

const link = { type: 'object', properties: { href: { type: 'string', format: 'uri' } }, required: ['href'] } as const;
const links = { type: 'object', description: 'HAL links', additionalProperties: link } as const;

export const errorSchema = {
  type: 'object',
  description: 'What went wrong. ErrorMessage names the offending field first, e.g. `_embedded.forms[0].FormData: ...`.',
  properties: {
    ErrorCode: { type: 'string', description: 'Stable code, e.g. MissingApiKey, InvalidToken, Forbidden, NotFound, InvalidRequest, AttachmentTooLarge, MessageArchived' },
    ErrorMessage: { type: 'string' },
  },
  required: ['ErrorCode', 'ErrorMessage'],
} as const;

const nullableString = (description: string) => ({ type: 'string', nullable: true, description }) as const;

/**
 * No control characters (U+0000-U+001F, U+007F) in codes, names and ids: none belongs there, and
 * PostgreSQL refuses U+0000 in text. http-errors.ts words a refusal by this pattern.
 */
export const NO_CONTROL_CHARACTERS = '^[^\\u0000-\\u001F\\u007F]*$';
/** Text of 1 to `maxLength` characters without control characters. */
const boundedText = (maxLength: number, description?: string) =>
  ({ type: 'string', minLength: 1, maxLength, pattern: NO_CONTROL_CHARACTERS, ...(description && { description }) }) as const;
const INT32_MAX = 2147483647;
const dateTime = (description: string) => ({ type: 'string', format: 'date-time', description }) as const;

// ---- path and query parameters ----

const who = {
  ...boundedText(50),
  description: "Whom the call acts for: `my` (the authenticated person), an organisation number the person has a role for, or `r<reporteeId>`.",
} as const;
const messageId = { ...boundedText(50), description: "Id of the message, e.g. `a12` (from the Location header of the POST that created it)." } as const;
const formId = { ...boundedText(50), description: 'Id of the form (FormId).' } as const;
const attachmentId = { ...boundedText(50), description: 'Id of the attachment (AttachmentId).' } as const;

export const whoParams = { type: 'object', properties: { who }, required: ['who'] } as const;
export const messageParams = { type: 'object', properties: { who, messageId }, required: ['who', 'messageId'] } as const;
export const formParams = { type: 'object', properties: { who, messageId, formId }, required: ['who', 'messageId', 'formId'] } as const;
export const attachmentParams = { type: 'object', properties: { who, messageId, attachmentId }, required: ['who', 'messageId', 'attachmentId'] } as const;

const language = {
  type: 'integer',
  enum: [1033, 1044, 2068],
  description: 'Language of the attachment type name: 1033 English, 1044 Bokmål, 2068 Nynorsk.',
} as const;

export const submitQuery = {
  type: 'object',
  properties: {
    complete: { type: 'boolean', default: true, description: 'false: the message stays "Utfylling" (being filled in).' },
    sign: {
      type: 'boolean',
      default: true,
      description: 'With complete=true: true signs and archives the message ("Sendt og arkivert", onto the service owner\'s DownloadQueue); false leaves it "Signering", to be signed by a later PUT.',
    },
    language,
  },
} as const;

export const listQuery = {
  type: 'object',
  properties: {
    $top: { type: 'integer', minimum: 1, maximum: INT32_MAX, description: `Page size; at most ${MAX_PAGE_SIZE} (a larger value is cut, with header X-Warning-LimitReached).` },
    $skip: { type: 'integer', minimum: 0, maximum: INT32_MAX, default: 0, description: 'Messages to skip (newest first).' },
  },
} as const;

export const languageQuery = { type: 'object', properties: { language } } as const;

export const streamedQuery = {
  type: 'object',
  properties: {
    fileName: boundedText(255, 'File name (URL-encoded); its extension gives the MIME type.'),
    attachmentType: boundedText(255, 'The attachment type (a rule of the service), e.g. "Vedlegg".'),
    language,
  },
  required: ['fileName', 'attachmentType'],
} as const;

// ---- request bodies ----

const formMembers = {
  Type: { type: 'string', enum: ['MainForm', 'SubForm'], description: 'MainForm (exactly one per message) or SubForm.' },
  DataFormatId: boundedText(100, 'Data format id of the form, e.g. "5703".'),
  DataFormatVersion: { type: 'integer', minimum: 0, maximum: INT32_MAX, description: 'Data format version (a number; "34114" is accepted too).' },
  FormData: { type: 'string', description: 'The form as XML text; must be well-formed (no DTD).' },
} as const;

export const formBody = {
  type: 'object',
  description: 'A form. In a message, the first form without Type is the main form and later ones are sub forms; POST .../forms adds a SubForm.',
  properties: formMembers,
  required: ['DataFormatId', 'DataFormatVersion', 'FormData'],
} as const;

export const attachmentBody = {
  type: 'object',
  properties: {
    FileName: boundedText(255, "File name; its extension gives the MIME type checked against the service's rules."),
    AttachmentType: boundedText(255, 'The attachment type (a rule of the service), e.g. "Vedlegg".'),
    Data: { type: 'string', description: 'The file, base64 encoded. For large files use .../attachments/streamedattachment.' },
  },
  required: ['FileName', 'AttachmentType', 'Data'],
} as const;

const embeddedContent = {
  type: 'object',
  properties: {
    forms: { type: 'array', items: formBody, description: 'All forms of the message (replaces them on PUT).' },
    attachments: { type: 'array', items: attachmentBody, description: 'All attachments of the message (replaces them on PUT; leave out to keep them).' },
  },
} as const;

export const createMessageBody = {
  type: 'object',
  properties: {
    Type: { type: 'string', enum: ['FormTask'] },
    ServiceCode: boundedText(50),
    ServiceEdition: { type: 'integer', minimum: 1, maximum: INT32_MAX },
    _embedded: { ...embeddedContent, required: ['forms'] },
  },
  required: ['ServiceCode', 'ServiceEdition', '_embedded'],
} as const;

export const replaceMessageBody = {
  type: 'object',
  description: 'Forms and attachments each replace the whole collection when present; a collection left out is kept unchanged.',
  properties: {
    Type: { type: 'string', enum: ['FormTask'] },
    ServiceCode: boundedText(50, "When given, must be the message's service."),
    ServiceEdition: { type: 'integer', minimum: 1, maximum: INT32_MAX, description: "When given, must be the message's service edition." },
    _embedded: embeddedContent,
  },
} as const;

// ---- responses ----

export const formSchema = {
  type: 'object',
  properties: {
    FormId: { type: 'integer' },
    Type: { type: 'string', enum: ['MainForm', 'SubForm'] },
    DataFormatId: { type: 'string' },
    DataFormatVersion: { type: 'integer' },
    FormData: { type: 'string', description: 'Only when a single form is fetched.' },
    _links: links,
  },
} as const;

export const attachmentSchema = {
  type: 'object',
  properties: {
    AttachmentId: { type: 'integer' },
    FileName: { type: 'string' },
    AttachmentType: { type: 'string', description: 'The attachment type (rule) name.' },
    MimeType: { type: 'string' },
    FileSize: { type: 'integer', description: 'Bytes.' },
    Language: nullableString('Language given when it was added.'),
    Sha256: { type: 'string', description: 'SHA-256 of the stored bytes, lower-case hex.' },
    IsEncrypted: { type: 'boolean', description: 'Archived encrypted for the service owner.' },
    _links: links,
  },
} as const;

export const messageSchema = {
  type: 'object',
  properties: {
    MessageId: { type: 'string' },
    Type: { type: 'string', enum: ['FormTask'] },
    Subject: nullableString('The service name.'),
    Status: { type: 'string', enum: Object.values(STATUS) },
    ServiceOwner: { type: 'string' },
    ServiceCode: { type: 'string' },
    ServiceEdition: { type: 'integer' },
    CreatedDate: dateTime('When the message was created.'),
    CreatedBy: { type: 'string' },
    LastChangedDateTime: dateTime('When the message last changed.'),
    LastChangedBy: { type: 'string' },
    ArchiveReference: nullableString('Set once archived; the service owner finds the task by it on the DownloadQueue.'),
    ArchivedDate: { type: 'string', format: 'date-time', nullable: true },
    _links: links,
    _embedded: {
      type: 'object',
      properties: {
        forms: { type: 'array', items: formSchema },
        attachments: { type: 'array', items: attachmentSchema },
      },
    },
  },
} as const;

const halList = (member: string, items: object) =>
  ({
    type: 'object',
    properties: {
      _links: links,
      _embedded: { type: 'object', properties: { [member]: { type: 'array', items } } },
    },
  }) as const;

export const messageListSchema = halList('messages', messageSchema);
export const formListSchema = halList('forms', formSchema);
export const attachmentListSchema = halList('attachments', attachmentSchema);

/** Both JSON media types for a body or response schema. */
export function jsonContent(schema: object): { content: Record<string, { schema: object }> } {
  return { content: { [HAL_JSON]: { schema }, [PLAIN_JSON]: { schema } } };
}

/** The body of a streamed attachment: the file's bytes (a stream, so there is nothing for ajv to check). */
export const streamedFileBody = { content: { 'application/octet-stream': { schema: { description: "The file's bytes" } } } };

/** Responses of an operation: its successes, and the error shape for 4xx (and 5xx). */
export function responses(success: Record<number, { description: string; schema?: object; headers?: object; content?: Record<string, { schema: object }> }>) {
  const result: Record<string, object> = {};
  for (const [status, { description, schema, headers, content }] of Object.entries(success)) {
    const body = content ? { content } : schema ? jsonContent(schema) : { type: 'null' };
    result[status] = { description, ...(headers && { headers }), ...body };
  }
  result['4xx'] = { description: 'Refused: 400 invalid request, 401 bad token, 403 not allowed, 404 not found, 409 archived', ...jsonContent(errorSchema) };
  result['5xx'] = { description: 'Internal error', ...jsonContent(errorSchema) };
  return result;
}

export const locationHeader = { Location: { type: 'string', description: 'URL of the created resource' } };
