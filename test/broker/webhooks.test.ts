/**
 * Webhook subscriptions (add, list, remove) against the domain: URL and event-type rules, the
 * private-address policy, the per-organisation cap, and that an organisation only ever touches its own.
 */
import { BrokerError } from '../../src/broker/errors';
import { isPublicAddress } from '../../src/broker/webhook-addresses';
import { addWebhook, checkEventTypes, checkWebhookUrl, listWebhooks, MAX_WEBHOOKS_PER_ORGANISATION, removeWebhook } from '../../src/broker/webhooks';
import { caller, initialize, openEventsBed, ORG, type EventsBed } from './events-support';

let bed: EventsBed;
beforeAll(async () => {
  bed = await openEventsBed();
});
afterAll(() => bed.close());
beforeEach(async () => {
  await bed.db('broker_webhooks').delete();
});

function refusal(work: () => unknown): Record<string, string[]> | undefined {
  try {
    work();
  } catch (error) {
    if (error instanceof BrokerError && error.name === 'InvalidInput') return error.details.errors;
    throw error;
  }
  return undefined;
}

describe('webhook URL', () => {
  it.each([
    ['https://receiver.example/hooks?x=1', 'https://receiver.example/hooks?x=1'],
    ['HTTP://Receiver.Example:8443/a/../b', 'http://receiver.example:8443/b'],
    ['http://127.0.0.1:9000/', 'http://127.0.0.1:9000/'],
    ['http://[::1]:9000/x', 'http://[::1]:9000/x'],
  ])('accepts %s as %s (private addresses allowed)', (url, normalised) => {
    expect(checkWebhookUrl(url, true)).toBe(normalised);
  });

  it.each([
    [undefined, 'The Url field is required.'],
    ['', 'The Url field is required.'],
    [42, 'The Url field is required.'],
    ['receiver.example/hooks', 'The url is not an absolute URL (https://receiver.example/events).'],
    ['ftp://receiver.example/hooks', 'The url must use https or http.'],
    ['javascript:alert(1)', 'The url must use https or http.'],
    ['https://user:secret@receiver.example/', 'The url must not contain a user name or password; verify the webhook-signature header instead.'],
    ['https://token@receiver.example/', 'The url must not contain a user name or password; verify the webhook-signature header instead.'],
    ['https://receiver.example/#frag', 'The url must not contain a fragment (#…).'],
  ])('refuses %p', (url, message) => {
    expect(refusal(() => checkWebhookUrl(url, true))).toEqual({ Url: [message] });
  });

  it('refuses a URL longer than 2048 characters', () => {
    expect(refusal(() => checkWebhookUrl(`https://receiver.example/${'a'.repeat(2048)}`, true))).toEqual({ Url: ['The url may be at most 2048 characters long.'] });
  });

  it.each(['http://127.0.0.1/', 'http://localhost:8080/', 'http://api.localhost/', 'http://10.1.2.3/', 'http://169.254.169.254/latest/meta-data', 'http://[::1]/', 'http://[::ffff:127.0.0.1]/', 'http://[fd00::1]/', 'http://0x7f.1/', 'http://192.168.1.10/'])(
    'refuses %s when private addresses are not allowed',
    (url) => {
      const errors = refusal(() => checkWebhookUrl(url, false));
      expect(errors?.Url?.[0]).toMatch(/is not a public address; this gateway delivers webhooks to public addresses only\.$/);
    },
  );

  it('accepts a public address or name when private addresses are not allowed', () => {
    expect(checkWebhookUrl('https://93.184.216.34/hooks', false)).toBe('https://93.184.216.34/hooks');
    expect(checkWebhookUrl('https://receiver.example/hooks', false)).toBe('https://receiver.example/hooks');
  });
});

describe('public addresses', () => {
  it.each([
    ['8.8.8.8', true],
    ['93.184.216.34', true],
    ['2001:4860:4860::8888', true],
    ['2606:4700::1111', true],
    ['64:ff9b::808:808', true], // NAT64 of 8.8.8.8
    ['127.0.0.1', false],
    ['127.255.0.9', false],
    ['0.0.0.0', false],
    ['10.0.0.1', false],
    ['100.64.0.1', false],
    ['169.254.169.254', false],
    ['172.16.0.1', false],
    ['172.31.255.255', false],
    ['192.168.0.1', false],
    ['198.18.0.1', false],
    ['224.0.0.1', false],
    ['255.255.255.255', false],
    ['::', false],
    ['::1', false],
    ['::ffff:127.0.0.1', false],
    ['::ffff:10.0.0.1', false],
    ['64:ff9b::a00:1', false], // NAT64 of 10.0.0.1
    ['2002:a00:1::1', false], // 6to4 of 10.0.0.1
    ['fc00::1', false],
    ['fd12:3456::1', false],
    ['fe80::1', false],
    ['ff02::1', false],
    ['2001:db8::1', false],
    ['not an address', false],
  ])('%s → %p', (address, expected) => {
    expect(isPublicAddress(address)).toBe(expected);
  });
});

describe('event types', () => {
  it('takes short or full names in any case, deduplicated, in the catalogue order; absent means all', () => {
    expect(checkEventTypes(undefined)).toBeNull();
    expect(checkEventTypes(null)).toBeNull();
    expect(checkEventTypes(['FilePurged', 'no.altinn.broker.published', 'published'])).toEqual(['published', 'filepurged']);
  });

  it.each([[[]], ['published'], [['published', 'filedpurged']], [[7]], [{ published: true }]])('refuses %p', (value) => {
    const errors = refusal(() => checkEventTypes(value));
    expect(Object.keys(errors ?? {})).toEqual(['EventTypes']);
    expect(errors!.EventTypes![0]).toContain('Give a list of event types, some of filetransferinitialized, uploadprocessing, published,');
  });
});

describe('subscriptions', () => {
  it('adds a webhook with a fresh secret, lists it without the secret, and removes it', async () => {
    const added = await addWebhook(bed.ctx, caller(ORG.sender), { url: 'https://receiver.example/a', eventTypes: ['published'] });
    expect(added).toEqual({
      id: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/),
      orgNumber: ORG.sender,
      url: 'https://receiver.example/a',
      eventTypes: ['published'],
      created: bed.clock.now(),
      secret: expect.stringMatching(/^whsec_[A-Za-z0-9+/]{43}=$/),
    });
    bed.clock.advance(1000);
    const other = await addWebhook(bed.ctx, caller(ORG.sender), { url: 'https://receiver.example/b' });
    expect(other.secret).not.toBe(added.secret);

    const listed = await listWebhooks(bed.ctx, { orgNumber: ORG.sender });
    expect(listed.map((webhook) => [webhook.id, webhook.url, webhook.eventTypes])).toEqual([
      [added.id, 'https://receiver.example/a', ['published']],
      [other.id, 'https://receiver.example/b', null],
    ]);
    expect(listed[0]).not.toHaveProperty('secret');
    expect(await removeWebhook(bed.ctx, added.id, { orgNumber: ORG.sender })).toBe(true);
    expect(await removeWebhook(bed.ctx, added.id, { orgNumber: ORG.sender })).toBe(false);
    expect((await listWebhooks(bed.ctx, { orgNumber: ORG.sender })).map((webhook) => webhook.id)).toEqual([other.id]);
  });

  it("keeps organisations apart: another's webhook is neither listed nor removable", async () => {
    const mine = await addWebhook(bed.ctx, caller(ORG.sender), { url: 'https://receiver.example/mine' });
    const theirs = await addWebhook(bed.ctx, caller(ORG.other), { url: 'https://receiver.example/theirs' });
    expect((await listWebhooks(bed.ctx, { orgNumber: ORG.sender })).map((webhook) => webhook.id)).toEqual([mine.id]);
    expect(await removeWebhook(bed.ctx, theirs.id, { orgNumber: ORG.sender })).toBe(false);
    expect(await removeWebhook(bed.ctx, 'not-a-uuid', { orgNumber: ORG.sender })).toBe(false);
    // The operator (no organisation) sees and removes any.
    expect((await listWebhooks(bed.ctx)).map((webhook) => webhook.id).sort()).toEqual([mine.id, theirs.id].sort());
    expect(await removeWebhook(bed.ctx, theirs.id.toUpperCase())).toBe(true);
  });

  it('only the subscribing organisation gets delivery rows for its events', async () => {
    const senders = await addWebhook(bed.ctx, caller(ORG.sender), { url: 'https://receiver.example/s' });
    const strangers = await addWebhook(bed.ctx, caller(ORG.other), { url: 'https://receiver.example/o' });
    await initialize(bed);
    const [listedSender] = await listWebhooks(bed.ctx, { orgNumber: ORG.sender });
    const [listedStranger] = await listWebhooks(bed.ctx, { orgNumber: ORG.other });
    expect([listedSender!.id, listedSender!.pendingDeliveries]).toEqual([senders.id, 1]);
    expect([listedStranger!.id, listedStranger!.pendingDeliveries]).toEqual([strangers.id, 0]);
  });

  it(`allows at most ${MAX_WEBHOOKS_PER_ORGANISATION} webhooks per organisation`, async () => {
    await Promise.all(Array.from({ length: MAX_WEBHOOKS_PER_ORGANISATION }, (_, n) => addWebhook(bed.ctx, caller(ORG.sender), { url: `https://receiver.example/${n}` })));
    await expect(addWebhook(bed.ctx, caller(ORG.sender), { url: 'https://receiver.example/one-too-many' })).rejects.toMatchObject({
      name: 'InvalidInput',
      details: { errors: { Url: ['An organisation may have at most 10 webhooks; remove one first.'] } },
    });
    // Another organisation is not affected.
    await expect(addWebhook(bed.ctx, caller(ORG.other), { url: 'https://receiver.example/x' })).resolves.toMatchObject({ orgNumber: ORG.other });
  });

  it('refuses a private receiver at registration when the gateway does not allow them', async () => {
    const ctx = { ...bed.ctx, events: { ...bed.ctx.events, webhooks: { ...bed.ctx.events.webhooks, allowPrivateAddresses: false } } };
    await expect(addWebhook(ctx, caller(ORG.sender), { url: 'http://169.254.169.254/latest' })).rejects.toMatchObject({ name: 'InvalidInput' });
    expect(await listWebhooks(bed.ctx)).toEqual([]);
  });
});
