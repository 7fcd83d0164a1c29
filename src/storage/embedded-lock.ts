/**
 * PGlite is a single-process database: two processes opening the same data directory corrupt it.
 * A lock file beside the directory, holding the owner's pid, turns that into a clear refusal (e.g.
 * running a second CLI command at once). A lock left by a process that no longer runs is taken over.
 * (A CLI command beside a running `serve` reaches its database through src/storage/embedded-admin-socket.ts.)
 */
import fs from 'node:fs';
import path from 'node:path';

/** The embedded database is held by another running process (its pid in `holder`). */
export class EmbeddedDatabaseInUseError extends Error {
  constructor(
    readonly dataDir: string,
    readonly holder: number,
  ) {
    super(
      `The embedded database in ${dataDir} is in use by process ${holder}. Stop that process first ` +
        `(the embedded database allows one process at a time; a running \`serve\` lets admin commands through ` +
        `once it has started), or set DATABASE_URL to use a PostgreSQL server.`,
    );
    this.name = 'EmbeddedDatabaseInUseError';
  }
}

export function acquireEmbeddedLock(dataDir: string): () => void {
  const lockFile = `${dataDir}.lock`;
  fs.mkdirSync(path.dirname(lockFile), { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(lockFile, String(process.pid), { flag: 'wx' });
      return () => fs.rmSync(lockFile, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = Number(fs.readFileSync(lockFile, 'utf8').trim());
      if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && isRunning(holder)) {
        throw new EmbeddedDatabaseInUseError(dataDir, holder);
      }
      fs.rmSync(lockFile, { force: true }); // stale: its process is gone
    }
  }
  throw new Error(`Could not lock the embedded database in ${dataDir}`);
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
