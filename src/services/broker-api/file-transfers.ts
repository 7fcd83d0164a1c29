/**
 * File transfer routes of the Altinn 3 door (CONTRACT §2 except TUS and events): initialize, the
 * streamed and the multipart upload, overview, details, search, download and confirm. Each route
 * reads its request (json.ts), calls one use case in src/broker/ and writes Altinn's JSON; the
 * rules, and the errors they raise, are the domain's.
 *
 * Scopes as Altinn's policies: the sender's routes need `altinn:broker.write`, the recipient's
 * `altinn:broker.read`, overview, details and search either. Which transfers a caller may see is
 * the domain's rule: one it is not party to answers like one that does not exist (404 BRO-00001).
 */
import { Transform, type Readable } from 'node:stream';
import Busboy, { type BusboyFileStream, type BusboyHeaders } from '@fastify/busboy';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BROKER_SCOPES } from '../../auth/organisation-tokens';
import { confirmDownload } from '../../broker/confirm-download';
import { downloadFileTransfer, type RangeRequest } from '../../broker/download-file-transfer';
import { BrokerError, isBrokerError } from '../../broker/errors';
import { getFileTransferDetails, getFileTransferOverview } from '../../broker/get-file-transfer';
import { initializeFileTransfer, type InitializeFileTransferRequest } from '../../broker/initialize-file-transfer';
import { LIMITS, PARTY_ID_PATTERN, RESOURCE_ID_PATTERN } from '../../broker/input-rules';
import { SEARCH_LIMIT, searchFileTransfers, type SearchFileTransfersRequest } from '../../broker/search-file-transfers';
import { FILE_TRANSFER_STATUSES, RECIPIENT_STATUSES, type BrokerCaller, type BrokerContext, type FileTransfer, type FileTransferHistory } from '../../broker/types';
import { uploadFileTransfer } from '../../broker/upload-file-transfer';
import { callerOf } from './auth';
import type { BrokerApiDeps } from './index';
import {
  booleanParameter,
  contentLengthOf,
  dateTimeParameter,
  enumParameter,
  formatTimestamp,
  guidParameter,
  httpError,
  mediaTypeOf,
  queryValue,
  readJsonBody,
  registerBrokerBodyParsers,
  requiredParameter,
  SCHEMAS_DOCUMENT_ONLY,
  sendJson,
  unsupportedMediaType,
  uploadStream,
  type JsonModel,
} from './json';
import { BROKER_SECURITY, FILE_TRANSFERS_TAG, PROBLEM_RESPONSES } from './openapi';

const WRITE = [BROKER_SCOPES.write] as const;
const READ = [BROKER_SCOPES.read] as const;
const READ_OR_WRITE = [BROKER_SCOPES.read, BROKER_SCOPES.write] as const;

/** Altinn's multipart limit (`MultipartBodyLengthLimit = int.MaxValue`): the whole form, file included. */
export const MULTIPART_FORM_MAX_BYTES = 2 ** 31 - 1;

// ---------------------------------------------------------------------------------------------
// Schemas (OpenAPI documentation; the domain enforces the rules they describe)

const partyId = { type: 'string', pattern: PARTY_ID_PATTERN.source, example: '0192:991825827' } as const;

const initializeBody = {
  type: 'object',
  description: 'FileTransferInitalizeExt. Member names are read case-insensitively; unknown members are ignored.',
  properties: {
    fileName: { type: 'string', minLength: 1, maxLength: LIMITS.fileNameMaxLength },
    resourceId: { type: 'string', minLength: 1, maxLength: LIMITS.resourceIdMaxLength, pattern: RESOURCE_ID_PATTERN.source },
    sendersFileTransferReference: { type: 'string', minLength: 1, maxLength: LIMITS.sendersReferenceMaxLength },
    sender: { ...partyId, description: 'The calling organisation: 0192:<orgnr> or urn:altinn:organization:identifier-no:<orgnr>.' },
    recipients: { type: 'array', minItems: 1, items: partyId },
    propertyList: {
      type: 'object',
      maxProperties: LIMITS.propertyListMaxEntries,
      additionalProperties: { type: 'string', maxLength: LIMITS.propertyValueMaxLength },
      description: `At most ${LIMITS.propertyListMaxEntries} entries; keys at most ${LIMITS.propertyKeyMaxLength} characters.`,
    },
    checksum: { type: 'string', nullable: true, pattern: '^([0-9a-f]{32})?$', description: 'MD5 of the file, 32 lower-case hex characters.' },
    disableVirusScan: { type: 'boolean', nullable: true },
  },
  required: ['fileName', 'resourceId', 'sendersFileTransferReference', 'sender', 'recipients'],
} as const;

const INITIALIZE_MODEL: JsonModel = { parameter: 'initializeExt', clrType: 'Altinn.Broker.Models.FileTransferInitalizeExt', schema: initializeBody };

const fileTransferIdResponse = {
  type: 'object',
  properties: { fileTransferId: { type: 'string', format: 'uuid' } },
} as const;

const fileTransferIdParams = {
  type: 'object',
  properties: { fileTransferId: { type: 'string', format: 'uuid' } },
  required: ['fileTransferId'],
} as const;

const timestamp = { type: 'string', format: 'date-time', example: '2026-08-18T11:40:51.123+00:00' } as const;
const fileTransferStatus = { type: 'string', enum: Object.keys(FILE_TRANSFER_STATUSES) } as const;
const recipientStatus = { type: 'string', enum: Object.keys(RECIPIENT_STATUSES) } as const;

const overviewProperties = {
  fileTransferId: { type: 'string', format: 'uuid' },
  resourceId: { type: 'string' },
  fileName: { type: 'string' },
  sendersFileTransferReference: { type: 'string', nullable: true },
  checksum: { type: 'string', nullable: true, description: 'Lower-case hex MD5; "" until known.' },
  useVirusScan: { type: 'boolean' },
  fileTransferSize: { type: 'integer', format: 'int64' },
  fileTransferStatus,
  fileTransferStatusText: { type: 'string' },
  fileTransferStatusChanged: timestamp,
  created: timestamp,
  expirationTime: timestamp,
  sender: { type: 'string' },
  recipients: {
    type: 'array',
    items: {
      type: 'object',
      properties: {
        recipient: { type: 'string' },
        currentRecipientFileTransferStatusCode: recipientStatus,
        currentRecipientFileTransferStatusText: { type: 'string' },
        currentRecipientFileTransferStatusChanged: timestamp,
      },
    },
  },
  propertyList: { type: 'object', additionalProperties: { type: 'string' } },
} as const;

const overviewResponse = {
  type: 'object',
  description: 'FileTransferOverviewExt',
  properties: { ...overviewProperties, published: { ...timestamp, nullable: true } },
} as const;

const detailsResponse = {
  type: 'object',
  description: 'FileTransferStatusDetailsExt: the overview (without `published`) after every status row, oldest first.',
  properties: {
    fileTransferStatusHistory: {
      type: 'array',
      items: { type: 'object', properties: { fileTransferStatus, fileTransferStatusText: { type: 'string' }, fileTransferStatusChanged: timestamp } },
    },
    recipientFileTransferStatusHistory: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          recipient: { type: 'string' },
          recipientFileTransferStatusCode: recipientStatus,
          recipientFileTransferStatusText: { type: 'string' },
          recipientFileTransferStatusChanged: timestamp,
        },
      },
    },
    ...overviewProperties,
  },
} as const;

const searchQuery = {
  type: 'object',
  properties: {
    resourceId: { type: 'string', description: 'Required.' },
    status: { type: 'string', description: `Current status: ${Object.keys(FILE_TRANSFER_STATUSES).join(', ')} (any case) or its number.` },
    recipientStatus: { type: 'string', description: `The caller's latest recipient status: ${Object.keys(RECIPIENT_STATUSES).join(', ')} (implies role Recipient).` },
    from: { type: 'string', format: 'date-time', description: 'Created (or, with status, entered that status) after this time; with `to`, from..to inclusive.' },
    to: { type: 'string', format: 'date-time', description: 'Created (or entered the status) before this time.' },
    orderAscending: { type: 'boolean', description: 'Oldest first (default newest first).' },
    role: { type: 'string', enum: ['Sender', 'Recipient', 'Both'], description: 'Default: both.' },
  },
  required: ['resourceId'],
} as const;

const binaryBody = { type: 'string', format: 'binary' } as const;

const multipartBody = {
  type: 'object',
  description:
    'FileTransferInitializeAndUploadExt as multipart/form-data. The Metadata fields must come before the file part `FileTransfer`, which is streamed as it arrives. ' +
    'Recipients: repeat `Metadata.Recipients` (or `Metadata.Recipients[0]`, `[1]`, …); properties: `Metadata.PropertyList[<key>]`. The whole form is at most 2 GiB.',
  properties: {
    'Metadata.FileName': initializeBody.properties.fileName,
    'Metadata.ResourceId': initializeBody.properties.resourceId,
    'Metadata.SendersFileTransferReference': initializeBody.properties.sendersFileTransferReference,
    'Metadata.Sender': initializeBody.properties.sender,
    'Metadata.Recipients': initializeBody.properties.recipients,
    'Metadata.Checksum': initializeBody.properties.checksum,
    'Metadata.DisableVirusScan': { type: 'boolean' },
    FileTransfer: binaryBody,
  },
  required: ['Metadata.FileName', 'Metadata.ResourceId', 'Metadata.SendersFileTransferReference', 'Metadata.Sender', 'Metadata.Recipients', 'FileTransfer'],
} as const;

// ---------------------------------------------------------------------------------------------
// Routes

export function registerFileTransferRoutes(api: FastifyInstance, deps: BrokerApiDeps): void {
  const ctx = deps.app.broker;

  api.register(async (scope) => {
    registerBrokerBodyParsers(scope);

    scope.post(
      '/filetransfer',
      {
        config: { brokerScopes: WRITE, producesJson: true },
        schema: {
          tags: [FILE_TRANSFERS_TAG],
          security: BROKER_SECURITY,
          summary: 'Initialize a file transfer',
          description: 'The sender (scope altinn:broker.write) describes the file and its recipients; upload the bytes next.',
          body: initializeBody,
          response: { 200: fileTransferIdResponse, ...PROBLEM_RESPONSES([400, 401, 403]) },
        },
        ...SCHEMAS_DOCUMENT_ONLY,
      },
      async (request, reply) => {
        const body = readJsonBody(request, INITIALIZE_MODEL);
        const { fileTransferId } = await initializeFileTransfer(ctx, callerOf(request), body as unknown as InitializeFileTransferRequest);
        return sendJson(reply, 200, { fileTransferId });
      },
    );

    scope.post<{ Params: { fileTransferId: string } }>(
      '/filetransfer/:fileTransferId/upload',
      {
        config: { brokerScopes: WRITE, producesJson: true },
        schema: {
          tags: [FILE_TRANSFERS_TAG],
          security: BROKER_SECURITY,
          summary: 'Upload the file (streamed)',
          description:
            'The body is the file itself. `Content-Length` is checked against the resource\'s maximum before any byte is read. ' +
            'Without a virus scan the transfer is Published when the answer comes.',
          params: fileTransferIdParams,
          consumes: ['application/octet-stream'],
          body: binaryBody,
          response: { 200: fileTransferIdResponse, ...PROBLEM_RESPONSES([400, 401, 404, 409, 500]) },
        },
        ...SCHEMAS_DOCUMENT_ONLY,
      },
      async (request, reply) => {
        const fileTransferId = guidParameter('fileTransferId', request.params.fileTransferId);
        const source = uploadStream(request, ['application/octet-stream']);
        const result = await uploadFileTransfer(ctx, callerOf(request), fileTransferId, source, { contentLength: contentLengthOf(request) });
        return sendJson(reply, 200, { fileTransferId: result.fileTransferId });
      },
    );

    scope.post(
      '/filetransfer/upload',
      {
        config: { brokerScopes: WRITE, producesJson: true },
        schema: {
          tags: [FILE_TRANSFERS_TAG],
          security: BROKER_SECURITY,
          summary: 'Initialize and upload in one request (multipart/form-data)',
          consumes: ['multipart/form-data'],
          body: multipartBody,
          response: { 200: fileTransferIdResponse, ...PROBLEM_RESPONSES([400, 401, 403, 409, 413, 500]) },
        },
        ...SCHEMAS_DOCUMENT_ONLY,
      },
      async (request, reply) => {
        if (mediaTypeOf(request) !== 'multipart/form-data') throw unsupportedMediaType(request, 'multipart/form-data');
        const fileTransferId = await initializeAndUpload(ctx, callerOf(request), request);
        return sendJson(reply, 200, { fileTransferId });
      },
    );

    scope.get<{ Params: { fileTransferId: string } }>(
      '/filetransfer/:fileTransferId',
      {
        config: { brokerScopes: READ_OR_WRITE, producesJson: true },
        schema: {
          tags: [FILE_TRANSFERS_TAG],
          security: BROKER_SECURITY,
          summary: 'Overview of a file transfer (its sender or a recipient)',
          params: fileTransferIdParams,
          response: { 200: overviewResponse, ...PROBLEM_RESPONSES([400, 401, 404]) },
        },
        ...SCHEMAS_DOCUMENT_ONLY,
      },
      async (request, reply) => {
        const transfer = await getFileTransferOverview(ctx, callerOf(request), guidParameter('fileTransferId', request.params.fileTransferId));
        return sendJson(reply, 200, overviewJson(transfer));
      },
    );

    scope.get<{ Params: { fileTransferId: string } }>(
      '/filetransfer/:fileTransferId/details',
      {
        config: { brokerScopes: READ_OR_WRITE, producesJson: true },
        schema: {
          tags: [FILE_TRANSFERS_TAG],
          security: BROKER_SECURITY,
          summary: 'Details of a file transfer: the overview and every status row',
          params: fileTransferIdParams,
          response: { 200: detailsResponse, ...PROBLEM_RESPONSES([400, 401, 404]) },
        },
        ...SCHEMAS_DOCUMENT_ONLY,
      },
      async (request, reply) => {
        const transfer = await getFileTransferDetails(ctx, callerOf(request), guidParameter('fileTransferId', request.params.fileTransferId));
        return sendJson(reply, 200, detailsJson(transfer));
      },
    );

    scope.get(
      '/filetransfer',
      {
        config: { brokerScopes: READ_OR_WRITE, producesJson: true },
        schema: {
          tags: [FILE_TRANSFERS_TAG],
          security: BROKER_SECURITY,
          summary: `Search the caller's file transfers on a resource (at most ${SEARCH_LIMIT} ids)`,
          querystring: searchQuery,
          response: { 200: { type: 'array', items: { type: 'string', format: 'uuid' } }, ...PROBLEM_RESPONSES([400, 401]) },
        },
        ...SCHEMAS_DOCUMENT_ONLY,
      },
      async (request, reply) => {
        const search = searchRequestOf(request.query);
        const ids = search === 'matches nothing' ? [] : await searchFileTransfers(ctx, callerOf(request), search);
        return sendJson(reply, 200, ids);
      },
    );

    scope.get<{ Params: { fileTransferId: string } }>(
      '/filetransfer/:fileTransferId/download',
      {
        // A HEAD would record a download without one.
        exposeHeadRoute: false,
        config: { brokerScopes: READ },
        schema: {
          tags: [FILE_TRANSFERS_TAG],
          security: BROKER_SECURITY,
          summary: 'Download the file (a recipient; one byte range allowed)',
          description:
            'While the transfer is Published (or all have confirmed and the purge has not yet run). `Range: bytes=a-b`, `a-` or `-n` answers 206; ' +
            'an unsatisfiable range 416 with `Content-Range: bytes */<size>`; other Range headers are ignored.',
          params: fileTransferIdParams,
          headers: { type: 'object', properties: { range: { type: 'string', example: 'bytes=0-9' } } },
          response: {
            200: { description: 'The file', content: { 'application/octet-stream': { schema: binaryBody } } },
            206: { description: 'The requested byte range', content: { 'application/octet-stream': { schema: binaryBody } } },
            ...PROBLEM_RESPONSES([400, 401, 403, 404, 416]),
          },
        },
        ...SCHEMAS_DOCUMENT_ONLY,
      },
      async (request, reply) => download(ctx, request, reply),
    );

    scope.post<{ Params: { fileTransferId: string } }>(
      '/filetransfer/:fileTransferId/confirmdownload',
      {
        config: { brokerScopes: READ, producesJson: true },
        schema: {
          tags: [FILE_TRANSFERS_TAG],
          security: BROKER_SECURITY,
          summary: 'Confirm the download (a recipient)',
          params: fileTransferIdParams,
          response: { 204: { description: 'Confirmed (or already confirmed by this recipient)', type: 'null' }, ...PROBLEM_RESPONSES([400, 401, 404]) },
        },
        ...SCHEMAS_DOCUMENT_ONLY,
      },
      async (request, reply) => {
        await confirmDownload(ctx, callerOf(request), guidParameter('fileTransferId', request.params.fileTransferId));
        return reply.code(204).send();
      },
    );
  });
}

// ---------------------------------------------------------------------------------------------
// Overview and details JSON (member order as Altinn's models, CONTRACT §2.3 and facts §13)

function overviewMembers(transfer: FileTransfer) {
  return {
    fileTransferId: transfer.fileTransferId,
    resourceId: transfer.resourceId,
    fileName: transfer.fileName,
    sendersFileTransferReference: transfer.sendersFileTransferReference,
    // Altinn writes "" until the MD5 is known (the model's default).
    checksum: transfer.checksum ?? '',
    useVirusScan: transfer.useVirusScan,
    fileTransferSize: transfer.fileTransferSize,
    fileTransferStatus: transfer.status.status,
    fileTransferStatusText: transfer.status.text,
    fileTransferStatusChanged: formatTimestamp(transfer.status.changedAt),
    created: formatTimestamp(transfer.created),
    expirationTime: formatTimestamp(transfer.expirationTime),
    sender: transfer.sender,
    recipients: transfer.recipients.map((recipient) => ({
      recipient: recipient.recipient,
      currentRecipientFileTransferStatusCode: recipient.status,
      currentRecipientFileTransferStatusText: recipient.text,
      currentRecipientFileTransferStatusChanged: formatTimestamp(recipient.changedAt),
    })),
    propertyList: transfer.propertyList,
  };
}

export function overviewJson(transfer: FileTransfer) {
  return { ...overviewMembers(transfer), published: transfer.published ? formatTimestamp(transfer.published) : null };
}

/** The history arrays come first: System.Text.Json writes a derived type's own members before the base's. */
export function detailsJson(transfer: FileTransfer & FileTransferHistory) {
  return {
    fileTransferStatusHistory: transfer.fileTransferStatusHistory.map((entry) => ({
      fileTransferStatus: entry.status,
      fileTransferStatusText: entry.text,
      fileTransferStatusChanged: formatTimestamp(entry.changedAt),
    })),
    recipientFileTransferStatusHistory: transfer.recipientFileTransferStatusHistory.map((entry) => ({
      recipient: entry.recipient,
      recipientFileTransferStatusCode: entry.status,
      recipientFileTransferStatusText: entry.text,
      recipientFileTransferStatusChanged: formatTimestamp(entry.changedAt),
    })),
    ...overviewMembers(transfer),
  };
}

// ---------------------------------------------------------------------------------------------
// Search

/** Role names only: Altinn's role numbers are not part of the contract, so a number is refused before this is consulted. */
const ROLES = { Sender: { number: Number.NaN }, Recipient: { number: Number.NaN }, Both: { number: Number.NaN } };

/** The search's query as the domain takes it; 'matches nothing' for a status number with no name. */
export function searchRequestOf(query: unknown): SearchFileTransfersRequest | 'matches nothing' {
  const resourceId = queryValue(query, 'resourceId');
  if (resourceId === undefined || resourceId.trim() === '') throw requiredParameter('resourceId');
  const request: SearchFileTransfersRequest = { resourceId };
  let matchesNothing = false;
  const status = queryValue(query, 'status');
  if (status !== undefined && status !== '') {
    const name = enumParameter('status', status, FILE_TRANSFER_STATUSES);
    if (name === null) matchesNothing = true;
    else request.status = name;
  }
  const recipientStatus = queryValue(query, 'recipientStatus');
  if (recipientStatus !== undefined && recipientStatus !== '') {
    const name = enumParameter('recipientStatus', recipientStatus, RECIPIENT_STATUSES);
    if (name === null) matchesNothing = true;
    else request.recipientStatus = name;
  }
  const from = queryValue(query, 'from');
  if (from !== undefined && from !== '') request.from = dateTimeParameter('from', from);
  const to = queryValue(query, 'to');
  if (to !== undefined && to !== '') request.to = dateTimeParameter('to', to);
  const orderAscending = queryValue(query, 'orderAscending');
  if (orderAscending !== undefined && orderAscending !== '') request.orderAscending = booleanParameter('orderAscending', orderAscending);
  const role = queryValue(query, 'role');
  if (role !== undefined && role !== '') {
    // Altinn's role enum is read by name only here: its numbers are not part of the contract.
    if (/^-?\d+$/.test(role.trim())) throw new BrokerError('InvalidInput', `role: ${role}`, { errors: { role: [`The value '${role}' is not valid for role.`] } });
    const name = enumParameter('role', role, ROLES);
    if (name === 'Sender' || name === 'Recipient') request.role = name;
  }
  return matchesNothing ? 'matches nothing' : request;
}

// ---------------------------------------------------------------------------------------------
// Download

/**
 * The one byte range of a `Range` header, as .NET's RangeHeaderValue reads it: unit `bytes` (any
 * case), exactly one `a-b`, `a-` or `-n`. Anything else (another unit, several ranges, malformed)
 * is undefined: the header is ignored and the whole file is sent. `b < a` is kept: the domain
 * answers it 416 (CONTRACT §2.5, where .NET would ignore it).
 */
export function parseRangeHeader(header: string | undefined): RangeRequest | undefined {
  if (header === undefined) return undefined;
  const match = /^\s*bytes\s*=(.*)$/i.exec(header);
  if (!match) return undefined;
  const specs = match[1]!.split(',').map((spec) => spec.trim()).filter((spec) => spec !== '');
  if (specs.length !== 1) return undefined;
  const range = /^(\d*)\s*-\s*(\d*)$/.exec(specs[0]!);
  if (!range || (range[1] === '' && range[2] === '')) return undefined;
  const number = (digits: string) => (Number.isSafeInteger(Number(digits)) ? Number(digits) : undefined);
  if (range[1] === '') {
    const suffixLength = number(range[2]!);
    return suffixLength === undefined ? undefined : { suffixLength };
  }
  const start = number(range[1]!);
  if (start === undefined) return undefined;
  if (range[2] === '') return { start };
  const end = number(range[2]!);
  return end === undefined ? undefined : { start, end };
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const ATTR_CHAR = /^[!#$&+\-.^_`|~0-9A-Za-z]$/;

/**
 * `Content-Disposition` as ASP.NET's File(stream, type, fileName) writes it (SetHttpFileName):
 * `filename` with every UTF-16 unit outside 0x20-0x7E replaced by `_`, quoted (`\` and `"`
 * escaped) unless it is a token; `filename*` the UTF-8 bytes percent-encoded, upper-case hex,
 * except RFC 5987 attr-chars.
 */
export function contentDisposition(fileName: string): string {
  const ascii = fileName.replace(/[\u0000-\u001f\u007f-\uffff]/g, '_');
  const filename = TOKEN.test(ascii) ? ascii : `"${ascii.replace(/[\\"]/g, '\\$&')}"`;
  let encoded = '';
  for (const character of fileName) {
    if (ATTR_CHAR.test(character)) encoded += character;
    else for (const byte of Buffer.from(character, 'utf8')) encoded += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return `attachment; filename=${filename}; filename*=UTF-8''${encoded}`;
}

async function download(ctx: BrokerContext, request: FastifyRequest<{ Params: { fileTransferId: string } }>, reply: FastifyReply): Promise<FastifyReply> {
  const fileTransferId = guidParameter('fileTransferId', request.params.fileTransferId);
  reply.header('accept-ranges', 'bytes');
  const result = await downloadFileTransfer(ctx, callerOf(request), fileTransferId, { range: parseRangeHeader(request.headers.range) });
  const stream = result.open();
  // A client that goes away stops the read (and frees the file) at once.
  reply.raw.once('close', () => stream.destroy());
  reply.header('content-type', 'application/octet-stream').header('content-disposition', contentDisposition(result.transfer.fileName));
  if (result.range) {
    const { start, end } = result.range;
    reply
      .code(206)
      .header('content-range', `bytes ${start}-${end}/${result.size}`)
      .header('content-length', end - start + 1);
  } else {
    reply.code(200).header('content-length', result.size);
  }
  return reply.send(stream);
}

// ---------------------------------------------------------------------------------------------
// Multipart initialize-and-upload

const FORM_SCALARS: Record<string, keyof InitializeFileTransferRequest> = {
  filename: 'fileName',
  resourceid: 'resourceId',
  sendersfiletransferreference: 'sendersFileTransferReference',
  sender: 'sender',
  checksum: 'checksum',
};
const FILE_PART = 'filetransfer';
const METADATA_FIRST = 'The Metadata fields are read only before the file part FileTransfer: send them first.';

/** The Metadata.* fields of the form, bound as ASP.NET's form binder would (names in any case). */
class FormMetadata {
  private readonly scalars = new Map<keyof InitializeFileTransferRequest, string>();
  private readonly recipients: { index: number; value: string }[] = [];
  private readonly properties: Record<string, string> = {};
  private readonly indexedProperties = new Map<number, { key?: string; value?: string }>();
  private disableVirusScan: string | undefined;
  readonly errors: Record<string, string[]> = {};
  count = 0;

  add(name: string, value: string, truncated: boolean): void {
    const lower = name.toLowerCase();
    if (!lower.startsWith('metadata.')) return; // ASP.NET ignores form fields no model property names
    this.count++;
    if (truncated) {
      (this.errors[name] ??= []).push(`The field ${name} is too long.`);
      return;
    }
    const member = lower.slice('metadata.'.length);
    const scalar = FORM_SCALARS[member];
    if (scalar) {
      this.scalars.set(scalar, value);
    } else if (member === 'disablevirusscan') {
      this.disableVirusScan = value;
    } else if (member === 'recipients') {
      this.recipients.push({ index: Number.MAX_SAFE_INTEGER, value });
    } else if (/^recipients\[\d+\]$/.test(member)) {
      this.recipients.push({ index: Number(member.slice('recipients['.length, -1)), value });
    } else {
      const indexed = /^propertylist\[(\d+)\]\.(key|value)$/.exec(member);
      const keyed = /^metadata\.propertylist\[(.*)\]$/is.exec(name);
      if (indexed) {
        const entry = this.indexedProperties.get(Number(indexed[1])) ?? {};
        entry[indexed[2] as 'key' | 'value'] = value;
        this.indexedProperties.set(Number(indexed[1]), entry);
      } else if (keyed) {
        this.properties[keyed[1]!] = value;
      }
    }
  }

  toRequest(): InitializeFileTransferRequest {
    const properties = { ...this.properties };
    for (const [, entry] of [...this.indexedProperties].sort(([a], [b]) => a - b)) {
      if (entry.key !== undefined) properties[entry.key] = entry.value ?? '';
    }
    let disableVirusScan: boolean | null = null;
    if (this.disableVirusScan !== undefined && this.disableVirusScan.trim() !== '') {
      const text = this.disableVirusScan.trim().toLowerCase();
      if (text === 'true' || text === 'false') disableVirusScan = text === 'true';
      else (this.errors['Metadata.DisableVirusScan'] ??= []).push(`The value '${this.disableVirusScan}' is not valid for DisableVirusScan.`);
    }
    const recipients = [...this.recipients].sort((a, b) => a.index - b.index).map((entry) => entry.value);
    return {
      fileName: this.scalars.get('fileName'),
      resourceId: this.scalars.get('resourceId'),
      sendersFileTransferReference: this.scalars.get('sendersFileTransferReference'),
      sender: this.scalars.get('sender'),
      recipients: recipients.length > 0 ? recipients : undefined,
      propertyList: properties,
      checksum: this.scalars.get('checksum'),
      disableVirusScan,
    };
  }
}

function formProblem(errors: Record<string, string[]>): BrokerError {
  const [first] = Object.entries(errors);
  return new BrokerError('InvalidInput', `${first![0]}: ${first![1][0]}`, { errors });
}

/** The domain's InvalidInput keys (`FileName`) as the form names them (`Metadata.FileName`). */
function asFormErrors(error: unknown): unknown {
  if (!isBrokerError(error, 'InvalidInput') || !error.details.errors) return error;
  const errors: Record<string, string[]> = {};
  for (const [key, messages] of Object.entries(error.details.errors)) errors[key === '' ? '' : `Metadata.${key}`] = messages;
  const missing = Object.values(error.details.errors).some((messages) => messages.some((message) => message.endsWith('field is required.')));
  if (missing) errors.FileTransfer = [METADATA_FIRST];
  return formProblem(errors);
}

/**
 * Reads the form as it arrives (busboy: the remix parser buffers every part whole): the Metadata
 * fields first, then, when the file part starts, initializes the transfer and streams the part
 * into its upload. Resolves with the transfer id once the bytes are stored and the form has ended.
 */
async function initializeAndUpload(ctx: BrokerContext, caller: BrokerCaller, request: FastifyRequest): Promise<string> {
  const declared = contentLengthOf(request);
  if (declared !== undefined && declared > MULTIPART_FORM_MAX_BYTES) throw formTooLarge();
  const source = request.body as Readable;

  let form: ReturnType<typeof Busboy>;
  try {
    form = Busboy({
      headers: request.headers as BusboyHeaders,
      limits: { fields: 200, fieldSize: 64 * 1024, files: 1, parts: 201, headerPairs: 100 },
      // The file part is a file whatever its Content-Type; other parts are fields unless named as files.
      isPartAFile: (fieldName, _contentType, fileName) => fieldName?.toLowerCase() === FILE_PART || fileName !== undefined,
    });
  } catch (error) {
    throw httpError(400, `The multipart/form-data request cannot be read: ${(error as Error).message}`);
  }

  return new Promise<string>((resolve, reject) => {
    const metadata = new FormMetadata();
    let upload: Promise<string> | undefined;
    let fileStream: BusboyFileStream | undefined;
    let formEnded = false;
    let settled = false;
    const settle = (error: unknown, fileTransferId?: string) => {
      if (settled) return;
      settled = true;
      source.unpipe(counter);
      counter.unpipe(form);
      if (error === undefined) resolve(fileTransferId!);
      else reject(error);
    };
    // Once the upload has started, its own outcome (UploadFailed, FileSizeTooBig, …) is the answer.
    const fail = (error: unknown) => {
      if (fileStream && !fileStream.destroyed) fileStream.destroy(error as Error);
      if (!upload) settle(error);
    };

    let received = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        received += chunk.length;
        if (received > MULTIPART_FORM_MAX_BYTES) done(formTooLarge());
        else done(null, chunk);
      },
    });
    counter.on('error', fail);
    source.on('close', () => {
      if (!source.readableEnded) fail(new Error('the client closed the connection before the form ended'));
    });

    form.on('field', (name, value, _nameTruncated, valueTruncated) => {
      if (!upload) metadata.add(name, value, valueTruncated);
    });
    form.on('file', (name, stream) => {
      if (upload || name.toLowerCase() !== FILE_PART) {
        stream.resume();
        return;
      }
      fileStream = stream;
      upload = (async () => {
        if (metadata.count === 0) throw formProblem({ FileTransfer: [METADATA_FIRST] });
        const initialize = metadata.toRequest();
        // Fields that did not bind (a bad DisableVirusScan, a truncated value) refuse the form before anything is stored.
        if (Object.keys(metadata.errors).length > 0) throw formProblem(metadata.errors);
        let fileTransferId: string;
        try {
          ({ fileTransferId } = await initializeFileTransfer(ctx, caller, initialize));
        } catch (error) {
          throw asFormErrors(error);
        }
        await uploadFileTransfer(ctx, caller, fileTransferId, stream);
        return fileTransferId;
      })();
      upload.then(
        (fileTransferId) => {
          if (formEnded) settle(undefined, fileTransferId);
        },
        (error: unknown) => settle(error),
      );
    });
    form.on('finish', () => {
      formEnded = true;
      if (!upload) {
        settle(formProblem({ FileTransfer: ['The FileTransfer field is required.'] }));
        return;
      }
      upload.then(
        (fileTransferId) => settle(undefined, fileTransferId),
        () => undefined,
      );
    });
    form.on('error', (error: unknown) => fail(httpError(400, `The multipart/form-data request cannot be read: ${(error as Error).message}`)));

    source.pipe(counter).pipe(form);
  });
}

function formTooLarge(): Error {
  return httpError(413, `The form is larger than ${MULTIPART_FORM_MAX_BYTES} bytes (2 GiB): upload larger files with POST /filetransfer/{id}/upload or TUS`);
}
