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
import type { FastifyInstance } from 'fastify';
import { BROKER_SCOPES } from '../../auth/organisation-tokens';
import { confirmDownload } from '../../broker/confirm-download';
import { getFileTransferDetails, getFileTransferOverview } from '../../broker/get-file-transfer';
import { initializeFileTransfer, type InitializeFileTransferRequest } from '../../broker/initialize-file-transfer';
import { LIMITS, PARTY_ID_PATTERN, RESOURCE_ID_PATTERN } from '../../broker/input-rules';
import { SEARCH_LIMIT, searchFileTransfers } from '../../broker/search-file-transfers';
import { FILE_TRANSFER_STATUSES, RECIPIENT_STATUSES } from '../../broker/types';
import { uploadFileTransfer } from '../../broker/upload-file-transfer';
import { callerOf } from './auth';
import type { BrokerApiDeps } from './index';
import {
  contentLengthOf,
  guidParameter,
  mediaTypeOf,
  readJsonBody,
  registerBrokerBodyParsers,
  SCHEMAS_DOCUMENT_ONLY,
  sendJson,
  unsupportedMediaType,
  uploadStream,
  type JsonModel,
} from './json';
import { sendDownload } from './downloads';
import { initializeAndUpload } from './multipart-upload';
import { BROKER_SECURITY, FILE_TRANSFERS_TAG, PROBLEM_RESPONSES } from './openapi';
import { detailsJson, overviewJson } from './representations';
import { searchRequestOf } from './search-query';

const WRITE = [BROKER_SCOPES.write] as const;
const READ = [BROKER_SCOPES.read] as const;
const READ_OR_WRITE = [BROKER_SCOPES.read, BROKER_SCOPES.write] as const;

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
        config: { brokerScopes: WRITE, producesJson: true, streamedBody: true },
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
        config: { brokerScopes: WRITE, producesJson: true, streamedBody: true },
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
      async (request, reply) => sendDownload(ctx, request, reply),
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
