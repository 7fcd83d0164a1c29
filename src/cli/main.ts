/**
 * The `altinn-gateway` command line. `main` runs one command and returns its exit code:
 * 0 success, 1 failure (one line on stderr), 2 usage error (commander's message).
 */
import { Command, CommanderError } from 'commander';
import { registerApiKeyCommands } from './apikey';
import { registerArchiveCommands } from './archive-import';
import { registerBrokerCommands } from './broker';
import { registerCertificateCommands } from './certificate';
import { registerDecryptCommand } from './decrypt';
import { registerDemoCommand } from './demo';
import { ConfigError } from '../config';
import { loadEnvFile } from './env-file';
import { processIo, writeLine, type CliIo } from './io';
import { registerMigrateCommand } from './migrate';
import { registerOwnerCommands } from './owner';
import { registerRoleCommands } from './role';
import { registerServeCommand } from './serve';
import { registerServiceCommands } from './service';
import { registerStorageCommands } from './storage';
import { registerSystemUserCommands } from './system-user';
import { registerSystemUserDelegationCommands } from './system-user-delegation';
import { registerTokenCommand } from './token';
import { VERSION } from '../version';

export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export function buildProgram(io: CliIo): Command {
  const program = new Command('altinn-gateway')
    .description(
      "Altinn's service-owner DownloadQueue, end-user REST messages and broker file transfer on your own Postgres.\n" +
        'Configuration comes from the environment (DATABASE_URL, DATA_DIR, PORT, CLAMD_URL, ...).',
    )
    .version(VERSION, '-V, --version', 'print the version')
    // Set before the subcommands are added: they inherit both.
    .exitOverride()
    .configureOutput({ writeOut: (text) => io.stdout.write(text), writeErr: (text) => io.stderr.write(text) })
    .showHelpAfterError('(run with --help for usage)');
  registerServeCommand(program, io);
  registerMigrateCommand(program, io);
  registerOwnerCommands(program, io);
  registerSystemUserCommands(program, io);
  registerSystemUserDelegationCommands(program, io);
  registerServiceCommands(program, io);
  registerCertificateCommands(program, io);
  registerArchiveCommands(program, io);
  registerDecryptCommand(program, io);
  registerApiKeyCommands(program, io);
  registerTokenCommand(program, io);
  registerRoleCommands(program, io);
  registerBrokerCommands(program, io);
  registerDemoCommand(program, io);
  registerStorageCommands(program, io);
  return program;
}

export async function main(argv: string[], io: CliIo = processIo()): Promise<number> {
  try {
    await buildProgram(io).parseAsync(argv, { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : EXIT_USAGE; // commander has printed why
    if (error instanceof ConfigError) {
      for (const problem of error.problems) writeLine(io.stderr, `error: ${problem}`);
      return EXIT_FAILURE;
    }
    writeLine(io.stderr, `error: ${oneLine(error)}`);
    return EXIT_FAILURE;
  }
}

function oneLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/\s*\n\s*/g, ' ').trim() || (error instanceof Error ? error.name : 'unknown error');
}

/** Entry point of bin/altinn-gateway.js. */
export function run(): void {
  const io = processIo();
  try {
    loadEnvFile(io.env, process.cwd());
  } catch (error) {
    writeLine(io.stderr, `error: ${oneLine(error)}`);
    process.exit(EXIT_FAILURE);
  }
  void main(process.argv.slice(2), io).then((code) => {
    process.exitCode = code;
    // A failed command (a serve that could not start) has closed what it opened; exit now rather than wait for
    // anything a dependency left scheduled, so a supervisor sees the failure and restarts.
    if (code !== 0) process.exit(code);
  });
}
