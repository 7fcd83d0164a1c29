/** Runs the migrations in ../../migrations through knex's migrator (with its lock table). */
import type { Knex } from 'knex';
import { migrations, type Migration } from '../../migrations';

class StaticMigrationSource implements Knex.MigrationSource<Migration> {
  async getMigrations(): Promise<Migration[]> {
    return migrations;
  }
  getMigrationName(migration: Migration): string {
    return migration.name;
  }
  async getMigration(migration: Migration): Promise<Knex.Migration> {
    return migration;
  }
}

/** Applies pending migrations; returns the names applied (empty when up to date). */
export async function migrateLatest(db: Knex): Promise<string[]> {
  const [, applied] = (await db.migrate.latest({ migrationSource: new StaticMigrationSource() })) as [number, string[]];
  return applied;
}

export async function migrateRollbackAll(db: Knex): Promise<void> {
  await db.migrate.rollback({ migrationSource: new StaticMigrationSource() }, true);
}

/** Names of the migrations not applied yet (empty when the schema is current). */
export async function pendingMigrations(db: Knex): Promise<string[]> {
  const [, pending] = (await db.migrate.list({ migrationSource: new StaticMigrationSource() })) as [unknown[], Migration[]];
  return pending.map((migration) => migration.name);
}
