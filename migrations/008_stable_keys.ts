/**
 * Keys that stay the same when something is done twice or moves:
 *
 * - form_tasks.idempotency_key: the import file's `externalReference` of a task (or, without one,
 *   the SHA-256 of the task's entry), unique per service owner, so running `archive import` again
 *   skips the tasks already archived instead of archiving them twice. NULL for tasks from other
 *   doors (REST intake), which the partial index leaves out.
 * - forms.message_form_id, attachments.message_attachment_id: the id the REST messages API gave a
 *   form or attachment while its message was a draft. Archiving moves the rows into the archive
 *   tables (other sequences); the REST API keeps answering under the draft's id, so a Location
 *   handed out before signing still resolves afterwards. No foreign key: the draft rows are gone.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('form_tasks', (t) => {
    t.text('idempotency_key');
  });
  await knex.raw(`CREATE UNIQUE INDEX form_tasks_idempotency_key
    ON form_tasks (service_owner_id, idempotency_key) WHERE idempotency_key IS NOT NULL`);
  await knex.schema.alterTable('forms', (t) => {
    t.bigInteger('message_form_id');
  });
  await knex.schema.alterTable('attachments', (t) => {
    t.integer('message_attachment_id');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('attachments', (t) => {
    t.dropColumn('message_attachment_id');
  });
  await knex.schema.alterTable('forms', (t) => {
    t.dropColumn('message_form_id');
  });
  await knex.raw('DROP INDEX form_tasks_idempotency_key');
  await knex.schema.alterTable('form_tasks', (t) => {
    t.dropColumn('idempotency_key');
  });
}
