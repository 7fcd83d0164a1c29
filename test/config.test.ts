/** loadConfig: every wrong variable named at once, values parsed into their types, secrets never echoed. */
import { ConfigError, loadConfig } from '../src/config';
import { describeBlobStoreLocation } from '../src/storage/blob-store-location';

function problemsOf(env: NodeJS.ProcessEnv): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

it('names every wrong variable, one problem each, without echoing a password', () => {
  expect(
    problemsOf({
      PORT: '99999',
      HOST: 'http://0.0.0.0',
      LOG_LEVEL: 'verbose',
      DATABASE_URL: 'mysql://gateway:s3cret@db/archive',
      PUBLIC_URL: 'https://gw.example.no/?x=1',
      TRUST_PROXY: 'maybe',
      CLAMD_URL: 'clamav:3310',
      QUEUE_PAGE_SIZE: '0',
    }),
  ).toEqual([
    "PORT must be an integer from 0 to 65535, got '99999'",
    "HOST must be an IP address or host name to listen on (0.0.0.0 for all), got 'http://0.0.0.0'",
    "DATABASE_URL must be a postgres://user:password@host:5432/database URL, got 'mysql://gateway:***@db/archive'",
    "LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got 'verbose'",
    "QUEUE_PAGE_SIZE must be an integer >= 1, got '0'",
    "PUBLIC_URL must be an http(s) URL without query, fragment or credentials (e.g. https://gateway.example.no), got 'https://gw.example.no/?x=1'",
    "TRUST_PROXY must be true, false, a number of proxy hops, or proxy addresses/CIDR ranges separated by commas, got 'maybe'",
    "CLAMD_URL must be tcp://host:3310, unix:///path/to/clamd.ctl or an absolute socket path, got 'clamav:3310'",
  ]);
  expect(problemsOf({ DATABASE_URL: 'garbage' })).toEqual(["DATABASE_URL must be a postgres://user:password@host:5432/database URL, got 'garbage'"]);
});

it('parses valid values', () => {
  const config = loadConfig({
    PORT: '0',
    HOST: '::1',
    LOG_LEVEL: 'debug',
    DATABASE_URL: 'postgresql://gateway:pw@db:5432/archive',
    DATABASE_CONNECT_RETRY_SECONDS: '5',
    PUBLIC_URL: 'https://gw.example.no/altinn/',
    TRUST_PROXY: '10.0.0.0/8, ::1',
  });
  expect(config).toMatchObject({
    port: 0,
    host: '::1',
    logLevel: 'debug',
    databaseUrl: 'postgresql://gateway:pw@db:5432/archive',
    databaseConnectRetryMs: 5000,
    publicUrl: 'https://gw.example.no/altinn',
    trustProxy: ['10.0.0.0/8', '::1'],
  });
  expect(loadConfig({ TRUST_PROXY: 'TRUE' }).trustProxy).toBe(true);
  expect(loadConfig({ TRUST_PROXY: '2' }).trustProxy).toBe(2);
  expect(loadConfig({}).trustProxy).toBe(false);
});

it('takes the slab size of large streams in whole MiB, 1 MiB by default', () => {
  expect(loadConfig({}).storage.slabBytes).toBe(1024 * 1024);
  expect(loadConfig({ STORAGE_SLAB_MIB: '4' }).storage.slabBytes).toBe(4 * 1024 * 1024);
  expect(problemsOf({ STORAGE_SLAB_MIB: '0' })).toEqual(["STORAGE_SLAB_MIB must be an integer from 1 to 16, got '0'"]);
  expect(problemsOf({ STORAGE_SLAB_MIB: '32' })).toEqual(["STORAGE_SLAB_MIB must be an integer from 1 to 16, got '32'"]);
  expect(problemsOf({ STORAGE_SLAB_MIB: '1.5' })).toEqual(["STORAGE_SLAB_MIB must be an integer from 1 to 16, got '1.5'"]);
});

describe('BLOB_STORE_URL', () => {
  it('defaults to the filesystem store under DATA_DIR/blobs, also for a bare file:', () => {
    expect(loadConfig({ DATA_DIR: '/srv/gw' }).storage.blobStore).toEqual({ kind: 'file' });
    expect(loadConfig({ DATA_DIR: '/srv/gw', BLOB_STORE_URL: 'file:' }).storage.blobStore).toEqual({ kind: 'file' });
    expect(describeBlobStoreLocation(loadConfig({ BLOB_STORE_URL: 'file:' }).storage.blobStore, '/srv/gw')).toBe('file:///srv/gw/blobs');
    expect(loadConfig({ BLOB_STORE_URL: 'file:///mnt/shared/blobs' }).storage.blobStore).toEqual({ kind: 'file', directory: '/mnt/shared/blobs' });
  });

  it('names an Azure container and prefix, with the connection string', () => {
    expect(loadConfig({ BLOB_STORE_URL: 'azure://gateway-blobs/prod/eu', AZURE_STORAGE_CONNECTION_STRING: 'UseDevelopmentStorage=true' }).storage.blobStore).toEqual({
      kind: 'azure',
      container: 'gateway-blobs',
      prefix: 'prod/eu/',
      connectionString: 'UseDevelopmentStorage=true',
    });
  });

  it('names an S3 bucket with the AWS SDK variables; path style by default only against an endpoint', () => {
    expect(loadConfig({ BLOB_STORE_URL: 's3://gateway-blobs', AWS_REGION: 'eu-north-1' }).storage.blobStore).toEqual({
      kind: 's3',
      bucket: 'gateway-blobs',
      prefix: '',
      region: 'eu-north-1',
      endpoint: undefined,
      forcePathStyle: false,
      credentials: undefined,
    });
    const minio = loadConfig({
      BLOB_STORE_URL: 's3://gw-blobs/blobs/',
      AWS_ENDPOINT_URL: 'http://minio:9000',
      AWS_ACCESS_KEY_ID: 'minio',
      AWS_SECRET_ACCESS_KEY: 'minio123',
    }).storage.blobStore;
    expect(minio).toEqual({
      kind: 's3',
      bucket: 'gw-blobs',
      prefix: 'blobs/',
      region: 'us-east-1',
      endpoint: 'http://minio:9000',
      forcePathStyle: true,
      credentials: { accessKeyId: 'minio', secretAccessKey: 'minio123' },
    });
    expect(loadConfig({ BLOB_STORE_URL: 's3://gw-blobs', AWS_ENDPOINT_URL_S3: 'https://s3.example', AWS_ENDPOINT_URL: 'http://other', S3_FORCE_PATH_STYLE: 'false' }).storage.blobStore).toMatchObject({
      endpoint: 'https://s3.example',
      forcePathStyle: false,
    });
  });

  it('refuses a wrong address or missing credentials with a line each, beside the other problems', () => {
    expect(problemsOf({ BLOB_STORE_URL: 'gcs://bucket', PORT: 'x' })).toEqual([
      "PORT must be an integer from 0 to 65535, got 'x'",
      "BLOB_STORE_URL must be file:, file:///absolute/directory, azure://<container>[/<prefix>] or s3://<bucket>[/<prefix>], got 'gcs://bucket'",
    ]);
    expect(problemsOf({ BLOB_STORE_URL: 'azure://Blobs' })).toEqual([
      "BLOB_STORE_URL must be file:, file:///absolute/directory, azure://<container>[/<prefix>] or s3://<bucket>[/<prefix>] ('Blobs' is not an Azure container name: 3-63 lower-case letters, digits and single hyphens), got 'azure://Blobs'",
    ]);
    expect(problemsOf({ BLOB_STORE_URL: 'azure://blobs' })).toEqual([
      'AZURE_STORAGE_CONNECTION_STRING must be set for BLOB_STORE_URL=azure://blobs (the storage account\'s connection string; UseDevelopmentStorage=true for Azurite)',
    ]);
    expect(problemsOf({ BLOB_STORE_URL: 's3://user:secret@bucket' })).toEqual([
      "BLOB_STORE_URL must be file:, file:///absolute/directory, azure://<container>[/<prefix>] or s3://<bucket>[/<prefix>] (no query, fragment or credentials in the URL: credentials go in their own variables), got 's3://user:secret@bucket'",
    ]);
    expect(problemsOf({ BLOB_STORE_URL: 's3://bucket/a/../b', AWS_ACCESS_KEY_ID: 'id', AWS_ENDPOINT_URL: 'minio:9000', S3_FORCE_PATH_STYLE: 'maybe' })).toEqual([
      "AWS_ENDPOINT_URL must be an http(s) URL, got 'minio:9000'",
      "S3_FORCE_PATH_STYLE must be true or false, got 'maybe'",
      "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together (or neither, for the SDK's default credential chain)",
    ]);
  });
});
