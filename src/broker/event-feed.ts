/**
 * The pull feed (`GET /broker/api/v1/events?after=<cursor>&limit=<n>`): the caller's events (subject =
 * the calling organisation) as CloudEvents, committed ones only, in the order of the transactions that
 * wrote them (for one transfer: the order of its status changes), with an opaque cursor to continue from.
 * For clients that cannot receive webhooks; the events are the ones webhooks get, with the same ids.
 *
 * Why not simply `seq > cursor`: a bigserial is drawn when the row is inserted, not when its
 * transaction commits. Transaction A inserts seq 10 and is still running when B inserts seq 11 and
 * commits; a reader now sees 11, moves its cursor to 11, and never sees 10 once A commits.
 *
 * So every event carries the id of the transaction that wrote it (xid8, `pg_current_xact_id()`), and
 * the feed shows only events of transactions older than the current snapshot's xmin (the oldest
 * transaction still running): every transaction below xmin has finished, and any transaction that
 * has not finished, or has not yet written, has an xid >= xmin. Ordered by (xid, seq), the visible
 * part of the feed therefore only ever grows at its end, and a cursor (xid, seq) never passes over
 * an event that commits later. Within one transaction seq is insertion order; within one transfer,
 * (xid, seq) order is also the order of its status changes (they happen under its row lock).
 *
 * The price: an event appears once every transaction that started writing before it has finished,
 * in the whole cluster (xmin is cluster-wide). Our transactions are short, so that is milliseconds;
 * an idle-in-transaction session or a forgotten prepared transaction holds the feed back until it ends.
 * On the embedded database there is one connection, so nothing is ever in flight when the feed reads.
 */
import { invalidInput } from './errors';
import { STORED_EVENT_COLUMNS, storedEventFromRow, toCloudEvent, type CloudEvent, type StoredEventRow } from './cloud-events';
import type { BrokerCaller, BrokerContext } from './types';

export const DEFAULT_FEED_LIMIT = 100;
export const MAX_FEED_LIMIT = 1000;

export interface EventFeedRequest {
  /** A cursor from an earlier page; absent → from the beginning. */
  after?: unknown;
  /** Events per page, 1…1000 (default 100); a number or its decimal text (a query parameter). */
  limit?: unknown;
}

export interface EventFeedPage {
  events: CloudEvent[];
  /** Pass as `after` for the next page. Unchanged when the page is empty; null before the first event. */
  cursor: string | null;
  /** More events were already visible than fitted on this page. */
  hasMore: boolean;
}

interface FeedPosition {
  /** xid8 as decimal text (it may exceed 2^53). */
  xid: string;
  seq: number;
}

export async function readEventFeed(ctx: BrokerContext, caller: BrokerCaller, request: EventFeedRequest = {}): Promise<EventFeedPage> {
  const after = request.after === undefined || request.after === '' ? undefined : decodeCursor(request.after);
  const limit = checkLimit(request.limit);
  const result = await ctx.db.raw(
    `SELECT ${STORED_EVENT_COLUMNS.join(', ')}, xid::text AS xid
       FROM broker_events
      WHERE subject = ?
        AND xid < pg_snapshot_xmin(pg_current_snapshot())
        ${after ? 'AND (xid, seq) > (?::xid8, ?::bigint)' : ''}
      ORDER BY xid, seq
      LIMIT ?`,
    [caller.orgNumber, ...(after ? [after.xid, after.seq] : []), limit + 1],
  );
  const rows = ((result as { rows?: (StoredEventRow & { xid: string })[] }).rows ?? []).slice();
  const hasMore = rows.length > limit;
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return {
    events: page.map((row) => toCloudEvent(storedEventFromRow(row), ctx.events.source)),
    cursor: last ? encodeCursor({ xid: last.xid, seq: Number(last.seq) }) : typeof request.after === 'string' && after ? request.after : null,
    hasMore,
  };
}

const CURSOR_TEXT = /^v1\.(\d{1,20})\.(\d{1,19})$/;
const MAX_XID8 = 2n ** 64n - 1n;

/** Opaque to clients (base64url); versioned, so the encoding can change without breaking stored cursors. */
export function encodeCursor(position: FeedPosition): string {
  return Buffer.from(`v1.${position.xid}.${position.seq}`, 'utf8').toString('base64url');
}

function decodeCursor(value: unknown): FeedPosition {
  const refused = () => invalidInput('after', 'The cursor is not one this gateway gave out: pass the cursor of the previous page, or leave after out to start from the beginning.');
  if (typeof value !== 'string' || !/^[A-Za-z0-9_-]{1,80}$/.test(value)) throw refused();
  const match = CURSOR_TEXT.exec(Buffer.from(value, 'base64url').toString('utf8'));
  if (!match || BigInt(match[1]!) > MAX_XID8 || !Number.isSafeInteger(Number(match[2]))) throw refused();
  return { xid: BigInt(match[1]!).toString(), seq: Number(match[2]) };
}

function checkLimit(value: unknown): number {
  if (value === undefined || value === '') return DEFAULT_FEED_LIMIT;
  const limit = typeof value === 'number' ? value : typeof value === 'string' && /^\d{1,7}$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_FEED_LIMIT) {
    throw invalidInput('limit', `The limit must be a whole number from 1 to ${MAX_FEED_LIMIT} (default ${DEFAULT_FEED_LIMIT}).`);
  }
  return limit;
}
