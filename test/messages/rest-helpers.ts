/**
 * What the REST messages tests share: a gateway over real HTTP with a service owner (system user,
 * DownloadQueue on) whose service has a REST definition, an API key, end-user tokens from the
 * gateway's local issuer, a small fetch wrapper, and a snapshot of everything stored (rows and blob
 * files) to show that a refused request changed nothing.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { addApiKey } from '../../src/auth/api-keys';
import { issueLocalToken } from '../../src/auth/end-user-tokens';
import { addRole } from '../../src/auth/roles';
import type { Config } from '../../src/config';
import { setServiceDefinition, type ServiceDefinition } from '../../src/messages/service-definitions';
import { listBlobFiles } from '../helpers/archive-fixtures';
import { createSoapOwner, type SoapOwner } from '../helpers/fixtures';
import { startTestServer, type TestServer } from '../helpers/server';

export const PERSON = '01017012345';
export const OTHER_PERSON = '02029012345';
export const MiB = 1024 * 1024;

export const MAIN_FORM = '<Skjema xmlns="urn:no:test:skjema" versjon="1"><Navn>Ærlig &amp; Øst &lt;AS&gt;</Navn><Beløp valuta="NOK">1200</Beløp></Skjema>';
export const SUB_FORM = '<Vedlegg><Tekst>underskjema "sitat"</Tekst></Vedlegg>';

export const DEFINITION: ServiceDefinition = {
  mainForm: { dataFormatId: '5703', dataFormatVersions: [34114] },
  subForms: [{ dataFormatId: '5704', dataFormatVersions: [34115] }],
  attachmentRules: [
    { attachmentTypeName: 'Vedlegg', allowedMimeTypes: ['application/pdf', 'text/plain'], maxFileSizeBytes: MiB, maxAttachmentCount: 3 },
    { attachmentTypeName: 'Stordata', allowedMimeTypes: ['application/octet-stream'], maxFileSizeBytes: 150 * MiB, maxAttachmentCount: 2 },
  ],
};

export interface RestFixture {
  server: TestServer;
  owner: SoapOwner;
  apiKey: string;
  /** A token from the gateway's local issuer (default: PERSON at level 4). */
  token: (level?: number, person?: string) => Promise<string>;
  call(method: string, urlPath: string, options?: CallOptions): Promise<ApiResponse>;
  /** Rows of every table the API touches, and the blob files on disk. */
  snapshot(): Promise<StoredState>;
  close(): Promise<void>;
}

type RequestBody = NonNullable<RequestInit['body']>;

export interface CallOptions {
  body?: unknown;
  /** Raw body (e.g. a stream for streamed attachments); sent as application/octet-stream unless told. */
  rawBody?: RequestBody | AsyncIterable<Uint8Array>;
  headers?: Record<string, string>;
  /** Defaults: the fixture's key and PERSON's level-4 token; null leaves the header out. */
  apiKey?: string | null;
  token?: string | null;
}

export interface ApiResponse {
  status: number;
  headers: Headers;
  text: string;
  json: any;
}

export interface StoredState {
  rows: Record<string, unknown[]>;
  blobs: string[];
}

export async function createRestFixture(overrides: Partial<Config> = {}, definition: ServiceDefinition | null = DEFINITION): Promise<RestFixture> {
  const server = await startTestServer(overrides);
  const owner = await createSoapOwner(server.app);
  if (definition) await setServiceDefinition(server.app.db, owner.serviceId, definition);
  const { key: apiKey } = await addApiKey(server.app.db, { name: `tests-${owner.orgNumber}` });
  const tokens = new Map<string, string>();
  const token = async (level = 4, person = PERSON) => {
    const id = `${person}/${level}`;
    if (!tokens.has(id)) {
      tokens.set(id, await issueLocalToken(server.app.config.messages.jwt, server.app.dataDir, { person, authLevel: level, ttlSeconds: 3600 }));
    }
    return tokens.get(id)!;
  };
  const defaultToken = await token(4);

  async function call(method: string, urlPath: string, options: CallOptions = {}): Promise<ApiResponse> {
    const headers: Record<string, string> = { accept: 'application/hal+json', ...options.headers };
    const apiKeyHeader = options.apiKey === undefined ? apiKey : options.apiKey;
    if (apiKeyHeader !== null) headers.apikey = apiKeyHeader;
    const bearer = options.token === undefined ? defaultToken : options.token;
    if (bearer !== null) headers.authorization = `Bearer ${bearer}`;
    let body: RequestBody | undefined;
    let duplex: 'half' | undefined;
    if (options.rawBody !== undefined) {
      headers['content-type'] ??= 'application/octet-stream';
      body = options.rawBody as RequestBody;
      if (typeof (options.rawBody as AsyncIterable<Uint8Array>)[Symbol.asyncIterator] === 'function') duplex = 'half';
    } else if (options.body !== undefined) {
      headers['content-type'] ??= 'application/hal+json';
      body = JSON.stringify(options.body);
    }
    const url = urlPath.startsWith('http') ? urlPath : `${server.url}${urlPath}`;
    const response = await fetch(url, { method, headers, body, ...(duplex && { duplex }) } as RequestInit);
    const text = await response.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: response.status, headers: response.headers, text, json };
  }

  async function snapshot(): Promise<StoredState> {
    const rows: Record<string, unknown[]> = {};
    for (const table of ['messages', 'message_forms', 'message_attachments', 'form_tasks', 'forms', 'approvers', 'attachments', 'download_queue_items']) {
      rows[table] = await server.app.db(table).orderBy(table === 'download_queue_items' ? 'form_task_id' : 'id').select();
    }
    return { rows, blobs: await listBlobFiles(server.app.dataDir) };
  }

  return { server, owner, apiKey, token, call, snapshot, close: () => server.close() };
}

export function messageBody(owner: { serviceCode: string; serviceEditionCode: number }, extra: { forms?: unknown[]; attachments?: unknown[] } = {}) {
  return {
    Type: 'FormTask',
    ServiceCode: owner.serviceCode,
    ServiceEdition: owner.serviceEditionCode,
    _embedded: {
      forms: extra.forms ?? [{ Type: 'MainForm', DataFormatId: '5703', DataFormatVersion: '34114', FormData: MAIN_FORM }],
      ...(extra.attachments && { attachments: extra.attachments }),
    },
  };
}

/** Runs `refused` against `fixture`, expects its status and error body, and that nothing stored changed. */
export async function expectRefusal<R extends { status: number; json: any }>(
  fixture: RestFixture,
  refused: () => Promise<R>,
  status: number,
  errorCode: string,
  message: string | RegExp,
): Promise<R> {
  const before = await fixture.snapshot();
  const response = await refused();
  expect({ status: response.status, ErrorCode: response.json?.ErrorCode }).toEqual({ status, ErrorCode: errorCode });
  if (typeof message === 'string') expect(response.json.ErrorMessage).toBe(message);
  else expect(response.json.ErrorMessage).toMatch(message);
  expect(await fixture.snapshot()).toEqual(before);
  return response;
}

/** Every blob file is pointed at by a row (draft or archive), and every row's blob exists. */
export async function expectNoOrphanBlobs(fixture: RestFixture): Promise<void> {
  const db = fixture.server.app.db;
  const referenced = new Set<string>([
    ...(await db('attachments').pluck('blob_key')),
    ...(await db('message_attachments').pluck('blob_key')),
  ]);
  const onDisk = (await listBlobFiles(fixture.server.app.dataDir)).map((file) => file.split(path.sep).join('/'));
  expect(onDisk.sort()).toEqual([...referenced].sort());
  expect(await tmpFiles(fixture)).toEqual([]);
}

/** Files being written (blob store `tmp/`). */
export async function tmpFiles(fixture: RestFixture): Promise<string[]> {
  return readdir(path.join(fixture.server.app.dataDir, 'blobs', 'tmp')).catch(() => []);
}

export async function giveRole(fixture: RestFixture, person: string, orgNumber: string): Promise<void> {
  await addRole(fixture.server.app.db, { person, orgNumber });
}

/** Waits until `check` holds (for effects of a request the client abandoned). */
export async function eventually(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
