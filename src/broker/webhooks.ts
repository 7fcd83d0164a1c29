/**
 * Webhook subscriptions of organisations, and the delivery of their events (issue 8 item 7).
 *
 * Subscriptions: an organisation registers a URL (and optionally the event types it wants); the
 * subject of the events it then receives is always itself. The signing secret (`whsec_…`, Standard
 * Webhooks) is shown once, when the webhook is added. It is stored as is: the gateway must compute
 * the HMAC with it for every delivery, so it cannot be hashed like a password.
 *
 * Delivery (the `broker.deliver-webhook` job, payload {webhookId}): recordEvents (events.ts) writes
 * one delivery row per (webhook, event) in the status change's transaction and enqueues the job.
 * The job POSTs each due delivery as a CloudEvent (cloud-events.ts), signed Standard Webhooks style
 * (`webhook-id` = the event id, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256>`).
 *
 * - Order per transfer: a delivery waits until every earlier delivery of the same webhook for the
 *   same transfer is delivered or given up. Within a transfer, event seq is commit order (the event
 *   is written under the transfer's row lock). Other transfers are not held up by a failing one.
 * - 2xx = delivered. Anything else (3xx included: redirects are never followed), a network error
 *   or no response within the timeout (10 s) = retried with exponential backoff and jitter
 *   (10 s doubling, capped at 1 h) for 72 h, counted from when the delivery reached the head of its
 *   transfer's line; then it is given up (given_up_at set, an error logged, the row kept) and the
 *   transfer's later events proceed.
 * - At least once: a delivery is claimed before it is sent (next_attempt_at pushed past the
 *   timeout, in one UPDATE), so two gateway processes never send it at the same time; but a process
 *   that dies after the receiver got the event and before recording it sends it again after the
 *   claim lapses. Receivers deduplicate by `webhook-id` (stable across retries; for `published` it
 *   is even derived from transfer, role and party).
 * - Scheduling: the job handles every due delivery of its webhook, then leaves one retry job (key
 *   `broker.deliver-webhook:<id>:retry`) at the earliest time something becomes due. recordEvents
 *   enqueues under `broker.deliver-webhook:<id>`; a separate retry key matters, because a pending job
 *   with the same key would swallow recordEvents' enqueue (dedupe) and hold a new transfer's events
 *   until a failing transfer's next retry.
 *
 * SSRF: the gateway POSTs to URLs chosen by organisations, from its own network position. By
 * default receivers on loopback and private addresses are allowed (a receiver on the same host or
 * intranet; the tests need one). Where organisations are not trusted with that reach, set
 * BROKER_WEBHOOK_ALLOW_PRIVATE_ADDRESSES=false: registration then refuses IP literals and localhost
 * names outside the public internet, and every connection is checked on the address DNS actually
 * returned (webhook-addresses.ts), so a name that later resolves to 10.x or 169.254.169.254 is refused
 * too. Receivers' answers are never shown to the organisation (only to operators, via the CLI and
 * logs), so the gateway cannot be used to read internal services.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { systemClock } from '../clock';
import type { BrokerConfig } from '../config';
import { backoffDelayMs, cancelJobs, enqueueJob } from '../jobs/queue';
import { CLOUD_EVENT_CONTENT_TYPE, storedEventFromRow, toCloudEvent, type StoredEvent, type StoredEventRow } from './cloud-events';
import { invalidInput } from './errors';
import { BROKER_EVENT_TYPES, EVENT_TYPE_PREFIX, WEBHOOK_DELIVERY_JOB, type BrokerEventType } from './events';
import { ipLiteralOf, isLocalhostName, isPublicAddress, NonPublicAddressError, publicOnlyLookup } from './webhook-addresses';
import type { BrokerCaller, BrokerContext, WebhookDeliverySettings } from './types';

export const WEBHOOK_SECRET_PREFIX = 'whsec_';
/** Every event of an organisation fans out to each of its webhooks inside the status change's transaction: keep it small. */
export const MAX_WEBHOOKS_PER_ORGANISATION = 10;
export const MAX_WEBHOOK_URL_LENGTH = 2048;
export const DEFAULT_WEBHOOK_RETRY = { baseMs: 10_000, maxMs: 60 * 60_000, windowMs: 72 * 60 * 60_000 } as const;
/** Deliveries attempted by one job run before it hands over to a fresh run (keeps runs short). */
const MAX_ATTEMPTS_PER_RUN = 200;
/** Transfers whose heads are sent at once to one receiver. */
const PARALLEL_SENDS = 4;
/** How long a claimed delivery stays claimed beyond the request timeout (a stalled process's margin). */
const CLAIM_MARGIN_MS = 60_000;
const LAST_ERROR_MAX_LENGTH = 1000;

export function webhookDeliverySettings(config: Pick<BrokerConfig, 'webhookAllowPrivateAddresses' | 'webhookTimeoutMs'>): WebhookDeliverySettings {
  return { timeoutMs: config.webhookTimeoutMs, allowPrivateAddresses: config.webhookAllowPrivateAddresses, retry: { ...DEFAULT_WEBHOOK_RETRY } };
}

export interface Webhook {
  id: string;
  orgNumber: string;
  url: string;
  /** Short names (`published`); null → every type. */
  eventTypes: BrokerEventType[] | null;
  created: Date;
}

export interface CreatedWebhook extends Webhook {
  /** `whsec_<base64>`: returned once, when the webhook is added. */
  secret: string;
}

/** A webhook with its backlog, for operators (the CLI). */
export interface WebhookWithBacklog extends Webhook {
  pendingDeliveries: number;
  givenUpDeliveries: number;
}

export interface AddWebhookRequest {
  url: unknown;
  eventTypes?: unknown;
}

interface WebhookRow {
  id: string;
  org_number: string;
  url: string;
  secret: string;
  event_types: string[] | string | null;
  created_at: Date;
}

export async function addWebhook(ctx: BrokerContext, caller: BrokerCaller, request: AddWebhookRequest): Promise<CreatedWebhook> {
  const url = checkWebhookUrl(request.url, ctx.events.webhooks.allowPrivateAddresses);
  const eventTypes = checkEventTypes(request.eventTypes);
  const webhook: CreatedWebhook = {
    id: randomUUID(),
    orgNumber: caller.orgNumber,
    url,
    eventTypes,
    created: ctx.clock.now(),
    secret: `${WEBHOOK_SECRET_PREFIX}${randomBytes(32).toString('base64')}`,
  };
  await ctx.db.transaction(async (trx) => {
    // Two concurrent adds of one organisation must not both pass the count.
    await trx.raw('SELECT pg_advisory_xact_lock(?, ?)', [WEBHOOK_LOCK_CLASS, Number(caller.orgNumber)]);
    const [{ count }] = await trx('broker_webhooks').where({ org_number: caller.orgNumber }).count<{ count: number | string }[]>({ count: '*' });
    if (Number(count) >= MAX_WEBHOOKS_PER_ORGANISATION) {
      throw invalidInput('Url', `An organisation may have at most ${MAX_WEBHOOKS_PER_ORGANISATION} webhooks; remove one first.`);
    }
    await trx('broker_webhooks').insert({
      id: webhook.id,
      org_number: webhook.orgNumber,
      url: webhook.url,
      secret: webhook.secret,
      event_types: eventTypes === null ? null : JSON.stringify(eventTypes),
      created_at: webhook.created,
    });
  });
  return webhook;
}

/** Advisory lock class for "the webhooks of organisation N" (objid = the organisation number). */
const WEBHOOK_LOCK_CLASS = 0x0b0e;

/** The organisation's webhooks (or every webhook, for operators), oldest first. */
export async function listWebhooks(ctx: BrokerContext, filter: { orgNumber?: string } = {}): Promise<WebhookWithBacklog[]> {
  const rows = await ctx.db('broker_webhooks as w')
    .modify((query) => {
      if (filter.orgNumber !== undefined) query.where('w.org_number', filter.orgNumber);
    })
    .select<(WebhookRow & { pending: number | string; given_up: number | string })[]>(
      'w.id',
      'w.org_number',
      'w.url',
      'w.event_types',
      'w.created_at',
      ctx.db.raw('(SELECT count(*) FROM broker_webhook_deliveries d WHERE d.webhook_id = w.id AND d.delivered_at IS NULL AND d.given_up_at IS NULL) AS pending'),
      ctx.db.raw('(SELECT count(*) FROM broker_webhook_deliveries d WHERE d.webhook_id = w.id AND d.given_up_at IS NOT NULL) AS given_up'),
    )
    .orderBy([{ column: 'w.created_at' }, { column: 'w.id' }]);
  return rows.map((row) => ({ ...webhookFromRow(row), pendingDeliveries: Number(row.pending), givenUpDeliveries: Number(row.given_up) }));
}

/**
 * Removes a webhook with its pending deliveries. With `orgNumber`, only that organisation's: another's
 * answers exactly like an unknown id (false). Returns whether a webhook was removed.
 */
export async function removeWebhook(ctx: BrokerContext, webhookId: string, owner: { orgNumber?: string } = {}): Promise<boolean> {
  if (!UUID.test(webhookId)) return false;
  const removed = await ctx.db('broker_webhooks')
    .where({ id: webhookId.toLowerCase() })
    .modify((query) => {
      if (owner.orgNumber !== undefined) query.where({ org_number: owner.orgNumber });
    })
    // RETURNING: knex-pglite does not report a delete's row count.
    .delete()
    .returning<{ id: string }[]>('id');
  if (removed.length > 0) await cancelJobs(ctx.db, retryJobKey(webhookId.toLowerCase()));
  return removed.length > 0;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function webhookFromRow(row: Omit<WebhookRow, 'secret'>): Webhook {
  const types = typeof row.event_types === 'string' ? (JSON.parse(row.event_types) as BrokerEventType[] | null) : row.event_types;
  return { id: row.id, orgNumber: row.org_number, url: row.url, eventTypes: (types as BrokerEventType[] | null) ?? null, created: row.created_at };
}

/** The URL as it will be called (WHATWG-normalised), or InvalidInput keyed `Url`. */
export function checkWebhookUrl(value: unknown, allowPrivateAddresses: boolean): string {
  if (typeof value !== 'string' || value.trim() === '') throw invalidInput('Url', 'The Url field is required.');
  if (value.length > MAX_WEBHOOK_URL_LENGTH) throw invalidInput('Url', `The url may be at most ${MAX_WEBHOOK_URL_LENGTH} characters long.`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalidInput('Url', 'The url is not an absolute URL (https://receiver.example/events).');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw invalidInput('Url', 'The url must use https or http.');
  // Credentials in a URL end up in logs and listings; a receiver authenticates us by the signature.
  if (url.username !== '' || url.password !== '') throw invalidInput('Url', 'The url must not contain a user name or password; verify the webhook-signature header instead.');
  if (url.hash !== '') throw invalidInput('Url', 'The url must not contain a fragment (#…).');
  if (!allowPrivateAddresses) {
    const literal = ipLiteralOf(url.hostname);
    if (isLocalhostName(url.hostname) || (literal !== undefined && !isPublicAddress(literal))) {
      throw invalidInput('Url', `The url's host ${url.hostname} is not a public address; this gateway delivers webhooks to public addresses only.`);
    }
  }
  return url.toString();
}

/** Short names (`published`, or `no.altinn.broker.published`), any case; absent or null → all types. */
export function checkEventTypes(value: unknown): BrokerEventType[] | null {
  if (value === undefined || value === null) return null;
  const problem = `Give a list of event types, some of ${BROKER_EVENT_TYPES.join(', ')}, or leave it out for all of them.`;
  if (!Array.isArray(value) || value.length === 0) throw invalidInput('EventTypes', problem);
  const types = new Set<BrokerEventType>();
  for (const item of value) {
    const name = typeof item === 'string' ? item.trim().toLowerCase() : '';
    const short = name.startsWith(EVENT_TYPE_PREFIX) ? name.slice(EVENT_TYPE_PREFIX.length) : name;
    if (!(BROKER_EVENT_TYPES as readonly string[]).includes(short)) {
      throw invalidInput('EventTypes', `'${typeof item === 'string' ? item.slice(0, 100) : JSON.stringify(item)?.slice(0, 100)}' is not an event type. ${problem}`);
    }
    types.add(short as BrokerEventType);
  }
  // In the catalogue's order, whatever order they were given in.
  return BROKER_EVENT_TYPES.filter((type) => types.has(type));
}

// ---------------------------------------------------------------------------------------------
// Delivery

export function retryJobKey(webhookId: string): string {
  return `${WEBHOOK_DELIVERY_JOB}:${webhookId}:retry`;
}

interface DueDelivery {
  event: StoredEvent;
  attempts: number;
}

export interface DeliverWebhookOptions {
  /** The job's signal: stop starting new attempts once the runner lost the job or is stopping. */
  signal?: AbortSignal;
}

/** The job handler: sends the webhook's due deliveries, then schedules its next run. */
export async function deliverWebhook(ctx: BrokerContext, webhookId: string, options: DeliverWebhookOptions = {}): Promise<void> {
  if (!UUID.test(webhookId)) {
    // Retrying cannot help a job whose payload names no webhook.
    ctx.log.error({ webhookId }, 'webhook delivery job without a valid webhook id: dropped');
    return;
  }
  const webhook = await ctx.db('broker_webhooks').where({ id: webhookId }).first<WebhookRow | undefined>('id', 'org_number', 'url', 'secret');
  if (!webhook) return; // removed: its deliveries went with it
  const signer = new StandardWebhook(webhook.secret);
  const attempted: number[] = [];
  while (attempted.length < MAX_ATTEMPTS_PER_RUN && !options.signal?.aborted) {
    const due = await dueDeliveries(ctx, webhookId, Math.min(MAX_ATTEMPTS_PER_RUN - attempted.length, 50), attempted);
    if (due.length === 0) break;
    attempted.push(...due.map((delivery) => delivery.event.seq));
    await inParallel(due, PARALLEL_SENDS, (delivery) => attemptDelivery(ctx, webhook, signer, delivery, options.signal));
  }
  await scheduleNextRun(ctx, webhookId);
}

/**
 * Due deliveries that are first in their transfer's line (no earlier delivery of the same
 * transfer still pending), oldest due first; those attempted in this run excluded.
 */
async function dueDeliveries(ctx: BrokerContext, webhookId: string, limit: number, exclude: number[]): Promise<DueDelivery[]> {
  const result = await ctx.db.raw(
    `SELECT d.attempts, e.seq, e.id, e.type, e.file_transfer_id, e.resource_id, e.subject, e.role, e.time
       FROM broker_webhook_deliveries d
       JOIN broker_events e ON e.seq = d.event_seq
      WHERE d.webhook_id = ? AND d.delivered_at IS NULL AND d.given_up_at IS NULL AND d.next_attempt_at <= ?
        AND ${HEAD_OF_LINE}
        ${exclude.length > 0 ? 'AND NOT (d.event_seq = ANY(?::bigint[]))' : ''}
      ORDER BY d.next_attempt_at, d.event_seq
      LIMIT ?`,
    [webhookId, ctx.clock.now(), ...(exclude.length > 0 ? [`{${exclude.join(',')}}`] : []), limit],
  );
  return rowsOf<StoredEventRow & { attempts: number }>(result).map((row) => ({ event: storedEventFromRow(row), attempts: Number(row.attempts) }));
}

/** No earlier delivery of the same webhook and transfer is still pending (`d` is the delivery). */
const HEAD_OF_LINE = `NOT EXISTS (
  SELECT 1 FROM broker_webhook_deliveries p
   WHERE p.webhook_id = d.webhook_id AND p.file_transfer_id = d.file_transfer_id AND p.event_seq < d.event_seq
     AND p.delivered_at IS NULL AND p.given_up_at IS NULL)`;

async function attemptDelivery(ctx: BrokerContext, webhook: WebhookRow, signer: StandardWebhook, delivery: DueDelivery, signal: AbortSignal | undefined): Promise<void> {
  const { event } = delivery;
  const settings = ctx.events.webhooks;
  const now = ctx.clock.now();
  // The claim: only one process gets the row while next_attempt_at <= now; it stays claimed for
  // longer than an attempt can take, and becomes due again by itself if this process dies.
  const claimed = rowsOf<{ attempts: number }>(
    await ctx.db.raw(
      `UPDATE broker_webhook_deliveries SET attempts = attempts + 1, next_attempt_at = ?
        WHERE webhook_id = ? AND event_seq = ? AND delivered_at IS NULL AND given_up_at IS NULL AND next_attempt_at <= ?
        RETURNING attempts`,
      [new Date(now.getTime() + settings.timeoutMs + CLAIM_MARGIN_MS), webhook.id, event.seq, now],
    ),
  )[0];
  if (!claimed) return; // another process has it, or it was settled meanwhile
  const attempt = Number(claimed.attempts);

  const body = JSON.stringify(toCloudEvent(event, ctx.events.source));
  // The wall clock, not ctx.clock: receivers compare webhook-timestamp with their own clock to
  // refuse replays (Standard Webhooks allows ±5 min), so it must say when the request really left.
  const sentAt = systemClock.now();
  const outcome = await post(
    webhook.url,
    {
      'content-type': CLOUD_EVENT_CONTENT_TYPE,
      'user-agent': 'altinn-gateway-webhooks',
      'webhook-id': event.id,
      'webhook-timestamp': String(Math.floor(sentAt.getTime() / 1000)),
      'webhook-signature': signer.sign(event.id, sentAt, body),
    },
    body,
    settings,
    signal,
  );
  const log = ctx.log.child({ webhookId: webhook.id, eventId: event.id, eventType: event.type, fileTransferId: event.fileTransferId, attempt });
  const settledAt = ctx.clock.now();

  if ('status' in outcome && outcome.status >= 200 && outcome.status < 300) {
    await ctx.db('broker_webhook_deliveries')
      .where({ webhook_id: webhook.id, event_seq: event.seq })
      .whereNull('delivered_at')
      .whereNull('given_up_at')
      .update({ delivered_at: settledAt, last_status: outcome.status, last_error: null });
    log.debug({ status: outcome.status }, 'webhook delivered');
    return;
  }

  const lastStatus = 'status' in outcome ? outcome.status : null;
  const lastError = ('status' in outcome ? `HTTP ${outcome.status}` : outcome.error).slice(0, LAST_ERROR_MAX_LENGTH);
  const windowEnd = (await retryWindowStart(ctx, webhook.id, event)).getTime() + settings.retry.windowMs;
  // Only the claim we hold may settle the row (a lapsed claim taken over by another process must not be overwritten).
  const mine = ctx.db('broker_webhook_deliveries')
    .where({ webhook_id: webhook.id, event_seq: event.seq, attempts: attempt })
    .whereNull('delivered_at')
    .whereNull('given_up_at');
  if (settledAt.getTime() >= windowEnd) {
    const updated = await mine.update({ given_up_at: settledAt, last_status: lastStatus, last_error: lastError });
    if (updated > 0) log.error({ lastError, url: webhook.url }, `webhook delivery given up after ${attempt} attempts; the transfer's later events proceed`);
    return;
  }
  const retryAt = Math.min(settledAt.getTime() + backoffDelayMs(attempt, settings.retry), windowEnd);
  await mine.update({ next_attempt_at: new Date(retryAt), last_status: lastStatus, last_error: lastError });
  log.warn({ lastError, retryInMs: retryAt - settledAt.getTime() }, 'webhook delivery failed; will retry');
}

/**
 * The retry window starts when the delivery could first be sent: its event's time, or later if it
 * waited behind an earlier delivery of the same transfer (then when that one was settled). So every
 * delivery gets its full window, also the ones queued behind a receiver that was down.
 */
async function retryWindowStart(ctx: BrokerContext, webhookId: string, event: StoredEvent): Promise<Date> {
  const result = await ctx.db.raw(
    `SELECT max(coalesce(delivered_at, given_up_at)) AS settled FROM broker_webhook_deliveries
      WHERE webhook_id = ? AND file_transfer_id = ? AND event_seq < ?`,
    [webhookId, event.fileTransferId, event.seq],
  );
  const value = rowsOf<{ settled: Date | string | null }>(result)[0]?.settled;
  const settled = value ? new Date(value) : null;
  return settled && settled > event.time ? settled : event.time;
}

/**
 * One retry job at the earliest time a delivery becomes due (a head of line that failed, or one
 * claimed by a process that may die). Serialised on the webhook's row so that the last of two
 * concurrent runs, which saw the other's outcome, decides.
 */
async function scheduleNextRun(ctx: BrokerContext, webhookId: string): Promise<void> {
  await ctx.db.transaction(async (trx) => {
    const webhook = await trx('broker_webhooks').where({ id: webhookId }).forUpdate().first('id');
    if (!webhook) return;
    const result = await trx.raw(
      `SELECT min(d.next_attempt_at) AS next_at FROM broker_webhook_deliveries d
        WHERE d.webhook_id = ? AND d.delivered_at IS NULL AND d.given_up_at IS NULL AND ${HEAD_OF_LINE}`,
      [webhookId],
    );
    const next = rowsOf<{ next_at: Date | string | null }>(result)[0]?.next_at;
    await cancelJobs(trx, retryJobKey(webhookId));
    if (next) await enqueueJob(trx, ctx.clock, { kind: WEBHOOK_DELIVERY_JOB, payload: { webhookId }, key: retryJobKey(webhookId), runAt: new Date(next) });
  });
  ctx.wakeJobs();
}

type PostOutcome = { status: number } | { error: string };

/**
 * One POST with node's http client: no redirects (it never follows them), a deadline for the whole
 * exchange up to the response headers, the body of the answer discarded. node:http rather than
 * fetch: fetch cannot be given a lookup, and the private-address policy must judge the address
 * actually connected to.
 */
function post(target: string, headers: Record<string, string>, body: string, settings: WebhookDeliverySettings, jobSignal: AbortSignal | undefined): Promise<PostOutcome> {
  return new Promise((resolve) => {
    const url = new URL(target);
    if (!settings.allowPrivateAddresses) {
      const literal = ipLiteralOf(url.hostname);
      if (literal !== undefined && !isPublicAddress(literal)) {
        resolve({ error: `${literal} is not a public address (BROKER_WEBHOOK_ALLOW_PRIVATE_ADDRESSES is off)` });
        return;
      }
    }
    const timeout = AbortSignal.timeout(settings.timeoutMs);
    const signal = jobSignal ? AbortSignal.any([timeout, jobSignal]) : timeout;
    const transport = url.protocol === 'https:' ? https : http;
    const request = transport.request(
      url,
      {
        method: 'POST',
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        signal,
        ...(!settings.allowPrivateAddresses && { lookup: publicOnlyLookup }),
      },
      (response) => {
        response.on('error', () => {}); // aborted while draining: the outcome is already known
        response.resume();
        resolve({ status: response.statusCode ?? 0 });
      },
    );
    request.on('error', (error: NodeJS.ErrnoException) => {
      if (timeout.aborted) resolve({ error: `no response within ${settings.timeoutMs} ms` });
      else if (jobSignal?.aborted) resolve({ error: 'delivery job stopped' });
      else if (error instanceof NonPublicAddressError || !error.code || error.message.includes(error.code)) resolve({ error: error.message });
      else resolve({ error: `${error.code}: ${error.message}` });
    });
    request.end(body);
  });
}

async function inParallel<T>(items: T[], width: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, lane));
}

function rowsOf<T>(result: unknown): T[] {
  return ((result as { rows?: T[] }).rows ?? []) as T[];
}
