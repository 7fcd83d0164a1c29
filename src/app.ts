/**
 * The application's long-lived parts, opened once and shared by the HTTP server and the CLI:
 * configuration, database (migrated), blob store and the system-user authenticator.
 */
import path from 'node:path';
import type { Config } from './config';
import { openDatabase, describeDatabase, type Db } from './storage/db';
import { migrateLatest } from './storage/migrate';
import { FileBlobStore, type BlobStore } from './storage/blob-store';
import { acquireEmbeddedLock } from './storage/embedded-lock';
import { SystemUserAuthenticator } from './auth/system-users';
import type { ArchiveContext } from './archive/types';

export interface App extends ArchiveContext {
  config: Config;
  db: Db;
  blobs: BlobStore;
  authenticator: SystemUserAuthenticator;
  /** Human-readable description of the database in use (for start-up messages). */
  databaseDescription: string;
  /** True when running on the embedded database (no DATABASE_URL). */
  embedded: boolean;
  close(): Promise<void>;
}

export interface OpenAppOptions {
  /** Run pending migrations first (default true). */
  migrate?: boolean;
  /** Embedded database in memory instead of under DATA_DIR (tests). */
  inMemory?: boolean;
}

export async function openApp(config: Config, options: OpenAppOptions = {}): Promise<App> {
  const dbOptions = {
    databaseUrl: config.databaseUrl,
    embeddedDir: options.inMemory ? undefined : path.join(config.dataDir, 'pgdata'),
  };
  const releaseLock = !dbOptions.databaseUrl && dbOptions.embeddedDir ? acquireEmbeddedLock(dbOptions.embeddedDir) : () => {};
  const db = openDatabase(dbOptions);
  const close = async () => {
    try {
      await db.destroy();
    } finally {
      releaseLock();
    }
  };
  try {
    if (options.migrate ?? true) await migrateLatest(db);
  } catch (error) {
    await close();
    throw error;
  }
  const blobs = new FileBlobStore(path.join(config.dataDir, 'blobs'));
  return {
    config,
    db,
    blobs,
    authenticator: new SystemUserAuthenticator(db, config.auth),
    databaseDescription: describeDatabase(dbOptions),
    embedded: !config.databaseUrl,
    close,
  };
}
