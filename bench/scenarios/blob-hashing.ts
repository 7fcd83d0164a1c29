/**
 * blob-hashing: where should MD5 + SHA-256 of an upload run? One large stream arrives over a local
 * TCP socket (sent by this process, as a client would) and is written to the blob store by a fresh
 * receiver process per round, in these ways:
 *
 *   plain-pipe         socket → fs.createWriteStream (fsync at the end): the limit, no hashing
 *   main-transform     the previous put: a hashing Transform (both sums) → fs.createWriteStream
 *   main-thread        FileBlobStore.put with hashing on the main thread (1 MiB batched writes)
 *   worker-1           FileBlobStore.put, both sums on one worker thread (the default design)
 *   worker-2           FileBlobStore.put, MD5 and SHA-256 on two worker threads in parallel
 *   tus-8mib           writeUploadPart per 8 MiB (fsync each, unhashed) + completeUpload, then the blob
 *                      read back for MD5 + SHA-256, as the gateway's processing job does
 *
 * Reported: MB/s (median of the rounds; order rotated every round), the receiver's CPU seconds per
 * GiB (steadier than MB/s on a shared machine) and its RSS growth. Every round's digests are
 * checked against node:crypto's of the input file.
 *
 * Standalone: node dist/bench/scenarios/blob-hashing.js [--quick] [--rounds N] [--only a,b]
 * (BENCH_STREAM_MIB, BENCH_CACHE_DIR as for the suite). Registered as a scenario once its name is
 * in SCENARIO_NAMES (bench/lib/args.ts) and bench/scenarios/index.ts.
 */
import { fork } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { FileBlobStore, digestBlob } from '../../src/storage/blob-store';
import { HashWorkerPool } from '../../src/storage/hash-workers';
import type { Hashing } from '../../src/storage/hashing-writer';
import type { BenchContext } from '../lib/context';
import { deterministicFile } from '../lib/input-files';
import { scenarioLogger } from '../lib/log';
import type { Comparison, ScenarioResult } from '../lib/results';
import { RssSampler, type RssSummary } from '../lib/rss';
import { MB, MIB, median, round } from '../lib/stats';

const log = scenarioLogger('blob-hashing');

export const VARIANTS = ['plain-pipe', 'main-transform', 'main-thread', 'worker-1', 'worker-2', 'tus-8mib'] as const;
type Variant = (typeof VARIANTS)[number];
const TUS_CHUNK_BYTES = 8 * MIB;

interface ReceiverReport {
  seconds: number;
  cpuSeconds: number;
  sizeBytes: number;
  md5?: string;
  sha256?: string;
}

interface Round {
  variant: Variant;
  mbPerSecond: number;
  cpuSecondsPerGiB: number;
  rss: RssSummary;
}

export interface BlobHashingOptions {
  quick: boolean;
  cacheDir: string;
  workDir: string;
  rounds?: number;
  variants?: readonly Variant[];
}

export const blobHashing = {
  name: 'blob-hashing' as const,
  title: 'Blob store writes: plain pipe vs. MD5 + SHA-256 on the main thread or on worker threads',
  async run(context: BenchContext): Promise<Omit<ScenarioResult, 'scenario'> & { scenario: 'blob-hashing' }> {
    return runBlobHashing({ quick: context.quick, cacheDir: context.cacheDir, workDir: context.workDir });
  },
};

export async function runBlobHashing(options: BlobHashingOptions): Promise<Omit<ScenarioResult, 'scenario'> & { scenario: 'blob-hashing' }> {
  const sizeBytes = Number(process.env.BENCH_STREAM_MIB || (options.quick ? 64 : 1024)) * MIB;
  const rounds = options.rounds ?? (options.quick ? 2 : 5);
  const variants = options.variants ?? VARIANTS;
  log(`input: ${sizeBytes / MIB} MiB (generated once into ${options.cacheDir})`);
  const input = await deterministicFile(options.cacheDir, 'stream', sizeBytes, 'altinn-gateway-bench');
  const md5 = await fileMd5(input.path);
  // Read once so every round reads from the page cache.
  await pipeline(fs.createReadStream(input.path), fs.createWriteStream('/dev/null'));

  const results: Round[] = [];
  for (let r = 0; r < rounds; r++) {
    // Rotate the order so that no variant always follows the same one.
    const order = variants.map((_, i) => variants[(i + r) % variants.length]!);
    for (const variant of order) {
      const dataDir = fs.mkdtempSync(path.join(options.workDir, `blob-hashing-${variant}-`));
      try {
        const { report, rss } = await measureRound(variant, input.path, dataDir);
        if (report.sizeBytes !== sizeBytes) throw new Error(`${variant}: wrote ${report.sizeBytes} bytes of ${sizeBytes}`);
        if (report.sha256 !== undefined && report.sha256 !== input.sha256) throw new Error(`${variant}: sha256 ${report.sha256} ≠ ${input.sha256}`);
        if (report.md5 !== undefined && report.md5 !== md5) throw new Error(`${variant}: md5 ${report.md5} ≠ ${md5}`);
        const measured = {
          variant,
          mbPerSecond: round(sizeBytes / MB / report.seconds, 1),
          cpuSecondsPerGiB: round(report.cpuSeconds / (sizeBytes / (1024 * MIB)), 2),
          rss,
        };
        results.push(measured);
        log(
          `round ${r + 1}/${rounds} ${variant.padEnd(14)} ${measured.mbPerSecond.toFixed(0).padStart(5)} MB/s, ` +
            `CPU ${measured.cpuSecondsPerGiB.toFixed(2)} s/GiB, RSS growth ${(rss.growthBytes / MIB).toFixed(1)} MiB` +
            `${report.sha256 ? ', sums ok' : ''}`,
        );
      } finally {
        fs.rmSync(dataDir, { recursive: true, force: true });
      }
    }
  }

  const summary = new Map(
    variants.map((variant) => {
      const of = results.filter((x) => x.variant === variant);
      return [
        variant,
        {
          mbPerSecond: median(of.map((x) => x.mbPerSecond)),
          cpuSecondsPerGiB: median(of.map((x) => x.cpuSecondsPerGiB)),
          rssGrowthMiB: Math.max(...of.map((x) => x.rss.growthBytes)) / MIB,
        },
      ];
    }),
  );
  const pipe = summary.get('plain-pipe');
  const comparisons: Comparison[] = [];
  for (const [variant, figures] of summary) {
    if (variant === 'plain-pipe') continue;
    const ratio = pipe ? figures.mbPerSecond / pipe.mbPerSecond : undefined;
    const target = variant === 'tus-8mib' ? 0.7 : 0.8;
    comparisons.push({
      measure: `${variant}: MB/s writing ${sizeBytes / MIB} MiB with MD5 + SHA-256 (median of ${rounds}; CPU ${round(figures.cpuSecondsPerGiB, 2)} s/GiB, RSS growth ≤ ${round(figures.rssGrowthMiB, 1)} MiB)`,
      ours: round(figures.mbPerSecond, 0),
      unit: 'MB/s',
      ...(pipe && ratio !== undefined
        ? {
            baseline: { name: `plain Node pipe (CPU ${round(pipe.cpuSecondsPerGiB, 2)} s/GiB)`, value: round(pipe.mbPerSecond, 0) },
            ratio: round(ratio, 2),
            ratioMeaning: 'ours ÷ plain pipe',
            target: `≥ ${target.toFixed(2)}`,
            met: ratio >= target,
          }
        : {}),
    });
  }
  return {
    scenario: 'blob-hashing',
    title: blobHashing.title,
    params: { sizeBytes, rounds, variants, tusChunkBytes: TUS_CHUNK_BYTES, cpus: os.availableParallelism() },
    comparisons,
    details: { rounds: results, summary: Object.fromEntries(summary) },
    notes: [
      'Each round runs in a fresh receiver process; the sender is the benchmark process, over 127.0.0.1.',
      'CPU is the receiver process only (all its threads), from process.cpuUsage().',
      "tus-8mib writes the parts unhashed and reads the finished blob back for MD5 + SHA-256, as the gateway's processing job does (a part has its own MD5 only when a client sends Upload-Checksum, which tus-js-client does not by default).",
    ],
  };
}

async function measureRound(variant: Variant, inputPath: string, dataDir: string): Promise<{ report: ReceiverReport; rss: RssSummary }> {
  const child = fork(__filename, ['--receiver', variant, dataDir], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.once('message', (message: { port: number }) => resolve(message.port));
      child.once('exit', (code) => reject(new Error(`receiver exited with ${code}`)));
    });
    const sampler = RssSampler.start(child.pid!);
    const reported = new Promise<ReceiverReport>((resolve, reject) => {
      child.once('message', (message: ReceiverReport) => resolve(message));
      child.once('exit', (code) => reject(new Error(`receiver exited with ${code}`)));
    });
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    await pipeline(fs.createReadStream(inputPath, { highWaterMark: 256 * 1024 }), socket);
    const report = await reported;
    return { report, rss: await sampler.stop() };
  } finally {
    child.kill();
  }
}

/** The receiver process: one connection, its bytes written the `variant` way. */
async function receive(variant: Variant, dataDir: string): Promise<void> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const connection = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  process.send!({ port: (server.address() as net.AddressInfo).port });
  const socket = await connection;
  const cpuBefore = process.cpuUsage();
  const started = process.hrtime.bigint();
  const written = await writeVariant(variant, socket, dataDir);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = process.cpuUsage(cpuBefore);
  process.send!({ seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, ...written } satisfies ReceiverReport);
  server.close();
}

async function writeVariant(variant: Variant, socket: net.Socket, dataDir: string): Promise<Omit<ReceiverReport, 'seconds' | 'cpuSeconds'>> {
  const target = path.join(dataDir, 'plain.bin');
  switch (variant) {
    case 'plain-pipe': {
      await pipeline(socket, fs.createWriteStream(target, { flush: true }));
      return { sizeBytes: fs.statSync(target).size };
    }
    case 'main-transform': {
      const md5 = createHash('md5');
      const sha256 = createHash('sha256');
      let sizeBytes = 0;
      await pipeline(
        socket,
        async function* (source: AsyncIterable<Buffer>) {
          for await (const chunk of source) {
            md5.update(chunk);
            sha256.update(chunk);
            sizeBytes += chunk.length;
            yield chunk;
          }
        },
        fs.createWriteStream(target, { flush: true }),
      );
      return { sizeBytes, md5: md5.digest('hex'), sha256: sha256.digest('hex') };
    }
    case 'main-thread':
    case 'worker-1':
    case 'worker-2': {
      const hashing: Hashing = variant === 'main-thread' ? 'main-thread' : variant === 'worker-1' ? new HashWorkerPool(1) : new HashWorkerPool(2, { splitAlgorithms: true });
      const stored = await new FileBlobStore(dataDir, { hashing }).put(socket);
      if (hashing !== 'main-thread') await hashing.close();
      return stored;
    }
    case 'tus-8mib': {
      const store = new FileBlobStore(dataDir);
      const upload = await store.createUpload();
      const parts: { partNumber: number; offset: number; sizeBytes: number; etag: string }[] = [];
      let offset = 0;
      // The socket cut into 8 MiB PATCH bodies, each streamed into its own part, as tus-js-client sends them.
      const bodies = new BodyCutter(socket, TUS_CHUNK_BYTES);
      // As the gateway: no per-part MD5 (no Upload-Checksum), the upload's sums after the last part.
      while (!bodies.ended) {
        const part = { partNumber: parts.length + 1, offset };
        const written = await store.writeUploadPart(upload, part, bodies.next());
        if (written.sizeBytes === 0) break;
        parts.push({ ...part, sizeBytes: written.sizeBytes, etag: written.etag });
        offset += written.sizeBytes;
      }
      const completed = await store.completeUpload(upload, parts);
      return digestBlob(store, completed.key);
    }
  }
}

/** One stream read as consecutive bodies of `size` bytes (the last may be shorter or empty). */
class BodyCutter {
  ended = false;
  private readonly chunks: AsyncIterator<Buffer>;
  private leftover?: Buffer;

  constructor(
    source: AsyncIterable<Buffer>,
    private readonly size: number,
  ) {
    this.chunks = source[Symbol.asyncIterator]();
  }

  async *next(): AsyncGenerator<Buffer> {
    let remaining = this.size;
    while (remaining > 0) {
      let chunk = this.leftover;
      this.leftover = undefined;
      if (!chunk) {
        const next = await this.chunks.next();
        if (next.done) {
          this.ended = true;
          return;
        }
        chunk = next.value;
      }
      if (chunk.length > remaining) {
        this.leftover = chunk.subarray(remaining);
        chunk = chunk.subarray(0, remaining);
      }
      remaining -= chunk.length;
      yield chunk;
    }
  }
}

async function fileMd5(file: string): Promise<string> {
  const hash = createHash('md5');
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1024 * 1024 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

if (require.main === module) {
  const args = process.argv.slice(2);
  if (args[0] === '--receiver') {
    receive(args[1] as Variant, args[2]!).catch((error: unknown) => {
      console.error(error);
      process.exit(1);
    });
  } else {
    const quick = args.includes('--quick');
    const roundsArg = args.indexOf('--rounds');
    const onlyArg = args.indexOf('--only');
    const variants = onlyArg >= 0 ? (args[onlyArg + 1]!.split(',') as Variant[]) : undefined;
    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'agw-blob-hashing-'));
    const cacheDir = process.env.BENCH_CACHE_DIR || path.join(os.tmpdir(), 'altinn-gateway-bench-cache');
    runBlobHashing({ quick, cacheDir, workDir, rounds: roundsArg >= 0 ? Number(args[roundsArg + 1]) : undefined, variants })
      .then((result) => {
        for (const c of result.comparisons) console.log(`${c.measure}: ${c.ours} ${c.unit}${c.ratio !== undefined ? ` vs ${c.baseline!.value} (${c.ratio})` : ''}`);
        console.log(JSON.stringify(result.details.summary));
      })
      .finally(() => fs.rmSync(workDir, { recursive: true, force: true }));
  }
}
