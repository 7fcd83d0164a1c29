/**
 * ISO 8601 durations of resource settings (`P30D`, `PT2H`), parsed by tinyduration. Years and
 * months have no fixed length; they count as 365 and 30 days, as .NET's XmlConvert.ToTimeSpan
 * (which Altinn uses) counts them.
 */
import { parse, serialize, type Duration } from 'tinyduration';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

export const DURATION_UNITS_MS = { years: 365 * DAY, months: 30 * DAY, weeks: 7 * DAY, days: DAY, hours: HOUR, minutes: MINUTE, seconds: SECOND } as const;

/** Milliseconds of an ISO 8601 duration, or undefined when the text is not one (or is negative). */
export function parseIsoDuration(text: string): number | undefined {
  let duration: Duration;
  try {
    duration = parse(text.trim());
  } catch {
    return undefined;
  }
  if (duration.negative) return undefined;
  let ms = 0;
  for (const [unit, unitMs] of Object.entries(DURATION_UNITS_MS)) ms += (duration[unit as keyof typeof DURATION_UNITS_MS] ?? 0) * unitMs;
  return Number.isFinite(ms) ? Math.round(ms) : undefined;
}

/** A canonical ISO 8601 text for a number of milliseconds (days, hours, minutes, seconds). */
export function formatIsoDuration(ms: number): string {
  let rest = Math.round(ms / SECOND);
  const days = Math.floor(rest / 86400);
  rest -= days * 86400;
  const hours = Math.floor(rest / 3600);
  rest -= hours * 3600;
  const minutes = Math.floor(rest / 60);
  const seconds = rest - minutes * 60;
  if (days === 0 && hours === 0 && minutes === 0 && seconds === 0) return 'PT0S';
  return serialize({ days: days || undefined, hours: hours || undefined, minutes: minutes || undefined, seconds: seconds || undefined });
}
