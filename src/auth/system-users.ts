/**
 * Authentication of service-owner system users (the systemUserName/systemPassword pair in every
 * Basic SOAP call), with lock-out after repeated failures.
 *
 * Lock-out is per user name and source address (system_user_login_failures), so a stranger who
 * knows a name locks out only their own address, never the system user, and it applies to every
 * name alike, existing or not. Every answer is the same for an existing and an unknown name, and
 * takes the same work: a locked (name, address) is refused before anything else; otherwise the
 * password is run through the KDF (against a dummy hash for an unknown name) and a failure counted.
 *
 * The KDF is deliberately slow, which would cap a polling client at a few dozen calls a second;
 * a successful verification is therefore remembered in memory for a short while, keyed by an
 * HMAC of the credentials under a per-process secret (nothing reversible is kept). With several
 * gateway processes on one database each has its own memory, which is why it never decides alone:
 * the lock and the user's row (its password hash) are read on every call, so a lock-out, password
 * reset or removal made through any process (or the CLI) takes effect on all of them at once.
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
  /** Failures from one address for one name that lock that pair. */
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
}

/** Remembered verifications at most (a few MB); beyond it expired ones go, then the oldest. */
const MAX_VERIFIED_ENTRIES = 10_000;

/** The lock-out state of a (name, address) beside the user of that name; nulls where either is missing. */
type LoginRow = { has_failures: boolean; locked_until: Date | null } & { [K in keyof SystemUserRow]: SystemUserRow[K] | null };

/** Longer names cannot exist (addSystemUser); they are counted under their first characters. */
const MAX_COUNTED_NAME_LENGTH = 200;

export class SystemUserAuthenticator {
  private readonly cacheSecret = randomBytes(32);
  private readonly verified = new Map<string, { user: AuthenticatedSystemUser; passwordHash: string; expiresAt: number }>();

  constructor(
    private readonly db: Db,
    private readonly policy: AuthPolicy,
  ) {}

  /** `sourceAddress`: the caller's IP address, which a lock-out is bound to. */
  async authenticate(userName: string | null | undefined, password: string | null | undefined, sourceAddress: string): Promise<AuthenticatedSystemUser> {
    if (!userName || !password) {
      throw new AuthenticationError('invalid_credentials', 'Missing system user name or password');
    }
    const counted = { user_name: userName.slice(0, MAX_COUNTED_NAME_LENGTH), source_address: sourceAddress };
    // One statement for the lock-out state of (name, address) and the user: one row always, whether either exists.
    const { rows } = await this.db.raw<{ rows: LoginRow[] }>(
      `SELECT f.user_name IS NOT NULL AS has_failures, f.locked_until, u.id, u.service_owner_id, u.user_name, u.password_hash
       FROM (SELECT 1) AS one
       LEFT JOIN system_user_login_failures f ON f.user_name = ? AND f.source_address = ?
       LEFT JOIN system_users u ON u.user_name = ?`,
      [counted.user_name, counted.source_address, userName],
    );
    const found = rows[0]!;
    const lockedUntil = found.locked_until === null ? null : new Date(found.locked_until);
    if (lockedUntil && lockedUntil.getTime() > Date.now()) throw lockedError(lockedUntil);
    const failures = found.has_failures;
    const row: SystemUserRow | undefined = found.id === null ? undefined : (found as SystemUserRow);

    // Only the KDF is skipped for credentials verified recently, and only while the stored hash is
    // the one they were verified against.
    const cacheKey = createHmac('sha256', this.cacheSecret).update(userName).update('\0').update(password).digest('base64');
    const cached = this.verified.get(cacheKey);
    const recentlyVerified = row !== undefined && cached !== undefined && cached.expiresAt > Date.now() && cached.passwordHash === row.password_hash;
    if (!recentlyVerified) {
      if (cached) this.verified.delete(cacheKey);
      const matches = await verifyPassword(password, row?.password_hash ?? (await DUMMY_HASH_PROMISE));
      if (!row || !matches) await this.recordFailure(counted);
    }

    if (failures) await this.db('system_user_login_failures').where(counted).delete();
    const user = { systemUserId: row!.id, serviceOwnerId: row!.service_owner_id, userName: row!.user_name };
    if (this.policy.verifiedCacheSeconds > 0 && !recentlyVerified) {
      this.makeRoomForOneMore();
      this.verified.set(cacheKey, { user, passwordHash: row!.password_hash, expiresAt: Date.now() + this.policy.verifiedCacheSeconds * 1000 });
    }
    return user;
  }

  private makeRoomForOneMore(): void {
    if (this.verified.size < MAX_VERIFIED_ENTRIES) return;
    const now = Date.now();
    for (const [key, entry] of this.verified) if (entry.expiresAt <= now) this.verified.delete(key);
    // A Map iterates in insertion order: the first key is the longest remembered.
    while (this.verified.size >= MAX_VERIFIED_ENTRIES) this.verified.delete(this.verified.keys().next().value!);
  }

  /**
   * Count a failed login in SQL (so concurrent failures all count, across processes) and lock the
   * name from this address at the limit; always throws. A count whose lock expired, or whose last
   * failure is older than the lock time, starts afresh.
   */
  private async recordFailure(counted: { user_name: string; source_address: string }): Promise<never> {
    const lock = `now() + (${Number(this.policy.lockSeconds)} * interval '1 second')`;
    const attempts = `CASE WHEN f.locked_until <= now() OR f.last_failed_at <= now() - (${Number(this.policy.lockSeconds)} * interval '1 second')
                           THEN 1 ELSE f.failed_attempts + 1 END`;
    const { rows } = await this.db.raw<{ rows: { locked_until: Date | null }[] }>(
      `INSERT INTO system_user_login_failures AS f (user_name, source_address, failed_attempts, last_failed_at, locked_until)
       VALUES (?, ?, 1, now(), CASE WHEN 1 >= ? THEN ${lock} END)
       ON CONFLICT (user_name, source_address) DO UPDATE
         SET failed_attempts = ${attempts},
             last_failed_at = now(),
             locked_until = CASE WHEN ${attempts} >= ? THEN ${lock} END
       RETURNING locked_until`,
      [counted.user_name, counted.source_address, this.policy.maxFailedAttempts, this.policy.maxFailedAttempts],
    );
    const lockedUntil = rows[0]?.locked_until;
    if (lockedUntil && new Date(lockedUntil).getTime() > Date.now()) throw lockedError(new Date(lockedUntil));
    throw invalidCredentials();
  }
}

/** Lifts every lock-out of a system user name (all source addresses); the number of addresses it was counted from. */
export async function clearLoginFailures(db: Db, userName: string): Promise<number> {
  return (await deleteLoginFailures(db, userName)).length;
}

function deleteLoginFailures(db: Db, userName: string): Promise<{ locked_until: Date | null }[]> {
  return db('system_user_login_failures')
    .where({ user_name: userName.slice(0, MAX_COUNTED_NAME_LENGTH) })
    .delete()
    .returning<{ locked_until: Date | null }[]>('locked_until');
}

function invalidCredentials(): AuthenticationError {
  return new AuthenticationError('invalid_credentials', 'Invalid system user name or password');
}

function lockedError(until: Date): AuthenticationError {
  return new AuthenticationError('locked', `Too many failed logins for this system user name from this address: try again after ${until.toISOString()}`);
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
  /** Failed logins counted against the name, summed over the addresses they came from. */
  failedAttempts: number;
  /** Set while the name is locked out from at least one address: the latest such lock's end. */
  lockedUntil: Date | null;
}

/**
 * The lock-out state (kept by authenticate() per name and source address, in
 * system_user_login_failures) summed per system user, for listing, counting and unlocking.
 */
function loginFailuresByName(db: Db) {
  return db('system_user_login_failures')
    .groupBy('user_name')
    .select('user_name', db.raw('SUM(failed_attempts)::int AS failed_attempts'), db.raw('MAX(locked_until) FILTER (WHERE locked_until > now()) AS locked_until'));
}

export async function listSystemUsers(db: Db, filter: { serviceOwnerId?: number } = {}): Promise<SystemUserSummary[]> {
  const rows = await db('system_users as u')
    .join('service_owners as o', 'o.id', 'u.service_owner_id')
    .leftJoin(loginFailuresByName(db).as('f'), 'f.user_name', 'u.user_name')
    .modify((query) => {
      if (filter.serviceOwnerId !== undefined) query.where('u.service_owner_id', filter.serviceOwnerId);
    })
    .orderBy(['o.org_number', 'u.user_name'])
    .select<{ user_name: string; org_number: string; name: string; created_at: Date; failed_attempts: number | null; locked_until: Date | null }[]>(
      'u.user_name',
      'o.org_number',
      'o.name',
      'u.created_at',
      'f.failed_attempts',
      'f.locked_until',
    );
  return rows.map((row) => ({
    userName: row.user_name,
    ownerOrgNumber: row.org_number,
    ownerName: row.name,
    createdAt: row.created_at,
    failedAttempts: Number(row.failed_attempts ?? 0),
    lockedUntil: row.locked_until ? new Date(row.locked_until) : null,
  }));
}

/** System users locked out right now from at least one address (a metrics gauge). */
export async function countLockedSystemUsers(db: Db): Promise<number> {
  const row = await db('system_users as u')
    .whereExists(db('system_user_login_failures as f').whereRaw('f.user_name = u.user_name AND f.locked_until > now()'))
    .count<{ count: number | string }[]>('* as count')
    .first();
  return Number(row?.count ?? 0);
}

/** Lift the user's lock-outs from every address and forget its failed attempts; whether it was locked. */
export async function unlockSystemUser(db: Db, userName: string): Promise<{ wasLocked: boolean }> {
  const user = await db('system_users').where({ user_name: userName }).first<{ id: number } | undefined>('id');
  if (!user) throw new SystemUserNotFoundError(userName);
  const removed = await deleteLoginFailures(db, userName);
  return { wasLocked: removed.some((row) => row.locked_until !== null && new Date(row.locked_until).getTime() > Date.now()) };
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
