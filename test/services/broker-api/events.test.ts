/**
 * The event routes of the Altinn 3 door over real HTTP: webhook subscriptions (add, list, remove,
 * each organisation its own), the pull feed with its cursor, and an event travelling from a status
 * change through the app's job runner to a webhook receiver.
 */
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { publishedEventId } from '../../../src/broker/events';
import { ORGS, party, SECURITY_HEADERS, startBrokerTestServer, TIMESTAMP, type BrokerTestServer } from '../../helpers/broker';
import { startReceiver, type Receiver } from '../../broker/events-support';

let broker: BrokerTestServer;
const receivers: Receiver[] = [];

beforeAll(async () => {
  broker = await startBrokerTestServer({ config: { publicUrl: 'https://gateway.example/' } });
});
afterAll(async () => {
  for (const receiver of receivers) await receiver.close();
  await broker.close();
});
beforeEach(async () => {
  await broker.app.db('broker_webhooks').delete();
});

const URN = (orgNumber: string) => `urn:altinn:organization:identifier-no:${orgNumber}`;

/**
 * Waits until the feed shows every stored event of the organisation: an event appears once every
 * transaction that began writing before it has finished in the whole cluster, and on a shared
 * PostgreSQL server other test files' transactions hold it back for a moment.
 */
async function feedCaughtUp(orgNumber: string, token: string): Promise<void> {
  const [{ count }] = await broker.app.db('broker_events').where({ subject: orgNumber }).count<{ count: number | string }[]>({ count: '*' });
  const giveUpAt = Date.now() + 30_000;
  while ((await broker.call('GET', '/events?limit=1000', { token })).json.events.length < Number(count)) {
    if (Date.now() > giveUpAt) throw new Error(`the feed of ${orgNumber} did not catch up within 30 s`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('webhooks', () => {
  it('adds a webhook (201, the secret once), lists it without the secret, and removes it (204)', async () => {
    const added = await broker.call('POST', '/webhooks', { token: broker.tokens.sender, json: { url: 'https://receiver.example/hooks', eventTypes: ['published', 'no.altinn.broker.filepurged'] } });
    expect(added.status).toBe(201);
    expect(added.headers.get('content-type')).toBe('application/json; charset=utf-8');
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) expect(added.headers.get(name)).toBe(value);
    expect(Object.keys(added.json)).toEqual(['id', 'url', 'eventTypes', 'created', 'secret']);
    expect(added.json).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      url: 'https://receiver.example/hooks',
      eventTypes: ['published', 'filepurged'],
      created: expect.stringMatching(TIMESTAMP),
      secret: expect.stringMatching(/^whsec_/),
    });
    expect(added.headers.get('location')).toBe(`/broker/api/v1/webhooks/${added.json.id}`);

    // Member names in any case; no event types → all.
    broker.clock.advance(1000);
    const second = await broker.call('POST', '/webhooks', { token: broker.tokens.senderReadOnly, json: { URL: 'http://receiver.example:8080/other' } });
    expect(second.status).toBe(201);
    expect(second.json.eventTypes).toBeNull();

    const listed = await broker.call('GET', '/webhooks', { token: broker.tokens.sender });
    expect(listed.status).toBe(200);
    expect(listed.json).toEqual([
      { id: added.json.id, url: 'https://receiver.example/hooks', eventTypes: ['published', 'filepurged'], created: added.json.created },
      { id: second.json.id, url: 'http://receiver.example:8080/other', eventTypes: null, created: second.json.created },
    ]);

    const removed = await broker.call('DELETE', `/webhooks/${added.json.id}`, { token: broker.tokens.sender });
    expect([removed.status, removed.text]).toEqual([204, '']);
    const again = await broker.call('DELETE', `/webhooks/${added.json.id}`, { token: broker.tokens.sender });
    expect(again.status).toBe(404);
    expect(again.json).toMatchObject({ status: 404, title: 'Not Found', detail: 'The requested webhook was not found' });
    expect((await broker.call('GET', '/webhooks', { token: broker.tokens.sender })).json.map((w: { id: string }) => w.id)).toEqual([second.json.id]);
  });

  it("keeps each organisation to its own webhooks: another's answers 404 and is not listed", async () => {
    const mine = await broker.call('POST', '/webhooks', { token: broker.tokens.sender, json: { url: 'https://receiver.example/mine' } });
    const stranger = await broker.call('GET', '/webhooks', { token: broker.tokens.stranger });
    expect([stranger.status, stranger.json]).toEqual([200, []]);
    const theft = await broker.call('DELETE', `/webhooks/${mine.json.id}`, { token: broker.tokens.stranger });
    expect(theft.status).toBe(404);
    expect(theft.json.detail).toBe('The requested webhook was not found');
    expect((await broker.call('GET', '/webhooks', { token: broker.tokens.sender })).json).toHaveLength(1);
  });

  it('refuses bad input with validation problems, and calls without a token or a broker scope', async () => {
    const post = (json: unknown, token = broker.tokens.sender) => broker.call('POST', '/webhooks', { token, json });
    const problem = async (json: unknown) => {
      const response = await post(json);
      expect(response.status).toBe(400);
      expect(response.headers.get('content-type')).toBe('application/problem+json; charset=utf-8');
      expect(response.json).toMatchObject({ title: 'One or more validation errors occurred.', status: 400 });
      return response.json.errors;
    };
    expect(await problem({})).toEqual({ Url: ['The Url field is required.'] });
    expect(await problem({ url: 'ftp://receiver.example/' })).toEqual({ Url: ['The url must use https or http.'] });
    expect(await problem({ url: 'https://me:pw@receiver.example/' })).toEqual({ Url: ['The url must not contain a user name or password; verify the webhook-signature header instead.'] });
    expect(Object.keys(await problem({ url: 'https://receiver.example/', eventTypes: ['filedpurged'] }))).toEqual(['EventTypes']);
    expect(Object.keys(await problem({ url: 'https://receiver.example/', eventTypes: 'published' }))).toEqual(['$.eventTypes', 'webhook']);
    expect(Object.keys(await problem('{"url":'))).toContain('$');

    const notJson = await broker.call('POST', '/webhooks', { token: broker.tokens.sender, body: 'url=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(notJson.status).toBe(415);
    const badId = await broker.call('DELETE', '/webhooks/not-a-guid', { token: broker.tokens.sender });
    expect([badId.status, badId.json.errors]).toEqual([400, { webhookId: ["The value 'not-a-guid' is not valid for webhookId."] }]);

    const anonymous = await broker.call('GET', '/webhooks');
    expect([anonymous.status, anonymous.headers.get('www-authenticate'), anonymous.text]).toEqual([401, 'Bearer', '']);
    const serviceOwner = await broker.call('POST', '/webhooks', { token: broker.tokens.serviceOwner, json: { url: 'https://receiver.example/' } });
    expect([serviceOwner.status, serviceOwner.text]).toEqual([403, '']);
    expect((await broker.call('GET', '/events', { token: broker.tokens.serviceOwner })).status).toBe(403);
    expect(Number((await broker.app.db('broker_webhooks').count<{ count: number | string }[]>({ count: '*' }))[0]!.count)).toBe(0);
  });

  it('delivers a status change to the subscriber through the job runner, signed', async () => {
    const receiver = await startReceiver();
    receivers.push(receiver);
    const subscribed = await broker.call('POST', '/webhooks', { token: broker.tokens.recipient, json: { url: receiver.url } });
    expect(subscribed.status).toBe(201);
    const id = await broker.publish();
    await broker.app.jobs.runDue();

    expect(receiver.requests).toHaveLength(1);
    const [request] = receiver.requests;
    const event = new StandardWebhook(subscribed.json.secret).verify(request!.body, request!.headers as Record<string, string>);
    expect(event).toEqual({
      specversion: '1.0',
      id: publishedEventId(id, 'Recipient', party(ORGS.recipient)),
      type: 'no.altinn.broker.published',
      time: expect.stringMatching(TIMESTAMP),
      resource: `urn:altinn:resource:${broker.resourceId}`,
      resourceinstance: id,
      subject: URN(ORGS.recipient),
      source: 'https://gateway.example/broker/api/v1/filetransfer',
      data: { Role: 'Recipient' },
    });
    expect(request!.headers['webhook-id']).toBe(publishedEventId(id, 'Recipient', party(ORGS.recipient)));
  });
});

it('documents the routes in /api/openapi.json', async () => {
  const response = await broker.call('GET', `${broker.url}/api/openapi.json`);
  expect(response.status).toBe(200);
  const paths = response.json.paths as Record<string, Record<string, { tags?: string[] }>>;
  expect(Object.keys(paths['/broker/api/v1/events']!)).toEqual(['get']);
  expect(Object.keys(paths['/broker/api/v1/webhooks']!).sort()).toEqual(['get', 'post']);
  expect(Object.keys(paths['/broker/api/v1/webhooks/{webhookId}']!)).toEqual(['delete']);
  expect(paths['/broker/api/v1/events']!.get!.tags).toEqual(['broker: events']);
});

describe('event feed', () => {
  it("returns the caller's events in order as CloudEvents, page by page with the cursor", async () => {
    const first = await broker.publish();
    const second = await broker.publish();
    await feedCaughtUp(ORGS.sender, broker.tokens.sender);
    const all = await broker.call('GET', '/events?limit=1000', { token: broker.tokens.sender });
    expect(all.status).toBe(200);
    expect(all.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(Object.keys(all.json)).toEqual(['events', 'cursor', 'hasMore']);
    const mineNow = all.json.events.filter((event: { resourceinstance: string }) => [first, second].includes(event.resourceinstance));
    expect(mineNow.map((event: { type: string; resourceinstance: string }) => [event.type, event.resourceinstance])).toEqual([
      ['no.altinn.broker.filetransferinitialized', first],
      ['no.altinn.broker.published', first],
      ['no.altinn.broker.filetransferinitialized', second],
      ['no.altinn.broker.published', second],
    ]);
    expect(Object.keys(all.json.events[0])).toEqual(['specversion', 'id', 'type', 'time', 'resource', 'resourceinstance', 'subject', 'source', 'data']);
    expect(all.json.events.every((event: { subject: string; data: { Role: string } }) => event.subject === URN(ORGS.sender) && event.data.Role === 'Sender')).toBe(true);

    // Page by page, two at a time, the same events.
    const paged: unknown[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 100; page++) {
      const response = await broker.call('GET', `/events?limit=2${cursor ? `&after=${cursor}` : ''}`, { token: broker.tokens.sender });
      expect(response.status).toBe(200);
      paged.push(...response.json.events);
      cursor = response.json.cursor;
      if (!response.json.hasMore) break;
    }
    expect(paged).toEqual(all.json.events);
    expect(cursor).toBe(all.json.cursor);

    // Later events continue from the cursor.
    const third = await broker.publish();
    await feedCaughtUp(ORGS.sender, broker.tokens.sender);
    const more = await broker.call('GET', `/events?after=${cursor}`, { token: broker.tokens.sender });
    expect(more.json.events.map((event: { type: string; resourceinstance: string }) => [event.type, event.resourceinstance])).toEqual([
      ['no.altinn.broker.filetransferinitialized', third],
      ['no.altinn.broker.published', third],
    ]);
  });

  it('shows each organisation only its own events', async () => {
    const id = await broker.publish();
    await feedCaughtUp(ORGS.recipient, broker.tokens.recipient);
    const recipient = await broker.call('GET', '/events?limit=1000', { token: broker.tokens.recipient });
    const forTransfer = recipient.json.events.filter((event: { resourceinstance: string }) => event.resourceinstance === id);
    expect(forTransfer.map((event: { type: string; subject: string; data: unknown }) => [event.type, event.subject, event.data])).toEqual([
      ['no.altinn.broker.published', URN(ORGS.recipient), { Role: 'Recipient' }],
    ]);
    const stranger = await broker.call('GET', '/events', { token: broker.tokens.stranger });
    expect(stranger.json).toEqual({ events: [], cursor: null, hasMore: false });
  });

  it('refuses a bad cursor or limit, and a foreign Accept', async () => {
    const badCursor = await broker.call('GET', '/events?after=nonsense!', { token: broker.tokens.sender });
    expect(badCursor.status).toBe(400);
    expect(Object.keys(badCursor.json.errors)).toEqual(['after']);
    const badLimit = await broker.call('GET', '/events?limit=5000', { token: broker.tokens.sender });
    expect([badLimit.status, badLimit.json.errors]).toEqual([400, { limit: ['The limit must be a whole number from 1 to 1000 (default 100).'] }]);
    const xml = await broker.call('GET', '/events', { token: broker.tokens.sender, headers: { accept: 'application/xml' } });
    expect(xml.status).toBe(406);
    const anonymous = await broker.call('GET', '/events');
    expect(anonymous.status).toBe(401);
  });
});
