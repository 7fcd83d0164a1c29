/**
 * The blob store a BlobStoreLocation names. The SDK-backed stores are imported only when chosen, so
 * a gateway on its local disk (the default) never loads the Azure or AWS SDK.
 */
import type { BlobStore } from './blob-store';
import { FileBlobStore } from './blob-store';
import { describeBlobStoreLocation, fileStoreDirectory, type BlobStoreLocation } from './blob-store-location';
import { MARKER_REFRESH_MS } from './marker-refresh';

/**
 * The store, checked by listing one key prefix: a wrong address, account, bucket or credentials
 * fail here, at start, with the store's own reason, not at the first upload.
 */
/**
 * `dataDir`: where the default filesystem store lives (DATA_DIR/blobs). `gcGraceSeconds`: the
 * sweep's grace period; an object store's puts in progress re-touch their markers well within it.
 */
export async function openBlobStore(location: BlobStoreLocation, dataDir: string, gcGraceSeconds?: number): Promise<BlobStore> {
  let store: BlobStore;
  try {
    store = await createBlobStore(location, dataDir, markerRefreshFor(gcGraceSeconds));
    for await (const _ of store.listBlobs({ prefix: 'ff/ff/', olderThan: new Date(0) })) break;
  } catch (error) {
    throw new Error(`The blob store ${describeBlobStoreLocation(location, dataDir)} cannot be used: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  return store;
}

/** A quarter of the grace period, at most MARKER_REFRESH_MS, at least a second. */
export function markerRefreshFor(gcGraceSeconds: number | undefined): number {
  if (gcGraceSeconds === undefined) return MARKER_REFRESH_MS;
  return Math.max(1000, Math.min(MARKER_REFRESH_MS, Math.floor((gcGraceSeconds * 1000) / 4)));
}

async function createBlobStore(location: BlobStoreLocation, dataDir: string, markerRefreshMs: number): Promise<BlobStore> {
  switch (location.kind) {
    case 'file':
      return new FileBlobStore(fileStoreDirectory(location, dataDir));
    case 'azure': {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded only when chosen
      const { createAzureBlobStore } = require('./azure-blob-store') as typeof import('./azure-blob-store');
      return createAzureBlobStore({ container: location.container, prefix: location.prefix, connectionString: location.connectionString, markerRefreshMs });
    }
    case 's3': {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded only when chosen
      const { createS3BlobStore } = require('./s3-blob-store') as typeof import('./s3-blob-store');
      return createS3BlobStore({
        bucket: location.bucket,
        prefix: location.prefix,
        region: location.region,
        endpoint: location.endpoint,
        forcePathStyle: location.forcePathStyle,
        credentials: location.credentials,
        markerRefreshMs,
      });
    }
  }
}
