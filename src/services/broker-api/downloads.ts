/**
 * Downloads over HTTP (CONTRACT §2.5): the `Range` header read as .NET reads it, 206 with
 * Content-Range for one satisfiable range, `Content-Disposition` as ASP.NET writes it, the bytes
 * streamed from the blob store. The Altinn 2 REST door writes its Content-Disposition the same way.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { downloadFileTransfer, type RangeRequest } from '../../broker/download-file-transfer';
import type { BrokerContext } from '../../broker/types';
import { callerOf } from './auth';
import { guidParameter } from './json';

/**
 * The one byte range of a `Range` header, as .NET's RangeHeaderValue reads it: unit `bytes` (any
 * case), exactly one `a-b`, `a-` or `-n`. Anything else (another unit, several ranges, malformed)
 * is undefined: the header is ignored and the whole file is sent. `b < a` is kept: the domain
 * answers it 416 (CONTRACT §2.5, where .NET would ignore it).
 */
export function parseRangeHeader(header: string | undefined): RangeRequest | undefined {
  if (header === undefined) return undefined;
  const match = /^\s*bytes\s*=(.*)$/i.exec(header);
  if (!match) return undefined;
  const specs = match[1]!.split(',').map((spec) => spec.trim()).filter((spec) => spec !== '');
  if (specs.length !== 1) return undefined;
  const range = /^(\d*)\s*-\s*(\d*)$/.exec(specs[0]!);
  if (!range || (range[1] === '' && range[2] === '')) return undefined;
  const number = (digits: string) => (Number.isSafeInteger(Number(digits)) ? Number(digits) : undefined);
  if (range[1] === '') {
    const suffixLength = number(range[2]!);
    return suffixLength === undefined ? undefined : { suffixLength };
  }
  const start = number(range[1]!);
  if (start === undefined) return undefined;
  if (range[2] === '') return { start };
  const end = number(range[2]!);
  return end === undefined ? undefined : { start, end };
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const ATTR_CHAR = /^[!#$&+\-.^_`|~0-9A-Za-z]$/;

/**
 * `Content-Disposition` as ASP.NET's File(stream, type, fileName) writes it (SetHttpFileName):
 * `filename` with every UTF-16 unit outside 0x20-0x7E replaced by `_`, quoted (`\` and `"`
 * escaped) unless it is a token; `filename*` the UTF-8 bytes percent-encoded, upper-case hex,
 * except RFC 5987 attr-chars.
 */
export function contentDisposition(fileName: string): string {
  const ascii = fileName.replace(/[\u0000-\u001f\u007f-\uffff]/g, '_');
  const filename = TOKEN.test(ascii) ? ascii : `"${ascii.replace(/[\\"]/g, '\\$&')}"`;
  let encoded = '';
  for (const character of fileName) {
    if (ATTR_CHAR.test(character)) encoded += character;
    else for (const byte of Buffer.from(character, 'utf8')) encoded += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return `attachment; filename=${filename}; filename*=UTF-8''${encoded}`;
}

export async function sendDownload(ctx: BrokerContext, request: FastifyRequest<{ Params: { fileTransferId: string } }>, reply: FastifyReply): Promise<FastifyReply> {
  const fileTransferId = guidParameter('fileTransferId', request.params.fileTransferId);
  reply.header('accept-ranges', 'bytes');
  const result = await downloadFileTransfer(ctx, callerOf(request), fileTransferId, { range: parseRangeHeader(request.headers.range) });
  const stream = result.open();
  // A client that goes away stops the read (and frees the file) at once.
  reply.raw.once('close', () => stream.destroy());
  reply.header('content-type', 'application/octet-stream').header('content-disposition', contentDisposition(result.transfer.fileName));
  if (result.range) {
    const { start, end } = result.range;
    reply
      .code(206)
      .header('content-range', `bytes ${start}-${end}/${result.size}`)
      .header('content-length', end - start + 1);
  } else {
    reply.code(200).header('content-length', result.size);
  }
  return reply.send(stream);
}
