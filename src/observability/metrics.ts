/**
 * Prometheus metrics (prom-client), one registry per server instance so tests do not collide:
 * SOAP and REST requests counted as they happen, and gauges of the database's state (queue depth,
 * lock-outs, connection pool) computed when /metrics is scraped.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Logger } from 'pino';
import { queueDepthByOwner } from '../archive/queue-depth';
import { countLockedSystemUsers } from '../auth/system-users';
import type { Db } from '../storage/db';

export interface Metrics {
  registry: Registry;
  soapRequests: Counter<'endpoint' | 'operation' | 'outcome'>;
  soapDuration: Histogram<'endpoint' | 'operation'>;
  attachmentBytesSent: Counter<'endpoint'>;
  httpRequests: Counter<'api' | 'method' | 'route' | 'status'>;
  httpDuration: Histogram<'api' | 'method' | 'route'>;
}

const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // With WORKERS > 1 each scrape reaches one worker: this says which one answered.
  new Gauge({ name: 'altinn_gateway_process_info', help: 'The process that answered this scrape', labelNames: ['pid'], registers: [registry] }).set({ pid: String(process.pid) }, 1);
  return {
    registry,
    soapRequests: new Counter({
      name: 'altinn_gateway_soap_requests_total',
      help: 'SOAP requests by endpoint, operation and outcome (ok, or the fault code)',
      labelNames: ['endpoint', 'operation', 'outcome'],
      registers: [registry],
    }),
    soapDuration: new Histogram({
      name: 'altinn_gateway_soap_request_duration_seconds',
      help: 'Time to the start of the SOAP response (streamed attachments continue after it)',
      labelNames: ['endpoint', 'operation'],
      buckets: DURATION_BUCKETS,
      registers: [registry],
    }),
    attachmentBytesSent: new Counter({
      name: 'altinn_gateway_attachment_bytes_sent_total',
      help: 'Binary bytes sent as MTOM parts',
      labelNames: ['endpoint'],
      registers: [registry],
    }),
    httpRequests: new Counter({
      name: 'altinn_gateway_http_requests_total',
      help: 'REST requests by API (messages, brokerservice, broker), method, route template and HTTP status',
      labelNames: ['api', 'method', 'route', 'status'],
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: 'altinn_gateway_http_request_duration_seconds',
      help: 'Time until a REST response was sent completely (downloads included)',
      labelNames: ['api', 'method', 'route'],
      buckets: DURATION_BUCKETS,
      registers: [registry],
    }),
  };
}

/**
 * Gauges read from the database at scrape time: one grouped count over the unpurged-queue index,
 * one count of locked users, and the pool's own counters (no query). A database that does not
 * answer leaves them out of that scrape rather than failing it.
 */
export function registerDatabaseGauges(registry: Registry, db: Db, log: Logger): void {
  new Gauge({
    name: 'altinn_gateway_download_queue_items',
    help: "Items waiting on each service owner's DownloadQueue (archived, not yet purged)",
    labelNames: ['owner'],
    registers: [registry],
    async collect() {
      this.reset();
      const depths = await orNothing(() => queueDepthByOwner(db), log);
      for (const { orgNumber, items } of depths ?? []) this.set({ owner: orgNumber }, items);
    },
  });
  new Gauge({
    name: 'altinn_gateway_locked_system_users',
    help: 'System users locked out after too many failed logins, now',
    registers: [registry],
    async collect() {
      this.reset();
      const locked = await orNothing(() => countLockedSystemUsers(db), log);
      if (locked !== undefined) this.set(locked);
    },
  });
  new Gauge({
    name: 'altinn_gateway_db_pool_connections',
    help: 'Database connections of this process by state: used, free, pending (requests waiting for one), max',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const pool = (db.client as { pool?: PoolCounters }).pool;
      if (!pool) return;
      this.set({ state: 'used' }, pool.numUsed());
      this.set({ state: 'free' }, pool.numFree());
      this.set({ state: 'pending' }, pool.numPendingAcquires());
      this.set({ state: 'max' }, pool.max);
    },
  });
}

/** What knex's pool (tarn) counts. */
interface PoolCounters {
  numUsed(): number;
  numFree(): number;
  numPendingAcquires(): number;
  max: number;
}

async function orNothing<T>(read: () => Promise<T>, log: Logger): Promise<T | undefined> {
  try {
    return await read();
  } catch (error) {
    log.warn({ err: error }, 'metrics: could not read the database');
    return undefined;
  }
}
