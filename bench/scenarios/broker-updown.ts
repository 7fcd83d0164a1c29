/**
 * The measurement the broker's 1 GiB scenarios share (Altinn 3 API, Altinn 2 REST facade, Altinn 2
 * streamed SOAP): one large file uploaded through a door and downloaded through it, each against
 * the limit measured in the same run:
 *
 *   upload    the door's upload request against plain-upload-server (the body written to a file and
 *             fsynced, nothing else), both sent the same file by the same streaming client, from a
 *             node process of its own (bench/lib/upload-clients.ts: in the benchmark process a
 *             client costs 2-3 times the CPU, which the server on 2 shared cores does not get);
 *   download  the door's download against plain-pipe-server serving the same blob file.
 *
 * Each round starts fresh server processes (order alternating), warms each with one unmeasured
 * transfer, then measures one; only the transfer request itself is timed and sampled (RSS every 50
 * ms, the server's CPU from /proc with all its threads). Every upload is checked through the
 * Altinn 3 overview (Published, our MD5, our size), every download by its SHA-256.
 */
import fs from 'node:fs';
import path from 'node:path';
import { FileBlobStore } from '../../src/storage/blob-store';
import type { BenchContext } from '../lib/context';
import { CpuMeter } from '../lib/cpu';
import type { InputFile } from '../lib/input-files';
import type { ChildServer } from '../lib/processes';
import type { Comparison } from '../lib/results';
import { RssSampler, type RssSummary } from '../lib/rss';
import { downloadRaw, type Download } from '../lib/stream-client';
import { MIB, median, round } from '../lib/stats';
import { uploadFileInClientProcess } from '../lib/upload-clients';
import { deleteTransferBlobs, describeProfiledRun, overview, profileGateway, type BrokerSetup, type Upload } from './broker-support';
import { gcStats } from '../lib/gc-stats';
import { primeFreedPages } from '../lib/page-cache';
import { measureHashingCeiling } from '../lib/hashing-ceiling';

type Direction = 'upload' | 'download';
type System = 'gateway' | 'plain';

/** An upload request ready to be sent: the file, between an optional prefix and suffix (an MTOM envelope). */
export interface UploadRequest {
  url: string;
  method?: string;
  headers: Record<string, string>;
  prefix?: Buffer;
  suffix?: Buffer;
  chunked?: boolean;
  /** The transfer's id once the answer is in (known before for some doors). */
  transferIdOf(upload: Upload): string;
}

export interface Door {
  /** Prepares an upload of `file` on this gateway: the untimed calls (initialize, InitiateBrokerServiceBasic). */
  prepareUpload(baseUrl: string, file: InputFile): Promise<UploadRequest>;
  /** Downloads the transfer whole, hashing it (timed). */
  download(baseUrl: string, fileTransferId: string, file: InputFile): Promise<Download>;
}

export interface UpDownOptions {
  log(message: string): void;
  label: string;
  broker: BrokerSetup;
  door: Door;
  input: InputFile;
  /** MD5 of the input (the overview's checksum). */
  md5: string;
  warm: InputFile;
  rounds: number;
  /** How the file's size is written in the rows, e.g. "1 GiB". */
  sizeLabel: string;
  /** One more upload, under the CPU profiler, summarised into `profileNote`. */
  profile: boolean;
}

export interface UpDownRound {
  direction: Direction;
  system: System;
  round: number;
  mbPerSecond: number;
  seconds: number;
  rss: RssSummary;
  /** Server process CPU (ms, all its threads) spent on the measured transfer. */
  cpuMs: number;
  /** An upload's client process's CPU (ms) over it. */
  clientCpuMs?: number;
  gc?: { majorCollections: number; gcMs: number } | undefined;
}

/** `request` with `file` as its body, sent by a client process of its own. */
function sendInClientProcess(request: UploadRequest, file: InputFile) {
  return uploadFileInClientProcess(request.url, file.path, { method: request.method, headers: request.headers, prefix: request.prefix, suffix: request.suffix, chunked: request.chunked });
}

export async function measureUpDown(
  context: BenchContext,
  options: UpDownOptions,
): Promise<{ rounds: UpDownRound[]; comparisons: Comparison[]; summary: Record<string, unknown>; profileNote?: string }> {
  const { log, broker, door, input, warm, rounds, label, sizeLabel } = options;
  const sizeBytes = input.sizeBytes;
  const uploadsDir = path.join(context.workDir, 'plain-uploads');
  const results: UpDownRound[] = [];
  // Before any server starts: what one thread here hashes, the upload's own ceiling (see the row).
  const hashingMbps = measureHashingCeiling();
  log(`MD5 + SHA-256 on one thread of this machine: ${hashingMbps.toFixed(0)} MB/s`);
  let published: string | undefined;
  const superseded: string[] = [];

  for (let r = 1; r <= rounds; r++) {
    const order: System[] = r % 2 === 1 ? ['plain', 'gateway'] : ['gateway', 'plain'];
    for (const system of order) {
      const server: ChildServer =
        system === 'gateway' ? await context.startGateway(`${label}-upload-${r}`) : await context.startBaseline('plain-upload', 'plain-upload-server.js', [uploadsDir]);
      try {
        const send = async (file: InputFile) => {
          const request: UploadRequest =
            system === 'gateway' ? await door.prepareUpload(server.baseUrl, file) : { url: `${server.baseUrl}/upload`, headers: {}, transferIdOf: () => '' };
          return { request, measure: () => sendInClientProcess(request, file) };
        };
        // One unmeasured upload warms the process's code paths (credentials, routes, blob store).
        const warmed = await send(warm);
        checkUpload(await warmed.measure(), `${system} upload (warm-up)`);
        const { request, measure } = await send(input);
        const gcBefore = system === 'gateway' ? await gcStats(server.baseUrl) : undefined;
        await primeFreedPages(context.workDir, sizeBytes);
        const sampler = RssSampler.start(server.pid);
        const cpu = await CpuMeter.start(server.pid);
        const upload = await measure();
        const cpuMs = (await cpu.stop()).processMs;
        const rss = await sampler.stop();
        const gcAfter = system === 'gateway' ? await gcStats(server.baseUrl) : undefined;
        checkUpload(upload, `${system} upload`);
        if (system === 'gateway') {
          const id = request.transferIdOf(upload);
          // Seen through the Altinn 3 API: Published, with the MD5 and size of what was sent.
          const view = await overview(server.baseUrl, broker, id);
          const o = view.json;
          if (view.status !== 200 || o.fileTransferStatus !== 'Published' || o.checksum !== options.md5 || o.fileTransferSize !== sizeBytes) {
            throw new Error(`gateway upload: overview after the upload is ${view.status} ${view.text.slice(0, 400)} (expected Published, checksum ${options.md5}, size ${sizeBytes})`);
          }
          // The previous round's blob goes (see deleteTransferBlobs); the last one stays for the downloads.
          if (published) superseded.push(published);
          published = id;
        } else if (JSON.parse(upload.body).sizeBytes !== upload.bytes) {
          throw new Error(`plain upload server stored ${upload.body} instead of ${upload.bytes} bytes`);
        }
        const gc = gcBefore && gcAfter && { majorCollections: gcAfter.majorCount - gcBefore.majorCount, gcMs: Math.round((gcAfter.totalSeconds - gcBefore.totalSeconds) * 1000) };
        // MB/s of the file itself (an envelope around it is not counted).
        const mbPerSecond = sizeBytes / 1e6 / upload.seconds;
        results.push({ direction: 'upload', system, round: r, mbPerSecond: round(mbPerSecond, 1), seconds: round(upload.seconds, 3), rss, cpuMs, clientCpuMs: upload.cpuMs, gc });
        logRound(log, 'upload', r, rounds, system, mbPerSecond, rss, cpuMs, gc, `${system === 'gateway' ? 'Published, md5 ok' : 'size ok'}, client CPU ${upload.cpuMs} ms`);
      } finally {
        if (system === 'gateway') {
          await context.stopGateway();
          await deleteTransferBlobs(context, superseded.splice(0));
        } else await server.stop();
        fs.rmSync(uploadsDir, { recursive: true, force: true });
      }
    }
  }
  if (!published) throw new Error('no transfer was published');

  let profileNote: string | undefined;
  if (options.profile) {
    log('one more upload under the CPU profiler (not among the figures)');
    let mbPerSecond = NaN;
    let prepared: UploadRequest | undefined;
    const run = await profileGateway(
      context,
      `${label}-upload-profiled`,
      {},
      async () => {
        const upload = await sendInClientProcess(prepared!, input);
        checkUpload(upload, 'profiled upload');
        mbPerSecond = sizeBytes / 1e6 / upload.seconds;
      },
      // Outside the profiled window: a warm-up upload, and the untimed calls before the measured one.
      async (gateway) => {
        checkUpload(await sendInClientProcess(await door.prepareUpload(gateway.baseUrl, warm), warm), 'warm-up');
        prepared = await door.prepareUpload(gateway.baseUrl, input);
      },
    );
    if (run) profileNote = `Where the upload's time goes: one more upload under node --cpu-prof (${round(mbPerSecond, 0)} MB/s; the window is that one request): ${describeProfiledRun(run)}`;
  }

  // Downloads of one of the transfers uploaded above; the pipe serves the same blob file.
  const blobPath = await context.withArchive(async (app) => {
    const row = await app.db('broker_file_transfers').where({ id: published }).first<{ blob_key: string; sha256: string }>('blob_key', 'sha256');
    if (!row || row.sha256 !== input.sha256) throw new Error('the published transfer does not hold the input file');
    return (app.blobs as FileBlobStore).pathOf(row.blob_key);
  });
  for (let r = 1; r <= rounds; r++) {
    const order: System[] = r % 2 === 1 ? ['plain', 'gateway'] : ['gateway', 'plain'];
    for (const system of order) {
      const server: ChildServer =
        system === 'gateway' ? await context.startGateway(`${label}-download-${r}`) : await context.startBaseline('plain-pipe', 'plain-pipe-server.js', [blobPath]);
      try {
        const once = () => (system === 'gateway' ? door.download(server.baseUrl, published!, input) : downloadRaw(`${server.baseUrl}/blob`));
        // One unmeasured download warms the page cache and the process's code paths.
        checkDownload(await once(), input, `${system} download (warm-up)`);
        const gcBefore = system === 'gateway' ? await gcStats(server.baseUrl) : undefined;
        const sampler = RssSampler.start(server.pid);
        const cpu = await CpuMeter.start(server.pid);
        const download = await once();
        const cpuMs = (await cpu.stop()).processMs;
        const rss = await sampler.stop();
        const gcAfter = system === 'gateway' ? await gcStats(server.baseUrl) : undefined;
        checkDownload(download, input, `${system} download`);
        const gc = gcBefore && gcAfter && { majorCollections: gcAfter.majorCount - gcBefore.majorCount, gcMs: Math.round((gcAfter.totalSeconds - gcBefore.totalSeconds) * 1000) };
        results.push({ direction: 'download', system, round: r, mbPerSecond: round(download.mbPerSecond, 1), seconds: round(download.seconds, 3), rss, cpuMs, gc });
        logRound(log, 'download', r, rounds, system, download.mbPerSecond, rss, cpuMs, gc, 'sha256 ok');
      } finally {
        if (system === 'gateway') await context.stopGateway();
        else await server.stop();
      }
    }
  }

  const comparisons: Comparison[] = [];
  const summary: Record<string, unknown> = {};
  for (const direction of ['upload', 'download'] as const) {
    const of = (system: System) => results.filter((x) => x.direction === direction && x.system === system);
    const ours = median(of('gateway').map((x) => x.mbPerSecond));
    const plain = median(of('plain').map((x) => x.mbPerSecond));
    const oursGrowth = Math.max(...of('gateway').map((x) => x.rss.growthBytes));
    const plainGrowth = Math.max(...of('plain').map((x) => x.rss.growthBytes));
    const cpuPerGiB = (system: System) => median(of(system).map((x) => x.cpuMs)) / (sizeBytes / (1024 * MIB)) / 1000;
    const majors = of('gateway').map((x) => x.gc?.majorCollections ?? '?');
    const baselineName = direction === 'upload' ? 'plain Node upload (write + fsync)' : 'plain Node pipe';
    const ratio = ours / plain;
    summary[direction] = { oursMbps: ours, plainMbps: plain, oursGrowth, plainGrowth, oursCpuPerGiB: cpuPerGiB('gateway'), plainCpuPerGiB: cpuPerGiB('plain') };
    comparisons.push(
      {
        measure: `${direction} MB/s, ${sizeLabel} (median of ${rounds})`,
        ours: round(ours, 0),
        unit: 'MB/s',
        baseline: { name: baselineName, value: round(plain, 0) },
        ratio: round(ratio, 2),
        ratioMeaning: 'ours ÷ plain',
        target: '≥ 0.80',
        met: ratio >= 0.8,
      },
      ...(direction === 'upload'
        ? [
            {
              measure: 'the hashing ceiling: MD5 and SHA-256 together on one thread of this machine (as the gateway hashes a streamed upload, before any server started) ÷ the plain upload; no server computing both sums on the way on one thread gets past this ratio here',
              ours: round(hashingMbps, 0),
              unit: 'MB/s',
              baseline: { name: baselineName, value: round(plain, 0) },
              ratio: round(hashingMbps / plain, 2),
              ratioMeaning: 'hashing ÷ plain',
            },
          ]
        : []),
      {
        measure: `gateway RSS growth during the ${direction} (worst of ${rounds})`,
        ours: round(oursGrowth / MIB, 1),
        unit: 'MiB',
        baseline: { name: baselineName, value: round(plainGrowth / MIB, 1) },
        target: '< 64 MiB',
        met: oursGrowth < 64 * MIB,
      },
      {
        measure: `server CPU per GiB ${direction === 'upload' ? 'received' : 'sent'} (median; gateway's major GCs in rounds: ${majors.join(', ')})`,
        ours: round(cpuPerGiB('gateway'), 3),
        unit: 's',
        baseline: { name: baselineName, value: round(cpuPerGiB('plain'), 3) },
        ratio: round(cpuPerGiB('gateway') / cpuPerGiB('plain'), 2),
        ratioMeaning: 'ours ÷ plain, lower is better',
      },
    );
  }
  return { rounds: results, comparisons, summary, ...(profileNote !== undefined && { profileNote }) };
}

export function checkUpload(upload: { status: number; body: string }, what: string): void {
  if (upload.status < 200 || upload.status > 299) throw new Error(`${what}: HTTP ${upload.status}: ${upload.body.slice(0, 500)}`);
}

export function checkDownload(download: Download, input: InputFile, what: string): void {
  if (download.bytes !== input.sizeBytes) throw new Error(`${what}: ${download.bytes} bytes instead of ${input.sizeBytes}`);
  if (download.sha256 !== input.sha256) throw new Error(`${what}: sha256 mismatch (${download.sha256} ≠ ${input.sha256})`);
}

function logRound(
  log: (message: string) => void,
  direction: Direction,
  r: number,
  rounds: number,
  system: System,
  mbps: number,
  rss: RssSummary,
  cpuMs: number,
  gc: UpDownRound['gc'],
  checked: string,
): void {
  const mib = (bytes: number) => (bytes / MIB).toFixed(1);
  log(
    `${direction} round ${r}/${rounds} ${system.padEnd(7)} ${mbps.toFixed(0).padStart(5)} MB/s, RSS ${mib(rss.beforeBytes)} → peak ${mib(rss.peakBytes)} MiB ` +
      `(growth ${mib(rss.growthBytes)} MiB), server CPU ${cpuMs} ms${gc ? `, GC ${gc.gcMs} ms (${gc.majorCollections} major)` : ''}, ${checked}`,
  );
}
