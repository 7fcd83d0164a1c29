/**
 * What the Altinn 2 REST brokerservice tests share: the broker test server (test/helpers/broker.ts:
 * real HTTP, fresh database, ManualClock, organisation tokens for the Altinn 3 side) with a
 * resource that has an Altinn 2 service code, an API client, end users with roles for the sender
 * and the recipient organisations, an Altinn 2 client (`a2`), and a snapshot of everything the
 * broker stores (rows and blob files) to show that a refused request stored nothing.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { addApiKey } from '../../../src/auth/api-keys';
import { issueLocalToken } from '../../../src/auth/end-user-tokens';
import { addRole } from '../../../src/auth/roles';
import type { ResourceSettings } from '../../../src/broker/configure-resource';
import { ORGS, startBrokerTestServer, type BrokerResponse, type BrokerTestServer } from '../../helpers/broker';

/** Acts for the sender organisation (outbox). */
export const SENDER_PERSON = '01017012345';
/** Acts for the recipient organisation (inbox). */
export const RECIPIENT_PERSON = '02029012345';
/** Has a role for the stranger organisation only. */
export const STRANGER_PERSON = '03039012345';

export const SERVICE_CODE = '4747';
export const SERVICE_EDITION = 1;

export interface A2Options {
  query?: Record<string, string>;
  body?: Buffer | ReadableStream | AsyncIterable<Uint8Array>;
  headers?: Record<string, string>;
  /** Default: the fixture's key; null leaves the header out. */
  apiKey?: string | null;
  /** Default: SENDER_PERSON's token; a person number gets that person's token; null leaves the header out. */
  person?: string | null;
  /** A raw Authorization header value instead. */
  authorization?: string;
}

export interface Altinn2Client {
  apiKey: string;
  token(person: string): Promise<string>;
  /** An Altinn 2 REST call: path under /api (e.g. `/974760673/brokerservice/outbox`). */
  a2(method: string, apiPath: string, options?: A2Options): Promise<BrokerResponse>;
}

export interface Altinn2Fixture extends Altinn2Client {
  broker: BrokerTestServer;
  /** The resource with SERVICE_CODE / SERVICE_EDITION. */
  resourceId: string;
  /** POST to the outbox of `who` (default the sender) with the description's defaults filled in. */
  send(bytes: Buffer, description?: Record<string, unknown>, options?: A2Options & { who?: string; fileName?: string }): Promise<BrokerResponse>;
  snapshot(): Promise<StoredState>;
  close(): Promise<void>;
}

export interface StoredState {
  rows: Record<string, unknown[]>;
  blobs: string[];
}

export const BROKER_TABLES = [
  'broker_file_transfers',
  'broker_file_transfer_statuses',
  'broker_recipients',
  'broker_recipient_statuses',
  'broker_events',
  'broker_uploads',
  'jobs',
];

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const files: string[] = [];
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) files.push(...(await listFiles(full)));
    else files.push(full);
  }
  return files.sort();
}

export function description(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    ServiceCode: SERVICE_CODE,
    ServiceEditionCode: SERVICE_EDITION,
    SendersReference: 'ref-a2',
    Recipients: [ORGS.recipient],
    Properties: { kommune: 'Bø' },
    FileList: null,
    ...overrides,
  };
}

/**
 * An Altinn 2 REST client for `broker`'s server: an API client, and SENDER_PERSON, RECIPIENT_PERSON
 * and STRANGER_PERSON with roles for their organisations.
 */
export async function addAltinn2Client(broker: BrokerTestServer): Promise<Altinn2Client> {
  const { db } = broker.app;
  const { key: apiKey } = await addApiKey(db, { name: 'altinn2-broker-tests' });
  await addRole(db, { person: SENDER_PERSON, orgNumber: ORGS.sender });
  await addRole(db, { person: RECIPIENT_PERSON, orgNumber: ORGS.recipient });
  await addRole(db, { person: STRANGER_PERSON, orgNumber: ORGS.stranger });

  const tokens = new Map<string, string>();
  const token = async (person: string) => {
    if (!tokens.has(person)) {
      tokens.set(person, await issueLocalToken(broker.app.config.messages.jwt, broker.app.dataDir, { person, authLevel: 3, ttlSeconds: 3600 }));
    }
    return tokens.get(person)!;
  };

  const a2 = async (method: string, apiPath: string, options: A2Options = {}): Promise<BrokerResponse> => {
    const url = new URL(`${broker.url}/api${apiPath}`);
    for (const [name, value] of Object.entries(options.query ?? {})) url.searchParams.set(name, value);
    // As Altinn 2 clients do: JSON accepted, a ZIP content type whatever the method.
    const headers: Record<string, string> = { accept: 'application/json', 'content-type': 'application/zip', ...options.headers };
    const key = options.apiKey === undefined ? apiKey : options.apiKey;
    if (key !== null) headers.apikey = key;
    if (options.authorization !== undefined) headers.authorization = options.authorization;
    else if (options.person !== null) headers.authorization = `Bearer ${await token(options.person ?? SENDER_PERSON)}`;
    const streamed = options.body !== undefined && !Buffer.isBuffer(options.body);
    const response = await fetch(url, { method, headers, body: options.body as RequestInit['body'], ...(streamed && { duplex: 'half' }) } as RequestInit);
    const bytes = Buffer.from(await response.arrayBuffer());
    const text = bytes.toString('utf8');
    const isJson = /json/.test(response.headers.get('content-type') ?? '') && text !== '';
    return { status: response.status, headers: response.headers, bytes, text, json: isJson ? JSON.parse(text) : undefined };
  };

  return { apiKey, token, a2 };
}

export async function startAltinn2Fixture(resource: ResourceSettings = {}): Promise<Altinn2Fixture> {
  const broker = await startBrokerTestServer({
    resource: { externalServiceCodeLegacy: SERVICE_CODE, externalServiceEditionCodeLegacy: SERVICE_EDITION, ...resource },
  });
  const client = await addAltinn2Client(broker);
  const { a2 } = client;
  const { db } = broker.app;

  const send = (bytes: Buffer, descriptionOverrides: Record<string, unknown> = {}, options: A2Options & { who?: string; fileName?: string } = {}) =>
    a2('POST', `/${options.who ?? ORGS.sender}/brokerservice/outbox`, {
      ...options,
      query: { fileName: options.fileName ?? 'melding.zip', brokerServiceDescription: JSON.stringify(description(descriptionOverrides)), ...options.query },
      body: options.body ?? bytes,
    });

  const snapshot = async (): Promise<StoredState> => {
    const rows: Record<string, unknown[]> = {};
    for (const table of BROKER_TABLES) rows[table] = await db(table).select();
    return { rows, blobs: await listFiles(path.join(broker.app.dataDir, 'blobs')) };
  };

  return { ...client, broker, resourceId: broker.resourceId, send, snapshot, close: () => broker.close() };
}
