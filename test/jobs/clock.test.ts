/** ManualClock (src/clock.ts), the clock the jobs tests drive; here because the jobs are its first user. */
import { ManualClock, systemClock } from '../../src/clock';

it('moves only when told to, and hands out copies', () => {
  const clock = new ManualClock(new Date('2025-06-01T00:00:00Z'));
  const now = clock.now();
  now.setFullYear(1999);
  expect(clock.now()).toEqual(new Date('2025-06-01T00:00:00Z'));
  clock.advance(30 * 24 * 3600_000);
  expect(clock.now()).toEqual(new Date('2025-07-01T00:00:00Z'));
  clock.set(new Date('2024-01-01T00:00:00Z'));
  expect(clock.now()).toEqual(new Date('2024-01-01T00:00:00Z'));
});

it('refuses nonsense', () => {
  const clock = new ManualClock();
  expect(() => clock.advance(-1)).toThrow(RangeError);
  expect(() => clock.advance(Number.NaN)).toThrow(RangeError);
  expect(() => clock.set(new Date('not a date'))).toThrow(RangeError);
  expect(() => new ManualClock(new Date(Number.NaN))).toThrow(RangeError);
});

it('systemClock reads the system time', () => {
  const before = Date.now();
  const now = systemClock.now().getTime();
  expect(now).toBeGreaterThanOrEqual(before);
  expect(now).toBeLessThanOrEqual(Date.now());
});
