/**
 * Service-owner encryption: each owner's registered certificates (one current), a per-service
 * switch, and on each form task the RSA-wrapped symmetric key and the thumbprint of the
 * certificate it was wrapped under (both null for a task stored in clear).
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('certificates', (t) => {
    t.increments('id');
    t.integer('service_owner_id').notNullable().references('service_owners.id').onDelete('CASCADE');
    // SHA-1 of the DER, 40 upper-case hex characters (the .NET convention Altinn uses).
    t.string('thumbprint', 40).notNullable();
    t.binary('der').notNullable();
    t.text('subject').notNullable();
    t.text('issuer').notNullable();
    t.text('serial_number').notNullable();
    t.timestamp('not_before', { useTz: true }).notNullable();
    t.timestamp('not_after', { useTz: true }).notNullable();
    t.integer('key_bits').notNullable();
    t.boolean('is_current').notNullable().defaultTo(false);
    t.timestamp('added_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('retired_at', { useTz: true });
    t.unique(['service_owner_id', 'thumbprint']);
  });
  await knex.raw(`ALTER TABLE certificates ADD CONSTRAINT certificates_retired_not_current
    CHECK (NOT (is_current AND retired_at IS NOT NULL))`);
  // At most one current certificate per owner, enforced by the database itself.
  await knex.raw(`CREATE UNIQUE INDEX certificates_one_current_per_owner ON certificates (service_owner_id) WHERE is_current`);

  await knex.schema.alterTable('services', (t) => {
    t.boolean('encrypted').notNullable().defaultTo(false);
  });

  await knex.schema.alterTable('form_tasks', (t) => {
    // No foreign key: a submission encrypted by its sender may name a certificate never registered here.
    t.string('certificate_thumbprint', 40);
    t.binary('encrypted_key');
  });
  await knex.raw(`ALTER TABLE form_tasks ADD CONSTRAINT form_tasks_encryption_complete
    CHECK ((certificate_thumbprint IS NULL) = (encrypted_key IS NULL))`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE form_tasks DROP CONSTRAINT IF EXISTS form_tasks_encryption_complete');
  await knex.schema.alterTable('form_tasks', (t) => {
    t.dropColumn('certificate_thumbprint');
    t.dropColumn('encrypted_key');
  });
  await knex.schema.alterTable('services', (t) => {
    t.dropColumn('encrypted');
  });
  await knex.schema.dropTableIfExists('certificates');
}
