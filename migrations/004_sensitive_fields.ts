/**
 * Sensitive fields of an encrypted service: a JSON list of field paths (see
 * src/crypto/sensitive-fields.ts) whose elements are encrypted one by one instead of the form
 * data's root element. Empty (the default) keeps encrypting the root element.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('services', (t) => {
    t.jsonb('sensitive_fields').notNullable().defaultTo(knex.raw(`'[]'::jsonb`));
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('services', (t) => {
    t.dropColumn('sensitive_fields');
  });
}
