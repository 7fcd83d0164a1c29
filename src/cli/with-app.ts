/** Every command that touches data opens the app (database migrated, blob store) for its run and closes it. */
import { openApp, type App, type OpenAppOptions } from '../app';
import { loadConfig } from '../config';
import type { CliIo } from './io';

export async function withApp<T>(io: CliIo, work: (app: App) => Promise<T>, options: OpenAppOptions = {}): Promise<T> {
  const app = await openApp(loadConfig(io.env), options);
  try {
    return await work(app);
  } finally {
    await app.close();
  }
}
