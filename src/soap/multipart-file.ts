/**
 * A multipart (MTOM) message saved to a file, indexed without loading it: each part's headers and
 * the byte range of its content, so a part can be streamed straight from the file (a saved
 * response may carry many large attachments). Not the multipart parser the request reader uses:
 * that one hands each part over whole, in memory, which is right for bounded requests only.
 */
import fs from 'node:fs';
import { parseHeaders } from './mime-part-headers';

export interface FilePart {
  /** Header names in lower case. */
  headers: Record<string, string>;
  /** Content byte range in the file: [start, end). */
  start: number;
  end: number;
}

export class MultipartFileError extends Error {
  override name = 'MultipartFileError';
}

const MAX_HEADER_BYTES = 16 * 1024;

/** The boundary when the file starts (after optional blank lines) with a `--boundary` line, else undefined. */
export async function sniffBoundary(file: string): Promise<string | undefined> {
  const head = await readRange(file, 0, 1024);
  const match = /^(?:\r?\n)*--([^\r\n]{1,200})\r?\n/.exec(head.toString('latin1'));
  return match && /^[\x21-\x7e][\x20-\x7e]*$/.test(match[1]!) ? match[1]!.trimEnd() : undefined;
}

export async function indexMultipartFile(file: string, boundary: string): Promise<FilePart[]> {
  const delimiters = await findDelimiters(file, Buffer.from(`\r\n--${boundary}`, 'latin1'));
  // The first delimiter may open the file without a preceding line break.
  const opening = Buffer.from(`--${boundary}`, 'latin1');
  if ((await readRange(file, 0, opening.length)).equals(opening)) delimiters.unshift(-2);
  if (delimiters.length === 0) throw new MultipartFileError(`No part boundary '--${boundary}' found: not a multipart message with that boundary`);

  const parts: FilePart[] = [];
  for (let i = 0; i < delimiters.length; i++) {
    const afterDelimiter = delimiters[i]! + 2 + 2 + boundary.length;
    const head = await readRange(file, afterDelimiter, MAX_HEADER_BYTES);
    if (head.subarray(0, 2).toString('latin1') === '--') return parts; // closing delimiter
    const lineEnd = head.indexOf('\r\n');
    const headerEnd = head.indexOf('\r\n\r\n', lineEnd);
    if (lineEnd < 0 || headerEnd < 0) throw new MultipartFileError(`Part ${i + 1} has no complete header block`);
    const next = delimiters[i + 1];
    if (next === undefined) throw new MultipartFileError('The multipart message is truncated (no closing boundary)');
    parts.push({ headers: parseHeaders(head.subarray(lineEnd + 2, headerEnd).toString('latin1')), start: afterDelimiter + headerEnd + 4, end: next });
  }
  throw new MultipartFileError('The multipart message is truncated (no closing boundary)');
}

export function openPart(file: string, part: FilePart): fs.ReadStream {
  // createReadStream's `end` is inclusive.
  return fs.createReadStream(file, { start: part.start, end: part.end - 1, highWaterMark: 256 * 1024 });
}

export async function readPart(file: string, part: FilePart): Promise<Buffer> {
  return readRange(file, part.start, part.end - part.start);
}

/** Absolute offsets of every occurrence of `needle`, reading the file in chunks. */
async function findDelimiters(file: string, needle: Buffer): Promise<number[]> {
  const found: number[] = [];
  let carry = Buffer.alloc(0);
  let carryOffset = 0;
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>) {
    const window = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk;
    for (let at = window.indexOf(needle); at >= 0; at = window.indexOf(needle, at + 1)) found.push(carryOffset + at);
    // Keep one byte less than the needle: a match straddling chunks is found next time, none twice.
    const keep = Math.min(window.length, needle.length - 1);
    carryOffset += window.length - keep;
    carry = Buffer.from(window.subarray(window.length - keep));
  }
  return found;
}

async function readRange(file: string, position: number, length: number): Promise<Buffer> {
  const handle = await fs.promises.open(file, 'r');
  try {
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await handle.read(buffer, 0, length, position);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}
