/** `demo`: seed the demo service owner, system user, service and form tasks, and say how to call them. */
import type { Command } from 'commander';
import { loadConfig } from '../config';
import { formatDemoInstructions } from '../demo/instructions';
import { isDemoNeeded, seedDemo } from '../demo/seed';
import { writeLine, type CliIo } from './io';
import { withApp } from './with-app';

export function registerDemoCommand(program: Command, io: CliIo): void {
  program
    .command('demo')
    .description('seed demo data (into an empty database unless --force) and print how to call the server')
    .option('--force', 'seed even though the database already has service owners')
    .action(async (options: { force?: boolean }) => {
      const config = loadConfig(io.env);
      await withApp(io, async (app) => {
        if (!options.force && !(await isDemoNeeded(app))) {
          throw new Error('The database already has service owners; the demo is only seeded into an empty database (use --force to add it anyway)');
        }
        const demo = await seedDemo(app);
        writeLine(io.stdout, formatDemoInstructions(demo, `http://localhost:${config.port}`, { dataDir: config.dataDir, jwksUrl: config.messages.jwt.jwksUrl }));
        writeLine(io.stdout, 'Start the server with: altinn-gateway serve');
      });
    });
}
