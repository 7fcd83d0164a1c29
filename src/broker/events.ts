/**
 * Broker events (CONTRACT §6), recorded in the transaction that changes the status they report
 * (an outbox): an event exists if and only if its status change committed. One event per subject
 * (the organisation told), as Altinn sends them. For each webhook subscribed by that subject a
 * delivery row is written in the same transaction; the delivery job sends them (webhooks.ts).
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { Clock } from '../clock';
import { enqueueJob } from '../jobs/queue';
import { orgNumberOf } from './parties';
import type { Role } from './types';

export const BROKER_EVENT_TYPES = [
  'filetransferinitialized',
  'uploadprocessing',
  'published',
  'uploadfailed',
  'downloadconfirmed',
  'allconfirmeddownloaded',
  'filepurged',
  'fileneverconfirmeddownloaded',
] as const;
export type BrokerEventType = (typeof BROKER_EVENT_TYPES)[number];

export const EVENT_TYPE_PREFIX = 'no.altinn.broker.';
export const WEBHOOK_DELIVERY_JOB = 'broker.deliver-webhook';

export interface EventToRecord {
  type: BrokerEventType;
  /** '0192:<orgnr>' of the organisation told. */
  party: string;
  role: Role;
}

export interface TransferRef {
  fileTransferId: string;
  resourceId: string;
}

/**
 * Records events in `trx` (which holds the transfer's row lock, so a transfer's events are in
 * commit order) and queues their webhook deliveries.
 */
export async function recordEvents(trx: Knex.Transaction, clock: Clock, transfer: TransferRef, events: EventToRecord[]): Promise<void> {
  const time = clock.now();
  for (const event of events) {
    const subject = orgNumberOf(event.party);
    const [inserted] = await trx('broker_events')
      .insert({
        id: eventId(event, transfer.fileTransferId),
        type: event.type,
        file_transfer_id: transfer.fileTransferId,
        resource_id: transfer.resourceId,
        subject,
        role: event.role,
        time,
      })
      // A replayed job (e.g. publishing again after a crash) must not record `published` twice.
      .onConflict('id')
      .ignore()
      .returning<{ seq: number }[]>('seq');
    if (!inserted) continue;
    const webhooks = await trx('broker_webhooks')
      .where({ org_number: subject })
      .select<{ id: string; event_types: string[] | string | null }[]>('id', 'event_types');
    for (const webhook of webhooks) {
      const types = typeof webhook.event_types === 'string' ? (JSON.parse(webhook.event_types) as string[] | null) : webhook.event_types;
      if (types && !types.includes(event.type)) continue;
      await trx('broker_webhook_deliveries').insert({
        webhook_id: webhook.id,
        event_seq: inserted.seq,
        file_transfer_id: transfer.fileTransferId,
        next_attempt_at: time,
      });
      await enqueueJob(trx, clock, { kind: WEBHOOK_DELIVERY_JOB, payload: { webhookId: webhook.id }, key: `${WEBHOOK_DELIVERY_JOB}:${webhook.id}`, runAt: time });
    }
  }
}

/**
 * Random, except for `published`: Altinn derives its id from the transfer, role and party, so a
 * receiver deduplicating by id sees one `published` per party however often it is sent.
 */
export function eventId(event: EventToRecord, fileTransferId: string): string {
  if (event.type !== 'published') return randomUUID();
  return publishedEventId(fileTransferId, event.role, event.party);
}

/** First 16 bytes of SHA-256(`published:{id}:{Role}:{party}`), read as a .NET Guid (mixed-endian). */
export function publishedEventId(fileTransferId: string, role: Role, party: string): string {
  const bytes = createHash('sha256').update(`published:${fileTransferId}:${role}:${party}`, 'utf8').digest().subarray(0, 16);
  const hex = (from: number, to: number, reverse = false) => {
    const slice = Buffer.from(bytes.subarray(from, to));
    return (reverse ? slice.reverse() : slice).toString('hex');
  };
  return `${hex(0, 4, true)}-${hex(4, 6, true)}-${hex(6, 8, true)}-${hex(8, 10)}-${hex(10, 16)}`;
}
