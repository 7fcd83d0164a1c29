/**
 * Configuration from the environment, validated once at start. Every knob has a default that
 * works on a newcomer's machine (embedded Postgres under ./data, port 8080).
 */
import { isIP } from 'node:net';
import path from 'node:path';
import { z } from 'zod';
import { parseClamdUrl } from './scanning/clamd';
import { BlobStoreLocationError, parseBlobStoreLocation, type BlobStoreLocation } from './storage/blob-store-location';
import { SLAB_MIB_RANGE } from './storage/hashing-writer';

export interface Limits {
  /** Largest SOAP request body accepted (the XML plus any MTOM parts). */
  maxRequestBytes: number;
  maxXmlDepth: number;
  maxXmlElements: number;
  maxXmlTextLength: number;
}

export interface RequestTimeouts {
  /** The request line and headers arrive within this. */
  headersMs: number;
  /** A request body arrives whole within this, from the request's start (streamed uploads excepted). */
  bodyMs: number;
  /** A streamed upload is cut when less than 1 KiB of it arrives within this. */
  streamedBodyStallMs: number;
  /** An idle keep-alive connection is closed after this. */
  keepAliveMs: number;
}

export interface Config {
  port: number;
  /** `serve` processes sharing the port (node:cluster); more than 1 only on PostgreSQL. */
  workers: number;
  host: string;
  /** Bounds on slow or stalled clients (src/request-timeouts.ts). */
  timeouts: RequestTimeouts;
  /** Unset → embedded PGlite under `${dataDir}/pgdata`. */
  databaseUrl: string | undefined;
  /** How long start-up keeps retrying a PostgreSQL server that does not answer (yet) before giving up. */
  databaseConnectRetryMs: number;
  dataDir: string;
  logLevel: string;
  /** `json` (one object per line, for collectors) or `pretty` (coloured lines for a terminal). */
  logFormat: LogFormat;
  limits: Limits;
  /** Attachments up to this size travel inline (MTOM) in GetArchivedFormTaskBasicDQ; larger ones are fetched streamed. */
  inlineAttachmentMaxBytes: number;
  /** GetDownloadQueueItems returns at most this many items. */
  queuePageSize: number;
  auth: {
    /** Consecutive failed logins for one name from one address before that pair is locked. */
    maxFailedAttempts: number;
    lockSeconds: number;
    /** How long a verified (user, password) pair skips the slow KDF; 0 disables the cache. */
    verifiedCacheSeconds: number;
  };
  shutdownGraceMs: number;
  /** The end-user REST messages API under /api. */
  messages: MessagesConfig;
  /**
   * The address clients reach this gateway at (e.g. behind a proxy), without a trailing slash: every
   * address the gateway writes (WSDL soap:address, REST links, an event's `source`) starts with it.
   * Unset → taken from each request (see src/services/public-base-url.ts), http://localhost:PORT
   * where no request is at hand.
   */
  publicUrl: string | undefined;
  /** Whose X-Forwarded-Proto/Host/For are believed when PUBLIC_URL is unset (fastify's trustProxy). */
  trustProxy: TrustProxy;
  broker: BrokerConfig;
  jobs: {
    /** Background jobs run at once by this process. */
    concurrency: number;
    /** How often an idle process looks for due jobs. */
    pollIntervalMs: number;
  };
  storage: {
    /** Unreferenced blob-store files younger than this are never swept (they may be about to be referenced). */
    gcGraceSeconds: number;
    /** Where the bytes live (BLOB_STORE_URL): DATA_DIR/blobs by default (of the dataDir above, even when it is changed after loading), or an object store. */
    blobStore: BlobStoreLocation;
    /**
     * The size of the slabs a large stream is written and hashed in (STORAGE_SLAB_MIB, 1-16 MiB):
     * larger ones cost less CPU per GiB, and hold 4 × their size per large upload (or hashing job) in progress.
     */
    slabBytes: number;
  };
}

export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export interface BrokerConfig {
  /** clamd to scan uploads with (`tcp://host:3310`, `unix:///run/clamav/clamd.ctl`); unset → no scanning. */
  clamdUrl: string | undefined;
  /** Largest file transfer on a resource that sets no maxFileTransferSize, and the most a resource may set. */
  maxFileTransferSize: number;
  /**
   * Largest file transfer that is virus scanned (clamd's StreamMaxLength must allow it). ClamAV
   * scans at most 2 GiB − 1 bytes of a file, so that is the default: a larger scanned upload is
   * refused before it is read (Altinn's scanner allows 50 GB; send larger files unscanned).
   */
  maxScannedFileTransferSize: number;
  /** How long a streamed upload holds its transfer without a sign of life (see BrokerSettings). */
  uploadAttemptLeaseMs: number;
  /**
   * Whether organisations' webhooks may point at loopback, private or link-local addresses. On by
   * default (a receiver on the same host or intranet); turn it off where the organisations are not
   * trusted with the gateway's network position (SSRF; see src/broker/webhooks.ts).
   */
  webhookAllowPrivateAddresses: boolean;
  /** One webhook delivery attempt fails after this many milliseconds. */
  webhookTimeoutMs: number;
}

export interface MessagesConfig {
  /**
   * Who issues the end users' Bearer tokens. With `jwksUrl` set, tokens are verified against that
   * issuer's published keys; unset, the gateway is the issuer itself (`altinn-gateway token`),
   * with a signing key kept in DATA_DIR.
   */
  jwt: {
    issuer: string;
    jwksUrl: string | undefined;
    /** Required `aud` of tokens, when set. */
    audience: string | undefined;
    /** Claim holding the person's national identity number (ID-porten and Altinn: `pid`). */
    personClaim: string;
  };
  /** Largest JSON request body (form data and base64 attachments travel in it). */
  maxJsonBytes: number;
  /** Limits for attachments of a service whose definition has no attachment rules. */
  defaultAttachmentMaxBytes: number;
  defaultAttachmentMaxCount: number;
}

/** Every wrong variable of the environment, one line each (loadConfig reports them all at once). */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration: ${problems.join('; ')}`);
    this.name = 'ConfigError';
  }
}

/** Problems found while loadConfig runs (it is synchronous); outside it a helper throws at once. */
let collected: string[] | undefined;

/**
 * One variable through its schema: unset or empty gives the fallback; a wrong value is reported
 * as `NAME must be <expectation>, got '<value>'` (with `shown` replacing a value that holds a secret).
 */
function fromEnv<T>(env: NodeJS.ProcessEnv, name: string, schema: z.ZodType<T>, fallback: T, expectation: string, shown?: (raw: string) => string): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const problem = `${name} must be ${expectation}, got '${shown ? shown(raw) : raw}'`;
  if (!collected) throw new ConfigError([problem]);
  collected.push(problem);
  return fallback;
}

function intFromEnv(env: NodeJS.ProcessEnv, name: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const schema = z.string().regex(/^\d+$/).transform(Number).pipe(z.number().int().min(min).max(max));
  const expectation = max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer from ${min} to ${max}`;
  return fromEnv(env, name, schema, fallback, expectation);
}

function choiceFromEnv<T extends string>(env: NodeJS.ProcessEnv, name: string, choices: readonly [T, ...T[]], fallback: T): T {
  return fromEnv(env, name, z.enum(choices) as unknown as z.ZodType<T>, fallback, `one of ${choices.join(', ')}`);
}

function booleanFromEnv(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const schema = z.string().regex(/^(true|1|yes|on|false|0|no|off)$/i).transform((raw) => /^(true|1|yes|on)$/i.test(raw));
  return fromEnv(env, name, schema, fallback, 'true or false');
}

/** Issuer name of the tokens the gateway signs itself (when no JWT_JWKS_URL is configured). */
export const LOCAL_JWT_ISSUER = 'altinn-gateway';

function urlFromEnv(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const schema = z.url({ protocol: /^https?$/ }).transform((raw) => new URL(raw).toString());
  return fromEnv<string | undefined>(env, name, schema, undefined, 'an http(s) URL');
}

/** The address to listen on: an IP address or a host name. */
function hostFromEnv(env: NodeJS.ProcessEnv): string {
  const schema = z.string().refine((raw) => isIP(raw) !== 0 || /^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/.test(raw));
  return fromEnv(env, 'HOST', schema, '0.0.0.0', 'an IP address or host name to listen on (0.0.0.0 for all)');
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

function logLevelFromEnv(env: NodeJS.ProcessEnv): string {
  return choiceFromEnv(env, 'LOG_LEVEL', LOG_LEVELS, 'info');
}

/** postgres://user:password@host:5432/database; the password is never echoed back. */
function databaseUrlFromEnv(env: NodeJS.ProcessEnv): string | undefined {
  const schema = z.url({ protocol: /^postgres(ql)?$/, hostname: /./ });
  const withoutPassword = (raw: string) => raw.replace(/^(\w+:\/\/[^:/@]*:)[^@]*@/, '$1***@');
  return fromEnv<string | undefined>(env, 'DATABASE_URL', schema, undefined, 'a postgres://user:password@host:5432/database URL', withoutPassword);
}

/**
 * The address clients reach the gateway at: an http(s) URL with no query or fragment, kept
 * without its trailing slash so paths can be appended.
 */
function publicUrlFromEnv(env: NodeJS.ProcessEnv): string | undefined {
  const schema = z
    .url({ protocol: /^https?$/ })
    .refine((raw) => !new URL(raw).search && !new URL(raw).hash && !new URL(raw).username)
    .transform((raw) => new URL(raw).toString().replace(/\/+$/, ''));
  return fromEnv<string | undefined>(env, 'PUBLIC_URL', schema, undefined, 'an http(s) URL without query, fragment or credentials (e.g. https://gateway.example.no)');
}

/**
 * Which proxies' X-Forwarded-* headers are believed (fastify's trustProxy): true (any), a number of
 * hops, or addresses/CIDR ranges separated by commas. Off by default: a client could claim any host.
 */
export type TrustProxy = boolean | number | string[];

function trustProxyFromEnv(env: NodeJS.ProcessEnv): TrustProxy {
  const address = z.string().refine((part) => {
    const [ip, prefix, ...rest] = part.split('/');
    if (rest.length > 0 || !ip || !isIP(ip)) return false;
    return prefix === undefined || (/^\d+$/.test(prefix) && Number(prefix) <= (isIP(ip) === 4 ? 32 : 128));
  });
  const schema = z.union([
    z.string().regex(/^(true|false)$/i).transform((raw) => raw.toLowerCase() === 'true'),
    z.string().regex(/^\d+$/).transform(Number),
    z.string().transform((raw) => raw.split(',').map((part) => part.trim())).pipe(z.array(address).min(1)),
  ]);
  return fromEnv<TrustProxy>(env, 'TRUST_PROXY', schema, false, 'true, false, a number of proxy hops, or proxy addresses/CIDR ranges separated by commas');
}

function clamdUrlFromEnv(env: NodeJS.ProcessEnv): string | undefined {
  const schema = z.string().refine((raw) => {
    try {
      parseClamdUrl(raw);
      return true;
    } catch {
      return false;
    }
  });
  return fromEnv<string | undefined>(env, 'CLAMD_URL', schema, undefined, 'tcp://host:3310, unix:///path/to/clamd.ctl or an absolute socket path');
}

/** BLOB_STORE_URL with its store's credentials variables; every problem of them reported. */
function blobStoreFromEnv(env: NodeJS.ProcessEnv): BlobStoreLocation {
  try {
    return parseBlobStoreLocation(env.BLOB_STORE_URL, env);
  } catch (error) {
    if (!(error instanceof BlobStoreLocationError)) throw error;
    if (!collected) throw new ConfigError(error.problems);
    collected.push(...error.problems);
    return parseBlobStoreLocation(undefined, env);
  }
}

/** The configuration, or a ConfigError naming every wrong variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  collected = [];
  try {
    const config = readConfig(env);
    // The embedded database (PGlite) lives inside one process: workers could not share it.
    if (config.workers > 1 && !config.databaseUrl) collected.push(`WORKERS must be 1 with the embedded database (set DATABASE_URL for more), got '${env.WORKERS}'`);
    if (collected.length > 0) throw new ConfigError(collected);
    return config;
  } finally {
    collected = undefined;
  }
}

function readConfig(env: NodeJS.ProcessEnv): Config {
  const dataDir = path.resolve(env.DATA_DIR || './data');
  return {
    port: intFromEnv(env, 'PORT', 8080, 0, 65535),
    workers: intFromEnv(env, 'WORKERS', 1, 1, 64),
    host: hostFromEnv(env),
    timeouts: {
      headersMs: intFromEnv(env, 'HTTP_HEADERS_TIMEOUT_MS', 30_000, 100),
      bodyMs: intFromEnv(env, 'HTTP_BODY_TIMEOUT_MS', 60_000, 100),
      streamedBodyStallMs: intFromEnv(env, 'HTTP_UPLOAD_STALL_TIMEOUT_MS', 60_000, 100),
      keepAliveMs: intFromEnv(env, 'HTTP_KEEP_ALIVE_TIMEOUT_MS', 72_000, 100),
    },
    databaseUrl: databaseUrlFromEnv(env),
    databaseConnectRetryMs: intFromEnv(env, 'DATABASE_CONNECT_RETRY_SECONDS', 30) * 1000,
    dataDir,
    logLevel: logLevelFromEnv(env),
    logFormat: choiceFromEnv(env, 'LOG_FORMAT', LOG_FORMATS, 'json'),
    limits: {
      maxRequestBytes: intFromEnv(env, 'SOAP_MAX_REQUEST_BYTES', 1024 * 1024, 1024),
      maxXmlDepth: intFromEnv(env, 'SOAP_MAX_XML_DEPTH', 64, 4),
      maxXmlElements: intFromEnv(env, 'SOAP_MAX_XML_ELEMENTS', 10_000, 10),
      maxXmlTextLength: intFromEnv(env, 'SOAP_MAX_XML_TEXT', 256 * 1024, 64),
    },
    inlineAttachmentMaxBytes: intFromEnv(env, 'INLINE_ATTACHMENT_MAX_BYTES', 30 * 1024 * 1024),
    queuePageSize: intFromEnv(env, 'QUEUE_PAGE_SIZE', 500, 1),
    auth: {
      maxFailedAttempts: intFromEnv(env, 'AUTH_MAX_FAILED_ATTEMPTS', 5, 1),
      lockSeconds: intFromEnv(env, 'AUTH_LOCK_SECONDS', 15 * 60),
      verifiedCacheSeconds: intFromEnv(env, 'AUTH_VERIFIED_CACHE_SECONDS', 60),
    },
    shutdownGraceMs: intFromEnv(env, 'SHUTDOWN_GRACE_MS', 10_000),
    messages: {
      jwt: {
        issuer: env.JWT_ISSUER || LOCAL_JWT_ISSUER,
        jwksUrl: urlFromEnv(env, 'JWT_JWKS_URL'),
        audience: env.JWT_AUDIENCE || undefined,
        personClaim: env.JWT_PERSON_CLAIM || 'pid',
      },
      maxJsonBytes: intFromEnv(env, 'REST_MAX_JSON_BYTES', 32 * 1024 * 1024, 1024),
      defaultAttachmentMaxBytes: intFromEnv(env, 'REST_ATTACHMENT_MAX_BYTES', 1024 * 1024 * 1024, 1),
      defaultAttachmentMaxCount: intFromEnv(env, 'REST_ATTACHMENT_MAX_COUNT', 100, 0),
    },
    publicUrl: publicUrlFromEnv(env),
    trustProxy: trustProxyFromEnv(env),
    broker: {
      clamdUrl: clamdUrlFromEnv(env),
      maxFileTransferSize: intFromEnv(env, 'BROKER_MAX_FILE_TRANSFER_SIZE', 100 * GiB, 1),
      maxScannedFileTransferSize: intFromEnv(env, 'BROKER_MAX_SCANNED_FILE_TRANSFER_SIZE', CLAMAV_MAX_SCAN_BYTES, 1),
      uploadAttemptLeaseMs: intFromEnv(env, 'BROKER_UPLOAD_LEASE_MS', 120_000, 1000),
      webhookAllowPrivateAddresses: booleanFromEnv(env, 'BROKER_WEBHOOK_ALLOW_PRIVATE_ADDRESSES', true),
      webhookTimeoutMs: intFromEnv(env, 'BROKER_WEBHOOK_TIMEOUT_MS', 10_000, 100),
    },
    jobs: {
      concurrency: intFromEnv(env, 'JOBS_CONCURRENCY', 4, 1),
      pollIntervalMs: intFromEnv(env, 'JOBS_POLL_INTERVAL_MS', 1000, 10),
    },
    storage: {
      gcGraceSeconds: intFromEnv(env, 'STORAGE_GC_GRACE_SECONDS', 24 * 60 * 60, 0),
      blobStore: blobStoreFromEnv(env),
      slabBytes: intFromEnv(env, 'STORAGE_SLAB_MIB', 1, SLAB_MIB_RANGE.min, SLAB_MIB_RANGE.max) * 1024 * 1024,
    },
  };
}

const GiB = 1024 ** 3;
/** ClamAV's own ceiling on the bytes of one file it scans. */
const CLAMAV_MAX_SCAN_BYTES = 2 * GiB - 1;
