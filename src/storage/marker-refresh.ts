/**
 * Keeping an object-store put's marker young while the put runs. Garbage collection finds
 * unfinished puts by their marker and sweeps those older than STORAGE_GC_GRACE_SECONDS; a marker
 * dated only from the put's start would let it sweep a put that is still streaming (a 10 GB upload
 * over a slow line can outlast the default 24 hours). Re-touched every interval, the marker ages
 * only once the process writing the put is gone, which is what the grace period is for.
 */

/** Default interval: a grace period below it could still sweep live puts (documented in README). */
export const MARKER_REFRESH_MS = 15 * 60_000;

/**
 * Calls `touch` every `intervalMs` until the returned function is called; at most one touch at a
 * time, and a failed one is left to the next tick (the put itself decides its fate, not its marker).
 * The returned stop resolves once no touch is in flight: only then may the marker be deleted, or a
 * late touch could write it again.
 */
export function keepMarkerFresh(touch: () => Promise<unknown>, intervalMs: number): () => Promise<void> {
  let touching: Promise<void> | undefined;
  const timer = setInterval(() => {
    if (touching) return;
    touching = touch().then(
      () => void (touching = undefined),
      () => void (touching = undefined),
    );
  }, intervalMs);
  timer.unref(); // a put in progress keeps the process alive by its own I/O, not by this
  return async () => {
    clearInterval(timer);
    await touching;
  };
}

/** What a put that never marked anything stops. */
export const notRefreshing = async (): Promise<void> => {};

export function checkedRefreshInterval(intervalMs: number | undefined): number {
  const value = intervalMs ?? MARKER_REFRESH_MS;
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`Invalid marker refresh interval ${value}`);
  return value;
}
