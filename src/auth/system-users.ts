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
  requireAcceptablePassword(request.password);
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

function requireAcceptablePassword(password: string): void {
  if (password.length < 8) throw new Error('The password must be at least 8 characters');
}

export class SystemUserNotFoundError extends Error {
  constructor(userName: string) {
    super(`No system user named '${userName}' (list them with: altinn-gateway system-user list)`);
    this.name = 'SystemUserNotFoundError';
  }
}

export interface SystemUserSummary {
  userName: string;
  ownerOrgNumber: string;
  ownerName: string;
  createdAt: Date;
  failedAttempts: number;
  /** Set while the user is locked out. */
  lockedUntil: Date | null;
}

/** Where the lock-out state lives (for listing, counting and unlocking; authenticate() keeps it). */
const isLocked = (alias: string) => `${alias}.locked_until > now()`;

export async function listSystemUsers(db: Db, filter: { serviceOwnerId?: number } = {}): Promise<SystemUserSummary[]> {
  const rows = await db('system_users as u')
    .join('service_owners as o', 'o.id', 'u.service_owner_id')
    .modify((query) => {
      if (filter.serviceOwnerId !== undefined) query.where('u.service_owner_id', filter.serviceOwnerId);
    })
    .orderBy(['o.org_number', 'u.user_name'])
    .select<{ user_name: string; org_number: string; name: string; created_at: Date; failed_attempts: number; locked_until: Date | null }[]>(
      'u.user_name',
      'o.org_number',
      'o.name',
      'u.created_at',
      'u.failed_attempts',
      db.raw(`CASE WHEN ${isLocked('u')} THEN u.locked_until END AS locked_until`),
    );
  return rows.map((row) => ({
    userName: row.user_name,
    ownerOrgNumber: row.org_number,
    ownerName: row.name,
    createdAt: row.created_at,
    failedAttempts: row.failed_attempts,
    lockedUntil: row.locked_until,
  }));
}

/** System users locked out right now (a metrics gauge). */
export async function countLockedSystemUsers(db: Db): Promise<number> {
  const row = await db('system_users as u').whereRaw(isLocked('u')).count<{ count: number | string }[]>('* as count').first();
  return Number(row?.count ?? 0);
}

/** Lift a lock-out and forget the failed attempts; true when the user was locked. */
export async function unlockSystemUser(db: Db, userName: string): Promise<{ wasLocked: boolean }> {
  // The self-join reads the row as it was before this update.
  const result = await db.raw<{ rows: { was_locked: boolean | null }[] }>(
    `UPDATE system_users AS u SET failed_attempts = 0, locked_until = NULL
     FROM system_users AS before WHERE before.id = u.id AND u.user_name = ?
     RETURNING ${isLocked('before')} AS was_locked`,
    [userName],
  );
  const row = result.rows[0];
  if (!row) throw new SystemUserNotFoundError(userName);
  return { wasLocked: row.was_locked === true };
}

/** A new password; the old one stops working at once (the verified cache is keyed to the stored hash). */
export async function resetSystemUserPassword(db: Db, userName: string, password: string): Promise<void> {
  requireAcceptablePassword(password);
  const updated = await db('system_users').where({ user_name: userName }).update({ password_hash: await hashPassword(password) });
  if (updated === 0) throw new SystemUserNotFoundError(userName);
}

/**
 * Remove a system user (its broker delegations go with it). Download queue items it purged keep
 * their purge but no longer name who purged them.
 */
export async function removeSystemUser(db: Db, userName: string): Promise<{ purgesUnattributed: number }> {
  return db.transaction(async (trx) => {
    const user = await trx('system_users').where({ user_name: userName }).first<{ id: number } | undefined>('id');
    if (!user) throw new SystemUserNotFoundError(userName);
    const purgesUnattributed = await trx('download_queue_items').where({ purged_by_system_user_id: user.id }).update({ purged_by_system_user_id: null });
    await trx('system_users').where({ id: user.id }).delete();
    return { purgesUnattributed };
  });
}
