/**
 * Running the admin CLI in-process through main(), with captured output, a given stdin and an
 * environment of its own: a temporary DATA_DIR with the embedded database, or a fresh database on
 * DATABASE_URL's server.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { openApp, type App } from '../../src/app';
import { main } from '../../src/cli/main';
import { loadConfig } from '../../src/config';
import { createTestDatabase } from './database';

export class CapturedOutput extends Writable {
  text = '';
  constructor(readonly isTTY = false) {
    super();
  }
  override _write(chunk: Buffer | string, _encoding: BufferEncoding, callback: () => void): void {
    this.text += chunk.toString();
    callback();
  }
}

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CliHarness {
  workDir: string;
  env: NodeJS.ProcessEnv;
  run(args: string[], options?: { stdin?: string; stderrIsTTY?: boolean }): Promise<CliRun>;
  /** Look at the data through the app (closed again before the next CLI run). */
  inspect<T>(work: (app: App) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export async function createCliHarness(): Promise<CliHarness> {
  const workDir = await mkdtemp(path.join(tmpdir(), 'agw-cli-'));
  const database = await createTestDatabase();
  const env: NodeJS.ProcessEnv = { DATA_DIR: path.join(workDir, 'data'), LOG_LEVEL: 'silent', ...(database.databaseUrl && { DATABASE_URL: database.databaseUrl }) };
  return {
    workDir,
    env,
    run: async (args, options = {}) => {
      const stdout = new CapturedOutput();
      const stderr = new CapturedOutput(options.stderrIsTTY ?? false);
      const stdin = Readable.from(options.stdin ? [Buffer.from(options.stdin)] : []);
      const code = await main(args, { stdin, stdout, stderr, env });
      return { code, stdout: stdout.text, stderr: stderr.text };
    },
    inspect: async (work) => {
      const app = await openApp(loadConfig(env));
      try {
        return await work(app);
      } finally {
        await app.close();
      }
    },
    close: async () => {
      await database.drop();
      await rm(workDir, { recursive: true, force: true });
    },
  };
}
