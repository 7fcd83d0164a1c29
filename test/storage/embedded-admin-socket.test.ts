/**
 * The admin socket's single-writer rule, on an embedded database in this process: a client's
 * transaction and the server's own queries never interleave in PGlite's one session.
 */
import fs from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { openApp } from '../../src/app';
import { loadConfig } from '../../src/config';
import { adminSocketDirectory, hasAdminSocket, offerEmbeddedDatabase, type AdminSocket } from '../../src/storage/embedded-admin-socket';
import { embeddedPglite, openDatabase, type Db } from '../../src/storage/db';
import { migrateLatest } from '../../src/storage/migrate';

let dataDir: string;
let db: Db;
let socket: AdminSocket;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'agw-socket-'));
  db = openDatabase({});
  await migrateLatest(db);
  socket = await offerEmbeddedDatabase(db, embeddedPglite(db)!, dataDir);
});
afterAll(async () => {
  await socket?.close();
  await db?.destroy();
  await rm(dataDir, { recursive: true, force: true });
});

async function connect(): Promise<Client> {
  const client = new Client({ host: adminSocketDirectory(dataDir), port: 5432, user: 'postgres', database: 'postgres' });
  await client.connect();
  return client;
}

/** Whether `promise` settles within `ms`. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  return Promise.race([promise.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms))]);
}

const countOwners = async (org: string) => Number((await db('service_owners').where({ org_number: org }).count<{ count: number }[]>('* as count'))[0]!.count);

it("holds the server's queries back while a client's transaction is open, and lets them see only its outcome", async () => {
  const client = await connect();
  try {
    await client.query('BEGIN');
    await client.query("INSERT INTO service_owners (org_number, name) VALUES ('900000001', 'Committed AS')");
    const serverRead = countOwners('900000001');
    expect(await settlesWithin(serverRead, 300)).toBe(false);
    await client.query('COMMIT');
    await expect(serverRead).resolves.toBe(1);

    await client.query('BEGIN');
    await client.query("INSERT INTO service_owners (org_number, name) VALUES ('900000002', 'Rolled back AS')");
    const secondRead = countOwners('900000002');
    expect(await settlesWithin(secondRead, 300)).toBe(false);
    await client.query('ROLLBACK');
    await expect(secondRead).resolves.toBe(0);
  } finally {
    await client.end();
  }
});

it("holds a client back while the server's transaction is open", async () => {
  const client = await connect();
  try {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const serverTransaction = db.transaction(async (trx) => {
      await trx('service_owners').insert({ org_number: '900000003', name: 'Server AS' });
      await held;
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const clientRead = client.query("SELECT count(*)::int AS n FROM service_owners WHERE org_number = '900000003'");
    expect(await settlesWithin(clientRead, 300)).toBe(false);
    release();
    await serverTransaction;
    expect((await clientRead).rows[0].n).toBe(1);
  } finally {
    await client.end();
  }
});

it('rolls back the transaction of a client that disconnects inside it, and the server goes on', async () => {
  const client = await connect();
  client.on('error', () => {}); // the connection we cut below
  await client.query('BEGIN');
  await client.query("INSERT INTO service_owners (org_number, name) VALUES ('900000004', 'Vanished AS')");
  (client as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
  await expect(countOwners('900000004')).resolves.toBe(0);
  const other = await connect();
  try {
    expect((await other.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  } finally {
    await other.end();
  }
});

it('serves several clients one statement at a time', async () => {
  const clients = await Promise.all([connect(), connect(), connect()]);
  try {
    const results = await Promise.all(clients.map((c, i) => c.query('SELECT $1::int * 2 AS doubled', [i + 1])));
    expect(results.map((r) => r.rows[0].doubled)).toEqual([2, 4, 6]);
  } finally {
    await Promise.all(clients.map((c) => c.end()));
  }
});

it('refuses a data directory too long for a socket address rather than binding a truncated path', async () => {
  const deep = path.join(dataDir, 'd'.repeat(90));
  await expect(offerEmbeddedDatabase(db, embeddedPglite(db)!, deep)).rejects.toThrow(/longer than a unix socket address allows/);
  expect(fs.existsSync(adminSocketDirectory(deep))).toBe(false);
});

it("removes a dead server's socket file when a command takes the embedded database itself", async () => {
  const otherDir = await mkdtemp(path.join(tmpdir(), 'agw-socket-stale-'));
  try {
    fs.mkdirSync(adminSocketDirectory(otherDir), { recursive: true });
    fs.writeFileSync(path.join(adminSocketDirectory(otherDir), '.s.PGSQL.5432'), '');
    const app = await openApp(loadConfig({ DATA_DIR: otherDir, LOG_LEVEL: 'silent' }));
    try {
      // Otherwise a second command, finding the lock taken, would try the dead socket.
      expect(hasAdminSocket(otherDir)).toBe(false);
      expect(app.databaseDescription).toBe(`embedded PGlite in ${path.join(otherDir, 'pgdata')}`);
    } finally {
      await app.close();
    }
  } finally {
    await rm(otherDir, { recursive: true, force: true });
  }
});
