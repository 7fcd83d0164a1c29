/**
 * The HTTP server: where every request enters. Routes: the SOAP endpoints (src/services/*), the
 * end-user REST messages API under `/api` (src/services/rest-messages/), the broker APIs, a landing
 * page at `/`, `/health` (with `/health/live` and `/health/ready`) and Prometheus `/metrics`.
 * `runServer` is what `altinn-gateway serve` (and npm start) runs.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { openApp, type App } from './app';
import type { Config } from './config';
import { createMetrics, registerDatabaseGauges } from './observability/metrics';
import { recordRestRequests } from './observability/http-metrics';
import { registerBodyTimeouts, serverTimeoutOptions } from './request-timeouts';
import { registerLandingPage } from './services/landing-page';
import { pendingMigrations } from './storage/migrate';
import { databaseProblem } from './storage/db';
import { VERSION } from './version';
import { registerSoapEndpoint } from './soap/endpoint';
import { downloadQueueEndpoint } from './services/download-queue/endpoint';
import { streamedArchiveEndpoint } from './services/streamed-archive/endpoint';
import { brokerBasicEndpoint } from './services/broker-soap/basic-endpoint';
import { brokerStreamedEndpoint } from './services/broker-soap/streamed-endpoint';
import { registerRestMessages } from './services/rest-messages';
import { registerBrokerserviceRest } from './services/brokerservice-rest';
import { registerBrokerApi } from './services/broker-api';
import { registerOpenApi } from './services/openapi';
import { registerPublicBaseUrl } from './services/public-base-url';
import { scheduleStuckUploadSweep } from './broker/jobs';
import { scheduleGarbageCollection } from './storage/garbage-collection';
import { abandonDeadUploadAttempts } from './broker/upload-attempts';

/** wsdl/ at the project root, from src/ under ts-jest or dist/src/ when compiled. */
export const WSDL_DIR = path.resolve(__dirname, __dirname.includes(`${path.sep}dist${path.sep}`) ? '../../wsdl' : '../wsdl');

export interface ServerOptions {
  /** Pino options, or false to silence logs (tests). */
  logger?: boolean | Record<string, unknown>;
}

export function buildServer(app: App, options: ServerOptions = {}): FastifyInstance {
  const server = fastify({
    // One logger for requests and background work: the same format (LOG_FORMAT) and destination.
    ...(options.logger === undefined ? { loggerInstance: app.log as FastifyBaseLogger } : { logger: options.logger }),
    // Honour a caller's request id when it looks like one, so logs correlate across systems.
    genReqId: (request) => {
      const given = request.headers['x-request-id'];
      return typeof given === 'string' && /^[\w.:-]{1,128}$/.test(given) ? given : randomUUID();
    },
    // SOAP bodies are streamed and limited by the SOAP layer; this caps everything else.
    bodyLimit: app.config.limits.maxRequestBytes,
    return503OnClosing: true,
    // A hop count as fastify applies it (its types take only the function form).
    trustProxy: typeof app.config.trustProxy === 'number' ? hopsOf(app.config.trustProxy) : app.config.trustProxy,
    ...serverTimeoutOptions(app.config.timeouts),
  });
  registerPublicBaseUrl(server, app.config.publicUrl);
  registerBodyTimeouts(server, app.config.timeouts);
  server.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });

  // First: the OpenAPI document collects the routes registered after it.
  registerOpenApi(server);
  const metrics = createMetrics();
  registerDatabaseGauges(metrics.registry, app.db, app.log);
  recordRestRequests(server, metrics);
  const soapOptions = { limits: app.config.limits, metrics };
  const soapEndpoints = [
    downloadQueueEndpoint(app, WSDL_DIR),
    streamedArchiveEndpoint(app, WSDL_DIR),
    brokerBasicEndpoint(app, WSDL_DIR),
    brokerStreamedEndpoint(app, WSDL_DIR),
  ];
  for (const endpoint of soapEndpoints) registerSoapEndpoint(server, endpoint, soapOptions);
  registerRestMessages(server, app);
  registerBrokerserviceRest(server, app);
  registerBrokerApi(server, app);
  registerLandingPage(server, soapEndpoints, VERSION);

  server.get('/health', async (_request, reply) => {
    const problem = await databaseProblem(app.db);
    if (problem) return reply.code(503).send({ status: 'unavailable', database: problem });
    return { status: 'ok', database: 'ok' };
  });
  // Liveness: the process answers (a supervisor restarts it when not). Readiness: it can do its work.
  server.get('/health/live', async () => ({ status: 'ok' }));
  server.get('/health/ready', async (_request, reply) => {
    const problem = await databaseProblem(app.db);
    if (problem) return reply.code(503).send({ status: 'unavailable', database: problem });
    const pending = await pendingMigrations(app.db);
    if (pending.length > 0) return reply.code(503).send({ status: 'unavailable', database: 'ok', pendingMigrations: pending });
    return { status: 'ok', database: 'ok', migrations: 'applied' };
  });
  server.get('/metrics', async (_request, reply) => {
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  return server;
}

function hopsOf(hops: number): (address: string, hop: number) => boolean {
  return (_address, hop) => hop < hops;
}

export interface RunningServer {
  url: string;
  server: FastifyInstance;
  app: App;
  close(): Promise<void>;
}

/**
 * Stop accepting connections, let requests in flight (including long streamed downloads) finish
 * for up to `graceMs`, cut whatever is still open after that, then close the database.
 */
export async function closeGracefully(server: FastifyInstance, app: App, graceMs: number): Promise<void> {
  const timer = setTimeout(() => server.server.closeAllConnections(), graceMs);
  try {
    await server.close();
  } finally {
    clearTimeout(timer);
    await app.close();
  }
}

/**
 * Background jobs (broker processing, expiry, purges, webhooks) start with the server: what a dead
 * process of this host held is freed, the blob-store sweep (storage/garbage-collection.ts) runs,
 * the periodic stuck-upload sweep is scheduled (once across
 * processes), and a missing scanner is said once, so an operator knows transfers publish unscanned.
 */
export async function startBackgroundWork(app: App): Promise<void> {
  // What a process of this host that died (kill -9, a crash) left claimed is free at once.
  await app.jobs.releaseClaimsOfDeadLocalWorkers();
  await abandonDeadUploadAttempts(app.broker);
  await scheduleStuckUploadSweep(app.db, app);
  // What crashes left in the blob store is swept in the background, after the start.
  await scheduleGarbageCollection(app.db, app.clock);
  app.log.info({ blobStore: app.blobStoreDescription }, 'blob store');
  if (app.broker.scanner) app.log.info({ scanner: app.broker.scanner.description }, 'broker uploads are scanned for malware');
  else app.log.warn('no malware scanner configured (CLAMD_URL): broker file transfers are published unscanned, with useVirusScan false');
  app.jobs.start();
}

/** Open the app (migrating the database), listen, and close everything gracefully on SIGINT/SIGTERM. */
export async function runServer(config: Config, hooks: { onOpen?(app: App): Promise<void> } = {}): Promise<RunningServer> {
  const app = await openApp(config, { offerToLocalCommands: true });
  let server: FastifyInstance | undefined;
  try {
    await hooks.onOpen?.(app);
    server = buildServer(app);
    await server.listen({ port: config.port, host: config.host });
    await startBackgroundWork(app);
  } catch (error) {
    // A start that fails (port taken, …) closes what it opened: the process can exit, the embedded lock is freed.
    await (server ? closeGracefully(server, app, 0) : app.close()).catch((closeError: unknown) =>
      app.log.error({ err: closeError }, 'error closing after a failed start'),
    );
    throw error;
  }
  const address = server.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const url = config.publicUrl ?? `http://${config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host}:${port}`;

  let closing: Promise<void> | undefined;
  const close = () => (closing ??= closeGracefully(server, app, config.shutdownGraceMs));
  const onSignal = (signal: NodeJS.Signals) => {
    server.log.info({ signal }, 'shutting down');
    close().then(
      () => process.exit(0),
      (error) => {
        server.log.error({ err: error }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return { url, server, app, close };
}
