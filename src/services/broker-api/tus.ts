/**
 * TUS 1.0 resumable upload of a file transfer's bytes (CONTRACT §5, facts §12), at
 * /broker/api/v1/filetransfer/upload/tus/{fileTransferId}: the "collection" URL already names the
 * transfer, and is also the URL of its (single or final) upload, as in Altinn; partial uploads of a
 * parallel client live at …/tus/{fileTransferId}/partial/{partialId} (the old …/tus/{id}/{partialId}
 * is accepted too). Extensions: creation, creation-with-upload, termination, checksum (md5, each
 * chunk really verified), concatenation and expiration; no creation-defer-length.
 *
 * Our own implementation rather than @tus/server: its stores keep the offset themselves (in the
 * store's metadata) and its locks in memory, while here the database holds the offset and the
 * lease (several gateway processes, one database), the bytes go through our blob store's
 * part-based resumable uploads (S3 and Azure shaped), the collection URL is per transfer, and every
 * step is a broker rule (attempts, statuses, isolation). This file only translates headers; the
 * rules are in src/broker/resumable-upload.ts.
 *
 * Answers are tusdotnet's: `Tus-Resumable: 1.0.0` on every response, errors as text/plain (BRO
 * refusals with their message as text, as Altinn's TUS endpoint sends them). The security headers,
 * the token (scope altinn:broker.write on everything but OPTIONS) and the 401/403 come from index.ts.
 */
import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BROKER_SCOPES } from '../../auth/organisation-tokens';
import { BrokerError } from '../../broker/errors';
import { normaliseFileTransferId } from '../../broker/file-transfer-store';
import {
  createFinalUpload,
  createResumableUpload,
  getResumableUpload,
  ResumableUploadError,
  terminateResumableUpload,
  writeResumableUpload,
  type ResumableUpload,
  type ResumableUploadErrorReason,
  type UploadRef,
} from '../../broker/resumable-upload';
import { callerOf } from './auth';
import type { BrokerApiDeps } from './index';
import { BROKER_SECURITY, FILE_TRANSFERS_TAG } from './openapi';
import { ALTINN3_ERRORS } from './problem-details';

export const TUS_VERSION = '1.0.0';
export const TUS_EXTENSIONS = 'creation,creation-with-upload,termination,checksum,concatenation,expiration';
const OFFSET_OCTET_STREAM = 'application/offset+octet-stream';
const TUS_PATH = '/filetransfer/upload/tus';
const TEXT = 'text/plain; charset=utf-8';

/** The status of each refusal of the protocol (tusdotnet's). */
const REASON_STATUS: Record<ResumableUploadErrorReason, number> = {
  UploadNotFound: 404,
  OffsetMismatch: 409,
  UploadLocked: 409,
  ChunkExceedsLength: 400,
  ChunkChecksumMismatch: 460,
  FinalUploadNotWritable: 403,
  PartialUploadsNotFound: 400,
  PartialUploadsIncomplete: 400,
};

/** A refusal decided here, from the request's headers. */
class TusRequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const badRequest = (message: string) => new TusRequestError(400, message);

interface TusParams {
  fileTransferId: string;
  partialId?: string;
}

export function registerTusRoutes(api: FastifyInstance, deps: BrokerApiDeps): void {
  const ctx = deps.app.broker;
  api.register(async (tus) => {
    const base = `${tus.prefix}${TUS_PATH}`;
    // Every body stays a stream, whatever its type: PATCH checks its own, and a creation POST
    // writes one only when it is application/offset+octet-stream.
    tus.removeAllContentTypeParsers();
    tus.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
    tus.addHook('onSend', async (_request, reply, payload) => {
      reply.header('tus-resumable', TUS_VERSION);
      return payload;
    });
    tus.setErrorHandler((error, request, reply) => sendTusError(request, reply, error));

    const write = { brokerScopes: [BROKER_SCOPES.write] };
    // Chunks (and creation-with-upload) stream: bounded by their progress, not their duration.
    const writeChunks = { ...write, streamedBody: true };
    const legacyPartialUrl = `${TUS_PATH}/:fileTransferId/:partialId`;
    const uploadUrls = [`${TUS_PATH}/:fileTransferId`, `${TUS_PATH}/:fileTransferId/partial/:partialId`, legacyPartialUrl];
    // The old partial URL works but is not advertised.
    const schemaFor = (url: string) => (summary: string, description: string, secured = true) => ({
      tags: [FILE_TRANSFERS_TAG],
      summary,
      description,
      ...(secured && { security: BROKER_SECURITY }),
      ...(url === legacyPartialUrl && { hide: true }),
    });

    const options = async (_request: FastifyRequest, reply: FastifyReply) =>
      reply
        .code(204)
        .headers({ 'tus-version': TUS_VERSION, 'tus-extension': TUS_EXTENSIONS, 'tus-checksum-algorithm': 'md5' })
        .send();
    for (const url of [TUS_PATH, ...uploadUrls]) {
      const schema = schemaFor(url);
      tus.route({ method: 'OPTIONS', url, schema: schema('TUS: server capabilities', 'Tus-Version, Tus-Extension and Tus-Checksum-Algorithm; no token needed.', false), handler: options });
    }

    const head = async (request: FastifyRequest<{ Params: TusParams }>, reply: FastifyReply) => {
      requireTusResumable(request);
      const upload = await getResumableUpload(ctx, callerOf(request), refOf(request.params));
      reply.code(200).headers({ 'upload-offset': String(upload.uploadOffset), 'upload-length': String(upload.uploadLength), 'cache-control': 'no-store' });
      const concat = concatHeader(base, upload);
      if (concat) reply.header('upload-concat', concat);
      if (upload.expiresAt) reply.header('upload-expires', upload.expiresAt.toUTCString());
      return reply.send();
    };

    const patch = async (request: FastifyRequest<{ Params: TusParams }>, reply: FastifyReply) => {
      requireTusResumable(request);
      if (mediaType(request.headers['content-type']) !== OFFSET_OCTET_STREAM) {
        throw new TusRequestError(415, `Content-Type ${OFFSET_OCTET_STREAM} is required`);
      }
      const offset = parseCount(request.headers['upload-offset'], 'Upload-Offset');
      if (offset === undefined) throw badRequest('Missing Upload-Offset header');
      const expectedMd5 = parseChecksum(request.headers['upload-checksum']);
      const { upload } = await writeResumableUpload(ctx, callerOf(request), refOf(request.params), {
        offset,
        source: bodyOf(request),
        contentLength: contentLengthOf(request),
        ...(expectedMd5 !== undefined && { expectedMd5 }),
      });
      reply.code(204).header('upload-offset', String(upload.uploadOffset));
      if (upload.expiresAt) reply.header('upload-expires', upload.expiresAt.toUTCString());
      return reply.send();
    };

    const terminate = async (request: FastifyRequest<{ Params: TusParams }>, reply: FastifyReply) => {
      requireTusResumable(request);
      await terminateResumableUpload(ctx, callerOf(request), refOf(request.params));
      return reply.code(204).send();
    };

    const create = async (request: FastifyRequest<{ Params: TusParams }>, reply: FastifyReply) => {
      requireTusResumable(request);
      if (request.headers['upload-defer-length'] !== undefined) throw badRequest('Upload-Defer-Length is not supported');
      checkMetadata(request.headers['upload-metadata']);
      const caller = callerOf(request);
      const fileTransferId = request.params.fileTransferId;
      const concat = parseConcat(request.headers['upload-concat']);
      const declaredLength = parseCount(request.headers['upload-length'], 'Upload-Length');

      if (concat?.kind === 'final') {
        if (declaredLength !== undefined) throw badRequest('Header Upload-Length must not be used with Upload-Concat: final');
        const partialIds = concat.urls.map((url) => partialIdOf(base, url, fileTransferId));
        const upload = await createFinalUpload(ctx, caller, fileTransferId, partialIds);
        return reply.code(201).header('location', locationOf(base, upload)).send();
      }
      if (declaredLength === undefined) throw badRequest('Header Upload-Length must be specified');
      const withChunk = mediaType(request.headers['content-type']) === OFFSET_OCTET_STREAM && hasBody(request);
      const expectedMd5 = withChunk ? parseChecksum(request.headers['upload-checksum']) : undefined;
      const upload = await createResumableUpload(ctx, caller, fileTransferId, { kind: concat ? 'partial' : 'single', uploadLength: declaredLength });
      reply.code(201).header('location', locationOf(base, upload));
      let current = upload;
      if (withChunk) {
        current = await writeDuringCreation(request, upload, expectedMd5);
        reply.header('upload-offset', String(current.uploadOffset));
        if (!request.raw.complete) reply.header('connection', 'close'); // a refused chunk is not read
      }
      if (current.expiresAt) reply.header('upload-expires', current.expiresAt.toUTCString());
      return reply.send();
    };

    /**
     * creation-with-upload: the body is the first chunk. The upload exists whatever becomes of it,
     * so the answer is 201 with the offset reached (0 if the chunk was refused).
     */
    const writeDuringCreation = async (request: FastifyRequest<{ Params: TusParams }>, upload: ResumableUpload, expectedMd5: string | undefined): Promise<ResumableUpload> => {
      try {
        const ref: UploadRef = { fileTransferId: upload.fileTransferId, ...(upload.kind === 'partial' && { partialId: upload.uploadId }) };
        const written = await writeResumableUpload(ctx, callerOf(request), ref, {
          offset: 0,
          source: bodyOf(request),
          contentLength: contentLengthOf(request),
          ...(expectedMd5 !== undefined && { expectedMd5 }),
        });
        return written.upload;
      } catch (error) {
        request.log.info({ err: error, uploadId: upload.uploadId }, 'the body of a TUS creation request was not stored');
        return upload;
      }
    };

    // X-HTTP-Method-Override (TUS core): for clients that can only send GET and POST.
    const post = async (request: FastifyRequest<{ Params: TusParams }>, reply: FastifyReply) => {
      const override = String(request.headers['x-http-method-override'] ?? '').toUpperCase();
      if (override === 'PATCH') return patch(request, reply);
      if (override === 'DELETE') return terminate(request, reply);
      if (request.params.partialId !== undefined) throw new TusRequestError(405, 'Method not allowed: POST creates an upload at the file transfer URL', { allow: 'HEAD, PATCH, DELETE, OPTIONS' });
      return create(request, reply);
    };

    for (const url of uploadUrls) {
      const schema = schemaFor(url);
      tus.route({
        method: 'POST',
        url,
        config: writeChunks,
        schema: schema(
          'TUS: create an upload',
          'Upload-Length (required; Upload-Defer-Length is refused), Upload-Metadata (ignored), Upload-Concat: partial or final;<urls>. ' +
            'A body of type application/offset+octet-stream is the first chunk (creation-with-upload). 201 with a relative Location.',
        ),
        handler: post,
      });
      tus.route({ method: 'HEAD', url, config: write, schema: schema('TUS: the upload offset', 'Upload-Offset and Upload-Length (and Upload-Concat).'), handler: head });
      tus.route({
        method: 'PATCH',
        url,
        config: writeChunks,
        schema: schema('TUS: write a chunk', 'Content-Type application/offset+octet-stream, Upload-Offset equal to the stored offset (else 409), optional Upload-Checksum: md5 <base64> (mismatch: 460).'),
        handler: patch,
      });
      tus.route({ method: 'DELETE', url, config: write, schema: schema('TUS: terminate the upload', 'Its bytes are deleted; only while the transfer is Initialized or UploadStarted.'), handler: terminate });
    }
  });
}

function sendTusError(request: FastifyRequest, reply: FastifyReply, error: unknown): FastifyReply {
  let status: number;
  let message: string;
  if (error instanceof TusRequestError) {
    status = error.status;
    message = error.message;
    reply.headers(error.headers);
  } else if (error instanceof ResumableUploadError) {
    status = REASON_STATUS[error.reason];
    message = error.message;
    if (status === 460) reply.raw.statusMessage = 'Checksum Mismatch';
  } else if (error instanceof BrokerError) {
    status = ALTINN3_ERRORS[error.name].status;
    message = error.message;
  } else if (request.raw.destroyed && !request.raw.complete) {
    // The client went away mid-chunk: nothing was recorded and no one is listening.
    request.log.info({ err: error }, 'TUS client disconnected during a chunk');
    status = 400;
    message = 'The request body ended early';
  } else {
    const statusCode = (error as { statusCode?: number }).statusCode;
    if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) {
      status = statusCode;
      message = (error as Error).message;
    } else {
      request.log.error({ err: error }, 'TUS request failed');
      status = 500;
      message = `Internal error (trace ${request.id})`;
    }
  }
  // A body not read (refused before its bytes): close rather than read it all.
  if (!request.raw.complete) reply.header('connection', 'close');
  return reply.code(status).type(TEXT).send(request.method === 'HEAD' ? undefined : message);
}

function requireTusResumable(request: FastifyRequest): void {
  if (request.headers['tus-resumable'] !== TUS_VERSION) {
    throw new TusRequestError(412, `The Tus-Resumable header must be ${TUS_VERSION}`, { 'tus-version': TUS_VERSION });
  }
}

function refOf(params: TusParams): UploadRef {
  if (params.partialId === undefined) return { fileTransferId: params.fileTransferId };
  return { fileTransferId: params.fileTransferId, partialId: uuidOf(params.partialId) };
}

/** Partial ids are UUIDs written as 32 hex digits in the URL. */
function uuidOf(partialId: string): string {
  if (!/^[0-9a-fA-F]{32}$/.test(partialId)) throw new ResumableUploadError('UploadNotFound', 'Upload not found');
  const hex = partialId.toLowerCase();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function locationOf(base: string, upload: ResumableUpload): string {
  const transferUrl = `${base}/${upload.fileTransferId}`;
  return upload.kind === 'partial' ? `${transferUrl}/partial/${upload.uploadId.replace(/-/g, '')}` : transferUrl;
}

function concatHeader(base: string, upload: ResumableUpload): string | undefined {
  if (upload.kind === 'partial') return 'partial';
  if (upload.kind === 'final') {
    return `final;${upload.partialIds.map((id) => locationOf(base, { ...upload, kind: 'partial', uploadId: id })).join(' ')}`;
  }
  return undefined;
}

/** `partial`, or `final;<url> <url> …` with absolute or relative URLs. */
function parseConcat(header: string | string[] | undefined): { kind: 'partial' } | { kind: 'final'; urls: string[] } | undefined {
  if (header === undefined) return undefined;
  const value = String(header).trim();
  if (value === 'partial') return { kind: 'partial' };
  if (value.startsWith('final;')) {
    const urls = value.slice('final;'.length).trim().split(/\s+/).filter(Boolean);
    if (urls.length > 0) return { kind: 'final', urls };
  }
  throw badRequest('Header Upload-Concat: header is invalid. Valid values are "partial" and "final" followed by a list of file urls to concatenate');
}

/** The partial upload an Upload-Concat URL names; it must be one of this transfer's. */
function partialIdOf(base: string, url: string, fileTransferId: string): string {
  let path: string;
  try {
    path = new URL(url, 'http://relative.invalid').pathname;
  } catch {
    throw badRequest(`Upload-Concat: '${url}' is not a URL`);
  }
  const prefix = `${base}/`;
  const segments = path.startsWith(prefix) ? path.slice(prefix.length).split('/') : [];
  const partialId = segments.length === 3 && segments[1] === 'partial' ? segments[2] : segments.length === 2 ? segments[1] : undefined;
  const sameTransfer = segments[0] !== undefined && normaliseFileTransferId(segments[0]) !== undefined && normaliseFileTransferId(segments[0]) === normaliseFileTransferId(fileTransferId);
  if (!sameTransfer || partialId === undefined || !/^[0-9a-fA-F]{32}$/.test(partialId)) {
    throw new ResumableUploadError('PartialUploadsNotFound', 'Could not find some of the files supplied for concatenation');
  }
  return uuidOf(partialId);
}

/** A non-negative integer header (Upload-Length, Upload-Offset), or undefined when absent. */
function parseCount(header: string | string[] | undefined, name: string): number | undefined {
  if (header === undefined) return undefined;
  const value = String(header).trim();
  const number = /^\d{1,16}$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(number)) throw badRequest(`Header ${name} must be a positive number`);
  return number;
}

/** `Upload-Checksum: md5 <base64>` → the lower-case hex MD5 the chunk must have. */
function parseChecksum(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  const match = /^(\S+) +(\S+)$/.exec(String(header).trim());
  if (!match) throw badRequest('Header Upload-Checksum must be "<algorithm> <base64 checksum>"');
  if (match[1]!.toLowerCase() !== 'md5') throw badRequest('Unsupported checksum algorithm. Supported algorithms are: md5');
  const digest = /^[A-Za-z0-9+/]+={0,2}$/.test(match[2]!) ? Buffer.from(match[2]!, 'base64') : Buffer.alloc(0);
  if (digest.length !== 16) throw badRequest('Header Upload-Checksum: the md5 checksum must be 16 bytes in base64');
  return digest.toString('hex');
}

/** Upload-Metadata: comma-separated `key[ base64value]` pairs; checked, then ignored (as Altinn does). */
function checkMetadata(header: string | string[] | undefined): void {
  if (header === undefined) return;
  const keys = new Set<string>();
  for (const pair of String(header).split(',')) {
    const match = /^([^\s,]+)(?: ([A-Za-z0-9+/]*={0,2}))?$/.exec(pair.trim());
    if (!match || (match[2] !== undefined && match[2].length % 4 !== 0)) {
      throw badRequest('Header Upload-Metadata: each pair must be a key, optionally followed by a space and a base64 value');
    }
    if (keys.has(match[1]!)) throw badRequest(`Header Upload-Metadata: the key '${match[1]}' is given twice`);
    keys.add(match[1]!);
  }
}

function mediaType(header: string | undefined): string | undefined {
  return header?.split(';')[0]!.trim().toLowerCase();
}

function contentLengthOf(request: FastifyRequest): number | undefined {
  const header = request.headers['content-length'];
  return header !== undefined && /^\d{1,16}$/.test(header) ? Number(header) : undefined;
}

function hasBody(request: FastifyRequest): boolean {
  const length = contentLengthOf(request);
  return (length !== undefined && length > 0) || request.headers['transfer-encoding'] !== undefined;
}

function bodyOf(request: FastifyRequest): Readable {
  return (request.body as Readable | undefined) ?? request.raw;
}
