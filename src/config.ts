/**
 * Configuration from the environment, validated once at start. Every knob has a default that
 * works on a newcomer's machine (embedded Postgres under ./data, port 8080).
 */
import path from 'node:path';

export interface Limits {
  /** Largest SOAP request body accepted (the XML plus any MTOM parts). */
  maxRequestBytes: number;
  maxXmlDepth: number;
  maxXmlElements: number;
  maxXmlTextLength: number;
}

export interface Config {
  port: number;
  host: string;
  /** Unset → embedded PGlite under `${dataDir}/pgdata`. */
  databaseUrl: string | undefined;
  dataDir: string;
  logLevel: string;
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
   * The address clients reach this gateway at (e.g. behind a proxy), for addresses the gateway
   * writes where no request is at hand (an event's `source`). Unset → http://localhost:PORT.
   */
  publicUrl: string | undefined;
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
  };
}

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

function intFromEnv(env: NodeJS.ProcessEnv, name: string, fallback: number, min = 0): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) {
    throw new Error(`Environment variable ${name} must be an integer >= ${min}, got '${raw}'`);
  }
  return value;
}

function booleanFromEnv(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (/^(true|1|yes|on)$/i.test(raw)) return true;
  if (/^(false|0|no|off)$/i.test(raw)) return false;
  throw new Error(`Environment variable ${name} must be true or false, got '${raw}'`);
}

/** Issuer name of the tokens the gateway signs itself (when no JWT_JWKS_URL is configured). */
export const LOCAL_JWT_ISSUER = 'altinn-gateway';

function urlFromEnv(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const raw = env[name];
  if (!raw) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`Environment variable ${name} must be an http(s) URL, got '${raw}'`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error(`Environment variable ${name} must be an http(s) URL, got '${raw}'`);
  return url.toString();
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const dataDir = path.resolve(env.DATA_DIR || './data');
  return {
    port: intFromEnv(env, 'PORT', 8080),
    host: env.HOST || '0.0.0.0',
    databaseUrl: env.DATABASE_URL || undefined,
    dataDir,
    logLevel: env.LOG_LEVEL || 'info',
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
    publicUrl: urlFromEnv(env, 'PUBLIC_URL'),
    broker: {
      clamdUrl: env.CLAMD_URL || undefined,
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
    },
  };
}

const GiB = 1024 ** 3;
/** ClamAV's own ceiling on the bytes of one file it scans. */
const CLAMAV_MAX_SCAN_BYTES = 2 * GiB - 1;
