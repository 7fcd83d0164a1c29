/**
 * Start-up on a PostgreSQL server that comes up late (compose starting both at once): openApp
 * retries until it answers. Needs a server, so it runs with DATABASE_URL (as CI does); the
 * unreachable case is covered without one in test/cli/serve-start-failure.test.ts.
 */
import net from 'node:net';
import { openApp } from '../../src/app';
import { loadConfig } from '../../src/config';
import { createTestDatabase } from '../helpers/database';

const serverUrl = process.env.DATABASE_URL;

if (!serverUrl) {
  it('embedded: there is no server to wait for, the database opens at once', async () => {
    const app = await openApp(loadConfig({ LOG_LEVEL: 'silent', DATABASE_CONNECT_RETRY_SECONDS: '0' }), { inMemory: true });
    try {
      expect((await app.db.raw('select 1 as one')).rows[0].one).toBe(1);
    } finally {
      await app.close();
    }
  });
}

if (serverUrl) {
  describe('on PostgreSQL', () => {
  it('waits for a server that starts answering after two seconds, then opens', async () => {
    const database = await createTestDatabase();
    const target = new URL(database.databaseUrl!);
    // A port that refuses connections until the "server" (a TCP relay to the real one) starts.
    const relay = net.createServer((client) => {
      const upstream = net.connect(Number(target.port || 5432), target.hostname);
      client.pipe(upstream).pipe(client);
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    const port = (relay.address() as net.AddressInfo).port;
    await new Promise((resolve) => relay.close(resolve));
    const relayed = new URL(target);
    relayed.hostname = '127.0.0.1';
    relayed.port = String(port);
    const starting = new Promise<void>((resolve) => setTimeout(() => relay.listen(port, '127.0.0.1', resolve), 2000));
    const started = Date.now();
    const app = await openApp({ ...loadConfig({ LOG_LEVEL: 'silent', DATABASE_URL: relayed.toString(), DATABASE_CONNECT_RETRY_SECONDS: '30' }) });
    try {
      expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
      expect((await app.db.raw('select 1 as one')).rows[0].one).toBe(1);
    } finally {
      await app.close();
      await starting;
      relay.close();
      await database.drop();
    }
  });
});
}
