/**
 * `serve`: run the HTTP server until SIGINT/SIGTERM. On the embedded database an empty archive is
 * seeded with the demo first, and how to call it is printed on stderr (again on later starts),
 * apart from the log lines on stdout.
 */
import cluster from 'node:cluster';
import type { Command } from 'commander';
import { openApp, type App } from '../app';
import { reportWorkerReady, superviseWorkers } from '../cluster';
import { loadConfig } from '../config';
import { createLogger } from '../observability/logger';
import { formatDemoInstructions } from '../demo/instructions';
import { findDemo, isDemoNeeded, seedDemo, type DemoInfo } from '../demo/seed';
import { seedBrokerDemo } from '../demo/broker';
import { runServer } from '../server';
import { BROKER_API_PREFIX } from '../services/broker-api';
import { BROKER_BASIC_PATH } from '../services/broker-soap/basic-endpoint';
import { BROKER_STREAMED_PATH } from '../services/broker-soap/streamed-endpoint';
import { DOWNLOAD_QUEUE_PATH } from '../services/download-queue/endpoint';
import { HELP_PREFIX, OPENAPI_PATH } from '../services/openapi';
import { STREAMED_ARCHIVE_PATH } from '../services/streamed-archive/endpoint';
import { writeLine, type CliIo } from './io';

export function registerServeCommand(program: Command, io: CliIo): void {
  program
    .command('serve')
    .description('serve the SOAP endpoints, the REST messages API and the broker APIs (embedded database under DATA_DIR unless DATABASE_URL is set)')
    .addHelpText('after', SERVED)
    .action(async () => {
      const config = loadConfig(io.env);
      if (config.workers > 1 && cluster.isPrimary) {
        // Migrated (and the database found reachable) once here, before the workers race for knex's migration lock.
        await (await openApp(config)).close();
        process.exit(await superviseWorkers({ workers: config.workers, log: createLogger(config) }));
      }
      let demo: DemoInfo | undefined;
      const server = await runServer(config, {
        // Seeded through the server's own connection: the embedded database allows only one user.
        onOpen: async (app) => {
          if (!config.databaseUrl) demo = await prepareDemo(app);
        },
      });
      if (demo) writeLine(io.stderr, formatDemoInstructions(demo, server.url, { dataDir: config.dataDir, jwksUrl: config.messages.jwt.jwksUrl }));
      reportWorkerReady();
      // runServer closes gracefully on SIGINT/SIGTERM; the listening server keeps the process alive.
    });
}

/** What `serve --help` lists after its options: every address the server answers on. */
const SERVED = [
  '',
  'On HOST:PORT (default 0.0.0.0:8080) it serves:',
  ...([
    ['/', 'a landing page linking everything below'],
    [DOWNLOAD_QUEUE_PATH, "SOAP: the service owner's DownloadQueue (?wsdl)"],
    [STREAMED_ARCHIVE_PATH, 'SOAP: streamed attachment download (?wsdl)'],
    [BROKER_BASIC_PATH, 'SOAP: Altinn 2 broker service (?wsdl)'],
    [BROKER_STREAMED_PATH, 'SOAP: Altinn 2 broker, streamed upload and download (?wsdl)'],
    ['/api/{who}/messages', "REST: end users' form tasks (Altinn 2 messages API)"],
    ['/api/{who}/brokerservice/...', 'REST: Altinn 2 brokerservice API'],
    [`${BROKER_API_PREFIX}/...`, 'REST: Altinn 3 Broker API (file transfers, resources, TUS uploads)'],
    [`${HELP_PREFIX}/, ${OPENAPI_PATH}`, 'help pages and OpenAPI document of the REST APIs'],
    ['/metrics', 'Prometheus metrics'],
    ['/health/live', 'liveness: the process answers'],
    ['/health/ready, /health', 'readiness: database reachable and migrations applied (/health: reachable)'],
  ].map(([address, what]) => `  ${address}\n      ${what}`)),
  '',
  'With WORKERS=N (PostgreSQL only) N worker processes share the port; the first process only supervises them.',
  'On the embedded database, admin commands run beside it through a socket in DATA_DIR/admin-socket.',
  'Logs go to stdout as JSON lines (LOG_FORMAT=pretty for a terminal); the demo instructions to stderr.',
].join('\n');

async function prepareDemo(app: App): Promise<DemoInfo | undefined> {
  if (await isDemoNeeded(app)) return seedDemo(app);
  const demo = await findDemo(app);
  // A demo database from before the broker existed gets the broker demo on its next start.
  if (demo && !demo.broker) demo.broker = await seedBrokerDemo(app);
  return demo;
}
