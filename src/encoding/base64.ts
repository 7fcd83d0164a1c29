/**
 * Strict base64 (RFC 4648 §4, padded; whitespace between characters allowed, as in XML Schema's
 * base64Binary and JSON payloads folded by their writers). `Buffer.from(…, 'base64')` alone would
 * silently skip what is not base64. Checked with one pass over the characters, never a regular
 * expression over the whole text: a backtracking pattern overflows the stack on a few MiB.
 */

/** The decoded bytes, or undefined when `text` is not strict base64. */
export function decodeStrictBase64(text: string): Buffer | undefined {
  let significant = 0;
  let padding = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) continue;
    if (c === 0x3d /* = */) {
      padding += 1;
      if (padding > 2) return undefined;
    } else if (padding > 0 || !isBase64Letter(c)) {
      // Letters after padding, or a character outside the alphabet.
      return undefined;
    }
    significant += 1;
  }
  if (significant % 4 !== 0) return undefined;
  // Buffer skips the whitespace (and the padding) itself.
  return Buffer.from(text, 'base64');
}

function isBase64Letter(c: number): boolean {
  return (
    (c >= 0x41 && c <= 0x5a) /* A-Z */ ||
    (c >= 0x61 && c <= 0x7a) /* a-z */ ||
    (c >= 0x30 && c <= 0x39) /* 0-9 */ ||
    c === 0x2b /* + */ ||
    c === 0x2f /* / */
  );
}
