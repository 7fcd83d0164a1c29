/**
 * `broker webhook add|list|remove`: an operator manages organisations' webhook subscriptions (the
 * same as an organisation does with POST/GET/DELETE /broker/api/v1/webhooks, but for any organisation).
 *
 *   broker webhook add --org <orgnr> --url <url> [--events published,filepurged] [--json]
 *   broker webhook list [--org <orgnr>] [--json]
 *   broker webhook remove --id <id> [--org <orgnr>]
 *
 * `add` prints the signing secret, once; the receiver verifies webhook-signature with it.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { BrokerError } from '../broker/errors';
import { orgNumberProblem } from '../broker/parties';
import { addWebhook, checkEventTypes, listWebhooks, removeWebhook, type Webhook } from '../broker/webhooks';
import { writeLine, type CliIo } from './io';
import { withApp } from './with-app';

function organisationArgument(value: string): string {
  const orgNumber = value.startsWith('0192:') ? value.slice(5) : value;
  const problem = orgNumberProblem(orgNumber);
  if (problem) throw new InvalidArgumentError(`${problem[0]!.toUpperCase()}${problem.slice(1)}.`);
  return orgNumber;
}

/** A comma-separated list of event types; checked here so that a typo is a usage error. */
function eventTypesArgument(value: string): string[] {
  const types = value.split(',').map((type) => type.trim()).filter((type) => type !== '');
  try {
    checkEventTypes(types);
  } catch (error) {
    if (error instanceof BrokerError) throw new InvalidArgumentError(messageOf(error));
    throw error;
  }
  return types;
}

function messageOf(error: BrokerError): string {
  const messages = Object.values(error.details.errors ?? {}).flat();
  return messages.length > 0 ? messages.join(' ') : error.message;
}

function describe(webhook: Webhook): string {
  return `${webhook.url} (events: ${webhook.eventTypes ? webhook.eventTypes.join(', ') : 'all'})`;
}

export function registerBrokerWebhookCommands(broker: Command, io: CliIo): void {
  const webhook = broker
    .command('webhook')
    .description("organisations' webhook subscriptions: their broker events POSTed as signed CloudEvents (Standard Webhooks)");

  webhook
    .command('add')
    .description('subscribe a URL to the events of an organisation; prints the signing secret once')
    .requiredOption('--org <orgnr>', 'the organisation whose events are delivered (9 digits or 0192:<orgnr>)', organisationArgument)
    .requiredOption('--url <url>', 'http(s) URL the events are POSTed to')
    .option('--events <types>', 'comma-separated event types, e.g. published,filepurged (default: all)', eventTypesArgument)
    .option('--json', 'print the webhook (with its secret) as JSON', false)
    .action(async (options: { org: string; url: string; events?: string[]; json: boolean }) => {
      await withApp(io, async (app) => {
        let added;
        try {
          added = await addWebhook(app.broker, { orgNumber: options.org, partyId: `0192:${options.org}` }, { url: options.url, eventTypes: options.events });
        } catch (error) {
          if (error instanceof BrokerError) throw new Error(messageOf(error));
          throw error;
        }
        if (options.json) {
          writeLine(io.stdout, JSON.stringify({ id: added.id, org: added.orgNumber, url: added.url, eventTypes: added.eventTypes, created: added.created.toISOString(), secret: added.secret }));
          return;
        }
        writeLine(io.stdout, `Added webhook ${added.id} for ${added.orgNumber}: ${describe(added)}`);
        writeLine(io.stdout, `Signing secret (shown only now): ${added.secret}`);
      });
    });

  webhook
    .command('list')
    .description('webhooks, with how many deliveries are pending and given up')
    .option('--org <orgnr>', "only this organisation's", organisationArgument)
    .option('--json', 'as JSON lines', false)
    .action(async (options: { org?: string; json: boolean }) => {
      await withApp(io, async (app) => {
        const webhooks = await listWebhooks(app.broker, options.org === undefined ? {} : { orgNumber: options.org });
        for (const item of webhooks) {
          if (options.json) {
            const { id, orgNumber, url, eventTypes, created, pendingDeliveries, givenUpDeliveries } = item;
            writeLine(io.stdout, JSON.stringify({ id, org: orgNumber, url, eventTypes, created: created.toISOString(), pendingDeliveries, givenUpDeliveries }));
          } else {
            writeLine(io.stdout, `${item.id}  ${item.orgNumber}  ${describe(item)}  pending ${item.pendingDeliveries}, given up ${item.givenUpDeliveries}`);
          }
        }
        if (!options.json && webhooks.length === 0) {
          writeLine(io.stdout, `No webhooks${options.org ? ` for ${options.org}` : ''} (add one with: altinn-gateway broker webhook add --org <orgnr> --url <url>)`);
        }
      });
    });

  webhook
    .command('remove')
    .description('remove a webhook and its undelivered events')
    .requiredOption('--id <id>', 'the webhook id (from add or list)')
    .option('--org <orgnr>', 'only if it belongs to this organisation', organisationArgument)
    .action(async (options: { id: string; org?: string }) => {
      await withApp(io, async (app) => {
        const removed = await removeWebhook(app.broker, options.id, options.org === undefined ? {} : { orgNumber: options.org });
        if (!removed) throw new Error(`No webhook ${options.id}${options.org ? ` of ${options.org}` : ''}`);
        writeLine(io.stdout, `Removed webhook ${options.id}.`);
      });
    });
}
