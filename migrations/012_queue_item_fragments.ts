/**
 * A queue item's serialized form, kept beside it by the door that presents it (GetDownloadQueueItems
 * writes each item's DownloadQueueItemBE element once, not on every listing). Queue items never
 * change once archived, so the fragment stays valid; `fragment_format` names the door's format, and
 * a fragment of another format is rebuilt. Items archived before this migration get theirs when
 * first listed.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('download_queue_items', (t) => {
    t.text('fragment');
    t.text('fragment_format');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('download_queue_items', (t) => {
    t.dropColumn('fragment');
    t.dropColumn('fragment_format');
  });
}
