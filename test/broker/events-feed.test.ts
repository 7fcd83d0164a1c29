/**
 * The pull feed: the caller's events as CloudEvents in order, paged with a cursor that never skips
 * an event whose transaction commits late, and nothing of another organisation.
 *
 * The late commit needs a transaction left open while another commits: on PostgreSQL simply two
 * connections; on the embedded database (one connection) a prepared transaction, which stays in
 * progress after the session has moved on. Assertions that events are absent hold at once; those
 * that they are present first wait for the feed to catch up (see feedCaughtUp).
 */
import type { Knex } from 'knex';
import { STORED_EVENT_COLUMNS, storedEventFromRow, toCloudEvent, type StoredEventRow } from '../../src/broker/cloud-events';
import { BrokerError } from '../../src/broker/errors';
import { readEventFeed, type EventFeedPage } from '../../src/broker/event-feed';
import { recordEvents } from '../../src/broker/events';
import { caller, fullTransfer, initialize, openEventsBed, ORG, RESOURCE_ID, SOURCE, upload, type EventsBed } from './events-support';

let bed: EventsBed;
beforeAll(async () => {
  bed = await openEventsBed({ preparedTransactions: true });
});
afterAll(() => bed.close());

async function storedCloudEvents(orgNumber: string) {
  const rows = (await bed.db('broker_events').where({ subject: orgNumber }).orderBy('seq').select(...STORED_EVENT_COLUMNS)) as StoredEventRow[];
  return rows.map((row) => toCloudEvent(storedEventFromRow(row), SOURCE));
}

/**
 * The feed shows an event once every transaction that began writing before it has finished, in the
 * whole cluster: on a shared PostgreSQL server, other test files' transactions hold it back for a
 * moment. Waits until the feed shows (at least) every stored event of the organisation.
 */
async function feedCaughtUp(orgNumber: string): Promise<void> {
  const stored = (await storedCloudEvents(orgNumber)).length;
  const giveUpAt = Date.now() + 30_000;
  while ((await readEventFeed(bed.ctx, caller(orgNumber), { limit: 1000 })).events.length < stored) {
    if (Date.now() > giveUpAt) throw new Error(`the feed of ${orgNumber} did not show its ${stored} events within 30 s`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Every page from `after` on, `limit` at a time. */
async function readAll(orgNumber: string, limit: number, after?: string): Promise<{ pages: EventFeedPage[]; cursor: string | null }> {
  const pages: EventFeedPage[] = [];
  let cursor: string | null = after ?? null;
  for (;;) {
    const page = await readEventFeed(bed.ctx, caller(orgNumber), { ...(cursor ? { after: cursor } : {}), limit });
    pages.push(page);
    cursor = page.cursor;
    if (!page.hasMore) return { pages, cursor };
  }
}

it('pages through the caller’s events in order with a cursor, and continues with later events', async () => {
  await fullTransfer(bed);
  const second = await initialize(bed);
  await upload(bed, second);
  const expected = await storedCloudEvents(ORG.sender);
  expect(expected.map((event) => event.type.replace('no.altinn.broker.', ''))).toEqual([
    'filetransferinitialized',
    'published',
    'downloadconfirmed',
    'allconfirmeddownloaded',
    'filepurged',
    'filetransferinitialized',
    'published',
  ]);

  await feedCaughtUp(ORG.sender);
  const { pages, cursor } = await readAll(ORG.sender, 2);
  expect(pages.map((page) => [page.events.length, page.hasMore])).toEqual([
    [2, true],
    [2, true],
    [2, true],
    [1, false],
  ]);
  expect(pages.flatMap((page) => page.events)).toEqual(expected);
  expect(Object.keys(pages[0]!.events[0]!)).toEqual(['specversion', 'id', 'type', 'time', 'resource', 'resourceinstance', 'subject', 'source', 'data']);
  expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);

  // Nothing new: an empty page keeps the cursor.
  expect(await readEventFeed(bed.ctx, caller(ORG.sender), { after: cursor })).toEqual({ events: [], cursor, hasMore: false });

  // New events come after the cursor, and only they.
  const third = await initialize(bed);
  await feedCaughtUp(ORG.sender);
  const next = await readEventFeed(bed.ctx, caller(ORG.sender), { after: cursor });
  expect(next.events.map((event) => [event.type, event.resourceinstance])).toEqual([['no.altinn.broker.filetransferinitialized', third]]);
  expect(next.cursor).not.toBe(cursor);
  // The default page holds everything here (100 at most).
  expect((await readEventFeed(bed.ctx, caller(ORG.sender))).events).toEqual(await storedCloudEvents(ORG.sender));
});

it('shows an organisation only its own events', async () => {
  await fullTransfer(bed);
  await feedCaughtUp(ORG.recipient);
  await feedCaughtUp(ORG.sender);
  const stranger = await readEventFeed(bed.ctx, caller(ORG.other));
  expect(stranger).toEqual({ events: [], cursor: null, hasMore: false });
  const recipient = await readEventFeed(bed.ctx, caller(ORG.recipient), { limit: 1000 });
  expect(recipient.events.length).toBeGreaterThan(0);
  expect(recipient.events.every((event) => event.subject === `urn:altinn:organization:identifier-no:${ORG.recipient}` && event.data.Role === 'Recipient')).toBe(true);
  expect(recipient.events).toEqual(await storedCloudEvents(ORG.recipient));
  // A cursor is a position, not a key: another organisation's cursor shows it nothing of the first.
  const senderCursor = (await readEventFeed(bed.ctx, caller(ORG.sender), { limit: 1 })).cursor!;
  expect((await readEventFeed(bed.ctx, caller(ORG.other), { after: senderCursor })).events).toEqual([]);
});

it('never skips an event whose transaction commits after a later one', async () => {
  const lateTransfer = await initialize(bed, [ORG.recipient], ORG.third);
  await feedCaughtUp(ORG.third);
  const { cursor: start } = await readAll(ORG.third, 1000);
  const lateEvent = { type: 'uploadprocessing' as const, party: `0192:${ORG.third}`, role: 'Sender' as const };

  // A transaction writes an event and stays open …
  const late = await beginLateTransaction(bed, async (trx) => recordEvents(trx, bed.clock, { fileTransferId: lateTransfer, resourceId: RESOURCE_ID }, [lateEvent]));
  // … while another transaction writes a later event and commits.
  const onTime = await initialize(bed, [ORG.recipient], ORG.third);
  const [lateRow] = (await late.peek()) as { seq: number }[];
  const [onTimeRow] = await bed.db('broker_events').where({ file_transfer_id: onTime }).select('seq');
  // The bigserial order is not the commit order: a reader going by seq would move past the late one.
  expect(Number(lateRow!.seq)).toBeLessThan(Number(onTimeRow!.seq));

  // While the first is in progress, the feed holds back the later event too.
  const during = await readEventFeed(bed.ctx, caller(ORG.third), { after: start });
  expect(during).toEqual({ events: [], cursor: start, hasMore: false });

  await late.commit();
  await feedCaughtUp(ORG.third);
  const after = await readEventFeed(bed.ctx, caller(ORG.third), { after: start });
  expect(after.events.map((event) => [event.type, event.resourceinstance])).toEqual([
    ['no.altinn.broker.uploadprocessing', lateTransfer],
    ['no.altinn.broker.filetransferinitialized', onTime],
  ]);
  expect((await readEventFeed(bed.ctx, caller(ORG.third), { after: after.cursor })).events).toEqual([]);
});

it('refuses a malformed cursor or limit', async () => {
  const errorsOf = async (request: Record<string, unknown>) => {
    try {
      await readEventFeed(bed.ctx, caller(ORG.sender), request);
    } catch (error) {
      if (error instanceof BrokerError && error.name === 'InvalidInput') return error.details.errors;
      throw error;
    }
    return undefined;
  };
  const badCursor = {
    after: ['The cursor is not one this gateway gave out: pass the cursor of the previous page, or leave after out to start from the beginning.'],
  };
  expect(await errorsOf({ after: 'not a cursor' })).toEqual(badCursor);
  expect(await errorsOf({ after: Buffer.from('v1.abc.1').toString('base64url') })).toEqual(badCursor);
  expect(await errorsOf({ after: Buffer.from(`v1.${2n ** 64n}.1`).toString('base64url') })).toEqual(badCursor);
  expect(await errorsOf({ after: 12 })).toEqual(badCursor);
  const badLimit = { limit: ['The limit must be a whole number from 1 to 1000 (default 100).'] };
  for (const limit of [0, 1001, -1, 1.5, '0', '1001', 'ten', '1e2']) expect(await errorsOf({ limit })).toEqual(badLimit);
  expect(await errorsOf({ limit: '1000' })).toBeUndefined();
});

it('pages by 100 unless asked otherwise, and by at most 1000', async () => {
  const transfer = await initialize(bed, [ORG.recipient], ORG.owner);
  await bed.db.transaction(async (trx) => {
    const events = Array.from({ length: 110 }, () => ({ type: 'uploadfailed' as const, party: `0192:${ORG.owner}`, role: 'Sender' as const }));
    await recordEvents(trx, bed.clock, { fileTransferId: transfer, resourceId: RESOURCE_ID }, events);
  });
  await feedCaughtUp(ORG.owner);
  const first = await readEventFeed(bed.ctx, caller(ORG.owner));
  expect([first.events.length, first.hasMore]).toEqual([100, true]);
  const rest = await readEventFeed(bed.ctx, caller(ORG.owner), { after: first.cursor });
  expect([rest.events.length, rest.hasMore]).toEqual([11, false]);
  expect((await readEventFeed(bed.ctx, caller(ORG.owner), { limit: '1000' })).events).toHaveLength(111);
});

interface LateTransaction {
  /** The rows the open transaction wrote (read through it). */
  peek(): Promise<unknown[]>;
  commit(): Promise<void>;
}

/** Runs `work` in a transaction that stays in progress until commit(), while the test goes on. */
async function beginLateTransaction(bed: EventsBed, work: (trx: Knex.Transaction) => Promise<void>): Promise<LateTransaction> {
  if (!bed.embedded) {
    const trx = await bed.db.transaction();
    await work(trx);
    return {
      peek: () => trx('broker_events').where({ xid: trx.raw('pg_current_xact_id()') }).select('seq'),
      commit: async () => {
        await trx.commit();
      },
    };
  }
  // One connection: BEGIN … PREPARE TRANSACTION detaches the transaction from the session, which
  // then runs other transactions while this one is still in progress (holding its xid).
  await bed.db.raw('BEGIN');
  await work(bed.db as unknown as Knex.Transaction);
  const written = await bed.db('broker_events').where({ xid: bed.db.raw('pg_current_xact_id()') }).select('seq');
  await bed.db.raw("PREPARE TRANSACTION 'late_event'");
  return {
    peek: async () => written,
    commit: async () => {
      await bed.db.raw("COMMIT PREPARED 'late_event'");
    },
  };
}
