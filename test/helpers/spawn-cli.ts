/**
 * The CLI as a separate process (test/support/cli-from-source.js runs it from src/), for what only a
 * real process shows: that it exits, with which code, how fast.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';

export const CLI_FROM_SOURCE = path.join(__dirname, '../support/cli-from-source.js');

export interface SpawnedCliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Whether it had to be killed after `timeoutMs`. */
  timedOut: boolean;
}

export function runCliProcess(args: string[], env: NodeJS.ProcessEnv, options: { timeoutMs?: number; cwd?: string } = {}): Promise<SpawnedCliResult> {
  // Generous: transpiling src/ on require takes seconds on a loaded machine; a hang still shows as timedOut.
  const timeoutMs = options.timeoutMs ?? 100_000;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_FROM_SOURCE, ...args], { cwd: options.cwd, env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}
