/** Norwegian local time without an offset, as Altinn 2 wrote and reads it (CONTRACT §9 "Dates"). */
import { formatNorwegianLocalTime, fromNorwegianLocalTime, osloOffsetMs, parseNorwegianDateTime } from '../../../src/broker/altinn2/norwegian-time';

it.each([
  // Summer time (UTC+2), the seed's example shape: milliseconds kept.
  ['2024-04-26T11:17:33.911Z', '2024-04-26T13:17:33.911'],
  // Trailing zeros trimmed, no fraction when zero.
  ['2024-05-08T10:14:52.310Z', '2024-05-08T12:14:52.31'],
  ['2024-05-08T10:14:52.300Z', '2024-05-08T12:14:52.3'],
  ['2024-05-08T10:14:52.000Z', '2024-05-08T12:14:52'],
  // Winter time (UTC+1), and the date rolling over at local midnight.
  ['2024-01-15T23:30:00.005Z', '2024-01-16T00:30:00.005'],
  // Around the switches: 2024-03-31 01:00Z (02:00 → 03:00 local), 2024-10-27 01:00Z (03:00 → 02:00 local).
  ['2024-03-31T00:59:59.999Z', '2024-03-31T01:59:59.999'],
  ['2024-03-31T01:00:00.000Z', '2024-03-31T03:00:00'],
  ['2024-10-27T00:30:00.000Z', '2024-10-27T02:30:00'],
  ['2024-10-27T01:30:00.000Z', '2024-10-27T02:30:00'],
])('%s is %s in Oslo', (utc, local) => {
  expect(formatNorwegianLocalTime(new Date(utc))).toBe(local);
});

it('knows the offset on both sides of each switch', () => {
  expect(osloOffsetMs(new Date('2024-03-31T00:59:59Z'))).toBe(3_600_000);
  expect(osloOffsetMs(new Date('2024-03-31T01:00:00Z'))).toBe(7_200_000);
  expect(osloOffsetMs(new Date('2024-10-27T00:59:59Z'))).toBe(7_200_000);
  expect(osloOffsetMs(new Date('2024-10-27T01:00:00Z'))).toBe(3_600_000);
});

it('reads local wall-clock times back to the instant, the repeated autumn hour as standard time, the spring gap an hour on', () => {
  expect(fromNorwegianLocalTime(2024, 4, 26, 13, 17, 33, 911).toISOString()).toBe('2024-04-26T11:17:33.911Z');
  expect(fromNorwegianLocalTime(2024, 1, 16, 0, 30).toISOString()).toBe('2024-01-15T23:30:00.000Z');
  expect(fromNorwegianLocalTime(2024, 10, 27, 2, 30).toISOString()).toBe('2024-10-27T01:30:00.000Z');
  expect(fromNorwegianLocalTime(2024, 3, 31, 2, 30).toISOString()).toBe('2024-03-31T01:30:00.000Z');
  expect(fromNorwegianLocalTime(2024, 3, 31, 3, 0).toISOString()).toBe('2024-03-31T01:00:00.000Z');
});

it('parses query date-times: no offset is Oslo time, an offset or Z is taken as given', () => {
  expect(parseNorwegianDateTime('2024-04-26T13:17:33.911')?.toISOString()).toBe('2024-04-26T11:17:33.911Z');
  expect(parseNorwegianDateTime('2024-04-26')?.toISOString()).toBe('2024-04-25T22:00:00.000Z');
  expect(parseNorwegianDateTime('2024-01-16 00:30')?.toISOString()).toBe('2024-01-15T23:30:00.000Z');
  expect(parseNorwegianDateTime('2024-04-26T13:17:33Z')?.toISOString()).toBe('2024-04-26T13:17:33.000Z');
  expect(parseNorwegianDateTime('2024-04-26T13:17:33+05:30')?.toISOString()).toBe('2024-04-26T07:47:33.000Z');
  // An unencoded + in a query string arrives as a space.
  expect(parseNorwegianDateTime('2024-04-26T13:17:33 02:00')?.toISOString()).toBe('2024-04-26T11:17:33.000Z');
  for (const bad of ['', 'yesterday', '2024-02-30T10:00:00', '2024-13-01', '2024-04-26T24:00:00', '26.04.2024']) {
    expect(parseNorwegianDateTime(bad)).toBeUndefined();
  }
});

it('round-trips every formatted time', () => {
  for (let time = Date.UTC(2024, 9, 26, 20); time < Date.UTC(2024, 9, 27, 4); time += 17 * 60_000 + 123) {
    const date = new Date(time);
    const local = formatNorwegianLocalTime(date);
    const back = parseNorwegianDateTime(local)!;
    // The repeated hour is ambiguous on the wall clock: it reads back as standard time.
    if (formatNorwegianLocalTime(back) === local && back.getTime() !== time) expect(back.getTime() - time).toBe(3_600_000);
    else expect(back.getTime()).toBe(time);
  }
});
