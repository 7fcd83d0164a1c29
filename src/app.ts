/**
 * The application's long-lived parts, opened once and shared by the HTTP server and the CLI:
 * configuration, database (migrated), blob store, the system-user authenticator, the clock, the
 * broker's context (scanner, settings) and the background job runner (started by `serve` only).
 */
import path from 'node:path';
import type { Logger } from 'pino';
import type { Config } from './config';
import { systemClock, type Clock } from './clock';
import { JobRunner } from './jobs/queue';
import { brokerJobHandlers } from './broker/jobs';
import { GARBAGE_COLLECTION_JOB, garbageCollectionJobHandler } from './storage/garbage-collection';
import type { BrokerContext } from './broker/types';
import { eventSource } from './broker/cloud-events';
import { webhookDeliverySettings } from './broker/webhooks';
import { createClamdScanner } from './scanning/clamd';
import { openDatabase, describeDatabase, embeddedPglite, waitForDatabase, type Db, type DbOptions } from './storage/db';
import { migrateLatest } from './storage/migrate';
import type { BlobStore } from './storage/blob-store';
import { openBlobStore } from './storage/blob-store-from-config';
import { describeBlobStoreLocation } from './storage/blob-store-location';
import { acquireEmbeddedLock, EmbeddedDatabaseInUseError } from './storage/embedded-lock';
import { adminSocketDirectory, hasAdminSocket, offerEmbeddedDatabase, removeStaleAdminSocket, type AdminSocket } from './storage/embedded-admin-socket';
import { configureSlabBytes, releaseHashWorkers } from './storage/hashing-writer';
import { SystemUserAuthenticator } from './auth/system-users';
import { createLogger } from './observability/logger';
import type { ArchiveContext } from './archive/types';

export interface App extends ArchiveContext {
  config: Config;
  db: Db;
  blobs: BlobStore;
  authenticator: SystemUserAuthenticator;
  /** Human-readable description of the database in use (for start-up messages). */
  databaseDescription: string;
  /** Where the bytes are (BLOB_STORE_URL without secrets), for start-up messages. */
  blobStoreDescription: string;
  /** True when running on the embedded database (no DATABASE_URL). */
  embedded: boolean;
  clock: Clock;
  /** For work outside requests (jobs, start-up); requests log through fastify's logger. */
  log: Logger;
  broker: BrokerContext;
  /** Background jobs; `serve` starts it, tests may run due jobs with `jobs.runDue()`. */
  jobs: JobRunner;
  close(): Promise<void>;
}

export interface OpenAppOptions {
  /** Run pending migrations first (default true). */
  migrate?: boolean;
  /** Embedded database in memory instead of under DATA_DIR (tests). */
  inMemory?: boolean;
  /** Tests pass a ManualClock to move time (expiry, grace periods, retries). */
  clock?: Clock;
  /** Offer the embedded database to admin commands on this machine (`serve`; embedded-admin-socket.ts). */
  offerToLocalCommands?: boolean;
}

export async function openApp(config: Config, options: OpenAppOptions = {}): Promise<App> {
  const log = createLogger(config);
  const { dbOptions, releaseLock } = claimDatabase(config, options);
  // knex's own warnings (e.g. each failed connection attempt) as log lines, not console text.
  const db = openDatabase({ ...dbOptions, log: { warn: (message) => log.warn(message), error: (message) => log.error(message), debug: (message) => log.debug(message) } });
  let adminSocket: AdminSocket | undefined;
  let blobs: BlobStore;
  const close = async () => {
    try {
      await adminSocket?.close();
      await db.destroy();
    } finally {
      releaseLock();
    }
  };
  try {
    if (dbOptions.databaseUrl) await waitForDatabase(db, { retryForMs: config.databaseConnectRetryMs, description: describeDatabase(dbOptions), log });
    if (options.migrate ?? true) await migrateLatest(db);
    const pglite = embeddedPglite(db);
    if (options.offerToLocalCommands && pglite && dbOptions.embeddedDir) {
      // Serving goes on without it (e.g. a DATA_DIR too long for a socket address); admin commands then wait for a stop.
      adminSocket = await offerEmbeddedDatabase(db, pglite, config.dataDir).catch((error: unknown) => {
        log.warn({ err: error }, 'admin commands cannot reach the embedded database while this server runs');
        return undefined;
      });
    }
    configureSlabBytes(config.storage.slabBytes);
    blobs = await openBlobStore(config.storage.blobStore, config.dataDir, config.storage.gcGraceSeconds);
  } catch (error) {
    await close();
    throw error;
  }
  const clock = options.clock ?? systemClock;
  let jobs: JobRunner | undefined;
  const broker: BrokerContext = {
    db,
    blobs,
    clock,
    log,
    scanner: config.broker.clamdUrl ? createClamdScanner(config.broker.clamdUrl) : undefined,
    settings: {
      defaultMaxFileTransferSize: config.broker.maxFileTransferSize,
      maxVirusScanFileTransferSize: config.broker.maxScannedFileTransferSize,
      uploadAttemptLeaseMs: config.broker.uploadAttemptLeaseMs,
    },
    wakeJobs: () => jobs?.wake(),
    events: { source: eventSource(config.publicUrl, config.port), webhooks: webhookDeliverySettings(config.broker) },
  };
  jobs = new JobRunner({
    db,
    clock,
    log,
    handlers: { ...brokerJobHandlers(broker), [GARBAGE_COLLECTION_JOB]: garbageCollectionJobHandler({ db, blobs, clock }, config.storage.gcGraceSeconds) },
    concurrency: config.jobs.concurrency,
    pollIntervalMs: config.jobs.pollIntervalMs,
  });
  const runner = jobs;
  return {
    config,
    db,
    blobs,
    authenticator: new SystemUserAuthenticator(db, config.auth),
    databaseDescription: describeDatabase(dbOptions),
    blobStoreDescription: describeBlobStoreLocation(config.storage.blobStore, config.dataDir),
    embedded: !config.databaseUrl,
    clock,
    log,
    broker,
    jobs: runner,
    close: async () => {
      await runner.stop();
      await close();
      await releaseHashWorkers();
    },
  };
}

/**
 * Which database to open: PostgreSQL at DATABASE_URL, or the embedded one under DATA_DIR, locked
 * for this process; when a running `serve` holds that lock, its database through its admin socket.
 */
function claimDatabase(config: Config, options: OpenAppOptions): { dbOptions: DbOptions; releaseLock: () => void } {
  const embeddedDir = options.inMemory ? undefined : path.join(config.dataDir, 'pgdata');
  const dbOptions: DbOptions = { databaseUrl: config.databaseUrl, embeddedDir };
  if (config.databaseUrl || !embeddedDir) return { dbOptions, releaseLock: () => {} };
  try {
    const releaseLock = acquireEmbeddedLock(embeddedDir);
    removeStaleAdminSocket(config.dataDir);
    return { dbOptions, releaseLock };
  } catch (error) {
    if (!(error instanceof EmbeddedDatabaseInUseError) || options.offerToLocalCommands || !hasAdminSocket(config.dataDir)) throw error;
    return { dbOptions: { ...dbOptions, serverSocketDirectory: adminSocketDirectory(config.dataDir) }, releaseLock: () => {} };
  }
}
