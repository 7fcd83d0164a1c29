/**
 * The gateway's public address, which every door writes into what it returns (WSDL soap:address,
 * the SOAP help page, HAL links and Location headers): PUBLIC_URL when configured, otherwise the
 * scheme and host of the request. Fastify believes X-Forwarded-Proto/Host only from proxies that
 * TRUST_PROXY names; a Host (forwarded or not) that is not a host name or address is refused with
 * 400 before any route runs, so no request can make the gateway advertise an address of its choosing
 * beyond a well-formed host.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';

declare module 'fastify' {
  interface FastifyRequest {
    /** `https://host[:port][/path]`, no trailing slash: prefix of every absolute address written in a response. */
    readonly publicBaseUrl: string;
  }
}

/** A DNS name or IPv4 address, or an IPv6 address in brackets, with an optional port. */
const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})?)*\.?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

export function publicBaseUrl(request: FastifyRequest, publicUrl: string | undefined): string {
  return publicUrl ?? `${request.protocol}://${request.host}`;
}

export function registerPublicBaseUrl(server: FastifyInstance, publicUrl: string | undefined): void {
  server.decorateRequest('publicBaseUrl', {
    getter(this: FastifyRequest) {
      return publicBaseUrl(this, publicUrl);
    },
  });
  if (publicUrl) return; // the request's Host is never written anywhere
  server.addHook('onRequest', async (request, reply) => {
    const { protocol, host } = request;
    if ((protocol !== 'http' && protocol !== 'https') || host.length > 255 || !HOST.test(host)) {
      return reply.code(400).type('text/plain; charset=utf-8').send('Invalid Host header (or X-Forwarded-Host/Proto from a trusted proxy)');
    }
  });
}
