/**
 * The clamd client against a real clamd (test/helpers/clamd.ts) over its unix socket and TCP, and against small
 * fake servers for what a real clamd cannot be made to do on demand (stall, answer nonsense).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import {
  createClamdScanner,
  parseClamdUrl,
  ScannerError,
  ScannerUnavailableError,
  type ScanVerdict,
} from '../../src/scanning/clamd';
import { FileBlobStore } from '../../src/storage/blob-store';
import { EICAR, EICAR_SIGNATURE, startTestClamd, type TestClamd } from '../helpers/clamd';

const MiB = 1024 * 1024;
const ENGINE = expect.stringMatching(/^ClamAV \d+\.\d+\.\d+/);

/** `totalBytes` of filler produced lazily in `chunkBytes` pieces, then `tail`; `pulled` counts what was read. */
interface LazySourceOptions {
  chunkBytes?: number;
  tail?: Buffer;
  /** Called with the running total before each piece is handed out. */
  onPulled?: (pulled: number) => Promise<void> | void;
}

function lazySource(totalBytes: number, options: LazySourceOptions = {}) {
  const chunkBytes = options.chunkBytes ?? 256 * 1024;
  const counter = { pulled: 0 };
  async function* generate(): AsyncGenerator<Uint8Array> {
    // Each piece is a fresh buffer, as a file read would be, so retained pieces would show as memory.
    for (let offset = 0; offset < totalBytes; offset += chunkBytes) {
      const piece = Buffer.alloc(Math.min(chunkBytes, totalBytes - offset), 0x41 + ((offset / chunkBytes) % 26));
      counter.pulled += piece.length;
      await options.onPulled?.(counter.pulled);
      yield piece;
    }
    if (options.tail) {
      counter.pulled += options.tail.length;
      yield options.tail;
    }
  }
  return { source: generate(), counter };
}

describe('parseClamdUrl', () => {
  test.each([
    ['tcp://127.0.0.1:3310', { kind: 'tcp', host: '127.0.0.1', port: 3310 }],
    ['tcp://clamav', { kind: 'tcp', host: 'clamav', port: 3310 }],
    ['tcp://clamav.internal:13310/', { kind: 'tcp', host: 'clamav.internal', port: 13310 }],
    ['tcp://[::1]:3310', { kind: 'tcp', host: '::1', port: 3310 }],
    ['unix:///run/clamav/clamd.ctl', { kind: 'unix', path: '/run/clamav/clamd.ctl' }],
    ['unix:///var/run/clam%20av/clamd.sock', { kind: 'unix', path: '/var/run/clam av/clamd.sock' }],
    ['/run/clamav/clamd.ctl', { kind: 'unix', path: '/run/clamav/clamd.ctl' }],
  ])('%s', (url, expected) => {
    expect(parseClamdUrl(url)).toEqual(expected);
  });

  test.each([
    ['', /not a URL/],
    ['clamav:3310', /unsupported scheme "clamav:"/],
    ['http://clamav:3310', /unsupported scheme "http:"/],
    ['tcp://', /host is missing/],
    ['tcp://clamav:0', /port 0/],
    ['tcp://clamav:70000', /not a URL/],
    ['tcp://clamav:3310/scan', /TCP address has no path/],
    ['tcp://clamav:3310?timeout=5', /query or fragment/],
    ['tcp://user:secret@clamav:3310', /credentials/],
    ['unix://localhost/run/clamd.sock', /no host/],
    ['unix:clamd.sock', /must be absolute/],
    ['unix:///', /names a directory/],
    ['clamd.sock', /not a URL/],
    [`/${'x'.repeat(120)}/clamd.sock`, /longer than 107 bytes/],
  ])('refuses %j', (url, why) => {
    expect(() => parseClamdUrl(url)).toThrow(why);
    expect(() => parseClamdUrl(url)).toThrow(/Use tcp:\/\/host:port, unix:\/\/\/path\/to\/clamd\.sock/);
    expect(() => createClamdScanner(url)).toThrow(why);
  });

  test('options are checked', () => {
    expect(() => createClamdScanner('tcp://clamav', { chunkBytes: 0 })).toThrow(/chunkBytes must be an integer/);
    expect(() => createClamdScanner('tcp://clamav', { chunkBytes: 2 ** 32 })).toThrow(/chunkBytes/);
    expect(() => createClamdScanner('tcp://clamav', { timeoutMs: -5 })).toThrow(/timeoutMs must be an integer/);
    expect(createClamdScanner('tcp://[::1]:3310').description).toBe('clamd at tcp://[::1]:3310');
  });
});

describe('a real clamd', () => {
  let clamd: TestClamd;
  beforeAll(async () => {
    clamd = await startTestClamd();
  });
  afterAll(async () => {
    await clamd?.close();
  });

  describe.each(['unix', 'tcp'] as const)('over %s', (transport) => {
    const url = () => (transport === 'unix' ? clamd.unixUrl : clamd.tcpUrl);

    test('clean bytes are clean, with the engine version', async () => {
      const scanner = createClamdScanner(url());
      await expect(scanner.scan(Readable.from([Buffer.from('Dette er en helt vanlig fil.\n')]))).resolves.toEqual({
        clean: true,
        engine: ENGINE,
      });
    });

    test('EICAR is found and named', async () => {
      const scanner = createClamdScanner(url());
      await expect(scanner.scan(Readable.from([EICAR]))).resolves.toEqual({
        clean: false,
        signature: EICAR_SIGNATURE,
        engine: ENGINE,
      });
    });

    test('EICAR split over many source chunks and INSTREAM chunks is still found', async () => {
      const scanner = createClamdScanner(url(), { chunkBytes: 5 });
      const bytes = [...EICAR].map((byte) => Buffer.from([byte]));
      // Empty chunks must not end the stream early (a zero length is INSTREAM's terminator).
      const withEmpties = bytes.flatMap((piece, index) => (index % 10 === 0 ? [Buffer.alloc(0), piece] : [piece]));
      const verdict = await scanner.scan(Readable.from(withEmpties));
      expect(verdict).toEqual({ clean: false, signature: EICAR_SIGNATURE, engine: ENGINE });
    });

    test('an empty file is clean', async () => {
      const scanner = createClamdScanner(url());
      await expect(scanner.scan(Readable.from([]))).resolves.toEqual({ clean: true, engine: ENGINE });
    });

    test('a 64 MiB stream is scanned to its last byte', async () => {
      const scanner = createClamdScanner(url());
      const clean = lazySource(64 * MiB);
      await expect(scanner.scan(clean.source)).resolves.toEqual({ clean: true, engine: ENGINE });
      expect(clean.counter.pulled).toBe(64 * MiB);
      // The same, with EICAR as the very last bytes: found, so nothing was cut off.
      const infected = lazySource(64 * MiB, { tail: EICAR });
      await expect(scanner.scan(infected.source)).resolves.toEqual({
        clean: false,
        signature: EICAR_SIGNATURE,
        engine: ENGINE,
      });
    });

    test('ping and version', async () => {
      const scanner = createClamdScanner(url());
      await expect(scanner.ping()).resolves.toBeUndefined();
      await expect(scanner.version()).resolves.toEqual(ENGINE);
      expect(scanner.description).toBe(`clamd at ${url()}`);
    });
  });

  test('a bare socket path works like unix://', async () => {
    const scanner = createClamdScanner(clamd.socketPath);
    await expect(scanner.scan(Readable.from([EICAR]))).resolves.toMatchObject({ clean: false });
  });

  test('a blob from the blob store is scanned straight from its read stream', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'agw-scan-blobs-'));
    try {
      const blobs = new FileBlobStore(dir);
      const infected = await blobs.put(Readable.from([Buffer.from('PK\u0003\u0004 leading bytes '), EICAR]));
      const clean = await blobs.put(lazySource(3 * MiB).source);
      const scanner = createClamdScanner(clamd.unixUrl);
      expect(await scanner.scan(blobs.open(infected.key))).toMatchObject({ clean: false, signature: EICAR_SIGNATURE });
      expect(await scanner.scan(blobs.open(clean.key))).toMatchObject({ clean: true });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('a failing source fails the scan with its own error', async () => {
    const scanner = createClamdScanner(clamd.tcpUrl);
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield Buffer.alloc(MiB, 1);
      throw new Error('blob store read failed');
    }
    await expect(scanner.scan(failing())).rejects.toThrow('blob store read failed');
    // clamd is unharmed.
    await expect(scanner.scan(Readable.from([EICAR]))).resolves.toMatchObject({ clean: false });
  });

  test('a source of text instead of bytes is refused', async () => {
    const scanner = createClamdScanner(clamd.unixUrl);
    await expect(scanner.scan(Readable.from(['not bytes'], { objectMode: true }))).rejects.toThrow(TypeError);
  });

  test('clamd stopped: unavailable without reading the source; started again: scans again', async () => {
    const unixScanner = createClamdScanner(clamd.unixUrl);
    const tcpScanner = createClamdScanner(clamd.tcpUrl);
    // Both have scanned before, so a cached engine version cannot hide the outage.
    await expect(unixScanner.scan(Readable.from([EICAR]))).resolves.toMatchObject({ clean: false });
    await expect(tcpScanner.scan(Readable.from([EICAR]))).resolves.toMatchObject({ clean: false });
    await clamd.stop();
    try {
      for (const [scanner, url] of [
        [unixScanner, clamd.unixUrl],
        [tcpScanner, clamd.tcpUrl],
      ] as const) {
        const { source, counter } = lazySource(MiB);
        const scanning = scanner.scan(source);
        await expect(scanning).rejects.toThrow(ScannerUnavailableError);
        await expect(scanning).rejects.toThrow(/is unavailable: .*(ECONNREFUSED|ENOENT)/);
        expect(counter.pulled).toBe(0);
        await expect(scanner.ping()).rejects.toThrow(ScannerUnavailableError);
        // A source that will not be read is released, whether the connection for INSTREAM failed (the scanner has
        // a cached engine version) or the one for VERSION (a new scanner).
        for (const fresh of [scanner, createClamdScanner(url)]) {
          const stream = Readable.from([EICAR]);
          await expect(fresh.scan(stream)).rejects.toThrow(ScannerUnavailableError);
          expect(stream.destroyed).toBe(true);
        }
      }
    } finally {
      await clamd.start();
    }
    await expect(unixScanner.scan(Readable.from([EICAR]))).resolves.toEqual({
      clean: false,
      signature: EICAR_SIGNATURE,
      engine: ENGINE,
    });
    const verdict = await tcpScanner.scan(Readable.from([Buffer.from('clean')]));
    expect(verdict).toEqual({ clean: true, engine: ENGINE });
  });

  test('clamd going away in the middle of a stream: unavailable, not a verdict', async () => {
    const scanner = createClamdScanner(clamd.tcpUrl);
    const { source } = lazySource(32 * MiB, {
      onPulled: async (pulled) => {
        if (pulled === 4 * MiB) await clamd.stop();
      },
    });
    try {
      await expect(scanner.scan(source)).rejects.toThrow(ScannerUnavailableError);
    } finally {
      await clamd.start();
    }
  });
});

describe('clamd limits', () => {
  // StreamMaxLength far below the file; MaxFileSize below StreamMaxLength (AlertExceedsMax is on in the helper).
  let clamd: TestClamd;
  beforeAll(async () => {
    clamd = await startTestClamd({ config: { StreamMaxLength: '1M', MaxFileSize: '256K' } });
  });
  afterAll(async () => {
    await clamd?.close();
  });

  test.each(['unix', 'tcp'] as const)('a stream over StreamMaxLength is a clear error (%s)', async (transport) => {
    const scanner = createClamdScanner(transport === 'unix' ? clamd.unixUrl : clamd.tcpUrl, { chunkBytes: 64 * 1024 });
    // clamd's refusal races with our next write, so its words are sometimes lost: every run must say the same.
    for (let attempt = 0; attempt < 5; attempt++) {
      const { source, counter } = lazySource(64 * MiB);
      const failure = await scanner.scan(source).then(
        (verdict: ScanVerdict) => verdict,
        (error: unknown) => error,
      );
      expect(failure).toBeInstanceOf(ScannerError);
      expect(failure).toMatchObject({ code: 'STREAM_TOO_LARGE', message: expect.stringMatching(/StreamMaxLength/) });
      // Sending stopped at the refusal (give or take the socket buffers).
      expect(counter.pulled).toBeLessThan(32 * MiB);
    }
  });

  test('a file over MaxFileSize is reported, not passed as clean', async () => {
    const scanner = createClamdScanner(clamd.unixUrl);
    await expect(scanner.scan(lazySource(512 * 1024).source)).resolves.toEqual({
      clean: false,
      signature: 'Heuristics.Limits.Exceeded.MaxFileSize',
      engine: ENGINE,
    });
  });
});

describe('misbehaving servers', () => {
  const servers: net.Server[] = [];
  const connections = new Set<net.Socket>();
  afterAll(async () => {
    // A paused connection never sees the client's close, so the servers' ends are closed here.
    for (const socket of connections) socket.destroy();
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  });

  /** A TCP server that hands each connection's first bytes (the command) to `onCommand`. */
  async function fakeClamd(onCommand: (command: string, socket: net.Socket) => void): Promise<string> {
    const server = net.createServer((socket) => {
      connections.add(socket);
      socket.on('close', () => connections.delete(socket));
      socket.on('error', () => undefined);
      socket.once('data', (data) => {
        const command = data.subarray(0, data.indexOf(0)).toString('latin1');
        onCommand(command, socket);
      });
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `tcp://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  }

  test('a clamd that stops reading: the source is read no further than the socket takes, then a timeout', async () => {
    const url = await fakeClamd((command, socket) => {
      if (command === 'zVERSION') socket.end('ClamAV 1.4.6/27500/fake\0');
      else socket.pause(); // INSTREAM: take nothing more
    });
    const scanner = createClamdScanner(url, { timeoutMs: 500 });
    const { source, counter } = lazySource(512 * MiB);
    await expect(scanner.scan(source)).rejects.toThrow(/unavailable: no answer within 500 ms of inactivity/);
    // Only what fits in the socket buffers was read (a few MiB), not the 512 MiB the source had.
    expect(counter.pulled).toBeLessThan(32 * MiB);
  });

  test('no answer at all: ScannerUnavailableError after the idle timeout', async () => {
    const url = await fakeClamd(() => undefined);
    const scanner = createClamdScanner(url, { timeoutMs: 300 });
    const { source, counter } = lazySource(MiB);
    await expect(scanner.scan(source)).rejects.toThrow(ScannerUnavailableError);
    await expect(scanner.ping({ timeoutMs: 200 })).rejects.toThrow(/no answer within 200 ms/);
    expect(counter.pulled).toBe(0);
  });

  test('a "clean" answer before the stream is complete is no verdict', async () => {
    const url = await fakeClamd((command, socket) => {
      if (command === 'zVERSION') socket.end('ClamAV 1.4.6/27500/fake\0');
      else {
        socket.write('stream: OK\0');
        socket.resume(); // keeps reading, so the answer is not lost to a closed socket
      }
    });
    const scanner = createClamdScanner(url);
    const scanning = scanner.scan(lazySource(64 * MiB).source);
    await expect(scanning).rejects.toThrow(ScannerError);
    await expect(scanning).rejects.toMatchObject({
      code: 'PROTOCOL_ERROR',
      message: expect.stringMatching(/before the stream was complete/),
    });
  });

  test('something that is not clamd', async () => {
    const url = await fakeClamd((_command, socket) => socket.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
    const scanner = createClamdScanner(url);
    const scanning = scanner.scan(Readable.from([EICAR]));
    await expect(scanning).rejects.toMatchObject({
      code: 'PROTOCOL_ERROR',
      message: expect.stringMatching(/Unexpected answer from clamd: "HTTP\/1.1 400/),
    });
  });

  test('clamd reporting an error', async () => {
    const url = await fakeClamd((command, socket) => {
      if (command === 'zVERSION') socket.end('ClamAV 1.4.6/27500/fake\0');
      else {
        socket.resume();
        // What clamd says when it cannot write the stream to its temporary directory.
        socket.end('Error writing to temporary file ERROR\0');
      }
    });
    const scanning = createClamdScanner(url).scan(Readable.from([EICAR]));
    await expect(scanning).rejects.toMatchObject({
      code: 'SCANNER_ERROR',
      reply: 'Error writing to temporary file ERROR',
      message: 'clamd failed to scan: Error writing to temporary file ERROR',
    });
  });
});
