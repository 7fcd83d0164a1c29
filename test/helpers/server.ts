/**
 * A real gateway over real HTTP for integration tests: a fresh database (see database.ts), the
 * production server (buildServer), listening on an ephemeral loopback port.
 */
import type { Config } from '../../src/config';
import { buildServer, type ServerOptions } from '../../src/server';
import { createTestApp, type TestApp } from './database';

export interface TestServer {
  url: string;
  app: TestApp;
  close(): Promise<void>;
}

export async function startTestServer(overrides: Partial<Config> = {}, serverOptions: ServerOptions = { logger: false }): Promise<TestServer> {
  const app = await createTestApp(overrides);
  const server = buildServer(app, serverOptions);
  const url = await server.listen({ port: 0, host: '127.0.0.1' });
  return {
    url,
    app,
    close: async () => {
      await server.close();
      await app.close();
    },
  };
}
