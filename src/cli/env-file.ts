/**
 * Settings from a `.env` file (KEY=value lines, as docker compose and dotenv read them) in the
 * working directory, or the file ENV_FILE names. Variables already in the environment win, so a
 * supervisor or container can override a file's value.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseEnv } from 'node:util';

export function loadEnvFile(env: NodeJS.ProcessEnv, cwd: string): void {
  const named = env.ENV_FILE;
  const file = path.resolve(cwd, named || '.env');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if (!named && (error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new Error(`ENV_FILE ${file} cannot be read: ${(error as Error).message}`);
  }
  for (const [name, value] of Object.entries(parseEnv(text))) {
    if (env[name] === undefined) env[name] = value;
  }
}
