/**
 * Turning a serialized envelope into an HTTP response body: plain XML when nothing is binary,
 * otherwise an MTOM multipart/related message whose binary parts are streamed straight from their
 * source (e.g. the blob store), so a 1 GB attachment never sits in memory. When every part's size
 * is known the exact Content-Length is computed up front.
 */
import { randomUUID } from 'node:crypto';
import { Readable, type Writable } from 'node:stream';
import { DirectWriteReadable } from '../storage/direct-write-readable';
import type { SoapVersion } from './request-reader';
import type { BinaryPart } from './schema';
import type { OutboundPart } from './serializer';
import { NAMESPACE_DECLARATIONS } from './serializer';
import { SOAP11_ENV, SOAP12_ENV } from './namespaces';

export interface SoapHttpResponse {
  contentType: string;
  contentLength: number | undefined;
  body: Buffer | Readable;
}

/** `declarations`: the namespace declarations for the body's prefixes (default: the DownloadQueue contracts'). */
export function soapEnvelope(bodyXml: string, soapVersion: SoapVersion, declarations: string = NAMESPACE_DECLARATIONS): string {
  const [head, tail] = soapEnvelopeAround(soapVersion, declarations);
  return head + bodyXml + tail;
}

/** The Envelope's text before and after the body's content. */
export function soapEnvelopeAround(soapVersion: SoapVersion, declarations: string = NAMESPACE_DECLARATIONS): [head: string, tail: string] {
  const envNs = soapVersion === '1.1' ? SOAP11_ENV : SOAP12_ENV;
  return [`<s:Envelope xmlns:s="${envNs}"${declarations}><s:Body>`, '</s:Body></s:Envelope>'];
}

function xmlContentType(soapVersion: SoapVersion): string {
  return soapVersion === '1.1' ? 'text/xml' : 'application/soap+xml';
}

/** `envelope`: text, or its UTF-8 bytes. */
export function plainResponse(envelope: string | Buffer, soapVersion: SoapVersion): SoapHttpResponse {
  const body = typeof envelope === 'string' ? Buffer.from(envelope, 'utf8') : envelope;
  return { contentType: `${xmlContentType(soapVersion)}; charset=utf-8`, contentLength: body.length, body };
}

export interface MtomOptions {
  /** Called with the number of binary bytes written, for metrics. */
  onBinaryBytes?(count: number): void;
}

export function mtomResponse(envelope: string | Buffer, parts: OutboundPart[], soapVersion: SoapVersion, options: MtomOptions = {}): SoapHttpResponse {
  const boundary = `uuid:${randomUUID()}`;
  const rootId = 'root.message@altinn-gateway';
  const innerType = xmlContentType(soapVersion);
  const rootHead = Buffer.from(
    `--${boundary}\r\nContent-ID: <${rootId}>\r\n` +
      `Content-Type: application/xop+xml; charset=utf-8; type="${innerType}"\r\n` +
      `Content-Transfer-Encoding: 8bit\r\n\r\n`,
  );
  const rootXml = typeof envelope === 'string' ? Buffer.from(envelope, 'utf8') : envelope;
  // Binary parts say so: without a Content-Transfer-Encoding a part is 7bit, and readers such as
  // Perl's SOAP::Lite then rewrite its CRLF to LF. Written `Binary`: the value is case-insensitive
  // (RFC 2045 §6.1), but zeep strips leading/trailing CR/LF from parts marked exactly `binary`,
  // which would corrupt files that end in a line break.
  const partHeads = parts.map(({ contentId, part }) =>
    Buffer.from(
      `\r\n--${boundary}\r\nContent-ID: <${contentId}>\r\nContent-Type: ${part.contentType}\r\nContent-Transfer-Encoding: Binary\r\n\r\n`,
    ),
  );
  const closing = Buffer.from(`\r\n--${boundary}--\r\n`);

  const sizes = parts.map(({ part }) => part.sizeBytes);
  const contentLength = sizes.every((s): s is number => s !== undefined)
    ? rootHead.length + rootXml.length + partHeads.reduce((n, h) => n + h.length, 0) + sizes.reduce((n, s) => n + s, 0) + closing.length
    : undefined;

  return {
    contentType:
      `multipart/related; type="application/xop+xml"; start="<${rootId}>"; ` + `start-info="${innerType}"; boundary="${boundary}"`,
    contentLength,
    body: new MtomBody([Buffer.concat([rootHead, rootXml])], parts.map(({ contentId, part }, i) => ({ contentId, part, head: partHeads[i]! })), closing, options),
  };
}

interface MtomBodyPart {
  contentId: string;
  part: BinaryPart;
  /** The boundary and part headers written before its bytes. */
  head: Buffer;
}

/**
 * The multipart body: the root part, then each binary part streamed from its source, then the
 * closing boundary. Piped into the response (what fastify does), a blob part is written from its
 * file's reused buffers (DirectWriteReadable); read any other way, chunk by chunk.
 */
class MtomBody extends DirectWriteReadable {
  private readonly pieces: AsyncGenerator<Buffer>;
  /** The part being read (it may hold a file open). */
  private source?: ReturnType<BinaryPart['open']>;

  constructor(
    private readonly start: Buffer[],
    private readonly parts: MtomBodyPart[],
    private readonly closing: Buffer,
    private readonly options: MtomOptions,
  ) {
    super({ highWaterMark: 1 });
    this.pieces = this.generate();
  }

  protected override async readChunk(): Promise<Buffer | undefined> {
    const next = await this.pieces.next();
    return next.done ? undefined : next.value;
  }

  protected override async writeDirectly(destination: Writable, end: boolean): Promise<number> {
    let total = 0;
    for (const buffer of this.start) {
      destination.write(buffer);
      total += buffer.length;
    }
    for (const { contentId, part, head } of this.parts) {
      destination.write(head);
      total += head.length;
      const source = this.openPart(part);
      let written = 0;
      if (source instanceof DirectWriteReadable) {
        written = await source.writeInto(destination, false);
        source.destroy();
      } else {
        for await (const chunk of source as AsyncIterable<Buffer>) {
          written += chunk.length;
          if (!destination.write(chunk)) await drained(destination);
        }
      }
      this.source = undefined;
      this.partDone(contentId, part, written);
      total += written;
    }
    destination.write(this.closing);
    if (end) destination.end();
    return total + this.closing.length;
  }

  private async *generate(): AsyncGenerator<Buffer> {
    yield* this.start;
    for (const { contentId, part, head } of this.parts) {
      yield head;
      let written = 0;
      for await (const chunk of this.openPart(part) as AsyncIterable<Buffer>) {
        written += chunk.length;
        yield chunk;
      }
      this.source = undefined;
      this.partDone(contentId, part, written);
    }
    yield this.closing;
  }

  private openPart(part: BinaryPart): ReturnType<BinaryPart['open']> {
    this.source = part.open();
    return this.source;
  }

  private partDone(contentId: string, part: BinaryPart, written: number): void {
    this.options.onBinaryBytes?.(written);
    if (part.sizeBytes !== undefined && written !== part.sizeBytes) {
      // Content-Length was promised; failing the stream makes the client see a broken response, not a wrong file.
      throw new Error(`Binary part ${contentId} had ${written} bytes, expected ${part.sizeBytes}`);
    }
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const source = this.source as Partial<Readable> | undefined;
    source?.destroy?.();
    this.pieces.return(undefined).then(
      () => callback(error),
      () => callback(error),
    );
  }
}


/** Resolves on the destination's next 'drain'; rejects if it closes or fails first. */
function drained(destination: Writable): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const settle = (error?: Error) => {
      destination.off('drain', onDrain);
      destination.off('close', onClose);
      destination.off('error', settle);
      if (error) reject(error);
      else resolve();
    };
    const onDrain = () => settle();
    const onClose = () => settle(new Error('The destination closed before the last write'));
    destination.on('drain', onDrain);
    destination.on('close', onClose);
    destination.on('error', settle);
  });
}
