/**
 * No plaintext of an encrypted service at rest: a message of such a service stages its attachments
 * encrypted (AES-128-CBC, Altinn's attachment cipher) under a key of its own, kept here until the
 * message is archived (the key then becomes the task's, RSA-wrapped for the owner, and this copy
 * is cleared). `message_attachments.is_encrypted` says which staged blobs are ciphertext under it
 * (drafts staged before the service was encrypted are not).
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('messages', (t) => {
    // The 32-byte symmetric key blob (16 key + 16 IV), as symmetric-key.ts lays it out.
    t.binary('content_key');
  });
  await knex.schema.alterTable('message_attachments', (t) => {
    t.boolean('is_encrypted').notNullable().defaultTo(false);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('message_attachments', (t) => t.dropColumn('is_encrypted'));
  await knex.schema.alterTable('messages', (t) => t.dropColumn('content_key'));
}
