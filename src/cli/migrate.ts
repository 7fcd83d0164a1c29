/** `migrate`: bring the database schema up to date (also done on every start). */
import type { Command } from 'commander';
import { migrateLatest } from '../storage/migrate';
import { writeLine, type CliIo } from './io';
import { withApp } from './with-app';

export function registerMigrateCommand(program: Command, io: CliIo): void {
  program
    .command('migrate')
    .description('run pending database migrations')
    .action(async () => {
      await withApp(
        io,
        async (app) => {
          const applied = await migrateLatest(app.db);
          writeLine(io.stdout, applied.length > 0 ? `Applied migrations: ${applied.join(', ')} (${app.databaseDescription}).` : `Database is up to date (${app.databaseDescription}).`);
        },
        { migrate: false },
      );
    });
}
