/**
 * The running server's embedded database, offered to admin commands on the same machine.
 *
 * PGlite is one Postgres session inside the serving process; a CLI command started beside `serve`
 * must not open the data directory itself (two processes corrupt it: embedded-lock.ts). So `serve`
 * listens on a unix socket in DATA_DIR (directory 0700, socket 0600: reachable by the server's OS
 * user only) and speaks the Postgres wire protocol on it, running what a client sends in PGlite.
 * The CLI connects with node-postgres as to any server (app.ts).
 *
 * Single writer: the server's knex and these clients share PGlite's one session. A client's
 * messages run only while it holds knex's one connection (the server's queries wait meanwhile, and
 * the client waits for the server's query or transaction in flight). It gives the connection back
 * at every point where the session is idle (after Sync or a simple Query, outside a transaction
 * block), so neither side's statement or transaction ever interleaves with the other's. A client's
 * messages run in whole units (up to Sync, Query or Flush): one that dies mid-unit leaves nothing
 * half-sent, and one that dies inside a transaction has it rolled back.
 *
 * Not @electric-sql/pglite-socket: it runs each protocol message on its own on the same PGlite the
 * server uses directly, so the server's queries could run between a client's Parse and Sync or
 * inside its transaction; and it pins exact versions of pglite and seven extensions as peers.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { PGlite } from '@electric-sql/pglite';
import type { Db } from './db';

/** node-postgres reaches a unix socket as `${host}/.s.PGSQL.${port}`; the port is only part of the name. */
export const ADMIN_SOCKET_PORT = 5432;

export function adminSocketDirectory(dataDir: string): string {
  return path.join(dataDir, 'admin-socket');
}

function socketFile(directory: string): string {
  return path.join(directory, `.s.PGSQL.${ADMIN_SOCKET_PORT}`);
}

/** Called holding the embedded lock: no server runs here, so a socket file left is a dead server's. */
export function removeStaleAdminSocket(dataDir: string): void {
  fs.rmSync(socketFile(adminSocketDirectory(dataDir)), { force: true });
}

/** True when a server offers its embedded database under `dataDir` (the socket file exists). */
export function hasAdminSocket(dataDir: string): boolean {
  return fs.existsSync(socketFile(adminSocketDirectory(dataDir)));
}

/** sun_path holds 108 bytes with the terminating NUL; Node silently truncates a longer path (and binds elsewhere). */
const MAX_SOCKET_PATH_BYTES = 107;

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
/** Startup packets are small; anything larger is not a Postgres client. */
const MAX_STARTUP_BYTES = 10_000;
const SYNC = 0x53; // 'S'
const QUERY = 0x51; // 'Q'
const FLUSH = 0x48; // 'H'
const TERMINATE = 0x58; // 'X'
const SYNC_MESSAGE = Buffer.from([SYNC, 0, 0, 0, 4]);

export interface AdminSocket {
  close(): Promise<void>;
}

/** Listen on `${dataDir}/admin-socket/.s.PGSQL.5432` for local admin commands (the caller holds the embedded lock). */
export async function offerEmbeddedDatabase(db: Db, pglite: PGlite, dataDir: string): Promise<AdminSocket> {
  const directory = adminSocketDirectory(dataDir);
  const file = socketFile(directory);
  if (Buffer.byteLength(file) > MAX_SOCKET_PATH_BYTES) {
    throw new Error(`The admin socket path ${file} is longer than a unix socket address allows (${MAX_SOCKET_PATH_BYTES} bytes); use a shorter DATA_DIR`);
  }
  fs.mkdirSync(directory, { recursive: true, mode: 0o700 });
  fs.chmodSync(directory, 0o700);
  removeStaleAdminSocket(dataDir);
  const sessions = new Set<Promise<void>>();
  const clients = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    clients.add(socket);
    const session: Promise<void> = serveClient(socket, db, pglite)
      .catch(() => {
        socket.destroy();
      })
      .finally(() => {
        clients.delete(socket);
        sessions.delete(session);
      });
    sessions.add(session);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(file, () => {
      server.off('error', reject);
      resolve();
    });
  });
  fs.chmodSync(file, 0o600);
  return {
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of clients) socket.destroy();
      await Promise.allSettled([...sessions]);
      await closed;
      fs.rmSync(file, { force: true });
    },
  };
}

async function serveClient(socket: net.Socket, db: Db, pglite: PGlite): Promise<void> {
  let buffer = Buffer.alloc(0);
  let started = false;
  const unit: Buffer[] = [];
  let held: unknown; // knex's connection, while this client has the session

  const run = async (messages: Buffer[], endsAtSyncPoint: boolean): Promise<void> => {
    held ??= await db.client.acquireConnection();
    await pglite.runExclusive(async () => {
      for (const message of messages) {
        // PGlite reuses the buffer it hands out: copy before the socket queues it.
        await pglite.execProtocolRawStream(message, { onRawData: (data) => socket.write(Buffer.from(data)) });
      }
    });
    if (endsAtSyncPoint && !pglite.isInTransaction()) release();
  };
  const release = (): void => {
    if (held === undefined) return;
    void db.client.releaseConnection(held);
    held = undefined;
  };

  try {
    for await (const chunk of socket) {
      buffer = Buffer.concat([buffer, chunk as Buffer]);
      for (;;) {
        if (!started) {
          if (buffer.length < 8) break;
          const length = buffer.readInt32BE(0);
          if (length < 8 || length > MAX_STARTUP_BYTES) return;
          if (buffer.length < length) break;
          const packet = buffer.subarray(0, length);
          buffer = buffer.subarray(length);
          const code = packet.readInt32BE(4);
          if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
            socket.write('N'); // no encryption on a local socket
            continue;
          }
          if (code === CANCEL_REQUEST) return; // nothing to cancel in a single session
          started = true;
          await run([packet], true);
          continue;
        }
        if (buffer.length < 5) break;
        const length = 1 + buffer.readInt32BE(1);
        if (length < 5) return;
        if (buffer.length < length) break;
        const message = buffer.subarray(0, length);
        buffer = buffer.subarray(length);
        const type = message[0];
        if (type === TERMINATE) return;
        unit.push(message);
        if (type === SYNC || type === QUERY || type === FLUSH) await run(unit.splice(0), type !== FLUSH);
      }
    }
  } finally {
    socket.destroy();
    if (held !== undefined) {
      // Gone while holding the session: end its implicit transaction and roll back an open one,
      // as Postgres does for a lost connection, before the server has it again.
      try {
        await pglite.runExclusive(() => pglite.execProtocolRawStream(SYNC_MESSAGE, { onRawData: () => {} }));
        if (pglite.isInTransaction()) await pglite.exec('ROLLBACK');
      } finally {
        release();
      }
    }
  }
}
