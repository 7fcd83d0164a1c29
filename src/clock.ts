/**
 * Time as a dependency. The domain and the jobs read the time from a Clock and pass it to SQL as a
 * parameter (never SQL `now()`), so tests can move time forward (expiry, grace periods, retries)
 * with a ManualClock instead of waiting.
 */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = {
  now: () => new Date(),
};

/** A clock that moves only when told to (tests, simulations). */
export class ManualClock implements Clock {
  private current: number;

  constructor(start: Date = new Date('2025-01-01T00:00:00.000Z')) {
    this.current = ManualClock.checked(start.getTime());
  }

  now(): Date {
    // A fresh Date each time: callers may not mutate our notion of the time.
    return new Date(this.current);
  }

  set(date: Date): void {
    this.current = ManualClock.checked(date.getTime());
  }

  advance(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`ManualClock.advance: ${ms} is not a non-negative number of milliseconds`);
    this.current = ManualClock.checked(this.current + ms);
  }

  private static checked(time: number): number {
    if (!Number.isFinite(time)) throw new RangeError('ManualClock: not a valid date');
    return time;
  }
}
