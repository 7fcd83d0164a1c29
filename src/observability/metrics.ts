/** Prometheus metrics (prom-client), one registry per server instance so tests do not collide. */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  registry: Registry;
  soapRequests: Counter<'endpoint' | 'operation' | 'outcome'>;
  soapDuration: Histogram<'endpoint' | 'operation'>;
  attachmentBytesSent: Counter<'endpoint'>;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
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
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    attachmentBytesSent: new Counter({
      name: 'altinn_gateway_attachment_bytes_sent_total',
      help: 'Binary bytes sent as MTOM parts',
      labelNames: ['endpoint'],
      registers: [registry],
    }),
  };
}
