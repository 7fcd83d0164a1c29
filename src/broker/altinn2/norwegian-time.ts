/**
 * Altinn 2 wrote times as Norwegian local time without an offset (`2024-04-26T13:17:33.911`:
 * .NET's DateTime of kind Unspecified, the fraction's trailing zeros trimmed, none when zero), in
 * its REST JSON and in the broker's manifest.xml. Europe/Oslo is UTC+1, UTC+2 in summer (from the
 * last Sunday of March to the last Sunday of October); Intl knows the rules, so they are not here.
 */

const OSLO = 'Europe/Oslo';

const partsFormatter = new Intl.DateTimeFormat('en-US', {
  timeZone: OSLO,
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  hourCycle: 'h23',
});

interface LocalFields {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

function osloFields(date: Date): LocalFields {
  const fields: Record<string, number> = {};
  for (const part of partsFormatter.formatToParts(date)) {
    if (part.type !== 'literal') fields[part.type] = Number(part.value);
  }
  return { year: fields.year!, month: fields.month!, day: fields.day!, hour: fields.hour!, minute: fields.minute!, second: fields.second! };
}

const pad = (value: number, width = 2) => String(value).padStart(width, '0');

/** `2024-04-26T13:17:33.911`: the instant as Oslo's wall clock shows it, no offset. */
export function formatNorwegianLocalTime(date: Date): string {
  const local = osloFields(date);
  // Oslo's offsets are whole hours, so the milliseconds are the UTC ones.
  const fraction = pad(date.getUTCMilliseconds(), 3).replace(/0+$/, '');
  return (
    `${pad(local.year, 4)}-${pad(local.month)}-${pad(local.day)}T${pad(local.hour)}:${pad(local.minute)}:${pad(local.second)}` +
    (fraction ? `.${fraction}` : '')
  );
}

/** Oslo's offset from UTC at an instant, in milliseconds (3 600 000 or 7 200 000). */
export function osloOffsetMs(date: Date): number {
  const local = osloFields(date);
  const asUtc = Date.UTC(local.year, local.month - 1, local.day, local.hour, local.minute, local.second);
  return asUtc - (date.getTime() - date.getUTCMilliseconds());
}

/**
 * The instant an Oslo wall-clock time names. In the autumn hour that occurs twice the later one
 * (standard time) is taken, as .NET's TimeZoneInfo does; a time in the spring gap (02:00-03:00,
 * which no clock shows) is read with the offset before the gap, i.e. one hour on.
 */
export function fromNorwegianLocalTime(year: number, month: number, day: number, hour = 0, minute = 0, second = 0, millisecond = 0): Date {
  const wall = Date.UTC(year, month - 1, day, hour, minute, second, millisecond);
  const candidates = [...new Set([osloOffsetMs(new Date(wall - 3_600_000)), osloOffsetMs(new Date(wall - 7_200_000)), osloOffsetMs(new Date(wall))])];
  const fitting = candidates.map((offset) => wall - offset).filter((instant) => osloOffsetMs(new Date(instant)) === wall - instant);
  if (fitting.length > 0) return new Date(Math.max(...fitting));
  // In the gap: the offset in force just before it.
  return new Date(wall - osloOffsetMs(new Date(wall - 7_200_000)));
}

const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$/i;

/**
 * A date-time as Altinn 2 clients send it: ISO 8601, with an offset (or Z) taken as given, without
 * one read as Norwegian local time. Undefined when it is not such a date-time. A `+` left unencoded
 * in a query string arrives as a space; it is read as the `+` it was.
 */
export function parseNorwegianDateTime(text: string): Date | undefined {
  const match = DATE_TIME.exec(text.trim().replace(/ (\d{2}:?\d{2})$/, '+$1'));
  if (!match) return undefined;
  const [, year, month, day, hour = '0', minute = '0', second = '0', fraction = '', zone] = match;
  const numbers = [year, month, day, hour, minute, second].map(Number) as [number, number, number, number, number, number];
  const [y, mo, d, h, mi, s] = numbers;
  if (mo < 1 || mo > 12 || d < 1 || d > new Date(Date.UTC(y, mo, 0)).getUTCDate() || h > 23 || mi > 59 || s > 59) return undefined;
  const ms = fraction ? Number(fraction.slice(0, 3).padEnd(3, '0')) : 0;
  if (zone === undefined) return fromNorwegianLocalTime(y, mo, d, h, mi, s, ms);
  const offsetMinutes = zone.toUpperCase() === 'Z' ? 0 : (zone.startsWith('-') ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(-2)));
  return new Date(Date.UTC(y, mo - 1, d, h, mi, s, ms) - offsetMinutes * 60_000);
}
