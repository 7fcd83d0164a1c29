/** Parsers for option values: a bad value is a usage error, reported by commander (exit code 2). */
import { InvalidArgumentError } from 'commander';
import { isOrgNumber } from '../archive/add-service-owner';
import { serviceCodeProblem, serviceEditionCodeProblem } from '../archive/add-service';
import { parseSensitiveFields, SensitiveFieldError } from '../crypto/sensitive-fields';

export function orgNumberArgument(value: string): string {
  if (!isOrgNumber(value)) throw new InvalidArgumentError('An organisation number is exactly 9 digits.');
  return value;
}

export function serviceCodeArgument(value: string): string {
  const problem = serviceCodeProblem(value);
  if (problem) throw new InvalidArgumentError(`The ${problem}.`);
  return value;
}

export function serviceEditionArgument(value: string): number {
  const edition = /^[0-9]+$/.test(value) ? Number(value) : NaN;
  if (serviceEditionCodeProblem(edition)) throw new InvalidArgumentError('A service edition code is a whole number from 1 to 2147483647.');
  return edition;
}

/** A comma-separated list of sensitive field paths (an empty value: none). */
export function sensitiveFieldsArgument(value: string): string[] {
  try {
    return parseSensitiveFields(value);
  } catch (error) {
    if (error instanceof SensitiveFieldError) throw new InvalidArgumentError(`${error.message}.`);
    throw error;
  }
}

/** An ISO 8601 date-time with a time zone (a date alone means its midnight UTC). */
export function dateTimeArgument(value: string): Date {
  const withTime = /^\d{4}-\d{2}-\d{2}$/.test(value) ? `${value}T00:00:00Z` : value;
  const date = new Date(withTime);
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(withTime) || Number.isNaN(date.getTime())) {
    throw new InvalidArgumentError('Give a date (2024-03-05) or an ISO 8601 date-time with a time zone (2024-03-05T13:05:00Z).');
  }
  return date;
}

/** A whole number of seconds, 0 or more. */
export function secondsArgument(value: string): number {
  if (!/^[0-9]{1,10}$/.test(value)) throw new InvalidArgumentError('Give a whole number of seconds (0 or more).');
  return Number(value);
}
