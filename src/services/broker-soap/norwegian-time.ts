/**
 * How the SOAP broker writes Norwegian local time (the time zone rules are in
 * src/broker/altinn2/norwegian-time.ts, shared with the REST door): the receipt's `LastChanged` is
 * a plain string `dd.MM.yyyy HH:mm:ss` (altinn2-broker CONTRACT §12), `SentDate` an xs:dateTime
 * with the offset, as Altinn's transition bridge writes it (`2024-05-07T09:22:52.8+02:00`).
 */
import { formatNorwegianLocalTime, osloOffsetMs } from '../../broker/altinn2/norwegian-time';

export { parseNorwegianDateTime } from '../../broker/altinn2/norwegian-time';

const LOCAL = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}:\d{2}:\d{2})/;

/** `08.05.2024 13:29:28` */
export function formatLastChanged(date: Date): string {
  const [, year, month, day, time] = LOCAL.exec(formatNorwegianLocalTime(date))!;
  return `${day}.${month}.${year} ${time}`;
}

/** `2024-05-07T09:22:52.8+02:00`: Oslo's wall clock with its offset, the fraction trimmed. */
export function formatSentDate(date: Date): string {
  const offsetMinutes = Math.round(osloOffsetMs(date) / 60_000);
  const sign = offsetMinutes < 0 ? '-' : '+';
  const hours = String(Math.floor(Math.abs(offsetMinutes) / 60)).padStart(2, '0');
  const minutes = String(Math.abs(offsetMinutes) % 60).padStart(2, '0');
  return `${formatNorwegianLocalTime(date)}${sign}${hours}:${minutes}`;
}
