/**
 * A broker test server: the production server (buildServer) over real HTTP on a fresh database,
 * with a ManualClock (advance it, then `app.jobs.runDue()` runs what became due), one configured
 * resource, and tokens for the organisations of a typical exchange.
 *
 *   let broker: BrokerTestServer;
 *   beforeAll(async () => { broker = await startBrokerTestServer(); });
 *   afterAll(() => broker.close());
 *
 *   const id = await broker.initialize();                        // the sender initializes
 *   await broker.upload(id, Buffer.from('hello'));                // … and uploads (Published)
 *   const overview = await broker.call('GET', `/filetransfer/${id}`, { token: broker.tokens.recipient });
 *
 * Paths given to `call` are under /broker/api/v1 unless they start with `http`.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { Readable } from 'node:stream';
import { BROKER_SCOPES, issueLocalOrganisationToken } from '../../src/auth/organisation-tokens';
import { configureResource, type ResourceSettings } from '../../src/broker/configure-resource';
import { ManualClock } from '../../src/clock';
import type { Config } from '../../src/config';
import { buildServer } from '../../src/server';
import { BROKER_API_PREFIX } from '../../src/services/broker-api';
import { createTestApp, type TestApp } from './database';

/** Organisation numbers with valid check digits, by the part they play. */
export const ORGS = {
  serviceOwner: '991825827',
  sender: '974760673',
  recipient: '889640782',
  recipient2: '983887457',
  stranger: '314240979',
} as const;
export type OrgRole = keyof typeof ORGS;

export const party = (orgNumber: string) => `0192:${orgNumber}`;

/** What `events()` lists for a transfer from ORGS.sender to ORGS.recipient alone, published, then downloaded and confirmed. */
export const CONFIRMED_TRANSFER_EVENTS = [
  `filetransferinitialized ${ORGS.sender} Sender`,
  `published ${ORGS.sender} Sender`,
  `published ${ORGS.recipient} Recipient`,
  `downloadconfirmed ${ORGS.recipient} Recipient`,
  `downloadconfirmed ${ORGS.sender} Sender`,
  `allconfirmeddownloaded ${ORGS.sender} Sender`,
];

export interface BrokerTokens {
  /** altinn:broker.write */
  sender: string;
  /** altinn:broker.read */
  recipient: string;
  recipient2: string;
  /** Both broker scopes: passes every route's scope check, party to nothing. */
  stranger: string;
  /** altinn:serviceowner */
  serviceOwner: string;
  /** The sender's organisation with altinn:broker.read only. */
  senderReadOnly: string;
  /** The recipient's organisation with altinn:broker.write only. */
  recipientWriteOnly: string;
}

export interface BrokerResponse {
  status: number;
  headers: Headers;
  bytes: Buffer;
  text: string;
  /** The body parsed, when it is JSON (application/json or problem+json). */
  json: any;
}

export interface CallOptions {
  token?: string;
  /** Sent as application/json (a string is sent as is). */
  json?: unknown;
  body?: NonNullable<RequestInit['body']> | Buffer;
  headers?: Record<string, string>;
}

export interface BrokerTestServerOptions {
  config?: Partial<Config>;
  /** Settings of the resource configured at start (its id is `resourceId`). */
  resource?: ResourceSettings;
  /** Where the ManualClock starts. */
  start?: Date;
}

export interface BrokerTestServer {
  /** http://127.0.0.1:<port> */
  url: string;
  app: TestApp;
  clock: ManualClock;
  /** The resource configured at start, owned by ORGS.serviceOwner. */
  resourceId: string;
  tokens: BrokerTokens;
  /** A token for any organisation and scopes (lifetime in seconds, negative for an expired one). */
  token(orgNumber: string, scopes: string[], ttlSeconds?: number): Promise<string>;
  call(method: string, pathOrUrl: string, options?: CallOptions): Promise<BrokerResponse>;
  /** Configures another resource as the service owner (domain call), returning its id. */
  configureResource(settings?: ResourceSettings, resourceId?: string): Promise<string>;
  /** The sender initializes a transfer to `recipients` (default: the recipient); returns its id. Throws unless 200. */
  initialize(overrides?: Record<string, unknown>): Promise<string>;
  /** The sender uploads (octet-stream); returns the response whatever its status. */
  upload(fileTransferId: string, bytes: Buffer, token?: string): Promise<BrokerResponse>;
  /** initialize + upload, expecting 200 (Published without a scanner). */
  publish(bytes?: Buffer, overrides?: Record<string, unknown>): Promise<string>;
  /** Events recorded for a transfer, in order: `type subject role`. */
  events(fileTransferId: string): Promise<string[]>;
  close(): Promise<void>;
}

export async function startBrokerTestServer(options: BrokerTestServerOptions = {}): Promise<BrokerTestServer> {
  const clock = new ManualClock(options.start ?? new Date('2026-03-02T08:00:00.000Z'));
  const app = await createTestApp(options.config ?? {}, { clock });
  const server = buildServer(app, { logger: false });
  let url: string;
  try {
    url = await server.listen({ port: 0, host: '127.0.0.1' });
  } catch (error) {
    await app.close();
    throw error;
  }

  const token = (orgNumber: string, scopes: string[], ttlSeconds = 3600) =>
    issueLocalOrganisationToken(app.config.messages.jwt, app.config.dataDir, { orgNumber, scopes, ttlSeconds });
  const tokens: BrokerTokens = {
    sender: await token(ORGS.sender, [BROKER_SCOPES.write]),
    recipient: await token(ORGS.recipient, [BROKER_SCOPES.read]),
    recipient2: await token(ORGS.recipient2, [BROKER_SCOPES.read]),
    stranger: await token(ORGS.stranger, [BROKER_SCOPES.write, BROKER_SCOPES.read]),
    serviceOwner: await token(ORGS.serviceOwner, [BROKER_SCOPES.serviceOwner]),
    senderReadOnly: await token(ORGS.sender, [BROKER_SCOPES.read]),
    recipientWriteOnly: await token(ORGS.recipient, [BROKER_SCOPES.write]),
  };
  const owner = { orgNumber: ORGS.serviceOwner, partyId: party(ORGS.serviceOwner) };
  const configure = async (settings: ResourceSettings = {}, resourceId = `test-resource-${randomUUID().slice(0, 8)}`) => {
    await configureResource(app.broker, owner, resourceId, settings);
    return resourceId;
  };
  const resourceId = await configure(options.resource ?? {});

  const call = async (method: string, pathOrUrl: string, callOptions: CallOptions = {}): Promise<BrokerResponse> => {
    const target = pathOrUrl.startsWith('http') ? pathOrUrl : `${url}${BROKER_API_PREFIX}${pathOrUrl}`;
    const headers: Record<string, string> = { ...(callOptions.headers ?? {}) };
    if (callOptions.token) headers.authorization = `Bearer ${callOptions.token}`;
    let body = callOptions.body as NonNullable<RequestInit['body']> | undefined;
    if (callOptions.json !== undefined) {
      headers['content-type'] ??= 'application/json';
      body = typeof callOptions.json === 'string' ? callOptions.json : JSON.stringify(callOptions.json);
    }
    const response = await fetch(target, { method, headers, body, ...(body instanceof ReadableStream && { duplex: 'half' }) } as RequestInit);
    const bytes = Buffer.from(await response.arrayBuffer());
    const text = bytes.toString('utf8');
    const isJson = /json/.test(response.headers.get('content-type') ?? '') && text !== '';
    return { status: response.status, headers: response.headers, bytes, text, json: isJson ? JSON.parse(text) : undefined };
  };

  const initialize = async (overrides: Record<string, unknown> = {}) => {
    const response = await call('POST', '/filetransfer', {
      token: tokens.sender,
      json: {
        resourceId,
        fileName: 'report.zip',
        sendersFileTransferReference: 'ref-1',
        sender: party(ORGS.sender),
        recipients: [party(ORGS.recipient)],
        propertyList: {},
        ...overrides,
      },
    });
    if (response.status !== 200) throw new Error(`initialize answered ${response.status}: ${response.text}`);
    return response.json.fileTransferId as string;
  };
  const upload = (fileTransferId: string, bytes: Buffer, uploadToken = tokens.sender) =>
    call('POST', `/filetransfer/${fileTransferId}/upload`, { token: uploadToken, body: bytes, headers: { 'content-type': 'application/octet-stream' } });

  return {
    url,
    app,
    clock,
    resourceId,
    tokens,
    token,
    call,
    configureResource: configure,
    initialize,
    upload,
    publish: async (bytes = Buffer.from('the file'), overrides = {}) => {
      const id = await initialize(overrides);
      const response = await upload(id, bytes);
      if (response.status !== 200) throw new Error(`upload answered ${response.status}: ${response.text}`);
      return id;
    },
    events: async (fileTransferId: string) => {
      const rows = await app.db('broker_events').where({ file_transfer_id: fileTransferId }).orderBy('seq').select('type', 'subject', 'role');
      return rows.map((row: { type: string; subject: string; role: string }) => `${row.type} ${row.subject} ${row.role}`);
    },
    close: async () => {
      await server.close();
      await app.close();
    },
  };
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/**
 * A request over a raw socket, for what fetch cannot do: a declared Content-Length with only part
 * of the body sent (`send` writes, the body is then left open until the answer comes), a streamed body.
 */
export function rawRequest(
  url: string,
  options: { method: string; path: string; headers?: Record<string, string | number>; send?: (request: http.ClientRequest) => void; body?: Readable },
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const request = http.request({ host: target.hostname, port: target.port, method: options.method, path: options.path, headers: options.headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        resolve({ status: response.statusCode!, headers: response.headers, body: Buffer.concat(chunks) });
        request.destroy();
      });
      response.on('error', reject);
    });
    // The server may close the connection while the body is still being written (it refused it):
    // not an error as long as its answer arrives; a connection that closes without one is.
    let answered = false;
    request.on('response', () => {
      answered = true;
    });
    request.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE' && error.code !== 'ECONNRESET') reject(error);
    });
    request.on('close', () => {
      if (!answered) reject(new Error('the connection closed without an answer'));
    });
    if (options.body) options.body.pipe(request);
    else if (options.send) options.send(request);
    else request.end();
  });
}

/** A multipart/form-data body: fields in the order given, then the file part (if any). */
export function multipartBody(fields: [string, string][], file?: { name?: string; fileName?: string; bytes: Buffer; contentType?: string }, fieldsAfterFile: [string, string][] = []) {
  const boundary = `----agw${randomUUID().replace(/-/g, '')}`;
  const parts: Buffer[] = [];
  const field = ([name, value]: [string, string]) =>
    parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`, 'utf8'));
  fields.forEach(field);
  if (file) {
    const disposition = `form-data; name="${file.name ?? 'FileTransfer'}"${file.fileName === undefined ? '' : `; filename="${file.fileName}"`}`;
    parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: ${disposition}\r\nContent-Type: ${file.contentType ?? 'application/octet-stream'}\r\n\r\n`, 'utf8'));
    parts.push(file.bytes, Buffer.from('\r\n'));
  }
  fieldsAfterFile.forEach(field);
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(parts), contentType: `multipart/form-data; boundary=${boundary}` };
}

export const SECURITY_HEADERS = { 'x-content-type-options': 'nosniff', 'cache-control': 'no-store' } as const;

/** `2026-08-18T11:40:51.123+00:00`, fraction optional. */
export const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,7})?\+00:00$/;
