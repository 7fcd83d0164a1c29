/**
 * The ordered list of migrations. Listed statically (not discovered on disk) so the same code runs
 * from TypeScript under jest and from the compiled dist/ without path juggling.
 */
import type { Knex } from 'knex';
import * as archive from './001_archive';
import * as encryption from './002_encryption';
import * as messages from './003_messages';
import * as sensitiveFields from './004_sensitive_fields';
import * as jobs from './005_jobs';
import * as broker from './006_broker';
import * as brokerSoap from './007_broker_soap';
import * as stableKeys from './008_stable_keys';
import * as stagedEncryption from './009_staged_encryption';
import * as loginFailures from './010_login_failures';
import * as uploadPartMd5 from './011_upload_part_md5';
import * as queueItemFragments from './012_queue_item_fragments';

export interface Migration {
  name: string;
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
}

export const migrations: Migration[] = [
  { name: '001_archive', ...archive },
  { name: '002_encryption', ...encryption },
  { name: '003_messages', ...messages },
  { name: '004_sensitive_fields', ...sensitiveFields },
  { name: '005_jobs', ...jobs },
  { name: '006_broker', ...broker },
  { name: '007_broker_soap', ...brokerSoap },
  { name: '008_stable_keys', ...stableKeys },
  { name: '009_staged_encryption', ...stagedEncryption },
  { name: '010_login_failures', ...loginFailures },
  { name: '011_upload_part_md5', ...uploadPartMd5 },
  { name: '012_queue_item_fragments', ...queueItemFragments },
];
