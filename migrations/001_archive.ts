/**
 * The archive: service owners and their system users and services, archived form tasks with
 * forms, approvers, attachments (bytes live in the blob store) and shipment metadata, and the
 * DownloadQueue state.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('service_owners', (t) => {
    t.increments('id');
    t.string('org_number', 9).notNullable().unique();
    t.text('name').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  await knex.schema.createTable('system_users', (t) => {
    t.increments('id');
    t.integer('service_owner_id').notNullable().references('service_owners.id').onDelete('CASCADE');
    // The SOAP request names only the user, so names are unique across owners.
    t.text('user_name').notNullable().unique();
    t.text('password_hash').notNullable();
    t.integer('failed_attempts').notNullable().defaultTo(0);
    t.timestamp('locked_until', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  await knex.schema.createTable('services', (t) => {
    t.increments('id');
    t.integer('service_owner_id').notNullable().references('service_owners.id').onDelete('CASCADE');
    t.text('service_code').notNullable();
    t.integer('service_edition_code').notNullable();
    t.text('name');
    t.boolean('download_queue').notNullable().defaultTo(true);
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(['service_code', 'service_edition_code']);
  });

  await knex.schema.createTable('form_tasks', (t) => {
    // ArchiveReference is 'AR' + id.
    t.bigIncrements('id');
    t.integer('service_id').notNullable().references('services.id');
    // Denormalized from the service so every owner-scoped lookup is one indexed predicate.
    t.integer('service_owner_id').notNullable().references('service_owners.id');
    t.text('reportee').notNullable();
    t.text('reportee_type').notNullable();
    t.timestamp('archived_at', { useTz: true }).notNullable();
    t.integer('case_id');
    t.bigInteger('correlation_reference');
    t.index(['service_owner_id', 'id']);
  });
  await knex.raw(`ALTER TABLE form_tasks ADD CONSTRAINT form_tasks_reportee_type_check
    CHECK (reportee_type IN ('Organisation', 'Person', 'Selfregistereduser'))`);

  await knex.schema.createTable('forms', (t) => {
    t.bigIncrements('id');
    t.bigInteger('form_task_id').notNullable().references('form_tasks.id').onDelete('CASCADE');
    t.integer('position').notNullable();
    t.text('data_format_id').notNullable();
    t.integer('data_format_version').notNullable();
    t.text('form_data').notNullable();
    t.bigInteger('parent_form_id').references('forms.id');
    t.index(['form_task_id', 'position']);
  });

  await knex.schema.createTable('approvers', (t) => {
    t.bigIncrements('id');
    t.bigInteger('form_task_id').notNullable().references('form_tasks.id').onDelete('CASCADE');
    t.integer('position').notNullable();
    t.text('approver_id').notNullable();
    t.timestamp('approved_at', { useTz: true }).notNullable();
    t.text('security_level').notNullable();
    t.index(['form_task_id', 'position']);
  });
  await knex.raw(`ALTER TABLE approvers ADD CONSTRAINT approvers_security_level_check
    CHECK (security_level IN ('selfIdentifiedUser', 'notSensitive', 'lessSensitive', 'sensitive', 'verySensitive'))`);

  await knex.schema.createTable('attachments', (t) => {
    // AttachmentId is an xs:int on the wire.
    t.increments('id');
    t.bigInteger('form_task_id').notNullable().references('form_tasks.id').onDelete('CASCADE');
    t.integer('position').notNullable();
    t.text('file_name').notNullable();
    t.text('attachment_type').notNullable();
    t.text('attachment_type_name');
    t.text('attachment_type_name_language');
    t.boolean('is_encrypted').notNullable().defaultTo(false);
    t.bigInteger('size_bytes').notNullable();
    t.string('sha256', 64).notNullable();
    t.text('blob_key').notNullable();
    t.index(['form_task_id', 'position']);
  });

  await knex.schema.createTable('shipment_metadata', (t) => {
    t.bigInteger('form_task_id').notNullable().references('form_tasks.id').onDelete('CASCADE');
    t.integer('position').notNullable();
    t.text('key').notNullable();
    t.text('value');
    t.primary(['form_task_id', 'position']);
  });

  await knex.schema.createTable('download_queue_items', (t) => {
    t.bigInteger('form_task_id').primary().references('form_tasks.id').onDelete('CASCADE');
    t.integer('service_owner_id').notNullable().references('service_owners.id');
    t.integer('service_id').notNullable().references('services.id');
    t.timestamp('archived_at', { useTz: true }).notNullable();
    t.timestamp('purged_at', { useTz: true });
    t.integer('purged_by_system_user_id').references('system_users.id');
  });
  // Listing reads only unpurged items of one owner (optionally one service), oldest first, 500 at a
  // time: partial indexes keep that an index range scan however large the purged history grows.
  await knex.raw(`CREATE INDEX download_queue_pending_by_owner
    ON download_queue_items (service_owner_id, archived_at, form_task_id) WHERE purged_at IS NULL`);
  await knex.raw(`CREATE INDEX download_queue_pending_by_service
    ON download_queue_items (service_id, archived_at, form_task_id) WHERE purged_at IS NULL`);
}

export async function down(knex: Knex): Promise<void> {
  for (const table of [
    'download_queue_items',
    'shipment_metadata',
    'attachments',
    'approvers',
    'forms',
    'form_tasks',
    'services',
    'system_users',
    'service_owners',
  ]) {
    await knex.schema.dropTableIfExists(table);
  }
}
