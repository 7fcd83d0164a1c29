/**
 * A stored broker event (broker_events) as the CloudEvent 1.0 JSON object Altinn sends (CONTRACT §6,
 * altinn-broker-facts §3): members in Altinn's order `specversion, id, type, time, resource,
 * resourceinstance, subject, source, data`, and `data` = `{"Role": "Sender" | "Recipient"}`.
 * Webhook deliveries (webhooks.ts) and the pull feed (event-feed.ts) both render through here, so a
 * receiver sees the same object, with the same id, whichever way it reads it.
 *
 * One deliberate difference: Altinn's `time` is when its delivery job ran; ours is when the status
 * change committed (the stored event's time), so every delivery and every feed read of an event carry
 * the same body.
 */
import { EVENT_TYPE_PREFIX, type BrokerEventType } from './events';
import { organisationUrn } from './parties';
import type { Role } from './types';

export const CLOUD_EVENT_CONTENT_TYPE = 'application/cloudevents+json';
export const EVENT_SOURCE_PATH = '/broker/api/v1/filetransfer';
const RESOURCE_URN_PREFIX = 'urn:altinn:resource:';

/** A row of broker_events, as the domain reads it. */
export interface StoredEvent {
  seq: number;
  /** The CloudEvent id (uuid). */
  id: string;
  type: BrokerEventType;
  fileTransferId: string;
  /** Without the urn:altinn:resource: prefix. */
  resourceId: string;
  /** The organisation number (9 digits) the event is for. */
  subject: string;
  role: Role;
  time: Date;
}

export interface CloudEvent {
  specversion: '1.0';
  id: string;
  type: string;
  time: string;
  resource: string;
  resourceinstance: string;
  subject: string;
  source: string;
  data: { Role: Role };
}

/** The columns to select for `storedEventFromRow`. */
export const STORED_EVENT_COLUMNS = ['seq', 'id', 'type', 'file_transfer_id', 'resource_id', 'subject', 'role', 'time'] as const;

export interface StoredEventRow {
  seq: number | string;
  id: string;
  type: string;
  file_transfer_id: string;
  resource_id: string;
  subject: string;
  role: string;
  time: Date;
}

export function storedEventFromRow(row: StoredEventRow): StoredEvent {
  return {
    seq: Number(row.seq),
    id: row.id,
    type: row.type as BrokerEventType,
    fileTransferId: row.file_transfer_id,
    resourceId: row.resource_id,
    subject: row.subject,
    role: row.role as Role,
    time: row.time,
  };
}

/** The CloudEvent; the object literal's member order is the wire order (JSON.stringify keeps it). */
export function toCloudEvent(event: StoredEvent, source: string): CloudEvent {
  return {
    specversion: '1.0',
    id: event.id,
    type: `${EVENT_TYPE_PREFIX}${event.type}`,
    time: formatEventTime(event.time),
    resource: `${RESOURCE_URN_PREFIX}${event.resourceId}`,
    resourceinstance: event.fileTransferId,
    subject: organisationUrn(event.subject),
    source,
    data: { Role: event.role },
  };
}

/**
 * `<public URL>/broker/api/v1/filetransfer`, as Altinn's `PlatformGatewayUrl + "broker/api/v1/filetransfer"`.
 * The public URL (PUBLIC_URL) may carry a path prefix (a gateway behind a proxy at /altinn/).
 */
export function eventSource(publicUrl: string | undefined, port: number): string {
  const base = publicUrl ?? `http://localhost:${port}`;
  return `${base.replace(/\/+$/, '')}${EVENT_SOURCE_PATH}`;
}

/** UTC with an explicit offset and the fraction's trailing zeros trimmed: `2026-08-18T11:40:51.12+00:00` (CONTRACT §1). */
export function formatEventTime(time: Date): string {
  const iso = time.toISOString(); // 2026-08-18T11:40:51.120Z
  const [seconds, fraction = ''] = iso.slice(0, -1).split('.');
  const trimmed = fraction.replace(/0+$/, '');
  return `${seconds}${trimmed ? `.${trimmed}` : ''}+00:00`;
}
