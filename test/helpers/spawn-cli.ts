/**
 * The CLI as a separate process (test/support/cli-from-source.js runs it from src/, no build), for
 * what only a real process shows: that it exits, with which code.
 */
import path from 'node:path';
import { runProcess, type ProcessRun } from './processes';

export const CLI_FROM_SOURCE = path.join(__dirname, '../support/cli-from-source.js');

/**
 * `altinn-gateway <args>` with only `env` (and PATH). Killed after 100 s (transpiling src/ on require takes
 * seconds on a loaded machine; a hang still shows as timedOut, inside jest's 120 s test timeout).
 */
export function runCliProcess(args: string[], env: NodeJS.ProcessEnv, options: { cwd?: string } = {}): Promise<ProcessRun> {
  return runProcess(process.execPath, [CLI_FROM_SOURCE, ...args], { env: { PATH: process.env.PATH, ...env }, cwd: options.cwd, timeoutMs: 100_000 });
}
