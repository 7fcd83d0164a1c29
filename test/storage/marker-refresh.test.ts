/** Keeping a live object-store put's marker young: how often, and that stopping waits for a touch in flight. */
import { markerRefreshFor } from '../../src/storage/blob-store-from-config';
import { keepMarkerFresh, MARKER_REFRESH_MS } from '../../src/storage/marker-refresh';

it('touches a quarter of the grace period apart, at most every 15 minutes, at least every second', () => {
  expect(markerRefreshFor(undefined)).toBe(MARKER_REFRESH_MS);
  expect(markerRefreshFor(86_400)).toBe(15 * 60_000);
  expect(markerRefreshFor(3600)).toBe(15 * 60_000);
  expect(markerRefreshFor(600)).toBe(150_000);
  expect(markerRefreshFor(0)).toBe(1000);
});

it('touches every interval, one touch at a time, and stop resolves only once the touch in flight is done', async () => {
  const events: string[] = [];
  let finishTouch!: () => void;
  let touches = 0;
  const stop = keepMarkerFresh(() => {
    touches++;
    events.push('touch');
    return new Promise<void>((resolve) => (finishTouch = () => (events.push('touched'), resolve())));
  }, 20);
  await new Promise((resolve) => setTimeout(resolve, 100));
  expect(touches).toBe(1); // the first touch is still running: no second one beside it
  const stopped = stop().then(() => events.push('stopped'));
  await new Promise((resolve) => setTimeout(resolve, 50));
  expect(events).toEqual(['touch']);
  finishTouch();
  await stopped;
  expect(events).toEqual(['touch', 'touched', 'stopped']);
  await new Promise((resolve) => setTimeout(resolve, 60));
  expect(touches).toBe(1);
});

it('keeps touching after a failed touch', async () => {
  let touches = 0;
  const stop = keepMarkerFresh(async () => {
    touches++;
    throw new Error('store unreachable');
  }, 10);
  await new Promise((resolve) => setTimeout(resolve, 80));
  await stop();
  expect(touches).toBeGreaterThanOrEqual(3);
});
