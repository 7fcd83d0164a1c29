/**
 * The ordered list of migrations. Listed statically (not discovered on disk) so the same code runs
 * from TypeScript under jest and from the compiled dist/ without path juggling.
 */
import type { Knex } from 'knex';
import * as archive from './001_archive';
import * as encryption from './002_encryption';
import * as messages from './003_messages';
import * as sensitiveFields from './004_sensitive_fields';

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
];
