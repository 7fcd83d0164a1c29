/**
 * The blob store a BlobStoreLocation names. The SDK-backed stores are imported only when chosen, so
 * a gateway on its local disk (the default) never loads the Azure or AWS SDK.
 */
import type { BlobStore } from './blob-store';
import { FileBlobStore } from './blob-store';
import type { BlobStoreLocation } from './blob-store-location';

export async function openBlobStore(location: BlobStoreLocation): Promise<BlobStore> {
  switch (location.kind) {
    case 'file':
      return new FileBlobStore(location.directory);
    case 'azure': {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded only when chosen
      const { createAzureBlobStore } = require('./azure-blob-store') as typeof import('./azure-blob-store');
      return createAzureBlobStore({ container: location.container, prefix: location.prefix, connectionString: location.connectionString });
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
      });
    }
  }
}
