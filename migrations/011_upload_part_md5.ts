/**
 * A resumable upload's part has an MD5 only when its client sent one to check (TUS Upload-Checksum):
 * hashing every part besides the running MD5 and SHA-256 of the whole upload cost ~1.4 CPU-s per GiB.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE broker_upload_parts ALTER COLUMN md5 DROP NOT NULL');
}

export async function down(knex: Knex): Promise<void> {
  // Parts without an MD5 belong to uploads in progress; they cannot be given one here.
  const [{ count }] = await knex('broker_upload_parts').whereNull('md5').count<{ count: number | string }[]>({ count: '*' });
  if (Number(count) > 0) throw new Error(`${count} upload parts have no MD5: finish or terminate their uploads first`);
  await knex.raw('ALTER TABLE broker_upload_parts ALTER COLUMN md5 SET NOT NULL');
}
