/** REST requests in the Prometheus metrics: which API a request belongs to, and its route template (bounded labels). */
import type { FastifyInstance } from 'fastify';
import { BROKER_API_PREFIX } from '../services/broker-api';
import { HELP_PREFIX, OPENAPI_PATH } from '../services/openapi';
import type { Metrics } from './metrics';

/** messages, brokerservice (Altinn 2 REST) or broker (Altinn 3); undefined for what is not a REST API call. */
export function restApiOf(path: string): 'messages' | 'brokerservice' | 'broker' | undefined {
  if (path.startsWith(`${BROKER_API_PREFIX}/`)) return 'broker';
  if (!path.startsWith('/api/') || path.startsWith(HELP_PREFIX) || path === OPENAPI_PATH) return undefined;
  return /^\/api\/[^/]+\/brokerservice(\/|$)/.test(path) ? 'brokerservice' : 'messages';
}

export function recordRestRequests(server: FastifyInstance, metrics: Metrics): void {
  server.addHook('onResponse', async (request, reply) => {
    const path = request.url.split('?')[0]!;
    const api = restApiOf(path);
    if (!api) return;
    // The route's template (`/api/:who/messages/:messageId`), never the path itself: ids would make a label per request.
    const labels = { api, method: request.method, route: request.routeOptions.url ?? 'unmatched' };
    metrics.httpRequests.inc({ ...labels, status: String(reply.statusCode) });
    metrics.httpDuration.observe(labels, reply.elapsedTime / 1000);
  });
}
