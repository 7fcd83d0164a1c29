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
    /** Consecutive failed logins before a system user is locked. */
    maxFailedAttempts: number;
    lockSeconds: number;
    /** How long a verified (user, password) pair skips the slow KDF; 0 disables the cache. */
    verifiedCacheSeconds: number;
  };
  shutdownGraceMs: number;
  /** The end-user REST messages API under /api. */
  messages: MessagesConfig;
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
  };
}
