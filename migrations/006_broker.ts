/**
 * Broker file transfer (Altinn 3 Broker API, and the Altinn 2 doors over the same transfers):
 *
 * - broker_resources: broker services, configured by their service owner (ResourceExt), with the
 *   Altinn 2 service code/edition that the legacy doors map to; broker_resource_access: who may
 *   send and receive on a resource (an empty list means every organisation).
 * - broker_file_transfers: one row per transfer, with its current status denormalised from the
 *   append-only history in broker_file_transfer_statuses (rows are only ever inserted there).
 *   Recipients likewise: broker_recipients holds the current (highest reached) status,
 *   broker_recipient_statuses every row.
 * - broker_uploads / broker_upload_parts: resumable (TUS) uploads in progress. The database is
 *   the authority on the committed offset; the blob store only keeps bytes.
 * - broker_events: the event outbox, written in the same transaction as the status change it
 *   reports; broker_webhooks and broker_webhook_deliveries deliver it to subscribers.
 *
 * Parties are stored as '0192:<orgnr>', statuses by their Altinn 3 names.
 */
import type { Knex } from 'knex';

const TRANSFER_STATUSES = ['Initialized', 'UploadStarted', 'UploadProcessing', 'Published', 'Cancelled', 'AllConfirmedDownloaded', 'Purged', 'Failed'];
const RECIPIENT_STATUSES = ['Initialized', 'DownloadStarted', 'DownloadConfirmed'];
const inList = (values: string[]) => values.map((value) => `'${value}'`).join(', ');

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('broker_resources', (t) => {
    t.text('resource_id').primary();
    t.string('service_owner_org', 9).notNullable();
    t.bigInteger('max_file_transfer_size');
    // ISO 8601 durations as configured; null → the default (P30D, PT2H).
    t.text('file_transfer_time_to_live');
    t.boolean('purge_after_all_confirmed').notNullable().defaultTo(true);
    t.text('purge_grace_period');
    t.boolean('use_manifest_file_shim').notNullable().defaultTo(false);
    t.text('external_service_code_legacy');
    t.integer('external_service_edition_code_legacy');
    t.text('required_party');
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.timestamp('updated_at', { useTz: true }).notNullable();
    // The Altinn 2 doors find a resource by its legacy code and edition: one resource per pair.
    t.unique(['external_service_code_legacy', 'external_service_edition_code_legacy']);
  });

  await knex.schema.createTable('broker_resource_access', (t) => {
    t.text('resource_id').notNullable().references('broker_resources.resource_id').onDelete('CASCADE');
    t.text('party').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.primary(['resource_id', 'party']);
  });

  await knex.schema.createTable('broker_file_transfers', (t) => {
    t.uuid('id').primary();
    t.text('resource_id').notNullable().references('broker_resources.resource_id');
    t.text('sender').notNullable();
    t.text('file_name').notNullable();
    t.text('senders_reference');
    // Lower-case hex MD5: as given at initialize (checksum_given), or computed once the bytes are stored.
    t.text('checksum');
    t.boolean('checksum_given').notNullable();
    t.boolean('use_virus_scan').notNullable();
    // json, not jsonb: the sender's property order is kept.
    t.json('property_list').notNullable();
    t.bigInteger('size_bytes').notNullable().defaultTo(0);
    t.string('sha256', 64);
    t.text('blob_key');
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.timestamp('expires_at', { useTz: true }).notNullable();
    // The current status: always the latest row of broker_file_transfer_statuses.
    t.text('status').notNullable();
    t.text('status_text');
    t.timestamp('status_changed_at', { useTz: true }).notNullable();
    t.timestamp('published_at', { useTz: true });
    // The upload attempt that may complete the transfer ('blob:<key>' streamed, 'tus:<uploadId>'):
    // of two racing uploads only the current attempt commits, and a dead attempt's bytes are findable.
    t.text('upload_attempt');
    // Who streams the current attempt, and until when (renewed while bytes flow): an attempt whose
    // process died is abandoned (its bytes deleted, the transfer open for a new upload).
    t.text('upload_attempt_owner');
    t.timestamp('upload_attempt_expires_at', { useTz: true });
    t.index(['resource_id', 'created_at']);
    t.index(['sender', 'resource_id', 'created_at']);
  });
  await knex.raw(`ALTER TABLE broker_file_transfers ADD CONSTRAINT broker_file_transfers_status_check CHECK (status IN (${inList(TRANSFER_STATUSES)}))`);

  await knex.schema.createTable('broker_file_transfer_statuses', (t) => {
    t.bigIncrements('id');
    t.uuid('file_transfer_id').notNullable().references('broker_file_transfers.id').onDelete('CASCADE');
    t.text('status').notNullable();
    t.text('status_text');
    t.timestamp('changed_at', { useTz: true }).notNullable();
    t.index(['file_transfer_id', 'id']);
    // Search by "entered status S between from and to".
    t.index(['status', 'changed_at']);
  });
  await knex.raw(`ALTER TABLE broker_file_transfer_statuses ADD CONSTRAINT broker_file_transfer_statuses_status_check CHECK (status IN (${inList(TRANSFER_STATUSES)}))`);
  // Exactly one Published row per transfer, whatever races.
  await knex.raw(`CREATE UNIQUE INDEX broker_file_transfer_statuses_one_published ON broker_file_transfer_statuses (file_transfer_id) WHERE status = 'Published'`);

  await knex.schema.createTable('broker_recipients', (t) => {
    t.uuid('file_transfer_id').notNullable().references('broker_file_transfers.id').onDelete('CASCADE');
    t.text('recipient').notNullable();
    t.integer('position').notNullable();
    // The highest status reached (a recipient never goes back), the latest row's status (which
    // search filters on), and when the latest row was written.
    t.text('status').notNullable();
    t.text('latest_status').notNullable();
    t.timestamp('status_changed_at', { useTz: true }).notNullable();
    t.primary(['file_transfer_id', 'recipient']);
    t.index(['recipient', 'latest_status']);
  });
  await knex.raw(`ALTER TABLE broker_recipients ADD CONSTRAINT broker_recipients_status_check
    CHECK (status IN (${inList(RECIPIENT_STATUSES)}) AND latest_status IN (${inList(RECIPIENT_STATUSES)}))`);

  await knex.schema.createTable('broker_recipient_statuses', (t) => {
    t.bigIncrements('id');
    t.uuid('file_transfer_id').notNullable().references('broker_file_transfers.id').onDelete('CASCADE');
    t.text('recipient').notNullable();
    t.text('status').notNullable();
    t.timestamp('changed_at', { useTz: true }).notNullable();
    t.index(['file_transfer_id', 'id']);
  });
  await knex.raw(`ALTER TABLE broker_recipient_statuses ADD CONSTRAINT broker_recipient_statuses_status_check CHECK (status IN (${inList(RECIPIENT_STATUSES)}))`);

  await knex.schema.createTable('broker_uploads', (t) => {
    t.uuid('id').primary();
    t.uuid('file_transfer_id').notNullable().references('broker_file_transfers.id').onDelete('CASCADE');
    // 'single': the whole file; 'partial': one piece of a concatenated upload; 'final': the concatenation.
    t.text('kind').notNullable();
    // The blob store's resumable-upload key (null for 'final', which has no bytes of its own).
    t.text('upload_key');
    t.bigInteger('upload_length');
    t.bigInteger('upload_offset').notNullable().defaultTo(0);
    // A writer holds the lease while it streams a chunk: a second concurrent PATCH is refused.
    t.text('lease_token');
    t.timestamp('lease_until', { useTz: true });
    // For 'final': the partial upload ids, in order.
    t.json('partial_ids');
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.timestamp('last_activity_at', { useTz: true }).notNullable();
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.timestamp('completed_at', { useTz: true });
    // Once completed: the blob its parts became (a partial's until the final consumes it).
    t.text('blob_key');
    t.index(['file_transfer_id']);
  });
  await knex.raw(`ALTER TABLE broker_uploads ADD CONSTRAINT broker_uploads_kind_check CHECK (kind IN ('single', 'partial', 'final'))`);

  await knex.schema.createTable('broker_upload_parts', (t) => {
    t.uuid('upload_id').notNullable().references('broker_uploads.id').onDelete('CASCADE');
    t.integer('part_number').notNullable();
    t.bigInteger('offset').notNullable();
    t.bigInteger('size_bytes').notNullable();
    t.text('etag').notNullable();
    t.string('md5', 32).notNullable();
    t.primary(['upload_id', 'part_number']);
  });

  await knex.schema.createTable('broker_events', (t) => {
    t.bigIncrements('seq');
    // The CloudEvent id: random, except for `published` (deterministic, as Altinn makes it).
    t.uuid('id').notNullable().unique();
    t.text('type').notNullable();
    t.uuid('file_transfer_id').notNullable().references('broker_file_transfers.id').onDelete('CASCADE');
    t.text('resource_id').notNullable();
    // Organisation number (9 digits) the event is for, and its role on the transfer.
    t.string('subject', 9).notNullable();
    t.text('role').notNullable();
    t.timestamp('time', { useTz: true }).notNullable();
    t.index(['file_transfer_id', 'seq']);
  });
  // The writing transaction's id: the pull feed orders by (xid, seq) and shows only events of
  // transactions older than every transaction still running, so a cursor never skips an event
  // that commits late.
  await knex.raw(`ALTER TABLE broker_events ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id()`);
  await knex.raw(`CREATE INDEX broker_events_feed ON broker_events (subject, xid, seq)`);
  await knex.raw(`ALTER TABLE broker_events ADD CONSTRAINT broker_events_role_check CHECK (role IN ('Sender', 'Recipient'))`);

  await knex.schema.createTable('broker_webhooks', (t) => {
    t.uuid('id').primary();
    t.string('org_number', 9).notNullable();
    t.text('url').notNullable();
    // Standard Webhooks signing secret ('whsec_' + base64).
    t.text('secret').notNullable();
    // Event types to deliver (short names, e.g. 'published'); null → all.
    t.json('event_types');
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.index(['org_number']);
  });

  await knex.schema.createTable('broker_webhook_deliveries', (t) => {
    t.uuid('webhook_id').notNullable().references('broker_webhooks.id').onDelete('CASCADE');
    t.bigInteger('event_seq').notNullable().references('broker_events.seq').onDelete('CASCADE');
    t.uuid('file_transfer_id').notNullable();
    t.integer('attempts').notNullable().defaultTo(0);
    t.timestamp('next_attempt_at', { useTz: true }).notNullable();
    t.timestamp('delivered_at', { useTz: true });
    // Set when retries are exhausted: kept for the operator, no longer blocking later events.
    t.timestamp('given_up_at', { useTz: true });
    t.integer('last_status');
    t.text('last_error');
    t.primary(['webhook_id', 'event_seq']);
  });
  await knex.raw(`CREATE INDEX broker_webhook_deliveries_pending ON broker_webhook_deliveries (webhook_id, file_transfer_id, event_seq)
    WHERE delivered_at IS NULL AND given_up_at IS NULL`);
}

export async function down(knex: Knex): Promise<void> {
  for (const table of [
    'broker_webhook_deliveries',
    'broker_webhooks',
    'broker_events',
    'broker_upload_parts',
    'broker_uploads',
    'broker_recipient_statuses',
    'broker_recipients',
    'broker_file_transfer_statuses',
    'broker_file_transfers',
    'broker_resource_access',
    'broker_resources',
  ]) {
    await knex.schema.dropTableIfExists(table);
  }
}
