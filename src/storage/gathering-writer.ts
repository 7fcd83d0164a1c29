/**
 * The write side for bytes nobody hashes (a TUS chunk without `Upload-Checksum`): the source's own
 * buffers (the socket's 64 KiB reads) are gathered and handed to the sink a batch at a time, for one
 * vectored write each, instead of being copied into slabs first. HashingWriter copies because its
 * slabs are shared with the hashing workers; with nothing to hash that copy is pure cost (about a
 * tenth of the main thread's time during a TUS upload, bench/PROFILE-NOTES.md).
 *
 * One batch is in the sink at a time, and while it is the stream buffers at most one more batch
 * before it holds the source back: memory is flat whatever the size.
 */
import { Writable } from 'node:stream';
import { BlobTooLargeError, assertMaxBytes } from './blob-errors';

export interface GatheringWriterOptions {
  /** Receives each batch, its position from the start of the stream; the buffers are the source's. */
  writeAt: (buffers: Buffer[], position: number) => Promise<unknown>;
  /** A batch is handed over once it holds this many bytes (the last one may hold fewer). */
  batchBytes: number;
  /** More bytes than this fail the stream with BlobTooLargeError. */
  maxBytes?: number;
}

export class GatheringWriter extends Writable {
  /** Bytes accepted so far. */
  sizeBytes = 0;
  private readonly options: GatheringWriterOptions;
  private gathered: Buffer[] = [];
  private gatheredBytes = 0;
  /** Bytes handed to the sink so far: where the next batch goes. */
  private handedOver = 0;
  private inSink?: Promise<unknown>;

  constructor(options: GatheringWriterOptions) {
    super({ highWaterMark: options.batchBytes });
    if (!(Number.isSafeInteger(options.batchBytes) && options.batchBytes > 0)) throw new RangeError(`batchBytes must be a positive integer (got ${options.batchBytes})`);
    assertMaxBytes(options.maxBytes);
    this.options = options;
  }

  /** Resolves when no batch is in the sink (call before closing what the sink writes to). */
  async whenIdle(): Promise<void> {
    await this.inSink?.catch(() => undefined);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.take([chunk], callback);
  }

  // Chunks that arrived while the previous batch was in the sink come here together.
  override _writev(entries: { chunk: Buffer }[], callback: (error?: Error | null) => void): void {
    this.take(
      entries.map((entry) => entry.chunk),
      callback,
    );
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.handOver().then(() => callback(), callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.gathered = [];
    // A batch still in the sink must not outlive the stream: the owner closes the file after this.
    this.whenIdle().then(() => callback(error));
  }

  private take(chunks: Buffer[], callback: (error?: Error | null) => void): void {
    let bytes = 0;
    for (const chunk of chunks) bytes += chunk.length;
    const { maxBytes, batchBytes } = this.options;
    if (maxBytes !== undefined && this.sizeBytes + bytes > maxBytes) return callback(new BlobTooLargeError(maxBytes));
    this.sizeBytes += bytes;
    for (const chunk of chunks) if (chunk.length > 0) this.gathered.push(chunk);
    this.gatheredBytes += bytes;
    if (this.gatheredBytes < batchBytes) return callback();
    this.handOver().then(() => callback(), callback);
  }

  private async handOver(): Promise<void> {
    if (this.gatheredBytes === 0) return;
    const buffers = this.gathered;
    const position = this.handedOver;
    this.handedOver += this.gatheredBytes;
    this.gathered = [];
    this.gatheredBytes = 0;
    this.inSink = this.options.writeAt(buffers, position);
    try {
      await this.inSink;
    } finally {
      this.inSink = undefined;
    }
  }
}
