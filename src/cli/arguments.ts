/** Parsers for option values: a bad value is a usage error, reported by commander (exit code 2). */
import { InvalidArgumentError } from 'commander';
import { isOrgNumber } from '../archive/add-service-owner';
import { serviceCodeProblem, serviceEditionCodeProblem } from '../archive/add-service';

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
