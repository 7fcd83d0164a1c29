/**
 * `GET /`: a small HTML page for whoever opens the gateway's address in a browser, linking what it
 * serves: the SOAP endpoints' WSDLs, the REST APIs' help and OpenAPI document, metrics and health.
 */
import type { FastifyInstance } from 'fastify';
import type { SoapEndpointDefinition } from '../soap/endpoint';
import { escapeAttribute, escapeText } from '../xml/writer';
import { BROKER_API_PREFIX } from './broker-api';
import { HELP_PREFIX, OPENAPI_PATH } from './openapi';

export function registerLandingPage(server: FastifyInstance, soapEndpoints: readonly Pick<SoapEndpointDefinition, 'name' | 'path'>[], version: string): void {
  const link = (href: string, text: string, note = '') =>
    `<li><a href="${escapeAttribute(href)}">${escapeText(text)}</a>${note ? ` ${escapeText(note)}` : ''}</li>`;
  const page = [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8"><title>altinn-gateway</title>',
    '<style>body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;line-height:1.5}code{font-size:.95em}</style></head><body>',
    `<h1>altinn-gateway <small>${escapeText(version)}</small></h1>`,
    "<p>Altinn's service-owner DownloadQueue, end-user REST messages and broker file transfer, served here.</p>",
    '<h2>SOAP services (WSDL)</h2><ul>',
    ...soapEndpoints.map((endpoint) => link(`${endpoint.path}?wsdl`, endpoint.name, `(${endpoint.path})`)),
    '</ul>',
    '<h2>REST APIs</h2><ul>',
    link(`${HELP_PREFIX}/`, 'API help (Swagger UI)', 'for the messages API under /api, the Altinn 2 brokerservice API and the Altinn 3 Broker API under ' + BROKER_API_PREFIX),
    link(OPENAPI_PATH, 'OpenAPI document'),
    '</ul>',
    '<h2>Operations</h2><ul>',
    link('/metrics', 'Prometheus metrics'),
    link('/health/live', 'Liveness', '(the process answers)'),
    link('/health/ready', 'Readiness', '(database reachable, migrations applied)'),
    '</ul></body></html>',
  ].join('\n');
  server.get('/', { schema: { hide: true } }, async (_request, reply) => reply.type('text/html; charset=utf-8').send(page));
}
