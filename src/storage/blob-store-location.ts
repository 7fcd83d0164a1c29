/**
 * Where the blob store is, from `BLOB_STORE_URL` (or `storage migrate --to`) and the credentials
 * variables of the store's own SDK:
 *
 * - unset, `file:` → the filesystem store under DATA_DIR/blobs; `file:///abs/dir` → under that directory;
 * - `azure://<container>[/<prefix>]` → Azure Blob Storage, with AZURE_STORAGE_CONNECTION_STRING
 *   (Azurite's `UseDevelopmentStorage=true` included);
 * - `s3://<bucket>[/<prefix>]` → S3 or an S3-compatible store, with AWS_REGION (or AWS_DEFAULT_REGION),
 *   AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY[/AWS_SESSION_TOKEN] (else the SDK's default chain:
 *   profiles, container and instance roles), AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL for MinIO,
 *   Ceph and the like, and S3_FORCE_PATH_STYLE (default: on when an endpoint is set).
 *
 * The credentials are read from the environment given (the CLI's, a test's), never from
 * process.env behind the caller's back. Pure: no SDK is loaded here.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

export interface FileBlobStoreLocation {
  kind: 'file';
  /** Absent: DATA_DIR/blobs, of whatever DATA_DIR the app is opened with. */
  directory?: string;
}

export interface AzureBlobStoreLocation {
  kind: 'azure';
  container: string;
  /** Key prefix inside the container, '' or ending in '/'. */
  prefix: string;
  connectionString: string;
}

export interface S3BlobStoreLocation {
  kind: 's3';
  bucket: string;
  /** Key prefix inside the bucket, '' or ending in '/'. */
  prefix: string;
  region: string;
  /** An S3-compatible server's address; absent: AWS. */
  endpoint: string | undefined;
  forcePathStyle: boolean;
  /** Absent: the SDK's default credential chain. */
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | undefined;
}

export type BlobStoreLocation = FileBlobStoreLocation | AzureBlobStoreLocation | S3BlobStoreLocation;

/** Refusal of a store address or its credentials; each problem is one line for the operator. */
export class BlobStoreLocationError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('; '));
    this.name = 'BlobStoreLocationError';
  }
}

const EXPECTED = 'file:, file:///absolute/directory, azure://<container>[/<prefix>] or s3://<bucket>[/<prefix>]';

// Azure: 3-63 of lower-case letters, digits and single hyphens, starting and ending with a letter or digit.
const AZURE_CONTAINER = z.string().regex(/^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$/);
// S3: 3-63 of lower-case letters, digits, dots and hyphens, starting and ending with a letter or digit.
const S3_BUCKET = z.string().regex(/^(?=.{3,63}$)[a-z0-9][a-z0-9.-]*[a-z0-9]$/);
// A prefix of path segments without empty, '.' or '..' segments, kept with its trailing slash.
const PREFIX = z.string().regex(/^(?:[A-Za-z0-9_.-]+\/)*$/).refine((prefix) => prefix.split('/').every((segment) => segment !== '.' && segment !== '..'));
const BOOLEAN = z.string().regex(/^(true|1|yes|on|false|0|no|off)$/i).transform((raw) => /^(true|1|yes|on)$/i.test(raw));
const HTTP_URL = z.url({ protocol: /^https?$/ });

/**
 * The store `raw` names (undefined or '' → the default, DATA_DIR/blobs), or a BlobStoreLocationError
 * naming every problem (the URL's, then each credentials variable's). `name` is what the value is
 * called in messages (BLOB_STORE_URL, --to).
 */
export function parseBlobStoreLocation(raw: string | undefined, env: NodeJS.ProcessEnv, name = 'BLOB_STORE_URL'): BlobStoreLocation {
  if (raw === undefined || raw === '' || raw === 'file:') return { kind: 'file' };
  const problems: string[] = [];
  const refuse = (why: string): never => {
    throw new BlobStoreLocationError([`${name} must be ${EXPECTED}${why ? ` (${why})` : ''}, got '${raw}'`]);
  };
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return refuse('');
  }
  if (url.search || url.hash || url.username || url.password) refuse('no query, fragment or credentials in the URL: credentials go in their own variables');
  const prefixOf = (pathname: string): string => {
    const prefix = decodeURIComponent(pathname.replace(/^\//, ''));
    const withSlash = prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
    if (!PREFIX.safeParse(withSlash).success) refuse(`the prefix '${prefix}' may hold only letters, digits, '_', '.', '-' and '/'`);
    return withSlash;
  };
  switch (url.protocol) {
    case 'file:': {
      if (url.host) refuse('a file: URL names a directory on this machine: file:///absolute/directory');
      return { kind: 'file', directory: path.resolve(fileURLToPath(url)) };
    }
    case 'azure:': {
      if (!AZURE_CONTAINER.safeParse(url.hostname).success) refuse(`'${url.hostname}' is not an Azure container name: 3-63 lower-case letters, digits and single hyphens`);
      const prefix = prefixOf(url.pathname);
      const connectionString = env.AZURE_STORAGE_CONNECTION_STRING;
      if (!connectionString) problems.push(`AZURE_STORAGE_CONNECTION_STRING must be set for ${name}=${raw} (the storage account's connection string; UseDevelopmentStorage=true for Azurite)`);
      if (problems.length > 0) throw new BlobStoreLocationError(problems);
      return { kind: 'azure', container: url.hostname, prefix, connectionString: connectionString! };
    }
    case 's3:': {
      if (!S3_BUCKET.safeParse(url.hostname).success) refuse(`'${url.hostname}' is not an S3 bucket name: 3-63 lower-case letters, digits, dots and hyphens`);
      const prefix = prefixOf(url.pathname);
      const endpointName = env.AWS_ENDPOINT_URL_S3 ? 'AWS_ENDPOINT_URL_S3' : 'AWS_ENDPOINT_URL';
      const endpoint = env[endpointName] || undefined;
      if (endpoint !== undefined && !HTTP_URL.safeParse(endpoint).success) problems.push(`${endpointName} must be an http(s) URL, got '${endpoint}'`);
      const pathStyleRaw = env.S3_FORCE_PATH_STYLE || undefined;
      const pathStyle = pathStyleRaw === undefined ? undefined : BOOLEAN.safeParse(pathStyleRaw);
      if (pathStyle && !pathStyle.success) problems.push(`S3_FORCE_PATH_STYLE must be true or false, got '${pathStyleRaw}'`);
      const accessKeyId = env.AWS_ACCESS_KEY_ID || undefined;
      const secretAccessKey = env.AWS_SECRET_ACCESS_KEY || undefined;
      if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
        problems.push('AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together (or neither, for the SDK\'s default credential chain)');
      }
      if (problems.length > 0) throw new BlobStoreLocationError(problems);
      return {
        kind: 's3',
        bucket: url.hostname,
        prefix,
        region: env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1',
        endpoint,
        forcePathStyle: pathStyle?.success ? pathStyle.data : endpoint !== undefined,
        credentials: accessKeyId && secretAccessKey ? { accessKeyId, secretAccessKey, ...(env.AWS_SESSION_TOKEN && { sessionToken: env.AWS_SESSION_TOKEN }) } : undefined,
      };
    }
    default:
      return refuse('');
  }
}

/** The directory of a filesystem store. */
export function fileStoreDirectory(location: FileBlobStoreLocation, dataDir: string): string {
  return location.directory ?? path.join(dataDir, 'blobs');
}

/** The store's address without secrets, for logs and progress lines. */
export function describeBlobStoreLocation(location: BlobStoreLocation, dataDir: string): string {
  switch (location.kind) {
    case 'file':
      return `file://${fileStoreDirectory(location, dataDir)}`;
    case 'azure':
      return `azure://${location.container}/${location.prefix}`;
    case 's3':
      return `s3://${location.bucket}/${location.prefix}${location.endpoint ? ` at ${location.endpoint}` : ''}`;
  }
}
