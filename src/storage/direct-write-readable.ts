/**
 * A Readable that, when piped, writes itself into the destination instead: with each write's
 * callback it knows when the destination (a socket) is done with a buffer, so it can read the next
 * bytes into the same few buffers. Readable.pipe hands every chunk over without telling when it has
 * been written, which forces a fresh Buffer per read: a 1 GiB download allocated 4,096 Buffers of
 * 256 KiB, and that external-memory churn put some processes into a mode of back-to-back full
 * collections for their whole life (bench/PROFILE-NOTES.md, stream-1gb).
 *
 * Only a socket or an HTTP response is written into so (releasesChunksOnCallback); piped into
 * anything else, or read any other way (read(), 'data', async iteration), it is an ordinary
 * Readable with fresh buffers. Piped directly, it ends ('end') once its last write is issued.
 */
import { ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { Readable, type Writable } from 'node:stream';

export abstract class DirectWriteReadable extends Readable {
  private writingDirectly = false;

  /**
   * Write every byte into `destination` (see releasesChunksOnCallback), ending it with `end`.
   * Resolves with the count of bytes once the last write is issued (the destination keeps them
   * in order; a client that hangs up as soon as it has every byte must find the response
   * ended), rejects when the destination fails or closes first. The stream is not read
   * otherwise after this; the caller destroys it.
   */
  writeInto(destination: Writable, end: boolean): Promise<number> {
    this.writingDirectly = true;
    return this.writeDirectly(destination, end);
  }

  protected abstract writeDirectly(destination: Writable, end: boolean): Promise<number>;

  /** Read the next chunk the ordinary way (fresh buffers): undefined at the end. */
  protected abstract readChunk(): Promise<Buffer | undefined>;

  override _read(): void {
    if (this.writingDirectly) return;
    this.readChunk().then(
      (chunk) => this.push(chunk ?? null),
      (error: Error) => this.destroy(error),
    );
  }

  override pipe<T extends NodeJS.WritableStream>(destination: T, options?: { end?: boolean }): T {
    // Already being read another way: the ordinary pipe, so no byte is lost or sent twice. So too
    // into a Writable that may keep a chunk after its callback (a Transform pushes it on).
    if (this.readableDidRead || this.readableFlowing !== null || this.writingDirectly || !releasesChunksOnCallback(destination)) {
      return super.pipe(destination, options);
    }
    const writable = destination as unknown as Writable;
    this.writingDirectly = true;
    this.writeDirectly(writable, options?.end !== false).then(
      () => {
        this.push(null);
        this.resume(); // emits 'end'
      },
      (error: Error) => {
        // The destination went away (a client that hung up): a plain close, as Readable.pipe would
        // leave it; a failure of our own side is this stream's error.
        if (writable.destroyed) this.destroy();
        else this.destroy(error);
      },
    );
    return destination;
  }
}

/**
 * Whether `destination` is done with a chunk once its write callback has fired: a socket (the
 * callback comes when the kernel has the bytes) or an HTTP response, which writes into one.
 */
export function releasesChunksOnCallback(destination: NodeJS.WritableStream): boolean {
  return destination instanceof Socket || destination instanceof ServerResponse;
}

/**
 * Free write buffers of one size, kept between streams: a ring of fresh buffers per stream made
 * 1 MiB of garbage per file served (10 MiB per GetArchivedFormTaskBasicDQ of 10 attachments),
 * the same external-memory churn the ring exists to avoid. At most `keep` are held while idle.
 */
export class WriteBufferPool {
  private readonly free: Buffer[] = [];

  constructor(
    readonly bufferBytes: number,
    private readonly keep: number,
  ) {}

  take(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafeSlow(this.bufferBytes);
  }

  /** Only buffers no one writes from any longer. */
  give(buffer: Buffer): void {
    if (this.free.length < this.keep) this.free.push(buffer);
  }
}

/**
 * A few reused buffers for writes into one destination: `take()` resolves with a free buffer,
 * `write()` gives it to the destination and frees it when that write's callback has fired. The
 * buffers come from `pool` and go back to it once the ring is stopped and their writes are done.
 */
export class WriteBufferRing {
  private readonly free: Buffer[] = [];
  /** Buffers taken from the pool so far (at most `count`). */
  private owned = 0;
  private stopped = false;
  private waiting?: () => void;
  private failure?: Error;
  private readonly unwatch: () => void;

  constructor(
    private readonly destination: Writable,
    private readonly count: number,
    private readonly pool: WriteBufferPool,
  ) {
    const onClose = () => this.fail(new Error('The destination closed before the last write'));
    const onError = (error: Error) => this.fail(error);
    destination.on('close', onClose);
    destination.on('error', onError);
    this.unwatch = () => {
      destination.off('close', onClose);
      destination.off('error', onError);
    };
  }

  /** Stop watching the destination (once the last write is issued, or after a failure). */
  stop(): void {
    this.unwatch();
    this.stopped = true;
    for (const buffer of this.free.splice(0)) this.pool.give(buffer);
  }

  /** A free buffer of pool.bufferBytes, once one is (the destination took what was written into it). */
  async take(): Promise<Buffer> {
    for (;;) {
      if (this.failure) throw this.failure;
      const buffer = this.free.pop();
      if (buffer) return buffer;
      if (this.owned < this.count) {
        this.owned++;
        return this.pool.take();
      }
      await new Promise<void>((resolve) => (this.waiting = resolve));
    }
  }

  /** Write `length` bytes of `buffer` (from take()); the buffer is free again when the write completes. */
  write(buffer: Buffer, length: number): void {
    this.destination.write(length === buffer.length ? buffer : buffer.subarray(0, length), (error) => {
      // A failed write's buffer is not reused: the destination may not be done with it.
      if (error) return this.fail(error);
      if (this.stopped) return this.pool.give(buffer);
      this.free.push(buffer);
      this.wake();
    });
  }

  private fail(error: Error): void {
    this.failure ??= error;
    this.wake();
  }

  private wake(): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.();
  }
}
