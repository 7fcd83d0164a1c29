/**
 * `apikey add | list | revoke`: API clients of the REST messages API. `add` prints the key (alone
 * on stdout, so `KEY=$(altinn-gateway apikey add --name x)` works); only its hash is stored.
 */
import type { Command } from 'commander';
import { addApiKey, listApiClients, revokeApiKey } from '../auth/api-keys';
import { writeLine, type CliIo } from './io';
import { withApp } from './with-app';

export function registerApiKeyCommands(program: Command, io: CliIo): void {
  const apikey = program.command('apikey').description('manage API keys of REST API clients (the ApiKey header)');
  apikey
    .command('add')
    .description('register an API client and print its key (shown only this once)')
    .requiredOption('--name <name>', 'name of the client system, e.g. "Regnskap AS fagsystem"')
    .action(async (options: { name: string }) => {
      await withApp(io, async (app) => {
        const { key, name } = await addApiKey(app.db, { name: options.name });
        writeLine(io.stdout, key);
        writeLine(io.stderr, `API key for '${name}' created. It is shown only now; send it as the ApiKey header.`);
      });
    });
  apikey
    .command('list')
    .description('list API clients (never their keys)')
    .action(async () => {
      await withApp(io, async (app) => {
        const clients = await listApiClients(app.db);
        if (clients.length === 0) writeLine(io.stdout, 'No API clients.');
        for (const client of clients) {
          const state = client.revokedAt ? `revoked ${client.revokedAt.toISOString()}` : 'active';
          writeLine(io.stdout, `${client.name}\tcreated ${client.createdAt.toISOString()}\t${state}`);
        }
      });
    });
  apikey
    .command('revoke')
    .description("revoke an API client's key at once")
    .requiredOption('--name <name>', 'name of the client')
    .action(async (options: { name: string }) => {
      await withApp(io, async (app) => {
        await revokeApiKey(app.db, options.name);
        writeLine(io.stdout, `Revoked the API key of '${options.name}'.`);
      });
    });
}
