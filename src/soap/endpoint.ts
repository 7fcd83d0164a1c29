/**
 * A SOAP endpoint on fastify: `GET path?wsdl` serves the WSDL (and `?xsd=…` its schema documents),
 * `POST path` (whatever its query string) reads the envelope, dispatches by SOAPAction (falling back
 * to WS-Addressing Action, then to the Body element's name), decodes the request and the SOAP
 * headers the operation binds, runs the operation and writes the response in schema order, as MTOM
 * when it carries binary parts. Every failure becomes a fault.
 *
 * An operation with a streamed binary member gets its MTOM part as a stream while the client is
 * still sending it; whatever the operation leaves unread is read and discarded before the answer
 * (up to a bound), because clients such as Metro write their whole request before they read.
 */
import fs from 'node:fs';
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Limits } from '../config';
import type { Metrics } from '../observability/metrics';
import type { XmlElement } from '../xml/parser';
import { decodeHeaders, decodeRequest, openEnvelope } from './envelope';
import { clientFault, renderFaultBody, SoapFault } from './fault';
import { ALTINN, XSI } from './namespaces';
import { streamBodyFromHere } from '../request-timeouts';
import { openSoapRequest, type OpenedSoapRequest, type SoapVersion } from './request-reader';
import { mtomResponse, plainResponse, soapEnvelope, soapEnvelopeAround, type SoapHttpResponse } from './response-writer';
import { escapeAttribute } from '../xml/writer';
import { hasStreamedMember, type ElementDescriptor, type FieldDescriptor } from './schema';
import { namespaceDeclarations, NAMESPACE_DECLARATIONS, writeElement, XmlOutput } from './serializer';

export interface OperationContext {
  log: FastifyBaseLogger;
  requestId: string;
  /** The caller's IP address (fastify's request.ip: the proxy's client when trustProxy is set). */
  clientAddress: string;
}

export interface SoapOperation {
  name: string;
  soapAction: string;
  request: ElementDescriptor;
  response: ElementDescriptor;
  /** SOAP header elements bound to parameters: decoded into `input` under their element names. */
  requestHeaders?: FieldDescriptor[];
  /** Returns the response element's member values. */
  handle(input: Record<string, unknown>, context: OperationContext): Promise<Record<string, unknown>>;
}

/** One operation's shapes in a service contract (services/<door>/contract.ts). */
export interface OperationContract {
  request: ElementDescriptor;
  response: ElementDescriptor;
  headers?: FieldDescriptor[];
}

/**
 * Builds a contract's operations: `operation(name, handle)` answers the SOAPAction
 * `soapActionPrefix + name` with the contract's request, response and header shapes.
 */
export function contractOperations<C extends Record<string, OperationContract>>(contract: C, soapActionPrefix: string) {
  return (name: keyof C & string, handle: SoapOperation['handle']): SoapOperation => ({
    name,
    soapAction: soapActionPrefix + name,
    request: contract[name]!.request,
    response: contract[name]!.response,
    ...(contract[name]!.headers && { requestHeaders: contract[name]!.headers }),
    handle,
  });
}

export interface SoapEndpointDefinition {
  /** Short name for logs and metrics, e.g. 'DownloadQueueExternalBasic'. */
  name: string;
  path: string;
  /** Further paths answering exactly like `path` (e.g. a misspelling that documentation spread). */
  aliases?: string[];
  wsdlFile: string;
  /**
   * Namespaces declared on response Envelopes (the fault's and xsi are always added); default:
   * the DownloadQueue and archive contracts'.
   */
  responseNamespaces?: string[];
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

/**
 * What a streamed operation leaves unread (all of it after an early fault) is read and discarded,
 * up to this much, so that the client sees the answer; beyond it the connection is closed (a
 * client may then report a write error instead of the fault).
 */
export const MAX_DISCARDED_REQUEST_BYTES = 256 * 1024 * 1024;

/** `?wsdl` and `?singleWsdl`, in any case (WCF accepts both, and clients write them differently). */
function asksForWsdl(query: Record<string, string | undefined>): boolean {
  return Object.keys(query).some((key) => key.toLowerCase() === 'wsdl' || key.toLowerCase() === 'singlewsdl');
}

export function registerSoapEndpoint(app: FastifyInstance, endpoint: SoapEndpointDefinition, options: SoapEndpointOptions): void {
  const wsdlTemplate = fs.readFileSync(endpoint.wsdlFile, 'utf8');
  const schemaDocuments = new Map(Object.entries(endpoint.schemaDocuments ?? {}).map(([key, file]) => [key, fs.readFileSync(file, 'utf8')]));
  const byAction = new Map(endpoint.operations.map((op) => [op.soapAction, op]));
  const streaming = new Set(endpoint.operations.filter((op) => hasStreamedMember(op.request.type)));
  const boundHeaders = new Set(endpoint.operations.flatMap((op) => (op.requestHeaders ?? []).map((h) => `{${h.ns}}${h.name}`)));
  const understands = (ns: string, local: string) => boundHeaders.has(`{${ns}}${local}`);
  const declarations = endpoint.responseNamespaces
    ? namespaceDeclarations([...endpoint.responseNamespaces, ALTINN.fault, XSI])
    : NAMESPACE_DECLARATIONS;
  const paths = [endpoint.path, ...(endpoint.aliases ?? [])];

  app.register(async (scope) => {
    // The body stays a stream: openSoapRequest enforces limits as bytes arrive.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_request, payload, done) => done(null, payload));

    for (const routePath of paths) scope.get(routePath, async (request, reply) => {
      const query = request.query as Record<string, string | undefined>;
      const origin = request.publicBaseUrl;
      if (asksForWsdl(query)) {
        return reply.type('text/xml; charset=utf-8').send(wsdlTemplate.split(WSDL_ORIGIN_PLACEHOLDER).join(escapeAttribute(origin)));
      }
      const xsd = query.xsd && schemaDocuments.get(query.xsd);
      if (xsd) return reply.type('text/xml; charset=utf-8').send(xsd);
      if (query.xsd) return reply.code(404).type('text/plain').send(`No schema document '${query.xsd}'`);
      const wsdlUrl = escapeAttribute(`${origin}${endpoint.path}?wsdl`);
      return reply
        .type('text/html; charset=utf-8')
        .send(
          `<!doctype html><title>${endpoint.name}</title><h1>${endpoint.name}</h1>` +
            `<p>This is a SOAP service. Its WSDL is at <a href="${wsdlUrl}">${wsdlUrl}</a>.</p>`,
        );
    });

    for (const routePath of paths) scope.post(routePath, async (request, reply) => {
      const stopTimer = options.metrics.soapDuration.startTimer({ endpoint: endpoint.name });
      let soapVersion: SoapVersion = (request.headers['content-type'] ?? '').includes('application/soap+xml') ? '1.2' : '1.1';
      let operationName = 'unknown';
      let opened: OpenedSoapRequest | undefined;
      let streamed = false;
      try {
        // Where no operation streams, the request limit bounds the whole body: refuse a larger one before reading it.
        const declared = Number(request.headers['content-length']);
        if (streaming.size === 0 && declared > options.limits.maxRequestBytes) {
          throw clientFault(`The request is larger than ${options.limits.maxRequestBytes} bytes (Content-Length ${declared})`);
        }
        opened = await openSoapRequest((request.body as AsyncIterable<Buffer> | undefined) ?? emptyBody(), {
          contentType: request.headers['content-type'],
          soapAction: headerValue(request.headers.soapaction),
        }, options.limits);
        soapVersion = opened.soapVersion;
        const { bodyElement, addressingAction, headerElements } = openEnvelope(opened.envelope, soapVersion, understands);
        const operation = dispatch(endpoint, byAction, opened.action || addressingAction || '', bodyElement);
        operationName = operation.name;
        streamed = streaming.has(operation);
        // Its binary part may be large and slow: bounded by progress from here, not by total time.
        if (streamed) streamBodyFromHere(request);
        // Only an operation that streams a binary member reads its MTOM part later; the rest need every part now.
        if (!streamed) await opened.attachments.inlineAll(opened.envelope);
        const decodeOptions = { attachments: opened.attachments };
        const input = {
          ...decodeRequest(bodyElement, operation.request, decodeOptions),
          ...decodeHeaders(headerElements, operation.requestHeaders ?? [], decodeOptions),
        };
        const output = await operation.handle(input, { log: request.log, requestId: String(request.id), clientAddress: request.ip });
        if (streamed && !(await opened.attachments.discardRest(MAX_DISCARDED_REQUEST_BYTES))) reply.header('connection', 'close');

        const xml = new XmlOutput(`part.${request.id}`);
        writeElement(xml, operation.response, output);
        const envelope = xml.toBuffer(...soapEnvelopeAround(soapVersion, declarations));
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
        // A streamed request's envelope was fine: read what is left so the client, still writing, sees the fault.
        // Otherwise the body may not have been read to its end (e.g. too large): do not reuse the connection.
        const drained = streamed && opened !== undefined && (await opened.attachments.discardRest(MAX_DISCARDED_REQUEST_BYTES).catch(() => false));
        if (!drained) reply.header('connection', 'close');
        return send(reply, 500, plainResponse(soapEnvelope(renderFaultBody(fault, soapVersion), soapVersion, declarations), soapVersion));
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
    // One `msg` per line (JSON readers keep the last of duplicate keys): what went wrong is under `err`.
    request.log.info({ err: fault, fault: fault.code, errorId: fault.altinnFault?.errorId, errorGuid: fault.errorGuid }, 'SOAP fault');
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
