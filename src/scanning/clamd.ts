/**
 * Malware scanning with clamd, ClamAV's scanning daemon (Debian package `clamav-daemon`), over TCP or a unix
 * socket. The bytes are streamed to clamd with its INSTREAM command (clamd(8)):
 *
 *   → "zINSTREAM\0"                         the 'z' prefix makes clamd end its reply with NUL instead of "\n"
 *   → <u32 big-endian length><bytes> …      any number of chunks, never one of length 0 …
 *   → <00 00 00 00>                         … because a zero length ends the stream
 *   ← "stream: OK\0" | "stream: <signature> FOUND\0" | "<text> ERROR\0", then clamd closes the connection.
 *
 * The source is pulled one chunk at a time and the next chunk is read only once the socket has taken the previous
 * one, so a 10 GB blob never sits in memory. Failures come in two kinds, because the caller must treat them
 * differently: `ScannerUnavailableError` (clamd cannot be reached, went away, or stopped answering: scan again later)
 * and `ScannerError` (clamd answered but gave no verdict, e.g. the stream is longer than it accepts).
 * A verdict of clean is returned only after the whole stream, terminator included, was sent and clamd said OK.
 *
 * Operators, in clamd.conf (the defaults are for mail, not for a file broker):
 * - StreamMaxLength (default 100M): clamd refuses longer streams ("INSTREAM size limit exceeded"). Raise it to at
 *   least the largest file accepted with scanning.
 * - MaxFileSize / MaxScanSize (defaults 100M / 400M; ClamAV scans at most 2 GiB - 1 of one file): by default clamd
 *   answers OK for a file beyond these limits without having scanned all of it (clamd 1.4, EICAR in the first bytes
 *   of a file over MaxFileSize: OK). Set `AlertExceedsMax yes` so such a file is answered
 *   "Heuristics.Limits.Exceeded.MaxFileSize FOUND" (or …MaxScanSize) instead.
 * - The idle timeout here (`timeoutMs`) must exceed the longest scan clamd may take once it has the whole stream
 *   (MaxScanTime, default 120 s), since no bytes flow while it scans.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';

export type ScanVerdict = { clean: true; engine: string } | { clean: false; signature: string; engine: string };

export interface MalwareScanner {
  /** For logs and the startup message, e.g. "clamd at tcp://clamav:3310". */
  readonly description: string;
  /**
   * Reads the source to its end and resolves to the verdict. The scan owns the source: if it fails, the source is
   * destroyed (a blob read stream holds a file or a connection open).
   */
  scan(source: NodeJS.ReadableStream | AsyncIterable<Uint8Array>): Promise<ScanVerdict>;
}

/** clamd could not be reached, went away, or stopped answering: nothing is known about the bytes; scan again later. */
export class ScannerUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ScannerUnavailableError';
  }
}

/**
 * clamd answered without a verdict. `STREAM_TOO_LARGE`: longer than clamd's StreamMaxLength (scanning the same bytes
 * again fails again); `SCANNER_ERROR`: clamd reported an error (its words are in `reply`); `PROTOCOL_ERROR`: the
 * answer is not clamd's protocol (wrong service at that address?).
 */
export class ScannerError extends Error {
  constructor(
    readonly code: 'STREAM_TOO_LARGE' | 'SCANNER_ERROR' | 'PROTOCOL_ERROR',
    message: string,
    readonly reply?: string,
  ) {
    super(message);
    this.name = 'ScannerError';
  }
}

export type ClamdAddress = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

export interface ClamdScannerOptions {
  /**
   * Idle timeout of one exchange with clamd, in ms: connecting, a stalled send, and the wait for the verdict once
   * clamd has the whole stream. Default 300 000 (5 min, above clamd's default MaxScanTime of 120 s).
   */
  timeoutMs?: number;
  /** Largest INSTREAM chunk sent, in bytes; larger source chunks are split. Default 256 KiB. */
  chunkBytes?: number;
}

/** clamd's usual TCP port (clamd.conf TCPSocket). */
export const CLAMD_DEFAULT_PORT = 3310;
const DEFAULT_TIMEOUT_MS = 300_000;
const DEFAULT_CHUNK_BYTES = 256 * 1024;
/** PING/VERSION are answered at once by an alive clamd; a readiness check should not wait the scan timeout. */
const COMMAND_TIMEOUT_CAP_MS = 10_000;
/** clamd reloads its signatures at most every SelfCheck seconds (default 600): a 30 s old version is fresh enough. */
const ENGINE_VERSION_TTL_MS = 30_000;
/** clamd's replies are one short line; anything longer is not clamd. */
const MAX_REPLY_BYTES = 64 * 1024;
/** sockaddr_un.sun_path is 108 bytes on Linux, including the terminating NUL. */
const MAX_UNIX_PATH_BYTES = 107;
const STREAM_TERMINATOR = Buffer.alloc(4);

/**
 * `tcp://host[:port]` (port 3310 if left out; IPv6 as `tcp://[::1]:3310`), `unix:///path/clamd.sock`, or a bare
 * absolute socket path. Throws an Error naming the accepted forms otherwise.
 */
export function parseClamdUrl(url: string): ClamdAddress {
  const refuse = (why: string): never => {
    throw new Error(
      `Invalid clamd address ${JSON.stringify(url)}: ${why}. ` +
        'Use tcp://host:port, unix:///path/to/clamd.sock, or an absolute socket path.',
    );
  };
  if (url.startsWith('/')) return unixAddress(url, refuse);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return refuse('not a URL');
  }
  if (parsed.username || parsed.password) refuse('credentials are not part of a clamd address');
  if (parsed.search || parsed.hash) refuse('a query or fragment is not part of a clamd address');
  if (parsed.protocol === 'tcp:') {
    const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
    if (!host) refuse('the host is missing');
    if (parsed.pathname !== '' && parsed.pathname !== '/') refuse('a TCP address has no path');
    // URL has already refused ports above 65535 and non-digits; an empty port means the default.
    const port = parsed.port === '' ? CLAMD_DEFAULT_PORT : Number(parsed.port);
    if (port === 0) refuse('port 0 is not a port clamd can listen on');
    return { kind: 'tcp', host, port };
  }
  if (parsed.protocol === 'unix:') {
    if (parsed.host) refuse('a unix socket URL has no host (write three slashes: unix:///path)');
    let path: string;
    try {
      path = decodeURIComponent(parsed.pathname);
    } catch {
      return refuse('the path is not valid percent-encoding');
    }
    if (!path.startsWith('/')) refuse('the socket path must be absolute');
    return unixAddress(path, refuse);
  }
  return refuse(`unsupported scheme ${JSON.stringify(parsed.protocol)}`);
}

function unixAddress(path: string, refuse: (why: string) => never): ClamdAddress {
  if (path === '/' || path.endsWith('/')) refuse('the socket path names a directory');
  if (path.includes('\0')) refuse('the socket path contains a NUL byte');
  if (Buffer.byteLength(path) > MAX_UNIX_PATH_BYTES) {
    refuse(`the socket path is longer than ${MAX_UNIX_PATH_BYTES} bytes, the limit of unix sockets`);
  }
  return { kind: 'unix', path };
}

function formatAddress(address: ClamdAddress): string {
  if (address.kind === 'unix') return `unix://${address.path}`;
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  return `tcp://${host}:${address.port}`;
}

export function createClamdScanner(url: string, options: ClamdScannerOptions = {}): ClamdScanner {
  return new ClamdScanner(parseClamdUrl(url), options);
}

export class ClamdScanner implements MalwareScanner {
  readonly description: string;
  private readonly timeoutMs: number;
  private readonly chunkBytes: number;
  private engineVersion?: { value: Promise<string>; fetchedAt: number };

  constructor(
    readonly address: ClamdAddress,
    options: ClamdScannerOptions = {},
  ) {
    this.timeoutMs = positiveInteger('timeoutMs', options.timeoutMs ?? DEFAULT_TIMEOUT_MS, 2 ** 31 - 1);
    // The chunk length travels as an unsigned 32-bit number.
    this.chunkBytes = positiveInteger('chunkBytes', options.chunkBytes ?? DEFAULT_CHUNK_BYTES, 0xffffffff);
    this.description = `clamd at ${formatAddress(address)}`;
  }

  async scan(source: NodeJS.ReadableStream | AsyncIterable<Uint8Array>): Promise<ScanVerdict> {
    let engine: string;
    let answer: { reply: string; streamComplete: boolean };
    try {
      // Asked first, so that an unreachable clamd is found before a byte of the source is read.
      engine = await this.version();
      answer = await this.streamToClamd(source);
    } catch (error) {
      discard(source);
      throw error;
    }
    const { reply, streamComplete } = answer;
    const found = /^stream: (.+) FOUND$/.exec(reply);
    if ((reply === 'stream: OK' || found) && !streamComplete) {
      // A verdict on part of the bytes is no verdict.
      const message = `${this.description} answered ${JSON.stringify(reply)} before the stream was complete`;
      throw new ScannerError('PROTOCOL_ERROR', message, reply);
    }
    if (reply === 'stream: OK') return { clean: true, engine };
    if (found) return { clean: false, signature: found[1], engine };
    throw replyError(reply);
  }

  /** Resolves when clamd answers PONG (a readiness check); rejects with ScannerUnavailableError otherwise. */
  async ping(options: { timeoutMs?: number } = {}): Promise<void> {
    const reply = await this.command('PING', options.timeoutMs);
    if (reply !== 'PONG') throw replyError(reply);
  }

  /** clamd's VERSION answer, e.g. "ClamAV 1.4.6/27500/Tue Nov 12 09:21:43 2024"; cached for 30 s. */
  async version(options: { timeoutMs?: number } = {}): Promise<string> {
    const cached = this.engineVersion;
    if (cached && performance.now() - cached.fetchedAt < ENGINE_VERSION_TTL_MS) return cached.value;
    const value = this.command('VERSION', options.timeoutMs).then((reply) => {
      if (!reply.startsWith('ClamAV ')) throw replyError(reply);
      return reply;
    });
    const entry = { value, fetchedAt: performance.now() };
    this.engineVersion = entry;
    // Concurrent scans share one request; a failure is not remembered.
    value.catch(() => {
      if (this.engineVersion === entry) this.engineVersion = undefined;
    });
    return value;
  }

  /** One short command (PING, VERSION) and its one-line answer. */
  private async command(name: 'PING' | 'VERSION', timeoutMs?: number): Promise<string> {
    const exchange = new Exchange(this.address, timeoutMs ?? Math.min(this.timeoutMs, COMMAND_TIMEOUT_CAP_MS));
    try {
      await exchange.connected();
      exchange.socket.write(`z${name}\0`);
      const outcome = await exchange.finished;
      if (outcome.reply !== undefined) return outcome.reply;
      if (outcome.failure instanceof ScannerUnavailableError || outcome.failure instanceof ScannerError) {
        throw outcome.failure;
      }
      throw this.unavailable(`it answered ${name} with nothing`, outcome.failure);
    } finally {
      exchange.socket.destroy();
    }
  }

  /** Sends the source as INSTREAM; resolves to clamd's answer (without the NUL) and whether all of it was sent. */
  private async streamToClamd(
    source: NodeJS.ReadableStream | AsyncIterable<Uint8Array>,
  ): Promise<{ reply: string; streamComplete: boolean }> {
    const exchange = new Exchange(this.address, this.timeoutMs);
    const { socket } = exchange;
    let bytesSent = 0;
    let streamComplete = false;
    try {
      await exchange.connected();
      socket.write('zINSTREAM\0');
      sending: for await (const chunk of source as AsyncIterable<Uint8Array | string>) {
        if (typeof chunk === 'string' || !(chunk instanceof Uint8Array)) {
          throw new TypeError('The scanned source must yield bytes (a stream without an encoding set)');
        }
        // An empty chunk would read as the terminator: it is skipped.
        for (let offset = 0; offset < chunk.length; offset += this.chunkBytes) {
          // clamd may have answered (a refusal) or gone away while we were reading the source or waiting.
          if (exchange.ended) break sending;
          const piece = chunk.subarray(offset, offset + this.chunkBytes);
          const header = Buffer.allocUnsafe(4);
          header.writeUInt32BE(piece.length);
          socket.cork();
          socket.write(header);
          const roomLeft = socket.write(piece);
          socket.uncork();
          bytesSent += piece.length;
          if (!roomLeft) await exchange.drained();
        }
      }
      if (!exchange.ended) {
        socket.write(STREAM_TERMINATOR);
        streamComplete = true;
      }
    } catch (error) {
      // clamd could not be reached, or the source failed (e.g. the blob store): that is not clamd's fault, so its
      // error goes up unchanged.
      socket.destroy();
      throw error;
    }
    try {
      const outcome = await exchange.finished;
      if (outcome.reply !== undefined) return { reply: outcome.reply, streamComplete };
      if (outcome.failure instanceof ScannerUnavailableError || outcome.failure instanceof ScannerError) {
        throw outcome.failure;
      }
      if (streamComplete) {
        throw this.unavailable('it closed the connection without a verdict', outcome.failure);
      }
      // clamd dropped the connection mid-stream. When it refuses a stream over StreamMaxLength it answers and closes
      // at once, so our next write often meets a closed socket before its answer is read, and the answer is lost.
      // An alive clamd tells the two apart from a crash.
      try {
        await this.ping();
      } catch {
        throw this.unavailable(`it went away after ${bytesSent} bytes of the stream`, outcome.failure);
      }
      throw new ScannerError(
        'STREAM_TOO_LARGE',
        `${this.description} closed the connection after ${bytesSent} bytes of the stream without a verdict and ` +
          'still answers PING: the file is most likely longer than its StreamMaxLength (raise it in clamd.conf)',
      );
    } finally {
      socket.destroy();
    }
  }

  private unavailable(why: string, cause?: Error): ScannerUnavailableError {
    const detail = cause ? ` (${cause.message})` : '';
    return new ScannerUnavailableError(`${this.description} is unavailable: ${why}${detail}`, { cause });
  }
}

/** Releases a source that will not be read to its end: a stream is destroyed, a generator returned. */
function discard(source: NodeJS.ReadableStream | AsyncIterable<Uint8Array>): void {
  const releasable = source as { destroy?: () => void; return?: () => Promise<unknown> };
  if (typeof releasable.destroy === 'function') releasable.destroy();
  else if (typeof releasable.return === 'function') releasable.return().catch(() => undefined);
}

/** The error for an answer that is not the expected one. */
function replyError(reply: string): ScannerError {
  if (reply.startsWith('INSTREAM size limit exceeded')) {
    return new ScannerError(
      'STREAM_TOO_LARGE',
      `clamd refused the file: ${reply} (the file is longer than clamd's StreamMaxLength; raise it in clamd.conf)`,
      reply,
    );
  }
  if (reply.endsWith(' ERROR')) return new ScannerError('SCANNER_ERROR', `clamd failed to scan: ${reply}`, reply);
  return new ScannerError('PROTOCOL_ERROR', `Unexpected answer from clamd: ${JSON.stringify(reply)}`, reply);
}

function positiveInteger(name: string, value: number, max: number): number {
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new RangeError(`${name} must be an integer from 1 to ${max}, got ${value}`);
  }
  return value;
}

interface ExchangeOutcome {
  /** clamd's answer without its NUL terminator, if one came. */
  reply?: string;
  /** Why the exchange ended, when it was not a complete answer. */
  failure?: Error;
}

/**
 * One connection to clamd: collects the answer (which may arrive while we are still sending) and turns every way a
 * connection can end into one outcome, so that no socket event is ever unhandled.
 */
class Exchange {
  readonly socket: net.Socket;
  /** Settles (never rejects) when the answer is complete or the connection is over. */
  readonly finished: Promise<ExchangeOutcome>;
  ended = false;
  private readonly received: Buffer[] = [];
  private receivedBytes = 0;
  private failure?: Error;
  private isConnected = false;
  private settle!: (outcome: ExchangeOutcome) => void;
  private readonly waiters = new Set<() => void>();

  constructor(
    private readonly address: ClamdAddress,
    private readonly timeoutMs: number,
  ) {
    this.finished = new Promise((resolve) => (this.settle = resolve));
    this.socket =
      address.kind === 'tcp'
        ? net.createConnection({ host: address.host, port: address.port })
        : net.createConnection({ path: address.path });
    // Idle timeout: covers connecting, a send that makes no progress, and the wait for the answer.
    this.socket.setTimeout(timeoutMs);
    this.socket.on('connect', () => {
      this.isConnected = true;
      this.wake();
    });
    this.socket.on('data', (data: Buffer) => this.onData(data));
    this.socket.on('drain', () => this.wake());
    this.socket.on('timeout', () => {
      this.failure ??= new ScannerUnavailableError(
        `clamd at ${formatAddress(this.address)} is unavailable: no answer within ${this.timeoutMs} ms of inactivity`,
      );
      this.socket.destroy();
    });
    this.socket.on('error', (error) => {
      this.failure ??= error;
    });
    // 'close' comes last, after 'error' if any: whatever was received by then is all there is.
    this.socket.on('close', () => this.end());
  }

  /** Resolves once connected; rejects with ScannerUnavailableError if the connection is over before that. */
  async connected(): Promise<void> {
    while (!this.isConnected && !this.ended) await this.nextEvent();
    if (!this.isConnected) {
      const cause = this.failure;
      if (cause instanceof ScannerUnavailableError) throw cause;
      throw new ScannerUnavailableError(
        `clamd at ${formatAddress(this.address)} is unavailable: ${cause ? cause.message : 'connection closed'}`,
        { cause },
      );
    }
  }

  /** Resolves when the socket wants more bytes, or when the exchange is over (check `ended`). */
  async drained(): Promise<void> {
    if (!this.ended && this.socket.writableNeedDrain) await this.nextEvent();
  }

  private nextEvent(): Promise<void> {
    return new Promise((resolve) => this.waiters.add(resolve));
  }

  private wake(): void {
    for (const resolve of this.waiters) resolve();
    this.waiters.clear();
  }

  private onData(data: Buffer): void {
    this.received.push(data);
    this.receivedBytes += data.length;
    if (data.includes(0)) {
      this.end();
      this.socket.destroy();
    } else if (this.receivedBytes > MAX_REPLY_BYTES) {
      this.failure ??= new ScannerError('PROTOCOL_ERROR', `clamd's answer exceeds ${MAX_REPLY_BYTES} bytes`);
      this.socket.destroy();
    }
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    this.wake();
    const bytes = Buffer.concat(this.received);
    const nul = bytes.indexOf(0);
    if (nul >= 0) {
      this.settle({ reply: bytes.subarray(0, nul).toString('utf8').trim() });
    } else if (bytes.length > 0 && !this.failure) {
      // clamd ends every z-command answer with NUL in one write: text without it is cut short or not clamd's.
      const text = bytes.subarray(0, 200).toString('utf8');
      this.settle({
        failure: new ScannerError('PROTOCOL_ERROR', `Unexpected answer from clamd: ${JSON.stringify(text)}`, text),
      });
    } else {
      this.settle({ failure: this.failure });
    }
  }
}
