/**
 * A blob file, or a byte range of it, as a stream: exactly its bytes or an error.
 * fs.createReadStream with start/end ends quietly at the end of the file, which would let a
 * response promise a Content-Length it cannot keep; here a range past the end fails before the
 * first byte. Piped (a download), it reads into a few reused buffers (DirectWriteReadable).
 */
import fs from 'node:fs';
import type { Writable } from 'node:stream';
import { RangeNotSatisfiableError } from './blob-errors';
import type { ByteRange } from './blob-store';
import { DirectWriteReadable, WriteBufferPool, WriteBufferRing } from './direct-write-readable';

export function assertByteRange(range: ByteRange): void {
  if (!Number.isSafeInteger(range.start) || !Number.isSafeInteger(range.end) || range.start < 0 || range.end < range.start) {
    throw new RangeError(`Invalid byte range ${range.start}-${range.end}`);
  }
}

/** Bytes per read (the plain pipe of bench/ reads as much). */
const READ_BYTES = 256 * 1024;
/** Reused buffers of a piped stream: one being read into while the others are written. */
const DIRECT_BUFFERS = 4;
/** Shared by every piped stream of the process; idle, it keeps what eight such streams use. */
const directBuffers = new WriteBufferPool(READ_BYTES, 8 * DIRECT_BUFFERS);

export class FileRangeReadStream extends DirectWriteReadable {
  private fd = -1;
  private position: number;
  /** Bytes still to read; known once the file is open when the whole file is read. */
  private remaining = 0;
  /** Set while a read is in flight: the descriptor must not be closed (and reused) under it. */
  private reading = false;
  private afterRead?: () => void;
  private readonly opened: Promise<void>;
  private settleOpened!: (error?: Error | null) => void;

  private readonly filePath: string;
  private readonly range: ByteRange | undefined;
  private readonly knownSizeBytes: number | undefined;

  /**
   * Without `range`, the whole file: of `knownSizeBytes` when the caller has just checked its size
   * (then no fstat here; a file shorter than that still fails the stream at its end).
   */
  constructor(filePath: string, range?: ByteRange, knownSizeBytes?: number) {
    // Before super(): a refused range must not leave a stream that opens the file anyway.
    if (range) assertByteRange(range);
    if (knownSizeBytes !== undefined && !(Number.isSafeInteger(knownSizeBytes) && knownSizeBytes >= 0)) {
      throw new RangeError(`Invalid size ${knownSizeBytes}`);
    }
    super({ highWaterMark: READ_BYTES });
    this.filePath = filePath;
    this.range = range;
    this.knownSizeBytes = range ? undefined : knownSizeBytes;
    this.position = range?.start ?? 0;
    this.opened = new Promise<void>((resolve, reject) => (this.settleOpened = (error) => (error ? reject(error) : resolve())));
    this.opened.catch(() => undefined); // reported as the stream's error too
  }

  override _construct(callback: (error?: Error | null) => void): void {
    const done = (error?: Error | null) => {
      this.settleOpened(error);
      callback(error);
    };
    fs.open(this.filePath, 'r', (openError, fd) => {
      if (openError) return done(openError);
      this.fd = fd;
      if (this.knownSizeBytes !== undefined) {
        this.remaining = this.knownSizeBytes;
        return done();
      }
      fs.fstat(fd, (statError, stats) => {
        if (statError) return done(statError);
        if (!this.range) {
          this.remaining = stats.size;
          return done();
        }
        if (this.range.end >= stats.size) return done(new RangeNotSatisfiableError(this.range.start, this.range.end, stats.size));
        this.remaining = this.range.end - this.range.start + 1;
        done();
      });
    });
  }

  protected override async readChunk(): Promise<Buffer | undefined> {
    if (this.remaining === 0) return undefined;
    const buffer = Buffer.allocUnsafeSlow(Math.min(READ_BYTES, this.remaining));
    const bytesRead = await this.readInto(buffer, buffer.length);
    return bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead);
  }

  protected override async writeDirectly(destination: Writable, end: boolean): Promise<number> {
    await this.opened;
    if (this.remaining === 0) {
      if (end) destination.end();
      return 0;
    }
    const ring = new WriteBufferRing(destination, DIRECT_BUFFERS, directBuffers);
    let written = 0;
    try {
      while (this.remaining > 0) {
        const buffer = await ring.take();
        const bytesRead = await this.readInto(buffer, Math.min(buffer.length, this.remaining));
        ring.write(buffer, bytesRead);
        written += bytesRead;
      }
      if (end) destination.end();
      return written;
    } finally {
      ring.stop();
    }
  }

  /** Read the next bytes (at most `length`, at least one) into `buffer`. */
  private readInto(buffer: Buffer, length: number): Promise<number> {
    if (this.destroyed) return Promise.reject(new Error('The stream was destroyed'));
    this.reading = true;
    return new Promise((resolve, reject) => {
      fs.read(this.fd, buffer, 0, length, this.position, (error, bytesRead) => {
        this.reading = false;
        if (this.afterRead) {
          this.afterRead();
          return reject(new Error('The stream was destroyed'));
        }
        if (error) return reject(error);
        if (bytesRead === 0) {
          const expected = this.range
            ? `the end of the range ${this.range.start}-${this.range.end}`
            : this.knownSizeBytes !== undefined ? `its expected size ${this.knownSizeBytes}` : `its size when opened`;
          return reject(new Error(`The blob ended at byte ${this.position}, before ${expected}`));
        }
        this.position += bytesRead;
        this.remaining -= bytesRead;
        resolve(bytesRead);
      });
    });
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.reading) {
      this.afterRead = () => this._destroy(error, callback);
      return;
    }
    this.afterRead = undefined;
    if (this.fd < 0) return callback(error);
    const fd = this.fd;
    this.fd = -1;
    fs.close(fd, () => callback(error));
  }
}
