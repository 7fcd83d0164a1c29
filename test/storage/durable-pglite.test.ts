/**
 * The embedded database on disk: fsync on, and a COMMIT reaches the disk through a real fsync of the
 * database's files (PGlite's Node filesystem has none of its own). Killing the gateway on it is
 * tried in test/storage/crash-leftovers.test.ts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDatabase, type Db } from '../../src/storage/db';

let dir: string;
let db: Db | undefined;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agw-durable-'));
});
afterEach(async () => {
  await db?.destroy();
  db = undefined;
  jest.restoreAllMocks();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function setting(name: string): Promise<string> {
  const { rows } = await db!.raw<{ rows: Record<string, string>[] }>(`SHOW ${name}`);
  return rows[0]![name]!;
}

it('runs with fsync on, the WAL synced by fsync()', async () => {
  db = openDatabase({ embeddedDir: path.join(dir, 'pgdata') });
  expect(await setting('fsync')).toBe('on');
  expect(await setting('wal_sync_method')).toBe('fsync');
  expect(await setting('synchronous_commit')).toBe('on');
});

it('fsyncs the real files at COMMIT', async () => {
  db = openDatabase({ embeddedDir: path.join(dir, 'pgdata') });
  await db.schema.createTable('notes', (table) => table.text('body'));
  const fsync = jest.spyOn(fs, 'fsyncSync');
  await db('notes').insert({ body: 'kept' });
  const synced = fsync.mock.calls.map(([fd]) => fs.readlinkSync(`/proc/self/fd/${fd as number}`));
  expect(synced.some((file) => file.startsWith(path.join(dir, 'pgdata', 'pg_wal')))).toBe(true);
});
