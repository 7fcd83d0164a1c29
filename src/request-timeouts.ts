/**
 * Time bounds on what clients send, so that slow or stalled clients (one byte every few seconds,
 * a chunked body that never ends, a body shorter than its Content-Length, a connection that sends
 * nothing) cannot hold connections and file descriptors indefinitely:
 *
 * - headers: the request line and headers within `headersMs` (node's headersTimeout);
 * - bodies: a request body arrives whole within `bodyMs` of the request's start; a streamed upload
 *   (a route with `config.streamedBody`, or a request switched with `streamBodyFromHere` once it
 *   turns out to be one) may take as long as it needs, but is cut when less than
 *   `STALLED_BODY_BYTES` arrive within `streamedBodyStallMs` (a 10 GB upload is never cut for its
 *   length, only for stalling);
 * - idle keep-alive connections are closed after `keepAliveMs`.
 *
 * A request cut for its body gets `408 Request Timeout` (when no answer has started) and its
 * connection is closed. node's own requestTimeout is server-wide, so it cannot tell an upload from
 * a SOAP call: these body bounds are per request instead.
 */
import type { Socket } from 'node:net';
import type { FastifyInstance, FastifyRequest, FastifyServerOptions } from 'fastify';
import type { RequestTimeouts } from './config';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route streams its request body (an upload of any size): bounded by progress, not by total time. */
    streamedBody?: boolean;
  }
}

/** A streamed body that brings less than this within `streamedBodyStallMs` has stalled. */
export const STALLED_BODY_BYTES = 1024;

const REQUEST_TIMEOUT_RESPONSE = 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n';

/** The fastify (node:http) options for the connection-level bounds. */
export function serverTimeoutOptions(timeouts: RequestTimeouts): Pick<FastifyServerOptions, 'keepAliveTimeout' | 'requestTimeout'> & {
  http: { headersTimeout: number; requestTimeout: number; connectionsCheckingInterval: number };
} {
  return {
    keepAliveTimeout: timeouts.keepAliveMs,
    // Whole requests are bounded per request (below); node's would cut long uploads too.
    requestTimeout: 0,
    http: {
      headersTimeout: timeouts.headersMs,
      requestTimeout: 0,
      // How often node looks for connections past headersTimeout (its default is every 30 s).
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(timeouts.headersMs / 4))),
    },
  };
}

interface BodyGuard {
  streaming(): void;
  stop(): void;
}

const guards = new WeakMap<FastifyRequest, BodyGuard>();

/** Bounds every request body of `server` in time (see the module comment). */
export function registerBodyTimeouts(server: FastifyInstance, timeouts: RequestTimeouts): void {
  server.addHook('onRequest', async (request, reply) => {
    if (request.raw.complete) return; // no body, or all of it here already
    const guard = guardBody(request, timeouts, () => !reply.raw.headersSent);
    guards.set(request, guard);
    reply.raw.once('close', guard.stop);
    if (request.routeOptions.config.streamedBody) guard.streaming();
  });
}

/** The request turned out to stream its body (e.g. a SOAP upload, once its envelope is read): bound its progress, not its duration. */
export function streamBodyFromHere(request: FastifyRequest): void {
  guards.get(request)?.streaming();
}

function guardBody(request: FastifyRequest, timeouts: RequestTimeouts, mayAnswer: () => boolean): BodyGuard {
  const socket = request.raw.socket;
  let timer: NodeJS.Timeout | undefined;
  const cut = (why: string) => {
    if (request.raw.complete) return;
    request.log.info({ timeoutMs: why === 'stalled' ? timeouts.streamedBodyStallMs : timeouts.bodyMs }, `request body ${why}: connection closed`);
    closeWithTimeout(socket, mayAnswer());
  };
  const arm = (ms: number, then: () => void) => {
    clearTimeout(timer);
    timer = setTimeout(then, ms);
    timer.unref();
  };
  arm(timeouts.bodyMs, () => cut('not received in time'));

  let streaming = false;
  return {
    streaming() {
      if (streaming) return;
      streaming = true;
      let seen = socket.bytesRead;
      const check = () => {
        if (request.raw.complete) return;
        if (socket.bytesRead - seen < STALLED_BODY_BYTES) return cut('stalled');
        seen = socket.bytesRead;
        arm(timeouts.streamedBodyStallMs, check);
      };
      arm(timeouts.streamedBodyStallMs, check);
    },
    stop() {
      clearTimeout(timer);
    },
  };
}

function closeWithTimeout(socket: Socket, answer: boolean): void {
  if (socket.destroyed) return;
  if (!answer) {
    socket.destroy();
    return;
  }
  // As node answers its own request timeouts: a bare 408, then the connection goes.
  socket.write(REQUEST_TIMEOUT_RESPONSE, () => socket.destroy());
  setTimeout(() => socket.destroy(), 1000).unref();
}
