/**
 * System-user authentication over a real database: passwords, lock-out per name and source address
 * after failures, unlock after the lock time; the same answers and the same time for names that
 * exist and names that do not.
 */
import { performance } from 'node:perf_hooks';
import { addSystemUser, AuthenticationError, clearLoginFailures, removeSystemUser, resetSystemUserPassword, SystemUserAuthenticator } from '../../src/auth/system-users';
import { addServiceOwner } from '../../src/archive/add-service-owner';
import { createTestApp, type TestApp } from '../helpers/database';
import { uniqueOrgNumber } from '../helpers/archive-fixtures';

const MAX_FAILED = 3;
const HERE = '198.51.100.7';
const STRANGER = '203.0.113.66';
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

async function authFailure(userName: string | null, password: string | null, from = HERE): Promise<AuthenticationError> {
  const error = await app.authenticator.authenticate(userName, password, from).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AuthenticationError);
  return error as AuthenticationError;
}

describe('SystemUserAuthenticator', () => {
  it('accepts the right password', async () => {
    const { userName, systemUserId } = await newUser();
    await expect(app.authenticator.authenticate(userName, 'riktig-passord', HERE)).resolves.toEqual({ systemUserId, serviceOwnerId, userName });
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
    expect(locking.message).toMatch(/^Too many failed logins for this system user name from this address: try again after \d{4}-\d{2}-\d{2}T/);

    const whileLocked = await authFailure(userName, 'riktig-passord');
    expect(whileLocked.reason).toBe('locked');

    await new Promise((resolve) => setTimeout(resolve, 1100));
    await expect(app.authenticator.authenticate(userName, 'riktig-passord', HERE)).resolves.toMatchObject({ systemUserId });
    expect(await app.db('system_user_login_failures').where({ user_name: userName })).toEqual([]);
  });

  it('locks only the address a stranger hammers a known name from: its owner still logs in from elsewhere', async () => {
    const { userName, systemUserId } = await newUser();
    for (let attempt = 0; attempt < MAX_FAILED * 3; attempt++) await authFailure(userName, `gjett-${attempt}`, STRANGER);
    expect((await authFailure(userName, 'riktig-passord', STRANGER)).reason).toBe('locked');
    await expect(app.authenticator.authenticate(userName, 'riktig-passord', HERE)).resolves.toMatchObject({ systemUserId });
    // The lock is in the database (shared by every process) and an operator can lift it.
    expect(await app.db('system_user_login_failures').where({ user_name: userName }).pluck('source_address')).toEqual([STRANGER]);
    expect(await clearLoginFailures(app.db, userName)).toBe(1);
    await expect(app.authenticator.authenticate(userName, 'riktig-passord', STRANGER)).resolves.toMatchObject({ systemUserId });
  });

  it('answers an existing and an unknown name identically, in the same time, before and after the lock', async () => {
    const { userName } = await newUser();
    const unknown = 'finnes-ikke-heller';
    const ROUNDS = 6;
    const ATTEMPTS = MAX_FAILED + 3;
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

    /** One measurement from ROUNDS fresh addresses: the answers must be equal; the medians per phase. */
    async function measure(series: number) {
      const times = { existing: { open: [] as number[], locked: [] as number[] }, unknown: { open: [] as number[], locked: [] as number[] } };
      for (let round = 0; round < ROUNDS; round++) {
        const from = `192.0.${series + 2}.${round + 1}`;
        for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
          // Interleaved, so a noisy moment on the machine hits both alike.
          const answers: string[] = [];
          const pair = [['existing', userName], ['unknown', unknown]] as const;
          for (const [kind, name] of round % 2 === 0 ? pair : [...pair].reverse()) {
            const started = performance.now();
            const failure = await authFailure(name, `feil-${attempt}`, from);
            const elapsed = performance.now() - started;
            times[kind][attempt <= MAX_FAILED ? 'open' : 'locked'].push(elapsed);
            answers[kind === 'existing' ? 0 : 1] = `${failure.reason}: ${failure.message.replace(/\d{4}-\d{2}-\d{2}T[\d:.]+Z/, '<time>')}`;
          }
          expect(answers[1]).toBe(answers[0]);
        }
      }
      return {
        open: { existing: median(times.existing.open), unknown: median(times.unknown.open) },
        locked: { existing: median(times.existing.locked), unknown: median(times.unknown.locked) },
      };
    }

    // A bound robust on a noisy machine: medians may differ by at most a quarter of one KDF run (the
    // old answers differed by a whole one: 2.4 ms for a locked existing name, 40.8 ms for an unknown
    // one), and locked answers run no KDF for any name. A real difference shows in every measurement;
    // a load spike on a shared machine does not, so up to three measurements are taken.
    const withinBound = (figures: Awaited<ReturnType<typeof measure>>) => {
      const kdf = Math.min(figures.open.existing, figures.open.unknown);
      return [figures.open, figures.locked].every((phase) => Math.abs(phase.existing - phase.unknown) < kdf / 4) && figures.locked.existing < kdf / 4;
    };
    const measured = [];
    for (let series = 0; series < 3; series++) {
      measured.push(await measure(series));
      if (withinBound(measured.at(-1)!)) break;
    }
    process.stderr.write(`login timing medians (ms): ${JSON.stringify(measured)}\n`);
    expect(withinBound(measured.at(-1)!)).toBe(true);
  });

  it('a successful login resets the count of failures', async () => {
    const { userName } = await newUser();
    for (let round = 0; round < 2; round++) {
      for (let attempt = 1; attempt < MAX_FAILED; attempt++) await authFailure(userName, 'feil');
      await expect(app.authenticator.authenticate(userName, 'riktig-passord', HERE)).resolves.toMatchObject({ userName });
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
    await cached.authenticator.authenticate('husket', 'riktig-passord', HERE); // now remembered
    await failureOf(cached.authenticator.authenticate('husket', 'feil-1', HERE));
    expect((await failureOf(cached.authenticator.authenticate('husket', 'feil-2', HERE)))?.reason).toBe('locked');
    const locked = await failureOf(cached.authenticator.authenticate('husket', 'riktig-passord', HERE));
    expect(locked?.reason).toBe('locked');

    await clearLoginFailures(cached.db, 'husket');
    await cached.db('system_users').where({ user_name: 'husket' }).update({ password_hash: 'scrypt$16384$8$1$AAAA$BBBB' });
    const afterChange = await failureOf(cached.authenticator.authenticate('husket', 'riktig-passord', HERE));
    expect(afterChange?.reason).toBe('invalid_credentials');
  });

  it('starts a fresh count after a lock expires instead of locking again on the first mistake', async () => {
    await addSystemUser(cached.db, { serviceOwnerId: ownerId, userName: 'utlopt', password: 'riktig-passord' });
    await failureOf(cached.authenticator.authenticate('utlopt', 'feil-1', HERE));
    expect((await failureOf(cached.authenticator.authenticate('utlopt', 'feil-2', HERE)))?.reason).toBe('locked');
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect((await failureOf(cached.authenticator.authenticate('utlopt', 'feil-3', HERE)))?.reason).toBe('invalid_credentials');
    await expect(cached.authenticator.authenticate('utlopt', 'riktig-passord', HERE)).resolves.toMatchObject({ userName: 'utlopt' });
  });
});

describe('two gateway processes on one database (each its own verified-credentials cache)', () => {
  let shared: TestApp;
  let ownerId: number;
  const policy = { maxFailedAttempts: 2, lockSeconds: 60, verifiedCacheSeconds: 60 };
  beforeAll(async () => {
    shared = await createTestApp({ auth: policy });
    ({ serviceOwnerId: ownerId } = await addServiceOwner(shared.db, { orgNumber: uniqueOrgNumber(), name: 'Delteetaten' }));
  });
  afterAll(() => shared.close());
  const failureOf = (promise: Promise<unknown>) => promise.then(() => undefined, (e: unknown) => e as AuthenticationError);

  it('a password reset, a lock-out and a removal made through one take effect on the other at once, though it remembers the credentials', async () => {
    const first = shared.authenticator;
    const second = new SystemUserAuthenticator(shared.db, policy);
    await addSystemUser(shared.db, { serviceOwnerId: ownerId, userName: 'delt', password: 'gammelt-passord' });
    for (const instance of [first, second]) await expect(instance.authenticate('delt', 'gammelt-passord', HERE)).resolves.toMatchObject({ userName: 'delt' });

    await resetSystemUserPassword(shared.db, 'delt', 'nytt-passord-1');
    expect((await failureOf(second.authenticate('delt', 'gammelt-passord', STRANGER)))?.reason).toBe('invalid_credentials');
    await expect(second.authenticate('delt', 'nytt-passord-1', HERE)).resolves.toMatchObject({ userName: 'delt' });

    // Locked through the first (from HERE): the second, which remembers the right password, refuses it from HERE too.
    await failureOf(first.authenticate('delt', 'feil-1', HERE));
    expect((await failureOf(first.authenticate('delt', 'feil-2', HERE)))?.reason).toBe('locked');
    expect((await failureOf(second.authenticate('delt', 'nytt-passord-1', HERE)))?.reason).toBe('locked');
    await clearLoginFailures(shared.db, 'delt');
    await expect(second.authenticate('delt', 'nytt-passord-1', HERE)).resolves.toMatchObject({ userName: 'delt' });

    await removeSystemUser(shared.db, 'delt');
    expect((await failureOf(first.authenticate('delt', 'nytt-passord-1', '192.0.2.10')))?.reason).toBe('invalid_credentials');
    expect((await failureOf(second.authenticate('delt', 'nytt-passord-1', '192.0.2.11')))?.reason).toBe('invalid_credentials');
  });
});
