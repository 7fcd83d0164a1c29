/**
 * A byte range of a file as a stream: exactly `end - start + 1` bytes or an error. fs.createReadStream
 * with start/end ends quietly at the end of the file, which would let a response promise a
 * Content-Length it cannot keep; here a range past the end fails before the first byte.
 */
import fs from 'node:fs';
import { Readable } from 'node:stream';
import { RangeNotSatisfiableError } from './blob-errors';
import type { ByteRange } from './blob-store';

export function assertByteRange(range: ByteRange): void {
  if (!Number.isSafeInteger(range.start) || !Number.isSafeInteger(range.end) || range.start < 0 || range.end < range.start) {
    throw new RangeError(`Invalid byte range ${range.start}-${range.end}`);
  }
}

const READ_BYTES = 256 * 1024;

export class FileRangeReadStream extends Readable {
  private fd = -1;
  private position: number;
  private remaining: number;
  /** Set while a read is in flight: the descriptor must not be closed (and reused) under it. */
  private reading = false;
  private afterRead?: () => void;

  constructor(
    private readonly filePath: string,
    private readonly range: ByteRange,
  ) {
    super({ highWaterMark: READ_BYTES });
    assertByteRange(range);
    this.position = range.start;
    this.remaining = range.end - range.start + 1;
  }

  override _construct(callback: (error?: Error | null) => void): void {
    fs.open(this.filePath, 'r', (openError, fd) => {
      if (openError) return callback(openError);
      this.fd = fd;
      fs.fstat(fd, (statError, stats) => {
        if (statError) return callback(statError);
        if (this.range.end >= stats.size) return callback(new RangeNotSatisfiableError(this.range.start, this.range.end, stats.size));
        callback();
      });
    });
  }

  override _read(): void {
    const length = Math.min(READ_BYTES, this.remaining);
    const buffer = Buffer.allocUnsafeSlow(length);
    this.reading = true;
    fs.read(this.fd, buffer, 0, length, this.position, (error, bytesRead) => {
      this.reading = false;
      if (this.afterRead) return this.afterRead();
      if (error) return this.destroy(error);
      if (bytesRead === 0) return this.destroy(new Error(`The blob ended at byte ${this.position}, before the end of the range ${this.range.start}-${this.range.end}`));
      this.position += bytesRead;
      this.remaining -= bytesRead;
      this.push(bytesRead === length ? buffer : buffer.subarray(0, bytesRead));
      if (this.remaining === 0) this.push(null);
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
