/**
 * Webhook delivery (issue 8 item 7): every event of a transfer reaches the subscriber's receiver in
 * order, as a CloudEvent signed Standard Webhooks style; failures are retried with backoff (driven by
 * the ManualClock), a failing transfer holds up only itself, a delivery is given up after the retry
 * window, and two job runners on one database send each event once.
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { publishedEventId, WEBHOOK_DELIVERY_JOB } from '../../src/broker/events';
import { addWebhook, deliverWebhook, removeWebhook, retryJobKey } from '../../src/broker/webhooks';
import type { BrokerContext } from '../../src/broker/types';
import {
  caller,
  downloadAndConfirm,
  eventsOf,
  fullTransfer,
  initialize,
  openEventsBed,
  ORG,
  SOURCE,
  startReceiver,
  upload,
  type EventsBed,
  type Receiver,
  type ReceivedRequest,
} from './events-support';
import { waitFor } from '../helpers/wait';

const HOUR = 60 * 60_000;

let bed: EventsBed;
const receivers: Receiver[] = [];

beforeAll(async () => {
  bed = await openEventsBed();
});
afterAll(async () => {
  await bed.close();
});
beforeEach(async () => {
  await bed.db('broker_webhooks').delete();
  await bed.db('jobs').delete();
});
afterEach(async () => {
  while (receivers.length > 0) await receivers.pop()!.close();
});

async function receiver(answer?: Receiver['answer']): Promise<Receiver> {
  const started = await startReceiver(answer);
  receivers.push(started);
  return started;
}

function bodyOf(request: ReceivedRequest): Record<string, unknown> {
  return JSON.parse(request.body) as Record<string, unknown>;
}

function transferOf(request: ReceivedRequest): string {
  return bodyOf(request).resourceinstance as string;
}

/** Runs due jobs, then moves the clock by `step`, until `done` or `rounds` are used up. */
async function driveUntil(done: () => boolean, options: { step: number; rounds: number; runner?: ReturnType<EventsBed['runner']> }): Promise<number> {
  const runner = options.runner ?? bed.runner();
  for (let round = 0; round < options.rounds; round++) {
    await runner.runDue();
    if (done()) return round;
    bed.clock.advance(options.step);
  }
  throw new Error(`not done after ${options.rounds} rounds`);
}

it('delivers every event of a transfer to the subscribers, in order, as signed CloudEvents', async () => {
  const senderHooks = await receiver();
  const recipientHooks = await receiver();
  const senderWebhook = await addWebhook(bed.ctx, caller(ORG.sender), { url: senderHooks.url });
  const recipientWebhook = await addWebhook(bed.ctx, caller(ORG.recipient), { url: recipientHooks.url });
  expect(senderWebhook.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);

  const id = await fullTransfer(bed);
  expect(await bed.runner().runDue()).toBeGreaterThan(0);

  const stored = await eventsOf(bed.db, id);
  const forSender = stored.filter((event) => event.subject === ORG.sender);
  expect(forSender.map((event) => event.type)).toEqual(['filetransferinitialized', 'published', 'downloadconfirmed', 'allconfirmeddownloaded', 'filepurged']);
  expect(senderHooks.requests.map((request) => request.headers['webhook-id'])).toEqual(forSender.map((event) => event.id));
  expect(recipientHooks.requests.map((request) => bodyOf(request).type)).toEqual(['no.altinn.broker.published', 'no.altinn.broker.downloadconfirmed']);

  const senderVerifier = new StandardWebhook(senderWebhook.secret);
  for (const [index, request] of senderHooks.requests.entries()) {
    expect(request.method).toBe('POST');
    expect(request.url).toBe('/hooks/broker');
    expect(request.headers['content-type']).toBe('application/cloudevents+json');
    expect(Math.abs(Number(request.headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(300);
    const verified = senderVerifier.verify(request.body, request.headers as Record<string, string>) as Record<string, unknown>;
    // Altinn's member order, byte for byte what was signed.
    expect(Object.keys(verified)).toEqual(['specversion', 'id', 'type', 'time', 'resource', 'resourceinstance', 'subject', 'source', 'data']);
    expect(verified).toEqual({
      specversion: '1.0',
      id: forSender[index]!.id,
      type: `no.altinn.broker.${forSender[index]!.type}`,
      time: expect.stringMatching(/^2025-03-01T\d\d:\d\d:\d\d(\.\d+)?\+00:00$/),
      resource: 'urn:altinn:resource:events-test-resource',
      resourceinstance: id,
      subject: `urn:altinn:organization:identifier-no:${ORG.sender}`,
      source: SOURCE,
      data: { Role: 'Sender' },
    });
  }
  // The published ids are Altinn's deterministic ones.
  expect(bodyOf(senderHooks.requests[1]!).id).toBe(publishedEventId(id, 'Sender', `0192:${ORG.sender}`));
  expect(bodyOf(recipientHooks.requests[0]!).id).toBe(publishedEventId(id, 'Recipient', `0192:${ORG.recipient}`));
  // Signed with the recipient's own secret, not the sender's.
  const recipientRequest = recipientHooks.requests[0]!;
  expect(() => senderVerifier.verify(recipientRequest.body, recipientRequest.headers as Record<string, string>)).toThrow('No matching signature found');
  expect(new StandardWebhook(recipientWebhook.secret).verify(recipientRequest.body, recipientRequest.headers as Record<string, string>)).toMatchObject({ data: { Role: 'Recipient' } });

  const deliveries = await bed.db('broker_webhook_deliveries').select('delivered_at', 'attempts', 'last_status', 'given_up_at');
  expect(deliveries).toHaveLength(7);
  expect(deliveries.every((row) => row.delivered_at !== null && row.attempts === 1 && row.last_status === 204 && row.given_up_at === null)).toBe(true);
  // Nothing left to do: no job of the kind is left.
  expect(await bed.db('jobs').where({ kind: WEBHOOK_DELIVERY_JOB }).select('key', 'state')).toEqual([]);
});

it('delivers only the event types a webhook asked for', async () => {
  const hooks = await receiver();
  await addWebhook(bed.ctx, caller(ORG.sender), { url: hooks.url, eventTypes: ['no.altinn.broker.published', 'FilePurged'] });
  const id = await fullTransfer(bed);
  await bed.runner().runDue();
  expect(hooks.requests.map((request) => [bodyOf(request).type, transferOf(request)])).toEqual([
    ['no.altinn.broker.published', id],
    ['no.altinn.broker.filepurged', id],
  ]);
});

it('retries a failing receiver (500, 500, no answer, then 200) until every event arrives exactly once, in order per transfer', async () => {
  // Short enough to keep the test quick, long enough for a loaded machine's loopback answers.
  const ctx: BrokerContext = { ...bed.ctx, events: { ...bed.ctx.events, webhooks: { ...bed.ctx.events.webhooks, timeoutMs: 1000 } } };
  const seen = new Map<string, number>();
  const script: ('hang' | number)[] = [500, 500, 'hang', 200];
  const hooks = await receiver((request) => {
    const id = request.headers['webhook-id'] as string;
    const attempt = seen.get(id) ?? 0;
    seen.set(id, attempt + 1);
    return script[Math.min(attempt, script.length - 1)]!;
  });
  const webhook = await addWebhook(ctx, caller(ORG.sender), { url: hooks.url });

  // Two transfers whose events interleave in time.
  const first = await initialize(bed);
  const second = await initialize(bed);
  await upload(bed, first);
  await upload(bed, second);
  await downloadAndConfirm(bed, second);
  const expected = (await bed.db('broker_events').where({ subject: ORG.sender }).whereIn('file_transfer_id', [first, second]).orderBy('seq').select('id', 'file_transfer_id')) as {
    id: string;
    file_transfer_id: string;
  }[];
  expect(expected).toHaveLength(6);

  const runner = bed.runner({ ctx });
  // Retries run 5-10 s, 10-20 s, 20-40 s … after a failure: one minute per round reaches each.
  await driveUntil(() => hooks.accepted.length === expected.length, { step: 60_000, rounds: 60, runner });

  // Exactly once each (by webhook-id), after four attempts each.
  expect(hooks.accepted.map((request) => request.headers['webhook-id']).sort()).toEqual(expected.map((event) => event.id).sort());
  expect([...seen.values()]).toEqual(expected.map(() => 4));
  for (const transfer of [first, second]) {
    const inOrder = expected.filter((event) => event.file_transfer_id === transfer).map((event) => event.id);
    // Every attempt of an event comes after the earlier events were accepted: the ids, de-duplicated, are in order.
    const attempts = hooks.requests.filter((request) => transferOf(request) === transfer).map((request) => request.headers['webhook-id'] as string);
    expect(attempts.filter((id, index) => attempts.indexOf(id) === index)).toEqual(inOrder);
    expect(attempts).toEqual(inOrder.flatMap((id) => [id, id, id, id]));
  }
  for (const request of hooks.accepted) new StandardWebhook(webhook.secret).verify(request.body, request.headers as Record<string, string>);
  const rows = await bed.db('broker_webhook_deliveries').select('attempts', 'last_status', 'last_error', 'delivered_at');
  expect(rows.every((row) => row.attempts === 4 && row.last_status === 200 && row.last_error === null && row.delivered_at !== null)).toBe(true);
  // Nothing runs any more: no retry is left behind.
  await runner.runDue();
  bed.clock.advance(2 * HOUR);
  await runner.runDue();
  expect(hooks.requests).toHaveLength(expected.length * 4);
});

it('records why an attempt failed and when it is retried, with growing backoff', async () => {
  const hooks = await receiver(() => 503);
  const webhook = await addWebhook(bed.ctx, caller(ORG.sender), { url: hooks.url });
  await initialize(bed);
  const runner = bed.runner();
  const delays: number[] = [];
  for (let attempt = 1; attempt <= 5; attempt++) {
    await runner.runDue();
    const row = await bed.db('broker_webhook_deliveries').where({ webhook_id: webhook.id }).first();
    expect(row).toMatchObject({ attempts: attempt, last_status: 503, last_error: 'HTTP 503', delivered_at: null, given_up_at: null });
    const delay = new Date(row.next_attempt_at).getTime() - bed.clock.now().getTime();
    delays.push(delay);
    // Between half and all of 10 s × 2^(attempt-1).
    expect(delay).toBeGreaterThanOrEqual(5_000 * 2 ** (attempt - 1));
    expect(delay).toBeLessThanOrEqual(10_000 * 2 ** (attempt - 1));
    // Not before it is due.
    bed.clock.advance(delay - 1);
    await runner.runDue();
    expect(hooks.requests).toHaveLength(attempt);
    bed.clock.advance(1);
  }
  // The retry job waits for the earliest due delivery.
  const [job] = await bed.db('jobs').where({ key: retryJobKey(webhook.id), state: 'pending' }).select('run_at');
  expect(job).toBeDefined();
});

it('does not let a failing transfer hold up the events of other transfers', async () => {
  let failing = '';
  const hooks = await receiver((request) => (transferOf(request) === failing ? 500 : 204));
  await addWebhook(bed.ctx, caller(ORG.sender), { url: hooks.url });
  failing = await initialize(bed);
  await upload(bed, failing);
  const healthy = await initialize(bed);
  await upload(bed, healthy);
  const runner = bed.runner();
  await runner.runDue();

  const typesFor = (transfer: string, list = hooks.accepted) => list.filter((request) => transferOf(request) === transfer).map((request) => bodyOf(request).type);
  expect(typesFor(healthy)).toEqual(['no.altinn.broker.filetransferinitialized', 'no.altinn.broker.published']);
  // The failing transfer's second event waits behind its first.
  expect(typesFor(failing, hooks.requests)).toEqual(['no.altinn.broker.filetransferinitialized']);

  // While the failing transfer waits for its retry, a new transfer's events go out at once.
  const later = await initialize(bed);
  await runner.runDue();
  expect(typesFor(later)).toEqual(['no.altinn.broker.filetransferinitialized']);
  expect(typesFor(failing, hooks.requests)).toEqual(['no.altinn.broker.filetransferinitialized']);

  // Once the receiver takes it, the held-up event follows.
  failing = 'none';
  bed.clock.advance(HOUR);
  await runner.runDue();
  const failed = hooks.requests.filter((request) => transferOf(request) !== healthy && transferOf(request) !== later);
  expect(failed.map((request) => bodyOf(request).type)).toEqual([
    'no.altinn.broker.filetransferinitialized',
    'no.altinn.broker.filetransferinitialized',
    'no.altinn.broker.published',
  ]);
});

it('gives up on a delivery after 72 hours of retries, logs an error, keeps the row, and lets the later events through', async () => {
  const logLines: string[] = [];
  const log = pino({ level: 'warn' }, new Writable({ write: (chunk, _encoding, done) => (logLines.push(chunk.toString()), done()) }));
  const ctx: BrokerContext = { ...bed.ctx, log };
  let refused = '';
  const hooks = await receiver((request) => (request.headers['webhook-id'] === refused ? 400 : 204));
  const webhook = await addWebhook(ctx, caller(ORG.sender), { url: hooks.url });
  const id = await initialize(bed);
  await upload(bed, id);
  const [initialized, published] = await eventsOf(bed.db, id);
  refused = initialized!.id;
  const start = bed.clock.now().getTime();
  const runner = bed.runner({ ctx });

  // Still retrying a day later, and two days later: hourly at most.
  while (bed.clock.now().getTime() - start < 71 * HOUR) {
    await runner.runDue();
    bed.clock.advance(HOUR);
  }
  let row = await bed.db('broker_webhook_deliveries').where({ webhook_id: webhook.id }).orderBy('event_seq').first();
  expect(row.given_up_at).toBeNull();
  expect(row.attempts).toBeGreaterThanOrEqual(70);
  expect(hooks.accepted).toEqual([]);

  bed.clock.advance(HOUR + 1);
  await runner.runDue();
  row = await bed.db('broker_webhook_deliveries').where({ webhook_id: webhook.id }).orderBy('event_seq').first();
  expect(row.given_up_at).not.toBeNull();
  expect(row.delivered_at).toBeNull();
  expect(row).toMatchObject({ last_status: 400, last_error: 'HTTP 400' });
  // The last attempt was at the 72 h mark exactly (the backoff is cut short there).
  expect(new Date(row.given_up_at).getTime() - start).toBeGreaterThanOrEqual(72 * HOUR);
  expect(logLines.some((line) => /given up after \d+ attempts/.test(line) && line.includes(initialized!.id) && JSON.parse(line).level === 50)).toBe(true);

  // The transfer's next event was held back all along, and now goes.
  expect(hooks.accepted.map((request) => request.headers['webhook-id'])).toEqual([published!.id]);
  expect(hooks.requests.filter((request) => request.headers['webhook-id'] === published!.id)).toHaveLength(1);
});

it('sends each event once with two job runners on one database', async () => {
  const hooks = await receiver(async () => {
    await new Promise((resolve) => setTimeout(resolve, 15));
    return 204;
  });
  await addWebhook(bed.ctx, caller(ORG.sender), { url: hooks.url });
  await addWebhook(bed.ctx, caller(ORG.recipient), { url: hooks.url });
  for (let n = 0; n < 6; n++) await upload(bed, await initialize(bed));
  const expected = Number((await bed.db('broker_webhook_deliveries').count<{ count: string | number }[]>({ count: '*' }))[0]!.count);
  expect(expected).toBe(6 * 3);

  const peer = bed.openPeer();
  const one = bed.runner({ workerId: 'gateway-1' });
  const two = bed.runner({ workerId: 'gateway-2', db: peer, ctx: { ...bed.ctx, db: peer } });
  one.start();
  two.start();
  await waitFor(() => hooks.accepted.length >= expected, 'every delivery');
  await one.stop();
  await two.stop();

  // Each event once per subscriber (the sender's and the recipient's webhooks share the receiver here).
  const deliveries = hooks.requests.map((request) => `${request.headers['webhook-id']} ${bodyOf(request).subject}`);
  expect(new Set(deliveries).size).toBe(deliveries.length);
  expect(deliveries).toHaveLength(expected);
  expect(await bed.db('broker_webhook_deliveries').whereNull('delivered_at')).toEqual([]);
});

it('sends each event once when the delivery handler runs concurrently for one webhook', async () => {
  const hooks = await receiver(async () => {
    await new Promise((resolve) => setTimeout(resolve, 10));
    return 200;
  });
  const webhook = await addWebhook(bed.ctx, caller(ORG.sender), { url: hooks.url });
  const transfers = [await fullTransfer(bed), await fullTransfer(bed)];
  const peer = bed.openPeer();
  const contexts = [bed.ctx, { ...bed.ctx, db: peer }];
  // Four handlers at once (as after a lease was taken over, or with both job keys pending).
  for (let round = 0; round < 6 && hooks.accepted.length < 10; round++) {
    await Promise.all([0, 1, 2, 3].map((n) => deliverWebhook(contexts[n % 2]!, webhook.id)));
  }
  const ids = hooks.requests.map((request) => `${request.headers['webhook-id']}`);
  expect(ids).toHaveLength(10);
  expect(new Set(ids).size).toBe(10);
  for (const transfer of transfers) {
    const inOrder = (await eventsOf(bed.db, transfer)).filter((event) => event.subject === ORG.sender).map((event) => event.id);
    expect(hooks.requests.filter((request) => transferOf(request) === transfer).map((request) => request.headers['webhook-id'])).toEqual(inOrder);
  }
});

it('drops the pending deliveries of a removed webhook', async () => {
  const hooks = await receiver(() => 500);
  const webhook = await addWebhook(bed.ctx, caller(ORG.sender), { url: hooks.url });
  await initialize(bed);
  const runner = bed.runner();
  await runner.runDue();
  expect(hooks.requests).toHaveLength(1);
  expect(await removeWebhook(bed.ctx, webhook.id, { orgNumber: ORG.sender })).toBe(true);
  expect(await bed.db('broker_webhook_deliveries').where({ webhook_id: webhook.id })).toEqual([]);
  expect(await bed.db('jobs').where({ key: retryJobKey(webhook.id), state: 'pending' })).toEqual([]);
  bed.clock.advance(HOUR);
  await runner.runDue();
  await deliverWebhook(bed.ctx, webhook.id);
  expect(hooks.requests).toHaveLength(1);
});

it('with private addresses not allowed, refuses to connect to a name that resolves to loopback', async () => {
  const hooks = await receiver();
  const ctx: BrokerContext = { ...bed.ctx, events: { ...bed.ctx.events, webhooks: { ...bed.ctx.events.webhooks, allowPrivateAddresses: false } } };
  // Registered while they were allowed (or by an operator): the send-time check still holds.
  const byName = await addWebhook(bed.ctx, caller(ORG.sender), { url: hooks.url.replace('127.0.0.1', 'localhost') });
  const byAddress = await addWebhook(bed.ctx, caller(ORG.sender), { url: hooks.url });
  await initialize(bed);
  await deliverWebhook(ctx, byName.id);
  await deliverWebhook(ctx, byAddress.id);
  expect(hooks.requests).toEqual([]);
  const rows = await bed.db('broker_webhook_deliveries').orderBy('webhook_id').select('webhook_id', 'last_error', 'delivered_at');
  expect(rows.find((row) => row.webhook_id === byName.id)).toMatchObject({ delivered_at: null, last_error: expect.stringMatching(/^localhost resolves to (127\.0\.0\.1|::1), which is not a public address/) });
  expect(rows.find((row) => row.webhook_id === byAddress.id)).toMatchObject({ delivered_at: null, last_error: expect.stringContaining('127.0.0.1 is not a public address') });
});

it('treats a redirect as a failure and does not follow it', async () => {
  const target = await receiver();
  const hooks = await receiver(() => ({ status: 307, headers: { location: target.url } }));
  await addWebhook(bed.ctx, caller(ORG.sender), { url: hooks.url });
  await initialize(bed);
  await bed.runner().runDue();
  expect(hooks.requests).toHaveLength(1);
  expect(target.requests).toEqual([]);
  expect(await bed.db('broker_webhook_deliveries').first('last_status', 'delivered_at')).toEqual({ last_status: 307, delivered_at: null });
});
