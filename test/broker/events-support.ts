/**
 * For the event and webhook tests: a migrated database (a fresh one on DATABASE_URL's server, or an
 * in-memory PGlite) with a BrokerContext on a ManualClock, transfers driven through the real use
 * cases (so the events are the ones the domain records), and a webhook receiver on loopback.
 *
 * The embedded database can be opened with `max_prepared_transactions` so that a test can leave a
 * transaction in progress (PREPARE TRANSACTION) on the single connection: the only way to have a
 * transaction commit "late" there.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { knex, type Knex } from 'knex';
import pino from 'pino';
import { ManualClock } from '../../src/clock';
import { configureResource } from '../../src/broker/configure-resource';
import { confirmDownload } from '../../src/broker/confirm-download';
import { downloadFileTransfer } from '../../src/broker/download-file-transfer';
import { initializeFileTransfer } from '../../src/broker/initialize-file-transfer';
import { purgeConfirmedFileTransfer } from '../../src/broker/purge-file-transfer';
import { uploadFileTransfer } from '../../src/broker/upload-file-transfer';
import { WEBHOOK_DELIVERY_JOB } from '../../src/broker/events';
import { deliverWebhook, DEFAULT_WEBHOOK_RETRY } from '../../src/broker/webhooks';
import type { BrokerCaller, BrokerContext } from '../../src/broker/types';
import { JobRunner } from '../../src/jobs/queue';
import { FileBlobStore } from '../../src/storage/blob-store';
import { openDatabase } from '../../src/storage/db';
import { migrateLatest } from '../../src/storage/migrate';
import { createTestDatabase } from '../helpers/database';

export const SOURCE = 'https://gateway.example/broker/api/v1/filetransfer';
export const RESOURCE_ID = 'events-test-resource';

/** Valid organisation numbers (mod-11). */
export const ORG = { owner: '983887457', sender: '991825827', recipient: '974760673', other: '889640782', third: '314240979' } as const;

export function caller(orgNumber: string): BrokerCaller {
  return { orgNumber, partyId: `0192:${orgNumber}` };
}

export interface EventsBed {
  db: Knex;
  embedded: boolean;
  clock: ManualClock;
  ctx: BrokerContext;
  /** A second handle as another gateway process would have (its own pool; the same handle on PGlite). */
  openPeer(): Knex;
  /** A job runner that only delivers webhooks (other broker jobs stay queued). */
  runner(options?: { ctx?: BrokerContext; workerId?: string; db?: Knex }): JobRunner;
  close(): Promise<void>;
}

export async function openEventsBed(options: { preparedTransactions?: boolean } = {}): Promise<EventsBed> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'agw-events-'));
  const server = await createTestDatabase();
  const db = server.databaseUrl ? openDatabase({ databaseUrl: server.databaseUrl }) : await openEmbedded(options.preparedTransactions ?? false);
  await migrateLatest(db);
  const clock = new ManualClock(new Date('2025-03-01T08:00:00.000Z'));
  const ctx: BrokerContext = {
    db,
    blobs: new FileBlobStore(path.join(dataDir, 'blobs')),
    clock,
    log: pino({ level: 'silent' }),
    scanner: undefined,
    settings: { defaultMaxFileTransferSize: 1024 ** 3, maxVirusScanFileTransferSize: 1024 ** 3, uploadAttemptLeaseMs: 120_000 },
    wakeJobs: () => {},
    events: { source: SOURCE, webhooks: { timeoutMs: 5000, allowPrivateAddresses: true, retry: { ...DEFAULT_WEBHOOK_RETRY } } },
  };
  const peers: Knex[] = [];
  const runners: JobRunner[] = [];
  await configureResource(ctx, caller(ORG.owner), RESOURCE_ID, {});
  return {
    db,
    embedded: server.databaseUrl === undefined,
    clock,
    ctx,
    openPeer() {
      if (!server.databaseUrl) return db;
      const peer = openDatabase({ databaseUrl: server.databaseUrl });
      peers.push(peer);
      return peer;
    },
    runner(runnerOptions = {}) {
      const runCtx = runnerOptions.ctx ?? ctx;
      const runner = new JobRunner({
        db: runnerOptions.db ?? runCtx.db,
        clock,
        log: runCtx.log,
        handlers: { [WEBHOOK_DELIVERY_JOB]: { handler: async (payload, job) => deliverWebhook(runCtx, String(payload.webhookId), { signal: job.signal }), leaseMs: 120_000 } },
        ...(runnerOptions.workerId && { workerId: runnerOptions.workerId }),
      });
      runners.push(runner);
      return runner;
    },
    async close() {
      try {
        for (const runner of runners) await runner.stop({ timeoutMs: 1000 });
        for (const peer of peers) await peer.destroy();
        await db.destroy();
      } finally {
        await server.drop();
        await rm(dataDir, { recursive: true, force: true });
      }
    },
  };
}

async function openEmbedded(preparedTransactions: boolean): Promise<Knex> {
  if (!preparedTransactions) return openDatabase({});
  // CommonJS, as knex-pglite itself loads them (jest here has no ESM dynamic import).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { PGlite } = require('@electric-sql/pglite') as typeof import('@electric-sql/pglite');
  const pglite = new PGlite({ postgresqlconf: ['max_prepared_transactions = 4'] });
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ClientPgLite = require('knex-pglite');
  return knex({ client: ClientPgLite, connection: { pglite } as unknown as Knex.StaticConnectionConfig });
}

/** A transfer from ORG.sender to `recipients`, initialized (not uploaded). */
export async function initialize(bed: EventsBed, recipients: string[] = [ORG.recipient], sender: string = ORG.sender): Promise<string> {
  const { fileTransferId } = await initializeFileTransfer(bed.ctx, caller(sender), {
    resourceId: RESOURCE_ID,
    fileName: 'payload.zip',
    sendersFileTransferReference: 'events-test',
    sender: `0192:${sender}`,
    recipients: recipients.map((org) => `0192:${org}`),
    disableVirusScan: true,
  });
  return fileTransferId;
}

export async function upload(bed: EventsBed, fileTransferId: string, sender: string = ORG.sender): Promise<void> {
  const bytes = Buffer.from('some bytes for the recipients');
  await uploadFileTransfer(bed.ctx, caller(sender), fileTransferId, Readable.from([bytes]), { contentLength: bytes.length });
}

export async function downloadAndConfirm(bed: EventsBed, fileTransferId: string, recipient: string = ORG.recipient): Promise<void> {
  const download = await downloadFileTransfer(bed.ctx, caller(recipient), fileTransferId);
  for await (const chunk of download.open()) void chunk;
  await confirmDownload(bed.ctx, caller(recipient), fileTransferId);
}

/**
 * Every event a transfer can have on the happy path: initialized, published (sender, recipient),
 * downloadconfirmed (recipient, sender), allconfirmeddownloaded, and filepurged after the grace period.
 */
export async function fullTransfer(bed: EventsBed): Promise<string> {
  const id = await initialize(bed);
  await upload(bed, id);
  await downloadAndConfirm(bed, id);
  bed.clock.advance(2 * 60 * 60_000);
  await purgeConfirmedFileTransfer(bed.ctx, id);
  return id;
}

/** The stored events of a transfer, in recording order. */
export async function eventsOf(db: Knex, fileTransferId: string): Promise<Array<{ id: string; type: string; subject: string; role: string }>> {
  return db('broker_events').where({ file_transfer_id: fileTransferId }).orderBy('seq').select('id', 'type', 'subject', 'role');
}

export interface ReceivedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** How the receiver answers one request: a status (with headers), or hang (no answer at all) until the client gives up. */
export type Answer = number | { status: number; headers: Record<string, string> } | 'hang';

export interface Receiver {
  url: string;
  /** Every request, in arrival order. */
  requests: ReceivedRequest[];
  /** Requests answered 2xx, in arrival order. */
  accepted: ReceivedRequest[];
  /** Decides each answer (perhaps after a while); default 204. */
  answer: (request: ReceivedRequest) => Answer | Promise<Answer>;
  close(): Promise<void>;
}

export async function startReceiver(answer: Receiver['answer'] = () => 204): Promise<Receiver> {
  const receiver: Receiver = { url: '', requests: [], accepted: [], answer, close: async () => {} };
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', async () => {
      const received: ReceivedRequest = { method: request.method ?? '', url: request.url ?? '', headers: request.headers, body: Buffer.concat(chunks).toString('utf8') };
      receiver.requests.push(received);
      const decided = await receiver.answer(received);
      if (decided === 'hang') return; // the client's timeout ends it
      const { status, headers } = typeof decided === 'number' ? { status: decided, headers: {} } : decided;
      if (status >= 200 && status < 300) receiver.accepted.push(received);
      response.writeHead(status, { 'content-type': 'text/plain', ...headers }).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/broker`;
  receiver.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return receiver;
}
