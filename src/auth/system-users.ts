/**
 * Authentication of service-owner system users (the systemUserName/systemPassword pair in every
 * Basic SOAP call), with lock-out after repeated failures.
 *
 * The KDF is deliberately slow, which would cap a polling client at a few dozen calls a second;
 * a successful verification is therefore remembered in memory for a short while, keyed by an
 * HMAC of the credentials under a per-process secret (nothing reversible is kept).
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { Db } from '../storage/db';
import { isUniqueViolation } from '../storage/db';
import { DUMMY_HASH_PROMISE, hashPassword, verifyPassword } from './password';

export interface AuthenticatedSystemUser {
  systemUserId: number;
  serviceOwnerId: number;
  userName: string;
}

export interface AuthPolicy {
  maxFailedAttempts: number;
  lockSeconds: number;
  verifiedCacheSeconds: number;
}

export class AuthenticationError extends Error {
  constructor(
    readonly reason: 'invalid_credentials' | 'locked',
    message: string,
  ) {
    super(message);
    this.name = 'AuthenticationError';
  }
}

interface SystemUserRow {
  id: number;
  service_owner_id: number;
  user_name: string;
  password_hash: string;
  failed_attempts: number;
  locked_until: Date | null;
}

export class SystemUserAuthenticator {
  private readonly cacheSecret = randomBytes(32);
  private readonly verified = new Map<string, { user: AuthenticatedSystemUser; passwordHash: string; expiresAt: number }>();

  constructor(
    private readonly db: Db,
    private readonly policy: AuthPolicy,
  ) {}

  async authenticate(userName: string | null | undefined, password: string | null | undefined): Promise<AuthenticatedSystemUser> {
    if (!userName || !password) {
      throw new AuthenticationError('invalid_credentials', 'Missing system user name or password');
    }
    const row = await this.db('system_users').where({ user_name: userName }).first<SystemUserRow | undefined>();
    if (!row) {
      await verifyPassword(password, await DUMMY_HASH_PROMISE);
      throw invalidCredentials();
    }
    // The lock is checked on every call (a cheap indexed read); only the KDF is skipped for
    // credentials verified recently, and only while the stored hash is the one they were verified against.
    if (row.locked_until && row.locked_until.getTime() > Date.now()) throw lockedError(row.locked_until);
    const cacheKey = createHmac('sha256', this.cacheSecret).update(userName).update('\0').update(password).digest('base64');
    const cached = this.verified.get(cacheKey);
    const recentlyVerified = cached !== undefined && cached.expiresAt > Date.now() && cached.passwordHash === row.password_hash;
    if (!recentlyVerified) {
      if (cached) this.verified.delete(cacheKey);
      if (!(await verifyPassword(password, row.password_hash))) await this.recordFailure(row.id);
    }

    if (row.failed_attempts !== 0 || row.locked_until) {
      await this.db('system_users').where({ id: row.id }).update({ failed_attempts: 0, locked_until: null });
    }
    const user = { systemUserId: row.id, serviceOwnerId: row.service_owner_id, userName: row.user_name };
    if (this.policy.verifiedCacheSeconds > 0 && !recentlyVerified) {
      this.verified.set(cacheKey, { user, passwordHash: row.password_hash, expiresAt: Date.now() + this.policy.verifiedCacheSeconds * 1000 });
    }
    return user;
  }

  /** Count a failed login in SQL (so concurrent failures all count) and lock at the limit; always throws. */
  private async recordFailure(systemUserId: number): Promise<never> {
    // An expired lock starts a fresh count rather than re-locking on the first mistake.
    const attempts = `CASE WHEN locked_until IS NOT NULL AND locked_until <= now() THEN 1 ELSE failed_attempts + 1 END`;
    const [updated] = await this.db('system_users')
      .where({ id: systemUserId })
      .update({
        failed_attempts: this.db.raw(attempts),
        locked_until: this.db.raw(`CASE WHEN ${attempts} >= ? THEN now() + (? * interval '1 second') ELSE NULL END`, [
          this.policy.maxFailedAttempts,
          this.policy.lockSeconds,
        ]),
      })
      .returning<{ locked_until: Date | null }[]>(['locked_until']);
    if (updated?.locked_until && updated.locked_until.getTime() > Date.now()) throw lockedError(updated.locked_until);
    throw invalidCredentials();
  }
}

function invalidCredentials(): AuthenticationError {
  return new AuthenticationError('invalid_credentials', 'Invalid system user name or password');
}

function lockedError(until: Date): AuthenticationError {
  return new AuthenticationError('locked', `The system user is locked after too many failed logins, until ${until.toISOString()}`);
}

export async function addSystemUser(
  db: Db,
  request: { serviceOwnerId: number; userName: string; password: string },
): Promise<{ systemUserId: number }> {
  if (!/^[\w.@-]{1,100}$/.test(request.userName)) {
    throw new Error(`System user name '${request.userName}' must be 1-100 letters, digits, '.', '_', '@' or '-'`);
  }
  if (request.password.length < 8) throw new Error('The password must be at least 8 characters');
  try {
    const [row] = await db('system_users')
      .insert({ service_owner_id: request.serviceOwnerId, user_name: request.userName, password_hash: await hashPassword(request.password) })
      .returning<{ id: number }[]>('id');
    return { systemUserId: row!.id };
  } catch (error) {
    if (isUniqueViolation(error)) throw new Error(`A system user named '${request.userName}' already exists`);
    throw error;
  }
}
