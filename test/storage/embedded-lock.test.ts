/** The embedded database's lock file: one process at a time, stale locks taken over. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { acquireEmbeddedLock } from '../../src/storage/embedded-lock';

let dir: string;
beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agw-lock-'))));
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

it('refuses a data directory held by another running process, naming it', () => {
  const pgdata = path.join(dir, 'pgdata');
  fs.writeFileSync(`${pgdata}.lock`, String(process.ppid)); // our parent: certainly running
  expect(() => acquireEmbeddedLock(pgdata)).toThrow(
    new RegExp(`The embedded database in .*pgdata is in use by process ${process.ppid}\\. Stop that process first`),
  );
});

it('takes over a lock left by a process that is gone, and releases it', () => {
  const pgdata = path.join(dir, 'nested', 'pgdata');
  fs.mkdirSync(path.dirname(pgdata), { recursive: true });
  fs.writeFileSync(`${pgdata}.lock`, '2147483646');
  const release = acquireEmbeddedLock(pgdata);
  expect(fs.readFileSync(`${pgdata}.lock`, 'utf8')).toBe(String(process.pid));
  release();
  expect(fs.existsSync(`${pgdata}.lock`)).toBe(false);
});
