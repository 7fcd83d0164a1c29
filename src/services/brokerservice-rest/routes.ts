/**
 * The nine routes of the Altinn 2 REST brokerservice API (CONTRACT §9). Each reads its request,
 * resolves `{who}` (auth.ts), calls one use case (src/broker/, src/broker/altinn2/) and lays out
 * the result (representations.ts). Rules, statuses and receipt texts are the domain's.
 */
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasAvailableFiles, listAvailableFiles } from '../../broker/altinn2/available-files';
import { downloadLegacyFile } from '../../broker/altinn2/download';
import { legacyFileStatus, type LegacyFileStatus } from '../../broker/altinn2/file-status';
import { requireLegacyFileTransfer } from '../../broker/altinn2/legacy-file-transfer';
import { parseNorwegianDateTime } from '../../broker/altinn2/norwegian-time';
import { recipientReceipt, senderReceipt } from '../../broker/altinn2/receipts';
import { sendLegacyFile } from '../../broker/altinn2/send';
import { confirmDownload } from '../../broker/confirm-download';
import { isBrokerError } from '../../broker/errors';
import { isNationalIdentityNumber, parsePartyId, PERSON_CANNOT_BE_PARTY } from '../../broker/parties';
import type { BrokerContext } from '../../broker/types';
import type { Db } from '../../storage/db';
import { contentDisposition } from '../broker-api/downloads';
import { contentLengthOf, queryValue, SCHEMAS_DOCUMENT_ONLY } from '../broker-api/json';
import { HttpError } from '../rest-messages/http-errors';
import { brokerCallerOf } from './auth';
import { invalidRequest } from './errors';
import { fileObject, fileUrl, receiptJson, sendJson } from './representations';
import {
  availableFilesQuery,
  BROKERSERVICE_REST_TAG,
  fileParams,
  fileSchema,
  inboxQuery,
  outboxQuery,
  recipientReceiptSchema,
  responses,
  senderReceiptSchema,
  whoParams,
} from './schemas';

type FileParams = { who: string; fileReference: string };

const END_USER = { brokerserviceAuth: 'endUser' } as const;
const TAGS = [BROKERSERVICE_REST_TAG];
const SECURITY = [{ ApiKey: [], Bearer: [] }];

export function registerBrokerserviceRoutes(api: FastifyInstance, ctx: BrokerContext, db: Db): void {
  const callerOf = (request: FastifyRequest<{ Params: { who: string } }>) => brokerCallerOf(db, request, request.params.who);

  api.post<{ Params: { who: string } }>(
    '/:who/brokerservice/outbox',
    {
      config: { ...END_USER, streamedBody: true },
      schema: {
        tags: TAGS,
        security: SECURITY,
        summary: 'Send a file: initiate and upload in one call',
        description:
          'The body is the file (any Content-Type; Altinn 2 clients send application/zip), streamed to storage; `Content-Length` is required. ' +
          'The service is the broker resource configured with the description\'s ServiceCode and ServiceEditionCode. Nothing is stored when the ' +
          'request is refused (400). The answer is usually FileStatus Initialized while the file is processed (virus scan): follow it with the receipt.',
        params: whoParams,
        querystring: outboxQuery,
        consumes: ['application/zip', 'application/octet-stream'],
        body: { type: 'string', format: 'binary' },
        response: responses({ 201: { schema: fileSchema, description: 'The file, sent' } }, [400, 401, 403, 500]),
      },
      ...SCHEMAS_DOCUMENT_ONLY,
    },
    async (request, reply) => {
      const caller = await callerOf(request);
      const contentLength = contentLengthOf(request);
      if (contentLength === undefined) {
        throw new HttpError(400, 'MissingContentLength', "Content-Length: the header is required (the file is streamed and checked against the service's size limit first; a chunked body is not accepted).");
      }
      const description = readDescription(queryValue(request.query, 'brokerServiceDescription'));
      const fileName = queryValue(request.query, 'fileName') || `${randomUUID()}.zip`;
      const body = request.body instanceof Readable ? request.body : Readable.from([]);
      const { fileTransferId } = await sendLegacyFile(ctx, caller, { ...description, sender: caller.orgNumber, fileName }, body, { contentLength });
      const file = await requireLegacyFileTransfer(ctx, caller, fileTransferId, 'Sender');
      reply.header('location', fileUrl(request, request.params.who, 'outbox', fileTransferId));
      return sendJson(request, reply, 201, fileObject(file, legacyFileStatus(file.transfer), { request, who: request.params.who, box: 'outbox' }));
    },
  );

  api.get<{ Params: FileParams }>(
    '/:who/brokerservice/outbox/:fileReference',
    {
      config: END_USER,
      schema: {
        tags: TAGS,
        security: SECURITY,
        summary: 'A sent file',
        params: fileParams,
        response: responses({ 200: { schema: fileSchema, description: 'The file as its sender sees it' } }, [400, 401, 403, 404]),
      },
      ...SCHEMAS_DOCUMENT_ONLY,
    },
    async (request, reply) => {
      const file = await requireLegacyFileTransfer(ctx, await callerOf(request), request.params.fileReference, 'Sender');
      return sendJson(request, reply, 200, fileObject(file, legacyFileStatus(file.transfer), { request, who: request.params.who, box: 'outbox' }));
    },
  );

  api.get<{ Params: FileParams }>(
    '/:who/brokerservice/outbox/:fileReference/receipt',
    {
      config: END_USER,
      schema: {
        tags: TAGS,
        security: SECURITY,
        summary: "A sent file's receipt, with one sub-receipt per recipient",
        params: fileParams,
        response: responses({ 200: { schema: senderReceiptSchema, description: 'The sender receipt' } }, [400, 401, 403, 404]),
      },
      ...SCHEMAS_DOCUMENT_ONLY,
    },
    async (request, reply) => {
      const { transfer } = await requireLegacyFileTransfer(ctx, await callerOf(request), request.params.fileReference, 'Sender');
      return sendJson(request, reply, 200, receiptJson(senderReceipt(transfer)));
    },
  );

  api.get(
    '/brokerservice/inbox/hasavailablefiles',
    {
      config: { brokerserviceAuth: 'apiKey' },
      schema: {
        tags: TAGS,
        security: [{ ApiKey: [] }],
        summary: 'Has any of the recipients a file to download?',
        description: 'ApiKey only (no end user, no {who}). True when a recipient has an Uploaded file it has not confirmed, on the service (or on any service with an Altinn 2 service code).',
        querystring: availableFilesQuery,
        response: responses({ 200: { schema: { type: 'boolean' }, description: 'A bare JSON boolean' } }, [400, 403]),
      },
      ...SCHEMAS_DOCUMENT_ONLY,
    },
    async (request, reply) => {
      const recipients = readRecipients(queryValue(request.query, 'recipients'));
      const service = readService(request.query);
      return sendJson(request, reply, 200, await hasAvailableFiles(ctx, recipients, service.serviceCode, service.serviceEditionCode));
    },
  );

  const inboxList = async (request: FastifyRequest<{ Params: { who: string } }>, reply: FastifyReply) => {
    const caller = await callerOf(request);
    const service = readService(request.query);
    const files = await listAvailableFiles(ctx, {
      recipient: caller.partyId,
      ...service,
      fileStatus: readFileStatus(queryValue(request.query, 'fileStatus')),
      minSentDate: readDateTime(request.query, 'minSentDateTime'),
      maxSentDate: readDateTime(request.query, 'maxSentDateTime'),
    });
    const links = { request, who: request.params.who, box: 'inbox' as const };
    return sendJson(request, reply, 200, files.map((file) => fileObject(file, legacyFileStatus(file.transfer, caller.partyId), links)));
  };
  const inboxListSchema = {
    tags: TAGS,
    security: SECURITY,
    summary: "The recipient's files, oldest first",
    params: whoParams,
    querystring: inboxQuery,
    response: responses({ 200: { schema: { type: 'array', items: fileSchema }, description: 'Files in the inbox of {who}' } }, [400, 401, 403]),
  };
  api.get('/:who/brokerservice/inbox', { config: END_USER, schema: inboxListSchema, ...SCHEMAS_DOCUMENT_ONLY }, inboxList);
  // Altinn's own example calls it with a trailing slash.
  api.get('/:who/brokerservice/inbox/', { config: END_USER, schema: { ...inboxListSchema, hide: true }, ...SCHEMAS_DOCUMENT_ONLY }, inboxList);

  api.get<{ Params: FileParams }>(
    '/:who/brokerservice/inbox/:fileReference',
    {
      config: END_USER,
      schema: {
        tags: TAGS,
        security: SECURITY,
        summary: 'A received file',
        params: fileParams,
        response: responses({ 200: { schema: fileSchema, description: 'The file as this recipient sees it' } }, [400, 401, 403, 404]),
      },
      ...SCHEMAS_DOCUMENT_ONLY,
    },
    async (request, reply) => {
      const caller = await callerOf(request);
      const file = await requireLegacyFileTransfer(ctx, caller, request.params.fileReference, 'Recipient');
      return sendJson(request, reply, 200, fileObject(file, legacyFileStatus(file.transfer, caller.partyId), { request, who: request.params.who, box: 'inbox' }));
    },
  );

  api.get<{ Params: FileParams }>(
    '/:who/brokerservice/inbox/:fileReference/receipt',
    {
      config: END_USER,
      schema: {
        tags: TAGS,
        security: SECURITY,
        summary: "This recipient's receipt of a file",
        params: fileParams,
        response: responses({ 200: { schema: recipientReceiptSchema, description: 'The recipient receipt' } }, [400, 401, 403, 404]),
      },
      ...SCHEMAS_DOCUMENT_ONLY,
    },
    async (request, reply) => {
      const caller = await callerOf(request);
      const { transfer } = await requireLegacyFileTransfer(ctx, caller, request.params.fileReference, 'Recipient');
      return sendJson(request, reply, 200, receiptJson(recipientReceipt(transfer, caller.partyId)));
    },
  );

  api.get<{ Params: FileParams }>(
    '/:who/brokerservice/inbox/:fileReference/download',
    {
      // A HEAD would record a download without one.
      exposeHeadRoute: false,
      config: END_USER,
      schema: {
        tags: TAGS,
        security: SECURITY,
        summary: 'Download a file (whole; Range is ignored)',
        description:
          'Recorded as a download started by {who}. On a service with the manifest shim the ZIP comes with a fresh manifest.xml ' +
          '(UTF-16, Altinn 2\'s BrokerServiceManifest) instead of any manifest.xml/recipients.xml it held.',
        params: fileParams,
        response: responses(
          { 200: { description: 'The file', content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } } },
          [400, 401, 403, 404, 409],
        ),
      },
      ...SCHEMAS_DOCUMENT_ONLY,
    },
    async (request, reply) => {
      const caller = await callerOf(request);
      let download;
      try {
        download = await downloadLegacyFile(ctx, caller, request.params.fileReference);
      } catch (error) {
        // The stored file, not the request, is at fault here.
        if (isBrokerError(error, 'NotAZipFile')) throw new HttpError(409, 'NotAZipFile', error.message);
        throw error;
      }
      const stream = download.open();
      // A client that goes away stops the read at once.
      reply.raw.once('close', () => stream.destroy());
      return reply
        .code(200)
        .header('content-type', 'application/octet-stream')
        .header('content-length', download.size)
        .header('content-disposition', contentDisposition(download.transfer.fileName))
        .send(stream);
    },
  );

  api.post<{ Params: FileParams }>(
    '/:who/brokerservice/inbox/:fileReference/confirmdownloaded',
    {
      config: END_USER,
      schema: {
        tags: TAGS,
        security: SECURITY,
        summary: 'Confirm a file downloaded',
        description: 'No earlier download is needed (as in Altinn 2). A second confirmation is refused (400).',
        params: fileParams,
        response: responses({ 200: { schema: recipientReceiptSchema, description: 'The recipient receipt, now Downloaded' } }, [400, 401, 403, 404]),
      },
      ...SCHEMAS_DOCUMENT_ONLY,
    },
    async (request, reply) => {
      // Clients send Content-Type: application/zip with no body; whatever comes is not read.
      if (request.body instanceof Readable) request.body.resume();
      const caller = await callerOf(request);
      const { fileReference } = request.params;
      await requireLegacyFileTransfer(ctx, caller, fileReference, 'Recipient');
      const result = await confirmDownload(ctx, caller, fileReference, { requireDownloadStarted: false });
      if (!result.confirmed) throw new HttpError(400, 'AlreadyConfirmed', `File ${fileReference} is already confirmed downloaded by ${caller.orgNumber}.`);
      return sendJson(request, reply, 200, receiptJson(recipientReceipt(result.transfer, caller.partyId)));
    },
  );
}

// ---------------------------------------------------------------------------------------------
// Reading the request

/** A member of a JSON object by name in any case. */
function member(object: Record<string, unknown>, name: string): unknown {
  const key = Object.keys(object).find((candidate) => candidate.toLowerCase() === name.toLowerCase());
  return key === undefined ? undefined : object[key];
}

const DESCRIPTION = 'brokerServiceDescription';

interface Description {
  serviceCode: string;
  serviceEditionCode: number;
  sendersReference: string | null;
  recipients: string[];
  properties: Record<string, string> | null;
}

/**
 * The description as its members' types allow (every problem at once); the domain then checks
 * its rules (recipients, reference, properties, the service).
 */
function readDescription(text: string | undefined): Description {
  if (text === undefined || text.trim() === '') throw invalidRequest(DESCRIPTION, 'is required (URL-encoded JSON: {"ServiceCode":…,"ServiceEditionCode":…,"SendersReference":…,"Recipients":[…]})');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw invalidRequest(DESCRIPTION, `is not valid JSON (${(error as Error).message})`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw invalidRequest(DESCRIPTION, 'must be a JSON object');
  const object = parsed as Record<string, unknown>;
  const problems: string[] = [];
  const problem = (name: string, text: string) => problems.push(`${DESCRIPTION}.${name}: ${text}`);

  const code = member(object, 'ServiceCode');
  let serviceCode = '';
  if (typeof code === 'string' && code.trim() !== '') serviceCode = code.trim();
  else if (typeof code === 'number' && Number.isSafeInteger(code)) serviceCode = String(code);
  else problem('ServiceCode', code === undefined || code === null || code === '' ? 'is required' : 'must be a string');

  const edition = member(object, 'ServiceEditionCode');
  const editionNumber = typeof edition === 'string' && /^\s*-?\d+\s*$/.test(edition) ? Number(edition) : edition;
  let serviceEditionCode = 0;
  if (typeof editionNumber === 'number' && Number.isInteger(editionNumber) && Math.abs(editionNumber) < 2 ** 31) serviceEditionCode = editionNumber;
  else problem('ServiceEditionCode', edition === undefined || edition === null ? 'is required' : 'must be an integer');

  const reference = member(object, 'SendersReference');
  if (reference !== undefined && reference !== null && typeof reference !== 'string') problem('SendersReference', 'must be a string');

  const recipients = member(object, 'Recipients');
  if (recipients === undefined || recipients === null) problem('Recipients', 'is required');
  else if (!Array.isArray(recipients) || !recipients.every((recipient) => typeof recipient === 'string')) problem('Recipients', 'must be an array of organisation numbers (strings)');

  const properties = member(object, 'Properties');
  if (properties !== undefined && properties !== null && (typeof properties !== 'object' || Array.isArray(properties))) problem('Properties', 'must be an object of strings');

  if (problems.length > 0) throw new HttpError(400, 'InvalidRequest', problems.join('; '));
  return {
    serviceCode,
    serviceEditionCode,
    sendersReference: (reference as string | null | undefined) ?? null,
    recipients: (recipients as string[]).map((recipient) => recipient.trim()),
    properties: (properties as Record<string, string> | null | undefined) ?? null,
  };
}

function readService(query: unknown): { serviceCode: string | null; serviceEditionCode: number | null } {
  const serviceCode = queryValue(query, 'serviceCode')?.trim() || null;
  const edition = queryValue(query, 'serviceEditionCode')?.trim();
  if (edition === undefined || edition === '') return { serviceCode, serviceEditionCode: null };
  if (!/^-?\d{1,10}$/.test(edition)) throw invalidRequest('serviceEditionCode', `'${edition.slice(0, 20)}' is not an integer`);
  return { serviceCode, serviceEditionCode: Number(edition) };
}

const FILE_STATUSES: LegacyFileStatus[] = ['Uploaded', 'Downloaded', 'Initialized'];

function readFileStatus(value: string | undefined): LegacyFileStatus {
  if (value === undefined || value.trim() === '') return 'Uploaded';
  const status = FILE_STATUSES.find((candidate) => candidate.toLowerCase() === value.trim().toLowerCase());
  if (!status) throw invalidRequest('fileStatus', `must be one of ${FILE_STATUSES.join(', ')}`);
  return status;
}

function readDateTime(query: unknown, name: string): Date | null {
  const value = queryValue(query, name);
  if (value === undefined || value.trim() === '') return null;
  const date = parseNorwegianDateTime(value);
  if (!date) throw invalidRequest(name, `'${value.slice(0, 40)}' is not a date-time (e.g. 2024-04-26T13:17:33, Norwegian local time, or with an offset)`);
  return date;
}

/** `recipients=a,b`: organisation numbers as broker parties. */
function readRecipients(value: string | undefined): string[] {
  const numbers = (value ?? '').split(',').map((recipient) => recipient.trim()).filter((recipient) => recipient !== '');
  if (numbers.length === 0) throw invalidRequest('recipients', 'is required: organisation numbers, comma-separated');
  return numbers.map((number) => {
    if (isNationalIdentityNumber(number)) throw invalidRequest('recipients', PERSON_CANNOT_BE_PARTY);
    const parsed = parsePartyId(`0192:${number}`);
    if ('error' in parsed) throw invalidRequest('recipients', /^\d{9}$/.test(number) ? parsed.error : `'${number.slice(0, 20)}' is not an organisation number (9 digits)`);
    return parsed.partyId;
  });
}
