/**
 * A SOAP endpoint on fastify: `GET path?wsdl` serves the WSDL (and `?xsd=…` its schema documents),
 * `POST path` reads the envelope, dispatches by SOAPAction (falling back to WS-Addressing Action,
 * then to the Body element's name), decodes the request, runs the operation and writes the
 * response in schema order, as MTOM when it carries binary parts. Every failure becomes a fault.
 */
import fs from 'node:fs';
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Limits } from '../config';
import type { Metrics } from '../observability/metrics';
import type { XmlElement } from '../xml/parser';
import { decodeRequest, openEnvelope } from './envelope';
import { clientFault, renderFaultBody, SoapFault } from './fault';
import { readSoapRequest, type SoapVersion } from './request-reader';
import { mtomResponse, plainResponse, soapEnvelope, type SoapHttpResponse } from './response-writer';
import type { ElementDescriptor } from './schema';
import { writeElement, XmlOutput } from './serializer';

export interface OperationContext {
  log: FastifyBaseLogger;
  requestId: string;
}

export interface SoapOperation {
  name: string;
  soapAction: string;
  request: ElementDescriptor;
  response: ElementDescriptor;
  /** Returns the response element's member values. */
  handle(input: Record<string, unknown>, context: OperationContext): Promise<Record<string, unknown>>;
}

export interface SoapEndpointDefinition {
  /** Short name for logs and metrics, e.g. 'DownloadQueueExternalBasic'. */
  name: string;
  path: string;
  wsdlFile: string;
  /** Extra documents by query, e.g. { xsd0: '/…/xsd0.xsd' } served at `?xsd=xsd0`. */
  schemaDocuments?: Record<string, string>;
  operations: SoapOperation[];
  /** Maps domain errors to faults; undefined → an internal Server fault. */
  mapError(error: unknown): SoapFault | undefined;
}

export interface SoapEndpointOptions {
  limits: Limits;
  metrics: Metrics;
}

/** Placeholder origin in our WSDL files, replaced by the origin the client used. */
const WSDL_ORIGIN_PLACEHOLDER = 'http://localhost:8080';

export function registerSoapEndpoint(app: FastifyInstance, endpoint: SoapEndpointDefinition, options: SoapEndpointOptions): void {
  const wsdlTemplate = fs.readFileSync(endpoint.wsdlFile, 'utf8');
  const schemaDocuments = new Map(Object.entries(endpoint.schemaDocuments ?? {}).map(([key, file]) => [key, fs.readFileSync(file, 'utf8')]));
  const byAction = new Map(endpoint.operations.map((op) => [op.soapAction, op]));

  app.register(async (scope) => {
    // The body stays a stream: readSoapRequest enforces limits as bytes arrive.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_request, payload, done) => done(null, payload));

    scope.get(endpoint.path, async (request, reply) => {
      const query = request.query as Record<string, string | undefined>;
      const origin = `${request.protocol}://${request.host}`;
      if ('wsdl' in query || 'singleWsdl' in query || 'singlewsdl' in query) {
        return reply.type('text/xml; charset=utf-8').send(wsdlTemplate.split(WSDL_ORIGIN_PLACEHOLDER).join(origin));
      }
      const xsd = query.xsd && schemaDocuments.get(query.xsd);
      if (xsd) return reply.type('text/xml; charset=utf-8').send(xsd);
      if (query.xsd) return reply.code(404).type('text/plain').send(`No schema document '${query.xsd}'`);
      const url = `${origin}${endpoint.path}`;
      return reply
        .type('text/html; charset=utf-8')
        .send(
          `<!doctype html><title>${endpoint.name}</title><h1>${endpoint.name}</h1>` +
            `<p>This is a SOAP service. Its WSDL is at <a href="${url}?wsdl">${url}?wsdl</a>.</p>`,
        );
    });

    scope.post(endpoint.path, async (request, reply) => {
      const stopTimer = options.metrics.soapDuration.startTimer({ endpoint: endpoint.name });
      let soapVersion: SoapVersion = (request.headers['content-type'] ?? '').includes('application/soap+xml') ? '1.2' : '1.1';
      let operationName = 'unknown';
      try {
        const soapRequest = await readSoapRequest((request.body as AsyncIterable<Buffer> | undefined) ?? emptyBody(), {
          contentType: request.headers['content-type'],
          soapAction: headerValue(request.headers.soapaction),
        }, options.limits);
        soapVersion = soapRequest.soapVersion;
        const { bodyElement, addressingAction } = openEnvelope(soapRequest.envelope, soapVersion);
        const operation = dispatch(endpoint, byAction, soapRequest.action || addressingAction || '', bodyElement);
        operationName = operation.name;
        const input = decodeRequest(bodyElement, operation.request);
        const output = await operation.handle(input, { log: request.log, requestId: String(request.id) });

        const xml = new XmlOutput(`part.${request.id}`);
        writeElement(xml, operation.response, output);
        const envelope = soapEnvelope(xml.toString(), soapVersion);
        const response =
          xml.parts.length === 0
            ? plainResponse(envelope, soapVersion)
            : mtomResponse(envelope, xml.parts, soapVersion, {
                onBinaryBytes: (n) => options.metrics.attachmentBytesSent.inc({ endpoint: endpoint.name }, n),
              });
        options.metrics.soapRequests.inc({ endpoint: endpoint.name, operation: operationName, outcome: 'ok' });
        stopTimer({ operation: operationName });
        return send(reply, 200, response);
      } catch (error) {
        const fault = toFault(endpoint, error, request);
        options.metrics.soapRequests.inc({ endpoint: endpoint.name, operation: operationName, outcome: fault.code });
        stopTimer({ operation: operationName });
        // The request body may not have been read to its end (e.g. too large): do not reuse the connection.
        reply.header('connection', 'close');
        return send(reply, 500, plainResponse(soapEnvelope(renderFaultBody(fault, soapVersion), soapVersion), soapVersion));
      }
    });
  });
}

function dispatch(
  endpoint: SoapEndpointDefinition,
  byAction: Map<string, SoapOperation>,
  action: string,
  bodyElement: XmlElement,
): SoapOperation {
  const matchesBody = (op: SoapOperation) => op.request.name === bodyElement.local && op.request.ns === bodyElement.ns;
  const byHeader = action ? byAction.get(action) : undefined;
  if (byHeader) {
    if (!matchesBody(byHeader)) {
      throw clientFault(`The SOAPAction ${action} does not match the body element {${bodyElement.ns}}${bodyElement.local}`);
    }
    return byHeader;
  }
  const byBody = endpoint.operations.find(matchesBody);
  if (byBody) return byBody;
  throw clientFault(
    `${endpoint.name} has no operation for ` + (action ? `SOAPAction '${action}' or ` : '') + `body element {${bodyElement.ns}}${bodyElement.local}`,
  );
}

function toFault(endpoint: SoapEndpointDefinition, error: unknown, request: FastifyRequest): SoapFault {
  const fault = error instanceof SoapFault ? error : endpoint.mapError(error);
  if (fault) {
    request.log.info({ fault: fault.code, errorId: fault.altinnFault?.errorId, errorGuid: fault.errorGuid, msg: fault.message }, 'SOAP fault');
    return fault;
  }
  const internal = new SoapFault('Server', 'An internal error occurred; the error GUID identifies it in the server log', {
    errorId: 0,
    message: 'An internal error occurred',
  });
  request.log.error({ err: error, errorGuid: internal.errorGuid }, 'unhandled error in SOAP operation');
  return internal;
}

function send(reply: FastifyReply, status: number, response: SoapHttpResponse): FastifyReply {
  reply.code(status).header('content-type', response.contentType);
  if (response.contentLength !== undefined) reply.header('content-length', response.contentLength);
  return reply.send(response.body);
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

async function* emptyBody(): AsyncGenerator<Buffer> {}
