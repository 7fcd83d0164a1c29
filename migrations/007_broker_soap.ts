/**
 * The Altinn 2 SOAP broker's system users act for their own organisation (the account the user
 * belongs to: service_owners.org_number) and for the organisations delegated to them here, as
 * Altinn 2 let an end-user system act for the reportees that delegated rights to it. One row per
 * delegation; removing the system user removes its delegations.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('system_user_delegations', (t) => {
    t.integer('system_user_id').notNullable().references('system_users.id').onDelete('CASCADE');
    t.string('org_number', 9).notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.primary(['system_user_id', 'org_number']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('system_user_delegations');
}
