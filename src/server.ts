/**
 * The HTTP server: where every request enters. Routes: the two SOAP endpoints (src/services/*),
 * the end-user REST messages API under `/api` (src/services/rest-messages/), `/health` and
 * Prometheus `/metrics`. `runServer` is what `altinn-gateway serve` (and npm start) runs.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import fastify, { type FastifyInstance } from 'fastify';
import { openApp, type App } from './app';
import type { Config } from './config';
import { createMetrics } from './observability/metrics';
import { registerSoapEndpoint } from './soap/endpoint';
import { downloadQueueEndpoint } from './services/download-queue/endpoint';
import { streamedArchiveEndpoint } from './services/streamed-archive/endpoint';
import { brokerBasicEndpoint } from './services/broker-soap/basic-endpoint';
import { brokerStreamedEndpoint } from './services/broker-soap/streamed-endpoint';
import { registerRestMessages } from './services/rest-messages';
import { registerBrokerserviceRest } from './services/brokerservice-rest';
import { registerBrokerApi } from './services/broker-api';
import { registerOpenApi } from './services/openapi';
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
    logger: options.logger ?? { level: app.config.logLevel },
    // Honour a caller's request id when it looks like one, so logs correlate across systems.
    genReqId: (request) => {
      const given = request.headers['x-request-id'];
      return typeof given === 'string' && /^[\w.:-]{1,128}$/.test(given) ? given : randomUUID();
    },
    // SOAP bodies are streamed and limited by the SOAP layer; this caps everything else.
    bodyLimit: app.config.limits.maxRequestBytes,
    return503OnClosing: true,
  });
  server.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });

  // First: the OpenAPI document collects the routes registered after it.
  registerOpenApi(server);
  const metrics = createMetrics();
  const soapOptions = { limits: app.config.limits, metrics };
  registerSoapEndpoint(server, downloadQueueEndpoint(app, WSDL_DIR), soapOptions);
  registerSoapEndpoint(server, streamedArchiveEndpoint(app, WSDL_DIR), soapOptions);
  registerSoapEndpoint(server, brokerBasicEndpoint(app, WSDL_DIR), soapOptions);
  registerSoapEndpoint(server, brokerStreamedEndpoint(app, WSDL_DIR), soapOptions);
  registerRestMessages(server, app);
  registerBrokerserviceRest(server, app);
  registerBrokerApi(server, app);

  server.get('/health', async (_request, reply) => {
    try {
      await app.db.raw('select 1');
      return { status: 'ok', database: 'ok' };
    } catch (error) {
      return reply.code(503).send({ status: 'unavailable', database: (error as Error).message });
    }
  });
  server.get('/metrics', async (_request, reply) => {
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  return server;
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
  if (app.broker.scanner) app.log.info({ scanner: app.broker.scanner.description }, 'broker uploads are scanned for malware');
  else app.log.warn('no malware scanner configured (CLAMD_URL): broker file transfers are published unscanned, with useVirusScan false');
  app.jobs.start();
}

/** Open the app (migrating the database), listen, and close everything gracefully on SIGINT/SIGTERM. */
export async function runServer(config: Config, hooks: { onOpen?(app: App): Promise<void> } = {}): Promise<RunningServer> {
  const app = await openApp(config);
  await hooks.onOpen?.(app);
  const server = buildServer(app);
  await server.listen({ port: config.port, host: config.host });
  await startBackgroundWork(app);
  const address = server.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const url = `http://${config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host}:${port}`;

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
