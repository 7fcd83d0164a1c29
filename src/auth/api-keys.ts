/**
 * API clients of the REST API: every call carries an `ApiKey` header. A key is 32 random bytes
 * (base64url, prefixed `agw_` so it is recognisable in a config file); only its SHA-256 is stored.
 * With 256 bits of entropy a fast hash is as safe as a slow one, and it lets a key be found by
 * its hash with one indexed lookup.
 */
import { createHash, randomBytes } from 'node:crypto';
import { isUniqueViolation, type Db } from '../storage/db';

export interface ApiClient {
  apiClientId: number;
  name: string;
  createdAt: Date;
  revokedAt: Date | null;
}

export class ApiKeyError extends Error {
  constructor(
    readonly reason: 'invalid_argument' | 'conflict' | 'not_found',
    message: string,
  ) {
    super(message);
    this.name = 'ApiKeyError';
  }
}

const NAME = /^[\w .@-]{1,100}$/;

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** Registers an API client; the key is returned once and cannot be recovered later. */
export async function addApiKey(db: Db, request: { name: string }): Promise<{ apiClientId: number; name: string; key: string }> {
  const name = request.name.trim();
  if (!NAME.test(name)) throw new ApiKeyError('invalid_argument', `API client name '${request.name}' must be 1-100 letters, digits, spaces or . _ @ -`);
  const key = `agw_${randomBytes(32).toString('base64url')}`;
  try {
    const [row] = await db('api_clients').insert({ name, key_hash: hashApiKey(key) }).returning<{ id: number }[]>('id');
    return { apiClientId: row!.id, name, key };
  } catch (error) {
    if (isUniqueViolation(error)) throw new ApiKeyError('conflict', `An API client named '${name}' already exists`);
    throw error;
  }
}

/** The active client holding this key, or undefined (unknown or revoked). */
export async function findApiClientByKey(db: Db, key: string): Promise<ApiClient | undefined> {
  const row = await db('api_clients').where({ key_hash: hashApiKey(key) }).whereNull('revoked_at').first<ApiClientRow | undefined>(COLUMNS);
  return row && toApiClient(row);
}

export async function listApiClients(db: Db): Promise<ApiClient[]> {
  const rows = await db('api_clients').orderBy('id').select<ApiClientRow[]>(COLUMNS);
  return rows.map(toApiClient);
}

/** Revokes the client's key at once; revoking twice is an error that says so. */
export async function revokeApiKey(db: Db, name: string): Promise<void> {
  const updated = await db('api_clients').where({ name: name.trim() }).whereNull('revoked_at').update({ revoked_at: db.fn.now() }).returning('id');
  if (updated.length > 0) return;
  const existing = await db('api_clients').where({ name: name.trim() }).first('id');
  throw existing
    ? new ApiKeyError('conflict', `The API key of '${name}' is already revoked`)
    : new ApiKeyError('not_found', `No API client named '${name}'`);
}

interface ApiClientRow {
  id: number;
  name: string;
  created_at: Date;
  revoked_at: Date | null;
}

const COLUMNS = ['id', 'name', 'created_at', 'revoked_at'];

function toApiClient(row: ApiClientRow): ApiClient {
  return { apiClientId: row.id, name: row.name, createdAt: new Date(row.created_at), revokedAt: row.revoked_at ? new Date(row.revoked_at) : null };
}
