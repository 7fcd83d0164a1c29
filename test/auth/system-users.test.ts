/** System-user authentication over a real database: passwords, lock-out after failures, unlock after the lock time. */
import { addSystemUser, AuthenticationError } from '../../src/auth/system-users';
import { addServiceOwner } from '../../src/archive/add-service-owner';
import { createTestApp, type TestApp } from '../helpers/database';
import { uniqueOrgNumber } from '../helpers/archive-fixtures';

const MAX_FAILED = 3;
let app: TestApp;
let serviceOwnerId: number;

beforeAll(async () => {
  // No verification cache: every call must really check the password and the lock.
  app = await createTestApp({ auth: { maxFailedAttempts: MAX_FAILED, lockSeconds: 1, verifiedCacheSeconds: 0 } });
  ({ serviceOwnerId } = await addServiceOwner(app.db, { orgNumber: uniqueOrgNumber(), name: 'Låseetaten' }));
});
afterAll(() => app.close());

let nextUser = 0;
async function newUser(password = 'riktig-passord'): Promise<{ userName: string; systemUserId: number }> {
  nextUser += 1;
  const userName = `bruker${nextUser}`;
  const { systemUserId } = await addSystemUser(app.db, { serviceOwnerId, userName, password });
  return { userName, systemUserId };
}

async function authFailure(userName: string | null, password: string | null): Promise<AuthenticationError> {
  const error = await app.authenticator.authenticate(userName, password).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AuthenticationError);
  return error as AuthenticationError;
}

describe('SystemUserAuthenticator', () => {
  it('accepts the right password', async () => {
    const { userName, systemUserId } = await newUser();
    await expect(app.authenticator.authenticate(userName, 'riktig-passord')).resolves.toEqual({ systemUserId, serviceOwnerId, userName });
  });

  it('refuses a wrong password, an unknown user and missing credentials alike', async () => {
    const { userName } = await newUser();
    const wrong = await authFailure(userName, 'feil-passord');
    const unknown = await authFailure('finnes-ikke', 'riktig-passord');
    expect(wrong.reason).toBe('invalid_credentials');
    expect(unknown.reason).toBe('invalid_credentials');
    expect(unknown.message).toBe(wrong.message);
    expect((await authFailure(userName, null)).reason).toBe('invalid_credentials');
    expect((await authFailure(null, 'riktig-passord')).reason).toBe('invalid_credentials');
  });

  it(`locks after ${MAX_FAILED} consecutive failures, even for the right password, and unlocks after the lock time`, async () => {
    const { userName, systemUserId } = await newUser();
    for (let attempt = 1; attempt < MAX_FAILED; attempt++) {
      expect((await authFailure(userName, `feil-${attempt}`)).reason).toBe('invalid_credentials');
    }
    const locking = await authFailure(userName, 'feil-siste');
    expect(locking.reason).toBe('locked');
    expect(locking.message).toMatch(/^The system user is locked after too many failed logins, until \d{4}-\d{2}-\d{2}T/);

    const whileLocked = await authFailure(userName, 'riktig-passord');
    expect(whileLocked.reason).toBe('locked');

    await new Promise((resolve) => setTimeout(resolve, 1100));
    await expect(app.authenticator.authenticate(userName, 'riktig-passord')).resolves.toMatchObject({ systemUserId });
    const row = await app.db('system_users').where({ id: systemUserId }).first();
    expect(row.failed_attempts).toBe(0);
    expect(row.locked_until).toBeNull();
  });

  it('a successful login resets the count of failures', async () => {
    const { userName } = await newUser();
    for (let round = 0; round < 2; round++) {
      for (let attempt = 1; attempt < MAX_FAILED; attempt++) await authFailure(userName, 'feil');
      await expect(app.authenticator.authenticate(userName, 'riktig-passord')).resolves.toMatchObject({ userName });
    }
  });
});

describe('addSystemUser', () => {
  it('refuses a duplicate name, a short password and an odd name', async () => {
    const { userName } = await newUser();
    await expect(addSystemUser(app.db, { serviceOwnerId, userName, password: 'another-password' })).rejects.toThrow(
      `A system user named '${userName}' already exists`,
    );
    await expect(addSystemUser(app.db, { serviceOwnerId, userName: 'kort', password: 'kort' })).rejects.toThrow('at least 8 characters');
    await expect(addSystemUser(app.db, { serviceOwnerId, userName: 'med mellomrom', password: 'langt-nok-passord' })).rejects.toThrow('must be 1-100');
  });

  it('stores a slow salted hash, never the password', async () => {
    const { systemUserId } = await newUser('hemmelig-passord');
    const row = await app.db('system_users').where({ id: systemUserId }).first();
    expect(row.password_hash).toMatch(/^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    expect(row.password_hash).not.toContain('hemmelig');
  });
});

describe('SystemUserAuthenticator with the verified-credentials cache on', () => {
  let cached: TestApp;
  let ownerId: number;
  beforeAll(async () => {
    cached = await createTestApp({ auth: { maxFailedAttempts: 2, lockSeconds: 1, verifiedCacheSeconds: 60 } });
    ({ serviceOwnerId: ownerId } = await addServiceOwner(cached.db, { orgNumber: uniqueOrgNumber(), name: 'Hurtigetaten' }));
  });
  afterAll(() => cached.close());

  const failureOf = (promise: Promise<unknown>) => promise.then(() => undefined, (e: unknown) => e as AuthenticationError);

  it('still refuses remembered credentials while the user is locked, and forgets them when the password changes', async () => {
    await addSystemUser(cached.db, { serviceOwnerId: ownerId, userName: 'husket', password: 'riktig-passord' });
    await cached.authenticator.authenticate('husket', 'riktig-passord'); // now remembered
    await failureOf(cached.authenticator.authenticate('husket', 'feil-1'));
    expect((await failureOf(cached.authenticator.authenticate('husket', 'feil-2')))?.reason).toBe('locked');
    const locked = await failureOf(cached.authenticator.authenticate('husket', 'riktig-passord'));
    expect(locked?.reason).toBe('locked');

    await cached.db('system_users').where({ user_name: 'husket' }).update({ failed_attempts: 0, locked_until: null, password_hash: 'scrypt$16384$8$1$AAAA$BBBB' });
    const afterChange = await failureOf(cached.authenticator.authenticate('husket', 'riktig-passord'));
    expect(afterChange?.reason).toBe('invalid_credentials');
  });

  it('starts a fresh count after a lock expires instead of locking again on the first mistake', async () => {
    await addSystemUser(cached.db, { serviceOwnerId: ownerId, userName: 'utlopt', password: 'riktig-passord' });
    await failureOf(cached.authenticator.authenticate('utlopt', 'feil-1'));
    expect((await failureOf(cached.authenticator.authenticate('utlopt', 'feil-2')))?.reason).toBe('locked');
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect((await failureOf(cached.authenticator.authenticate('utlopt', 'feil-3')))?.reason).toBe('invalid_credentials');
    await expect(cached.authenticator.authenticate('utlopt', 'riktig-passord')).resolves.toMatchObject({ userName: 'utlopt' });
  });
});
