/**
 * The end-user REST messages API (src/messages/, src/services/rest-messages/):
 *
 * - api_clients: registered API clients; only a SHA-256 of each key is kept (keys are 256-bit
 *   random, so a fast hash is enough and lets a key be looked up by its hash).
 * - reportees: the parties users act for (a person or an organisation); `id` is the ReporteeId
 *   used in `/api/r<reporteeId>/...`. Rows are made on first use.
 * - reportee_roles: which person may act for which organisation.
 * - service_definitions: what a service accepts (data formats of main and sub forms, attachment
 *   rules), as one JSON document per service.
 * - messages, message_forms, message_attachments: form tasks in progress. On archiving, a
 *   message keeps its row (status "Sendt og arkivert", form_task_id pointing into the archive)
 *   and its forms and attachments move into the archive tables in the same transaction.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('api_clients', (t) => {
    t.increments('id');
    t.text('name').notNullable().unique();
    // Lower-case hex SHA-256 of the key.
    t.string('key_hash', 64).notNullable().unique();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('revoked_at', { useTz: true });
  });

  await knex.schema.createTable('reportees', (t) => {
    t.increments('id');
    t.text('reportee_type').notNullable();
    // National identity number (11 digits) or organisation number (9 digits): never the same text.
    t.text('identifier').notNullable().unique();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw(`ALTER TABLE reportees ADD CONSTRAINT reportees_type_check CHECK (reportee_type IN ('Person', 'Organisation'))`);

  await knex.schema.createTable('reportee_roles', (t) => {
    t.string('person', 11).notNullable();
    t.string('org_number', 9).notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['person', 'org_number']);
  });

  await knex.schema.createTable('service_definitions', (t) => {
    t.integer('service_id').primary().references('services.id').onDelete('CASCADE');
    t.jsonb('definition').notNullable();
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  await knex.schema.createTable('messages', (t) => {
    t.bigIncrements('id');
    t.integer('reportee_id').notNullable().references('reportees.id');
    t.integer('service_id').notNullable().references('services.id');
    t.text('status').notNullable();
    // Bumped by every change: a change prepared from an older snapshot is refused.
    t.integer('version').notNullable().defaultTo(0);
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.text('created_by').notNullable();
    t.timestamp('last_changed_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.text('last_changed_by').notNullable();
    t.bigInteger('form_task_id').unique().references('form_tasks.id').onDelete('SET NULL');
    t.index(['reportee_id', 'id']);
  });
  await knex.raw(`ALTER TABLE messages ADD CONSTRAINT messages_status_check
    CHECK (status IN ('Utfylling', 'Signering', 'Sendt og arkivert'))`);

  await knex.schema.createTable('message_forms', (t) => {
    t.bigIncrements('id');
    t.bigInteger('message_id').notNullable().references('messages.id').onDelete('CASCADE');
    t.text('form_type').notNullable();
    t.text('data_format_id').notNullable();
    t.integer('data_format_version').notNullable();
    t.text('form_data').notNullable();
    t.index(['message_id', 'id']);
  });
  await knex.raw(`ALTER TABLE message_forms ADD CONSTRAINT message_forms_type_check CHECK (form_type IN ('MainForm', 'SubForm'))`);
  // One main form per message, enforced by the database itself.
  await knex.raw(`CREATE UNIQUE INDEX message_forms_one_main_form ON message_forms (message_id) WHERE form_type = 'MainForm'`);

  await knex.schema.createTable('message_attachments', (t) => {
    t.increments('id');
    t.bigInteger('message_id').notNullable().references('messages.id').onDelete('CASCADE');
    t.text('file_name').notNullable();
    // The functional attachment type (AttachmentTypeName in the archive), e.g. "Vedlegg".
    t.text('attachment_type').notNullable();
    t.text('mime_type').notNullable();
    t.text('language');
    t.bigInteger('size_bytes').notNullable();
    t.string('sha256', 64).notNullable();
    t.text('blob_key').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['message_id', 'id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['message_attachments', 'message_forms', 'messages', 'service_definitions', 'reportee_roles', 'reportees', 'api_clients']) {
    await knex.schema.dropTableIfExists(table);
  }
}
