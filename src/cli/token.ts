/**
 * `token --person P [--level N]`: an end user's Bearer token for the REST messages API.
 * `token --org O --scope "S …"`: an organisation's Maskinporten-shaped token for the broker API.
 * Both are signed by the gateway's own issuer key in DATA_DIR (for local use and tests; with
 * JWT_JWKS_URL set, tokens come from that issuer). Needs no database, so it also works while the
 * embedded server is running.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { issueLocalToken, isPersonNumber } from '../auth/end-user-tokens';
import { BROKER_SCOPES, issueLocalOrganisationToken } from '../auth/organisation-tokens';
import { orgNumberProblem } from '../broker/parties';
import { loadConfig } from '../config';
import { writeLine, type CliIo } from './io';

interface TokenOptions {
  person?: string;
  level: number;
  org?: string;
  scope?: string[];
  minutes: number;
}

const KNOWN_SCOPES: readonly string[] = Object.values(BROKER_SCOPES);

export function registerTokenCommand(program: Command, io: CliIo): void {
  program
    .command('token')
    .description(
      "print a Bearer token signed with the gateway's local issuer key (DATA_DIR): an end user's for the REST messages API (--person), " +
        "or an organisation's Maskinporten-shaped one for the broker API (--org with --scope)",
    )
    .addOption(new Option('--person <fnr>', "end user's national identity number (11 digits)").argParser(personArgument))
    .addOption(
      new Option('--level <n>', 'with --person: authentication level 0-4 (4: high, e.g. BankID; 3: substantial)')
        .argParser(levelArgument)
        .default(3)
        .conflicts('org'),
    )
    .addOption(new Option('--org <orgnr>', 'organisation number (9 digits, valid check digit)').argParser(organisationArgument).conflicts('person'))
    .addOption(
      new Option('--scope <scopes>', `with --org: space-separated scopes, any of ${KNOWN_SCOPES.join(', ')} (may be repeated)`)
        .argParser(scopesArgument)
        .conflicts('person'),
    )
    .option('--minutes <n>', 'lifetime in minutes', minutesArgument, 60)
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  altinn-gateway token --person 01017012345 --level 4\n' +
        `  altinn-gateway token --org 991825827 --scope "${BROKER_SCOPES.write} ${BROKER_SCOPES.read}"`,
    )
    .action(async (options: TokenOptions, command: Command) => {
      if (options.person === undefined && options.org === undefined) {
        command.error('error: give --person <fnr> (an end user) or --org <orgnr> (an organisation)');
      }
      if (options.org !== undefined && options.scope === undefined) {
        command.error(`error: --org needs --scope (any of ${KNOWN_SCOPES.join(', ')})`);
      }
      const config = loadConfig(io.env);
      const ttlSeconds = options.minutes * 60;
      const token =
        options.org !== undefined
          ? await issueLocalOrganisationToken(config.messages.jwt, config.dataDir, { orgNumber: options.org, scopes: options.scope!, ttlSeconds })
          : await issueLocalToken(config.messages.jwt, config.dataDir, { person: options.person!, authLevel: options.level, ttlSeconds });
      writeLine(io.stdout, token);
    });
}

export function personArgument(value: string): string {
  if (!isPersonNumber(value)) throw new InvalidArgumentError('A national identity number is exactly 11 digits.');
  return value;
}

function organisationArgument(value: string): string {
  const problem = orgNumberProblem(value);
  if (problem) throw new InvalidArgumentError(`${problem[0]!.toUpperCase()}${problem.slice(1)}.`);
  return value;
}

/** Space-separated broker scopes; a repeated --scope adds to the earlier ones. */
function scopesArgument(value: string, previous: string[] | undefined): string[] {
  const scopes = value.split(' ').filter((scope) => scope !== '');
  if (scopes.length === 0) throw new InvalidArgumentError(`Give one or more of ${KNOWN_SCOPES.join(', ')}.`);
  const unknown = scopes.find((scope) => !KNOWN_SCOPES.includes(scope));
  if (unknown !== undefined) throw new InvalidArgumentError(`Unknown scope '${unknown}': the broker's scopes are ${KNOWN_SCOPES.join(', ')}.`);
  return [...new Set([...(previous ?? []), ...scopes])];
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
