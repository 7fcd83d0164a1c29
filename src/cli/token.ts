/**
 * `token --person P --level N`: a Bearer token for the REST API, signed by the gateway's own issuer
 * key in DATA_DIR (for local use and tests; with JWT_JWKS_URL set, tokens come from that issuer).
 * Needs no database, so it also works while the embedded server is running.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { issueLocalToken, isPersonNumber } from '../auth/end-user-tokens';
import { loadConfig } from '../config';
import { writeLine, type CliIo } from './io';

export function registerTokenCommand(program: Command, io: CliIo): void {
  program
    .command('token')
    .description("print an end user's Bearer token for the REST API, signed with the gateway's local issuer key (DATA_DIR)")
    .requiredOption('--person <fnr>', 'national identity number (11 digits)', personArgument)
    .option('--level <n>', 'authentication level 0-4 (4: high, e.g. BankID; 3: substantial)', levelArgument, 3)
    .option('--minutes <n>', 'lifetime in minutes', minutesArgument, 60)
    .action(async (options: { person: string; level: number; minutes: number }) => {
      const config = loadConfig(io.env);
      const token = await issueLocalToken(config.messages.jwt, config.dataDir, {
        person: options.person,
        authLevel: options.level,
        ttlSeconds: options.minutes * 60,
      });
      writeLine(io.stdout, token);
    });
}

export function personArgument(value: string): string {
  if (!isPersonNumber(value)) throw new InvalidArgumentError('A national identity number is exactly 11 digits.');
  return value;
}

function levelArgument(value: string): number {
  if (!/^[0-4]$/.test(value)) throw new InvalidArgumentError('The authentication level is a whole number from 0 to 4.');
  return Number(value);
}

function minutesArgument(value: string): number {
  const minutes = /^[0-9]{1,6}$/.test(value) ? Number(value) : NaN;
  if (!(minutes >= 1 && minutes <= 525_600)) throw new InvalidArgumentError('Give the lifetime in whole minutes, 1 to 525600.');
  return minutes;
}
