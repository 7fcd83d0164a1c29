/**
 * A streaming reader of a multipart body (RFC 2046) as MTOM requests use it: parts are taken one
 * after the other, each part's headers whole (they are small and bounded) and its content as a
 * sequence of slices handed out as they arrive, so a part of any size passes through in bounded
 * memory. The request reader holds the root part and small parts in memory itself; a streamed
 * part's bytes go on to their consumer (e.g. the blob store) without ever being collected.
 *
 * Framing accepted: a preamble before the first boundary (CXF starts every body with CRLF), a
 * transport padding after a boundary, an epilogue after the closing boundary (left unread here),
 * and a closing boundary without a final CRLF. Every read is serialised, so `discardRest` can
 * follow a consumer that gave up in the middle of a part.
 */
import { parseHeaders } from './mime-part-headers';

export class MultipartFormatError extends Error {
  override name = 'MultipartFormatError';
}

export interface MultipartReaderOptions {
  /** Largest header block of one part. */
  maxHeaderBytes: number;
  /** Most parts in one message. */
  maxParts: number;
  /** Most bytes before the first boundary. */
  maxPreambleBytes: number;
}

export interface PartHead {
  /** Header names in lower case. */
  headers: Record<string, string>;
}

const CR = 0x0d;
const CRLF = Buffer.from('\r\n', 'latin1');
const HEADER_END = Buffer.from('\r\n\r\n', 'latin1');
const EMPTY = Buffer.alloc(0);

type State = 'start' | 'boundary' | 'content' | 'end';

export class MultipartStreamReader {
  private readonly iterator: AsyncIterator<Uint8Array>;
  /** `--boundary`: how a delimiter line starts. */
  private readonly dashBoundary: Buffer;
  /** `CRLF--boundary`: what ends a part's content. */
  private readonly delimiter: Buffer;
  private buffer: Buffer = EMPTY;
  private bodyEnded = false;
  private state: State = 'start';
  private parts = 0;
  /** Serialises every read of the body (see the class comment). */
  private lock: Promise<unknown> = Promise.resolve();

  constructor(
    body: AsyncIterable<Uint8Array>,
    boundary: string,
    private readonly options: MultipartReaderOptions,
  ) {
    // Pulled by hand, never through for-await: leaving a loop would call return() and destroy the body.
    this.iterator = body[Symbol.asyncIterator]();
    this.dashBoundary = Buffer.from(`--${boundary}`, 'latin1');
    this.delimiter = Buffer.from(`\r\n--${boundary}`, 'latin1');
  }

  /** The next part's headers (the rest of the current part is skipped), or undefined after the closing boundary. */
  nextPart(): Promise<PartHead | undefined> {
    return this.exclusive(() => this.readNextPart());
  }

  /** The next slice of the current part's content, or null at its end. Slices are never empty. */
  readContent(): Promise<Buffer | null> {
    return this.exclusive(() => this.readContentSlice());
  }

  /**
   * Reads and discards whatever the body still holds, up to `maxBytes`. True when the body was read
   * to its end; false when more than `maxBytes` remained (the caller should close the connection).
   */
  discardRest(maxBytes: number): Promise<boolean> {
    return this.exclusive(async () => {
      let discarded = this.buffer.length;
      this.buffer = EMPTY;
      this.state = 'end';
      while (discarded <= maxBytes) {
        const chunk = await this.pull();
        if (!chunk) return true;
        discarded += chunk.length;
      }
      return false;
    });
  }

  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.lock.then(work);
    this.lock = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** The next chunk of the body, or undefined at its end. */
  private async pull(): Promise<Buffer | undefined> {
    if (this.bodyEnded) return undefined;
    const result = await this.iterator.next();
    if (result.done) {
      this.bodyEnded = true;
      return undefined;
    }
    const value = result.value;
    return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  }

  /** Appends the next chunk to the buffer; false at the end of the body. */
  private async fill(): Promise<boolean> {
    const chunk = await this.pull();
    if (!chunk) return false;
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    return true;
  }

  private async ensure(length: number): Promise<void> {
    while (this.buffer.length < length) if (!(await this.fill())) throw notFinished();
  }

  /** Index of `needle` in the buffer at or after `from`, reading on while the buffer is under `limit` bytes. */
  private async find(needle: Buffer, from: number, limit: number, tooLarge: string): Promise<number> {
    for (;;) {
      const at = this.buffer.indexOf(needle, from);
      if (at >= 0) return at;
      if (this.buffer.length > limit) throw new MultipartFormatError(tooLarge);
      if (!(await this.fill())) throw notFinished();
    }
  }

  private async skipPreamble(): Promise<void> {
    const dash = this.dashBoundary;
    for (;;) {
      const head = this.buffer.subarray(0, dash.length);
      if (head.length === dash.length && head.equals(dash)) break;
      const startsLikeBoundary = head.length < dash.length && dash.subarray(0, head.length).equals(head);
      if (!startsLikeBoundary) {
        const at = this.buffer.indexOf(this.delimiter);
        if (at >= 0) {
          this.buffer = this.buffer.subarray(at + CRLF.length);
          break;
        }
        if (this.buffer.length > this.options.maxPreambleBytes) {
          throw new MultipartFormatError(`no boundary '--${dash.subarray(2).toString('latin1')}' in the first ${this.options.maxPreambleBytes} bytes`);
        }
      }
      if (!(await this.fill())) throw new MultipartFormatError(`no boundary '--${dash.subarray(2).toString('latin1')}' found`);
    }
    this.state = 'boundary';
  }

  private async readNextPart(): Promise<PartHead | undefined> {
    while (this.state === 'content') await this.readContentSlice();
    if (this.state === 'end') return undefined;
    if (this.state === 'start') await this.skipPreamble();

    // The buffer starts with `--boundary`: then `--` (the closing delimiter) or padding and CRLF.
    const dashLength = this.dashBoundary.length;
    await this.ensure(dashLength + 2);
    if (this.buffer[dashLength] === 0x2d && this.buffer[dashLength + 1] === 0x2d) {
      this.buffer = this.buffer.subarray(dashLength + 2);
      this.state = 'end';
      return undefined;
    }
    const lineEnd = await this.find(CRLF, dashLength, dashLength + 1024, 'a boundary line is too long');
    if (!/^[ \t]*$/.test(this.buffer.subarray(dashLength, lineEnd).toString('latin1'))) {
      throw new MultipartFormatError('a boundary is followed by something other than a line break');
    }
    this.buffer = this.buffer.subarray(lineEnd + CRLF.length);
    if (++this.parts > this.options.maxParts) throw new MultipartFormatError(`more than ${this.options.maxParts} parts`);

    let headers: Record<string, string> = {};
    await this.ensure(CRLF.length);
    if (this.buffer.subarray(0, CRLF.length).equals(CRLF)) {
      this.buffer = this.buffer.subarray(CRLF.length); // a part without headers
    } else {
      const end = await this.find(HEADER_END, 0, this.options.maxHeaderBytes, `a part's headers are larger than ${this.options.maxHeaderBytes} bytes`);
      headers = parseHeaders(this.buffer.subarray(0, end).toString('latin1'));
      this.buffer = this.buffer.subarray(end + HEADER_END.length);
    }
    this.state = 'content';
    return { headers };
  }

  private async readContentSlice(): Promise<Buffer | null> {
    for (;;) {
      if (this.state !== 'content') return null;
      const at = this.buffer.indexOf(this.delimiter);
      if (at >= 0) {
        const content = this.buffer.subarray(0, at);
        this.buffer = this.buffer.subarray(at + CRLF.length); // keep `--boundary` for readNextPart
        this.state = 'boundary';
        return content.length > 0 ? content : null;
      }
      const safe = this.safeLength();
      if (safe > 0) {
        const content = this.buffer.subarray(0, safe);
        this.buffer = this.buffer.subarray(safe);
        return content;
      }
      if (!(await this.fill())) throw notFinished();
    }
  }

  /**
   * How much of the buffer is certainly content: all of it except a tail that could be the start
   * of a delimiter split across chunks. Usually there is none, so chunks pass through uncopied.
   */
  private safeLength(): number {
    const { buffer, delimiter } = this;
    for (let at = Math.max(0, buffer.length - delimiter.length + 1); at < buffer.length; at++) {
      if (buffer[at] === CR && buffer.subarray(at).equals(delimiter.subarray(0, buffer.length - at))) return at;
    }
    return buffer.length;
  }
}

function notFinished(): MultipartFormatError {
  return new MultipartFormatError('Multipart stream not finished');
}

