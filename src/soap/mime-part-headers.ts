/**
 * The header block of one MIME part (RFC 2045/822): folded lines unfolded, names lower-cased.
 * Read as latin1 by the callers, since header bytes are not necessarily UTF-8.
 */
export function parseHeaders(block: string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of block.replace(/\r\n[ \t]+/g, ' ').split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return headers;
}
