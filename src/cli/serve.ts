/**
 * `serve`: run the HTTP server until SIGINT/SIGTERM. On the embedded database an empty archive is
 * seeded with the demo first, and how to call it is printed (again on later starts).
 */
import type { Command } from 'commander';
import type { App } from '../app';
import { loadConfig } from '../config';
import { formatDemoInstructions } from '../demo/instructions';
import { findDemo, isDemoNeeded, seedDemo, type DemoInfo } from '../demo/seed';
import { seedBrokerDemo } from '../demo/broker';
import { runServer } from '../server';
import { writeLine, type CliIo } from './io';

export function registerServeCommand(program: Command, io: CliIo): void {
  program
    .command('serve')
    .description('serve the SOAP endpoints, the REST messages API and the broker APIs (embedded database under DATA_DIR unless DATABASE_URL is set)')
    .action(async () => {
      const config = loadConfig(io.env);
      let demo: DemoInfo | undefined;
      const server = await runServer(config, {
        // Seeded through the server's own connection: the embedded database allows only one user.
        onOpen: async (app) => {
          if (!config.databaseUrl) demo = await prepareDemo(app);
        },
      });
      if (demo) writeLine(io.stdout, formatDemoInstructions(demo, server.url, { dataDir: config.dataDir, jwksUrl: config.messages.jwt.jwksUrl }));
      // runServer closes gracefully on SIGINT/SIGTERM; the listening server keeps the process alive.
    });
}

async function prepareDemo(app: App): Promise<DemoInfo | undefined> {
  if (await isDemoNeeded(app)) return seedDemo(app);
  const demo = await findDemo(app);
  // A demo database from before the broker existed gets the broker demo on its next start.
  if (demo && !demo.broker) demo.broker = await seedBrokerDemo(app);
  return demo;
}
