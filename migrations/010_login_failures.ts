/**
 * Lock-out per system user name and source address, instead of per system user: a stranger who
 * knows a name can no longer lock its owner out (their own address is locked, not the user), and
 * names that do not exist are counted and locked exactly like existing ones, so the answers tell
 * nothing about which names exist. Shared by every gateway process on the database.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('system_user_login_failures', (t) => {
    // As given in the call (any name, existing or not).
    t.text('user_name').notNullable();
    t.text('source_address').notNullable();
    t.integer('failed_attempts').notNullable();
    t.timestamp('last_failed_at', { useTz: true }).notNullable();
    t.timestamp('locked_until', { useTz: true });
    t.primary(['user_name', 'source_address']);
    t.index(['last_failed_at']);
  });
  await knex.schema.alterTable('system_users', (t) => {
    t.dropColumn('failed_attempts');
    t.dropColumn('locked_until');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('system_users', (t) => {
    t.integer('failed_attempts').notNullable().defaultTo(0);
    t.timestamp('locked_until', { useTz: true });
  });
  await knex.schema.dropTable('system_user_login_failures');
}
