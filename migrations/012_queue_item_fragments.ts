/**
 * A queue item's serialized form, kept by the door that presents it (GetDownloadQueueItems writes
 * each item's DownloadQueueItemBE element once, not on every listing). Queue items never change
 * once archived, so the fragment stays valid; `format` names the door's format, and a fragment of
 * another format is rebuilt. Items archived before this migration get theirs when first listed.
 *
 * A table of its own rather than columns of download_queue_items: filling a fragment then never
 * updates a queue row, so the listing's partial index stays an index-only scan (an UPDATE there
 * left a dead tuple per item and cleared the pages' visibility until the next vacuum).
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('queue_item_fragments', (t) => {
    t.bigInteger('form_task_id').primary().references('download_queue_items.form_task_id').onDelete('CASCADE');
    t.text('format').notNullable();
    t.text('fragment').notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('queue_item_fragments');
}
