/** GET /api/{who}/messages: the reportee's messages, newest first, at most 50 per page. */
import { listMessageRecords, summaryOf } from './message-store';
import type { MessageContext, MessageSummary, Reportee } from './types';

/** Altinn caps every list at 50 items. */
export const MAX_PAGE_SIZE = 50;

export interface MessagePage {
  messages: MessageSummary[];
  /** The page was cut at MAX_PAGE_SIZE while more messages exist (X-Warning-LimitReached). */
  limitReached: boolean;
  /** More messages exist after this page, whatever cut it. */
  hasMore: boolean;
}

export async function listMessages(ctx: MessageContext, reportee: Reportee, page: { top?: number; skip?: number }): Promise<MessagePage> {
  const requested = page.top ?? MAX_PAGE_SIZE;
  const take = Math.min(requested, MAX_PAGE_SIZE);
  const records = await listMessageRecords(ctx.db, reportee, page.skip ?? 0, take + 1);
  const hasMore = records.length > take;
  const messages = records.slice(0, take).map(summaryOf);
  return { messages, hasMore, limitReached: hasMore && requested >= MAX_PAGE_SIZE };
}
