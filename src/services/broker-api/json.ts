/**
 * The Altinn 3 door's request and response conventions (CONTRACT §1), written once for every route:
 *
 * - Bodies: JSON stays text until the route reads it (readJsonBody), so that malformed JSON, an
 *   empty body and a wrong member type are ASP.NET-style validation problems (`$`, `$.member`),
 *   not fastify's. Member names are matched case-insensitively onto the schema's (Postman sends
 *   `"FileName"`), quoted numbers are read as numbers, unknown members are ignored. Uploads stay
 *   streams. Anything else reaches the route as an UnsupportedBody, for it to refuse (415).
 * - Route schemas document the API (OpenAPI) and name the members' types; the rules themselves
 *   (lengths, patterns, ranges) are the domain's (src/broker/input-rules.ts, configure-resource.ts),
 *   which reports every broken rule at once with Altinn's messages. Hence routes take
 *   SCHEMAS_DOCUMENT_ONLY: ajv neither enforces the documented limits first nor reorders output.
 * - Path and query values are bound as ASP.NET binds them: GUIDs in any of .NET's forms, enums by
 *   name in any case or by number, booleans, DateTimeOffsets; a value that does not bind is a 400
 *   validation problem keyed by the parameter.
 * - Timestamps out are ISO 8601 in UTC with `+00:00` and a trimmed fraction, as .NET writes a
 *   DateTimeOffset.
 */
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BrokerError } from '../../broker/errors';
import { decodeUtf8 } from '../../encoding/utf8';

/**
 * A JSON body as received, parsed by readJsonBody (so that its errors are validation problems);
 * `text` undefined when the bytes are not valid UTF-8.
 */
export class JsonText {
  constructor(readonly text: string | undefined) {}
}

/** A body of a media type no parser of this door reads; JSON routes answer 415. */
export class UnsupportedBody {
  constructor(
    readonly mediaType: string | undefined,
    readonly stream: Readable,
  ) {}
}

const JSON_MEDIA_TYPES = ['application/json', 'text/json'];
const STRUCTURED_JSON_MEDIA_TYPE = /^application\/[\w.+-]+\+json$/;
const STREAMED_MEDIA_TYPES = ['application/octet-stream', 'application/offset+octet-stream', 'multipart/form-data'];

/**
 * Body parsers for a scope of the door: JSON as text (JsonText), uploads as streams, and every
 * other (or no) media type as an UnsupportedBody left unread.
 */
export function registerBrokerBodyParsers(scope: FastifyInstance): void {
  scope.removeAllContentTypeParsers();
  for (const mediaType of [JSON_MEDIA_TYPES, STRUCTURED_JSON_MEDIA_TYPE]) {
    scope.addContentTypeParser(mediaType, { parseAs: 'buffer' }, (_request, body, done) => done(null, new JsonText(decodeUtf8(body as Buffer))));
  }
  scope.addContentTypeParser(STREAMED_MEDIA_TYPES, (_request, payload, done) => done(null, payload));
  scope.addContentTypeParser('*', (request, payload, done) => done(null, new UnsupportedBody(mediaTypeOf(request), payload)));
}

export function mediaTypeOf(request: FastifyRequest): string | undefined {
  const header = request.headers['content-type'];
  return header ? header.split(';')[0]!.trim().toLowerCase() : undefined;
}

/** Route options: the schema documents (OpenAPI), the door's own readers and the domain validate. */
export const SCHEMAS_DOCUMENT_ONLY = {
  validatorCompiler: () => () => true,
  serializerCompiler: () => (data: unknown) => JSON.stringify(data),
} as const;

/** An error fastify's error handler (index.ts sendError) answers with this HTTP status. */
export function httpError(statusCode: number, message: string): Error & { statusCode: number } {
  return Object.assign(new Error(message), { statusCode });
}

export function unsupportedMediaType(request: FastifyRequest, expected: string): Error {
  const got = mediaTypeOf(request);
  return httpError(415, `${got ? `Content-Type ${got} is not supported` : 'The request has no Content-Type'}: send ${expected}`);
}

// ---------------------------------------------------------------------------------------------
// JSON bodies

/** The schema vocabulary readJsonBody understands: what the route schemas use for JSON members. */
export interface JsonMemberSchema {
  type: 'string' | 'integer' | 'boolean' | 'array' | 'object';
  format?: string;
  nullable?: boolean;
  [keyword: string]: unknown;
}

export interface JsonObjectSchema {
  type: 'object';
  properties: Record<string, JsonMemberSchema>;
  [keyword: string]: unknown;
}

export interface JsonModel {
  /** The C# parameter name Altinn's action binds the body to; ASP.NET names it when the body is unusable. */
  parameter: string;
  /** The C# type, for "could not be converted to …". */
  clrType: string;
  schema: JsonObjectSchema;
}

function clrTypeOf(member: JsonMemberSchema): string {
  const nullable = (type: string) => (member.nullable ? `System.Nullable\`1[${type}]` : type);
  switch (member.type) {
    case 'string':
      return 'System.String';
    case 'integer':
      return nullable(member.format === 'int32' ? 'System.Int32' : 'System.Int64');
    case 'boolean':
      return nullable('System.Boolean');
    case 'array':
      return 'System.Collections.Generic.List`1[System.String]';
    case 'object':
      return 'System.Collections.Generic.Dictionary`2[System.String,System.String]';
  }
}

/**
 * The body of a JSON route as an object keyed by the schema's property names, each value of its
 * schema type (or null), members the schema does not name left out. Refusals: 415 when the body is
 * not JSON; a validation problem when it is empty, malformed, not an object, or a member cannot be
 * read as its type (keys `""`, `$`, `$.<member as sent>`, as ASP.NET's).
 */
export function readJsonBody(request: FastifyRequest, model: JsonModel): Record<string, unknown> {
  const body = request.body;
  if (!(body instanceof JsonText)) throw unsupportedMediaType(request, 'application/json');
  const unusable = (key: string, message: string) =>
    new BrokerError('InvalidInput', `${key}: ${message}`, { errors: { [key]: [message], [model.parameter]: [`The ${model.parameter} field is required.`] } });
  if (body.text === undefined) throw unusable('$', 'The request body is not valid UTF-8. Path: $');
  if (body.text.trim() === '') throw unusable('', 'A non-empty request body is required.');
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.text);
  } catch (error) {
    throw unusable('$', `The request body is not valid JSON: ${(error as Error).message}. Path: $`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw unusable('$', `The JSON value could not be converted to ${model.clrType}. Path: $`);
  }

  const byLowerCase = new Map(Object.keys(model.schema.properties).map((name) => [name.toLowerCase(), name]));
  const result: Record<string, unknown> = {};
  const errors: Record<string, string[]> = {};
  for (const [sentName, value] of Object.entries(parsed as Record<string, unknown>)) {
    const name = byLowerCase.get(sentName.toLowerCase());
    if (name === undefined) continue;
    const member = model.schema.properties[name]!;
    const read = readMember(member, value);
    if (read.ok) result[name] = read.value;
    else errors[`$.${sentName}`] = [`The JSON value could not be converted to ${clrTypeOf(member)}. Path: $.${sentName}`];
  }
  if (Object.keys(errors).length > 0) {
    errors[model.parameter] = [`The ${model.parameter} field is required.`];
    const [first] = Object.entries(errors);
    throw new BrokerError('InvalidInput', `${first![0]}: ${first![1][0]}`, { errors });
  }
  return result;
}

type Read = { ok: true; value: unknown } | { ok: false };

function readMember(member: JsonMemberSchema, value: unknown): Read {
  if (value === null) return { ok: true, value: null };
  switch (member.type) {
    case 'string':
      return typeof value === 'string' ? { ok: true, value } : { ok: false };
    case 'integer': {
      // System.Text.Json's web defaults read numbers from strings too ("maxFileTransferSize":"1112391230").
      const number = typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value.trim()) : value;
      if (typeof number !== 'number' || !Number.isSafeInteger(number)) return { ok: false };
      if (member.format === 'int32' && (number < -(2 ** 31) || number >= 2 ** 31)) return { ok: false };
      return { ok: true, value: number };
    }
    case 'boolean':
      if (typeof value === 'boolean') return { ok: true, value };
      if (typeof value === 'string' && /^(true|false)$/i.test(value.trim())) return { ok: true, value: value.trim().toLowerCase() === 'true' };
      return { ok: false };
    case 'array':
      return Array.isArray(value) && value.every((item) => typeof item === 'string') ? { ok: true, value } : { ok: false };
    case 'object':
      if (typeof value !== 'object' || Array.isArray(value)) return { ok: false };
      return Object.values(value as Record<string, unknown>).every((item) => typeof item === 'string' || item === null) ? { ok: true, value } : { ok: false };
  }
}

// ---------------------------------------------------------------------------------------------
// Path and query values

function notBindable(name: string, value: string): BrokerError {
  const message = `The value '${value}' is not valid for ${name}.`;
  return new BrokerError('InvalidInput', message, { errors: { [name]: [message] } });
}

export function requiredParameter(name: string): BrokerError {
  const message = `The ${name} field is required.`;
  return new BrokerError('InvalidInput', message, { errors: { [name]: [message] } });
}

const HEX32 = /^[0-9a-f]{32}$/i;
const GUID_FORMS = [
  /^([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})$/i, // D
  /^\{([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})\}$/i, // B
  /^\(([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})\)$/i, // P
];

/** A GUID as .NET's Guid.TryParse reads it (D, N, B or P form), written lower-case `8-4-4-4-12`; undefined if none. */
export function parseGuid(text: string): string | undefined {
  const trimmed = text.trim();
  if (HEX32.test(trimmed)) {
    const hex = trimmed.toLowerCase();
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }
  for (const form of GUID_FORMS) {
    const match = form.exec(trimmed);
    if (match) return match.slice(1).join('-').toLowerCase();
  }
  return undefined;
}

/**
 * A `Guid` route value. Altinn's routes have no `:guid` constraint, so a value that is no GUID
 * reaches model binding and is answered 400 with a validation problem keyed by the parameter
 * (not 404: that is for a GUID naming no transfer of the caller's).
 */
export function guidParameter(name: string, value: string): string {
  const guid = parseGuid(value);
  if (guid === undefined) throw notBindable(name, value);
  return guid;
}

/**
 * An enum query value as ASP.NET binds it: a member name in any case, or a number. A number that
 * names no member binds too (it then matches nothing): `null`.
 */
export function enumParameter<Name extends string>(name: string, value: string, members: Record<Name, { number: number }>): Name | null {
  const text = value.trim();
  if (/^-?\d+$/.test(text)) {
    const number = Number(text);
    if (!Number.isSafeInteger(number)) throw notBindable(name, value);
    return (Object.keys(members) as Name[]).find((member) => members[member].number === number) ?? null;
  }
  const found = (Object.keys(members) as Name[]).find((member) => member.toLowerCase() === text.toLowerCase());
  if (found === undefined) throw notBindable(name, value);
  return found;
}

export function booleanParameter(name: string, value: string): boolean {
  const text = value.trim().toLowerCase();
  if (text === 'true') return true;
  if (text === 'false') return false;
  throw notBindable(name, value);
}

const ISO_DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,7})?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$/i;

/**
 * A DateTimeOffset query value (ISO 8601). Without an offset it is UTC (Altinn's servers run in
 * UTC). A `+` left unencoded in a query string arrives as a space; it is read as the `+` it was.
 */
export function dateTimeParameter(name: string, value: string): Date {
  const text = value.trim().replace(/ (\d{2}:?\d{2})$/, '+$1');
  const match = ISO_DATE_TIME.exec(text);
  if (!match) throw notBindable(name, value);
  const [, year, month, day, hour = '00', minute = '00', second = '00', fraction = '', zone = 'Z'] = match;
  const millis = fraction ? fraction.slice(1, 4).padEnd(3, '0') : '000';
  const offset = zone.toUpperCase() === 'Z' ? 'Z' : `${zone.slice(0, 3)}:${zone.slice(-2)}`;
  const date = new Date(`${year}-${month}-${day}T${hour}:${minute}:${second}.${millis}${offset}`);
  // The Date constructor rolls 2026-02-30 over to March; .NET refuses it.
  if (Number.isNaN(date.getTime()) || Number(month) < 1 || Number(month) > 12 || Number(day) > daysInMonth(Number(year), Number(month))) {
    throw notBindable(name, value);
  }
  return date;
}

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** A query value given once; a repeated parameter takes its first value, as .NET's binder does. */
export function queryValue(query: unknown, name: string): string | undefined {
  const record = (query ?? {}) as Record<string, string | string[] | undefined>;
  const key = Object.keys(record).find((candidate) => candidate.toLowerCase() === name.toLowerCase());
  const value = key === undefined ? undefined : record[key];
  return Array.isArray(value) ? value[0] : value;
}

// ---------------------------------------------------------------------------------------------
// Output

/** `2026-08-18T11:40:51.123+00:00`: a DateTimeOffset in UTC as .NET writes it (fraction trimmed, none when zero). */
export function formatTimestamp(date: Date): string {
  const iso = date.toISOString(); // 2026-08-18T11:40:51.120Z
  const [seconds, fraction = ''] = iso.slice(0, -1).split('.');
  const trimmed = fraction.replace(/0+$/, '');
  return `${seconds}${trimmed ? `.${trimmed}` : ''}+00:00`;
}

export const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

/** JSON as ASP.NET writes it: members in the order given, nulls written. */
export function sendJson(reply: FastifyReply, status: number, body: unknown): FastifyReply {
  return reply.code(status).type(JSON_CONTENT_TYPE).send(JSON.stringify(body));
}

/** The Content-Length header as a number, or undefined when absent (chunked) or not a number. */
export function contentLengthOf(request: FastifyRequest): number | undefined {
  const header = request.headers['content-length'];
  if (header === undefined || !/^\d+$/.test(header)) return undefined;
  const length = Number(header);
  return Number.isSafeInteger(length) ? length : undefined;
}

/**
 * The body as a stream to upload: a body of an accepted media type, or, without a Content-Type
 * (ASP.NET's [Consumes] lets that through), the bytes as they come; no body at all is empty.
 */
export function uploadStream(request: FastifyRequest, accepted: readonly string[]): Readable {
  const body = request.body;
  const mediaType = mediaTypeOf(request);
  if (mediaType === undefined) {
    if (body instanceof UnsupportedBody) return body.stream;
    if (body === undefined || body === null) return Readable.from([]);
  }
  if (mediaType !== undefined && accepted.includes(mediaType) && body instanceof Readable) return body;
  throw unsupportedMediaType(request, accepted.join(' or '));
}
