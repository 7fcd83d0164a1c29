/**
 * UTF-8 decoding that refuses malformed input (overlong forms, surrogates, stray or missing
 * continuation bytes) instead of replacing it with U+FFFD: text a client sent is stored exactly as
 * sent, or refused.
 */

/** The text of `bytes` (a leading BOM dropped), or undefined when they are not valid UTF-8. */
export function decodeUtf8(bytes: Uint8Array): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}
