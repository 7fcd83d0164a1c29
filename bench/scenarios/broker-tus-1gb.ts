/**
 * broker-tus-1gb: one large file uploaded through the broker's TUS endpoint
 * (/broker/api/v1/filetransfer/upload/tus/{id}) in 8 MiB chunks, against the plain Node upload
 * server (body → file, fsync) receiving the same file in one request, measured in the same run.
 *
 * Two TUS clients, both streaming each chunk from the file (no chunk is buffered whole). Every
 * upload, the plain baselines' too, is sent by a node process of its own that does nothing else
 * (bench/lib/upload-clients.ts), as a real client is: in the benchmark process, with the gateway's
 * modules loaded and the samplers running, the same clients cost 2-3 times the CPU, which on 2
 * shared cores the server did not get (bench/PROFILE-NOTES.md). The client's CPU is reported.
 *   tus-js-client  the client Altinn documents, given an fs.ReadStream: it opens a read stream per
 *                  chunk and pipes it through a byte-counting Transform into node:http (keep-alive
 *                  global agent). This is the headline figure.
 *   raw TUS        POST (creation) then one PATCH per chunk, written here with node:http and a
 *                  keep-alive agent: the protocol with no client library at all, to show what the
 *                  library's own work costs on a machine whose cores the client shares with the server.
 * Neither sends Upload-Checksum (tus-js-client does not by default), so the gateway hashes no chunk:
 * the upload's MD5 and SHA-256 are computed after the last chunk by its processing job, as Altinn
 * does (CONTRACT §4-5). The clock runs from the creation POST to the answer to the last PATCH; the
 * transfer is then checked to be Published with the MD5 of the input file, and the time until then
 * is reported too (secondsToPublished); the server's CPU and RSS are counted until then.
 *
 * A second baseline, plain TUS, is the plain server in the shape of TUS (creation, then one PATCH
 * per chunk written at its offset and fsynced, nothing else), driven once by the raw client and
 * once by tus-js-client: the ceiling of the protocol's shape on this machine for each client, so
 * that what the gateway adds per chunk is seen apart from what chunking and the client cost.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { BenchContext } from '../lib/context';
import { CpuMeter } from '../lib/cpu';
import { deterministicFile } from '../lib/input-files';
import { scenarioLogger } from '../lib/log';
import type { ChildServer } from '../lib/processes';
import type { Comparison, Scenario, ScenarioResult } from '../lib/results';
import { RssSampler, type RssSummary } from '../lib/rss';
import { MB, MIB, median, round } from '../lib/stats';
import { PRIMED_NOTE, primeFreedPages } from '../lib/page-cache';
import { rawTusUpload, tusJsUpload, uploadInClientProcess, type ClientUpload } from '../lib/upload-clients';
import {
  BROKER_API,
  deleteTransferBlobs,
  describeProfiledRun,
  fileMd5,
  initialize,
  overview,
  profileGateway,
  setUpBroker,
  sizeLabelOf,
  waitForPublished,
  type BrokerSetup,
} from './broker-support';

const log = scenarioLogger('broker-tus-1gb');
/** 8 MiB as issue 8 asks; BENCH_TUS_CHUNK_MIB shows how the per-chunk cost scales. */
const CHUNK_BYTES = Number(process.env.BENCH_TUS_CHUNK_MIB || 8) * MIB;
const SYSTEMS = ['tus-js-client', 'raw-tus', 'plain', 'plain-tus', 'plain-tus-js'] as const;
type System = (typeof SYSTEMS)[number];

interface Round {
  system: System;
  round: number;
  mbPerSecond: number;
  seconds: number;
  requests: number;
  /** The transfer's status right after the last chunk's answer (Published when there is no scan and no checksum to check). */
  statusAfterLastChunk?: string;
  /** From the creation POST until the overview showed Published with its checksum (polled every 50 ms). */
  secondsToPublished?: number;
  rss: RssSummary;
  cpuMs: number;
  /** The client process's CPU while it sent the file: the client's cost, on cores it shares with the server. */
  clientCpuMs: number;
}

export const brokerTus1gb: Scenario = {
  name: 'broker-tus-1gb',
  title: `One large file through the broker TUS endpoint in ${CHUNK_BYTES / MIB} MiB chunks`,
  async run(context: BenchContext): Promise<ScenarioResult> {
    const sizeBytes = Number(process.env.BENCH_STREAM_MIB || (context.quick ? 64 : 1024)) * MIB;
    const warmBytes = Math.min(sizeBytes, 24 * MIB);
    // One round with --quick: three gateway starts per round, and the smoke run only shows it works.
    const rounds = context.quick ? 1 : 5;
    const sizeLabel = sizeLabelOf(sizeBytes);
    const input = await deterministicFile(context.cacheDir, 'stream', sizeBytes, 'altinn-gateway-bench', (done) => log(`  generated ${Math.round(done / MIB)} MiB`));
    const warm = await deterministicFile(context.cacheDir, 'broker-warm', warmBytes, 'altinn-gateway-bench-warm');
    const md5 = await fileMd5(input.path);
    const broker = await setUpBroker(context);
    const uploadsDir = path.join(context.workDir, 'plain-uploads');
    const results: Round[] = [];

    for (let r = 1; r <= rounds; r++) {
      // Rotated so that no system always follows the same one.
      const order = SYSTEMS.map((_, i) => SYSTEMS[(i + r - 1) % SYSTEMS.length]!);
      for (const system of order) {
        const baseline = system === 'plain' || system === 'plain-tus' || system === 'plain-tus-js';
        const server: ChildServer = baseline ? await context.startBaseline('plain-upload', 'plain-upload-server.js', [uploadsDir]) : await context.startGateway(`broker-tus-${system}-${r}`);
        const uploaded: string[] = [];
        try {
          /** One upload of `file` by this system's client, in a client process of its own; `id` is the gateway's transfer. */
          const send = async (file: string, bytes: number) => {
            const id = system === 'tus-js-client' || system === 'raw-tus' ? await initialize(server.baseUrl, broker, { disableVirusScan: true }) : undefined;
            if (id) uploaded.push(id);
            const result = await uploadInClientProcess(clientUpload(system, server.baseUrl, broker, id, file));
            if (system === 'plain' && (result.status !== 200 || JSON.parse(result.body!).sizeBytes !== bytes)) throw new Error(`plain upload: ${result.status} ${result.body}`);
            return { ...result, id, answeredAt: process.hrtime.bigint() };
          };
          // One unmeasured upload (several chunks) warms the process's code paths.
          const warmed = await send(warm.path, warmBytes);
          if (warmed.id) await waitForPublished(server.baseUrl, broker, warmed.id);
          await primeFreedPages(context.workDir, sizeBytes);
          const sampler = RssSampler.start(server.pid);
          const cpu = await CpuMeter.start(server.pid);
          const sent = await send(input.path, sizeBytes);
          const publication: Pick<Round, 'statusAfterLastChunk' | 'secondsToPublished'> = {};
          if (sent.id) {
            publication.statusAfterLastChunk = (await overview(server.baseUrl, broker, sent.id)).json?.fileTransferStatus;
            const view = await waitForPublished(server.baseUrl, broker, sent.id);
            // From the creation POST: the client's own clock, then this process's from its answer on.
            publication.secondsToPublished = round(sent.seconds + Number(process.hrtime.bigint() - sent.answeredAt) / 1e9, 3);
            if (view.checksum !== md5 || view.fileTransferSize !== sizeBytes) {
              throw new Error(`${system}: Published with checksum ${view.checksum} and size ${view.fileTransferSize}, expected ${md5} and ${sizeBytes}`);
            }
          }
          // The gateway's CPU counts until Published with its MD5: the sums computed after the last chunk are the upload's cost too.
          const cpuMs = (await cpu.stop()).processMs;
          const rss = await sampler.stop();
          const measured: Round = { system, round: r, mbPerSecond: round(sizeBytes / MB / sent.seconds, 1), seconds: round(sent.seconds, 3), requests: sent.requests, rss, cpuMs, clientCpuMs: sent.cpuMs, ...publication };
          results.push(measured);
          log(
            `round ${r}/${rounds} ${system.padEnd(13)} ${measured.mbPerSecond.toFixed(0).padStart(5)} MB/s (${sent.requests} requests), ` +
              `RSS growth ${(rss.growthBytes / MIB).toFixed(1)} MiB, server CPU ${cpuMs} ms, client CPU ${measured.clientCpuMs} ms` +
              `${sent.id ? `, ${measured.statusAfterLastChunk} after the last chunk, Published with md5 ok after ${measured.secondsToPublished} s` : system === 'plain' ? ', size ok' : ', offsets ok'}`,
          );
        } finally {
          if (baseline) await server.stop();
          else {
            await context.stopGateway();
            // As the plain server's file below: the page cache of a kept blob would cost the next upload (deleteTransferBlobs).
            await deleteTransferBlobs(context, uploaded);
          }
          fs.rmSync(uploadsDir, { recursive: true, force: true });
        }
      }
    }

    // Where the time goes: one more tus-js-client upload under the CPU profiler (full runs, or --profile).
    let profileNote: string | undefined;
    if (!context.quick || context.options.profile) {
      log('one more tus-js-client upload under the CPU profiler (not among the figures)');
      let prepared = '';
      let seconds = NaN;
      const run = await profileGateway(
        context,
        'broker-tus-profiled',
        {},
        async (gateway) => {
          seconds = (await uploadInClientProcess(clientUpload('tus-js-client', gateway.baseUrl, broker, prepared, input.path))).seconds;
        },
        async (gateway) => {
          const warmId = await initialize(gateway.baseUrl, broker, { disableVirusScan: true });
          await uploadInClientProcess(clientUpload('tus-js-client', gateway.baseUrl, broker, warmId, warm.path));
          prepared = await initialize(gateway.baseUrl, broker, { disableVirusScan: true });
        },
      );
      if (run) profileNote = `Where the time goes: one more tus-js-client upload under node --cpu-prof (${round(sizeBytes / MB / seconds, 0)} MB/s): ${describeProfiledRun(run)}`;
    }

    const of = (system: System) => results.filter((x) => x.system === system);
    const mbps = (system: System) => median(of(system).map((x) => x.mbPerSecond));
    const cpuPerGiB = (system: System) => median(of(system).map((x) => x.cpuMs)) / (sizeBytes / (1024 * MIB)) / 1000;
    const clientCpuPerGiB = (system: System) => median(of(system).map((x) => x.clientCpuMs)) / (sizeBytes / (1024 * MIB)) / 1000;
    const growth = (system: System) => Math.max(...of(system).map((x) => x.rss.growthBytes));
    const plain = mbps('plain');
    const baselineName = 'plain Node upload (one request, write + fsync)';
    const comparisons: Comparison[] = [];
    for (const system of ['tus-js-client', 'raw-tus'] as const) {
      const label = system === 'tus-js-client' ? 'TUS with tus-js-client' : 'TUS with a raw node:http client';
      const ratio = mbps(system) / plain;
      comparisons.push({
        measure: `${label}: MB/s, ${sizeLabel} in ${CHUNK_BYTES / MIB} MiB chunks (median of ${rounds})`,
        ours: round(mbps(system), 0),
        unit: 'MB/s',
        baseline: { name: baselineName, value: round(plain, 0) },
        ratio: round(ratio, 2),
        ratioMeaning: 'ours ÷ plain',
        target: '≥ 0.70',
        met: ratio >= 0.7,
      });
    }
    comparisons.push(
      {
        measure: `TUS with a raw node:http client against the protocol's ceiling: MB/s, ${sizeLabel} in ${CHUNK_BYTES / MIB} MiB chunks (median of ${rounds})`,
        ours: round(mbps('raw-tus'), 0),
        unit: 'MB/s',
        baseline: { name: 'plain TUS-shaped server (a PATCH per chunk written at its offset + fsync, same client)', value: round(mbps('plain-tus'), 0) },
        ratio: round(mbps('raw-tus') / mbps('plain-tus'), 2),
        ratioMeaning: 'ours ÷ plain TUS: what the gateway adds per chunk, apart from chunking itself',
      },
      {
        measure: `TUS with tus-js-client against the protocol's ceiling for that client: MB/s, ${sizeLabel} in ${CHUNK_BYTES / MIB} MiB chunks (median of ${rounds})`,
        ours: round(mbps('tus-js-client'), 0),
        unit: 'MB/s',
        baseline: { name: 'plain TUS-shaped server driven by tus-js-client', value: round(mbps('plain-tus-js'), 0) },
        ratio: round(mbps('tus-js-client') / mbps('plain-tus-js'), 2),
        ratioMeaning: 'ours ÷ plain TUS, both with tus-js-client: what the gateway adds for the headline client',
      },
      {
        measure: `the protocol's ceiling for tus-js-client: plain TUS-shaped server driven by tus-js-client ÷ plain one-request upload, ${CHUNK_BYTES / MIB} MiB chunks (median of ${rounds})`,
        ours: round(mbps('plain-tus-js'), 0),
        unit: 'MB/s',
        baseline: { name: baselineName, value: round(plain, 0) },
        ratio: round(mbps('plain-tus-js') / plain, 2),
        ratioMeaning: 'plain TUS with tus-js-client ÷ plain: the best any server could reach with the headline client against the 0.70 target on this machine',
      },
      {
        measure: `the protocol's ceiling: plain TUS-shaped server ÷ plain one-request upload, ${CHUNK_BYTES / MIB} MiB chunks (median of ${rounds})`,
        ours: round(mbps('plain-tus'), 0),
        unit: 'MB/s',
        baseline: { name: baselineName, value: round(plain, 0) },
        ratio: round(mbps('plain-tus') / plain, 2),
        ratioMeaning: 'plain TUS ÷ plain: the best any server could reach against the 0.70 target on this machine',
      },
      {
        measure: `gateway RSS growth during the TUS upload (worst of ${rounds * 2}, both clients)`,
        ours: round(Math.max(growth('tus-js-client'), growth('raw-tus')) / MIB, 1),
        unit: 'MiB',
        baseline: { name: baselineName, value: round(growth('plain') / MIB, 1) },
        target: '< 64 MiB',
        met: Math.max(growth('tus-js-client'), growth('raw-tus')) < 64 * MIB,
      },
      {
        measure: 'server CPU per GiB received, TUS with tus-js-client (median; ours until Published with its MD5, hashing included)',
        ours: round(cpuPerGiB('tus-js-client'), 3),
        unit: 's',
        baseline: { name: baselineName, value: round(cpuPerGiB('plain'), 3) },
        ratio: round(cpuPerGiB('tus-js-client') / cpuPerGiB('plain'), 2),
        ratioMeaning: 'ours ÷ plain, lower is better',
      },
      ...(
        [
          ['tus-js-client', 'tus-js-client against the gateway (median; its client process, which shares the cores with the server)', 'tus-js-client ÷ one-request client: CPU the headline client takes from a 2-core machine that its server does not get'],
          ['raw-tus', 'raw TUS client against the gateway (median)', 'raw TUS client ÷ one-request client'],
        ] as const
      ).map(([system, measured, ratioMeaning]) => ({
        measure: `client CPU per GiB sent, ${measured}`,
        ours: round(clientCpuPerGiB(system), 3),
        unit: 's',
        baseline: { name: 'the one-request client of the plain upload', value: round(clientCpuPerGiB('plain'), 3) },
        ratio: round(clientCpuPerGiB(system) / clientCpuPerGiB('plain'), 2),
        ratioMeaning,
      })),
      {
        measure: 'time from the creation POST to Published (with its MD5), tus-js-client (median)',
        ours: round(median(of('tus-js-client').map((x) => x.secondsToPublished!)), 2),
        unit: 's',
      },
    );
    const statuses = [...new Set(results.filter((x) => x.statusAfterLastChunk).map((x) => x.statusAfterLastChunk))];
    return {
      scenario: 'broker-tus-1gb',
      title: this.title,
      params: { sizeBytes, sizeLabel, chunkBytes: CHUNK_BYTES, rounds, warmUpBytes: warmBytes, md5 },
      comparisons,
      details: { rounds: results, statusesAfterLastChunk: statuses },
      notes: [
        PRIMED_NOTE,
        `tus-js-client (4.x, in a client process of its own) is given an fs.ReadStream: for each ${CHUNK_BYTES / MIB} MiB chunk it opens a read stream of that range and pipes it into the PATCH request, so the client streams as the raw client does; its figure is the headline. The raw client (creation POST, then one PATCH per chunk with Upload-Offset, over a keep-alive agent) is there to show whether the library adds a cost of its own.`,
        `Per chunk the gateway takes the lease on the upload the transfer's current attempt names, checking in the same statement that the caller sends the transfer and that it takes uploads, reading the row and numbering the part (1 statement), streams the chunk into the upload file from the request's own buffers, gathered into vectored writes of 1 MiB (fdatasync started every 4 MiB while the rest arrives; nothing hashed: a chunk's own MD5 only when the client sends Upload-Checksum, which neither client here does), fsyncs, then moves the offset, records the part and releases the lease in one statement; the last chunk renames the file into a blob and attaches it to the transfer, and the processing job reads the blob back for its MD5 and SHA-256. After the last chunk's answer the transfer was: ${statuses.join(', ') || '?'}.`,
        'The baseline receives the same file in one request (no chunks, no hashing) and fsyncs once. The plain TUS baseline is the same server in the shape of TUS (creation, then each chunk a PATCH written at its offset and fsynced before the answer; no checks, hashing or database), driven by the raw client and by tus-js-client: the ceiling of chunking itself for each client. Fresh server processes every round, order rotated; each warmed by one unmeasured upload of 24 MiB. Each upload is sent by a node process of its own (started before the clock), whose CPU over the upload is the client CPU reported: on this machine the client and the server share the cores, so what the client spends the server does not get.',
        ...(profileNote ? [profileNote] : []),
      ],
    };
  },
};

/** The raw client against the gateway's TUS endpoint for transfer `id`, in this process (broker-door-threads). */
export function rawBrokerTusUpload(baseUrl: string, broker: BrokerSetup, id: string, file: string, sizeBytes: number): Promise<number> {
  return rawTusUpload(tusEndpoint(baseUrl, id), senderHeaders(broker), file, sizeBytes, CHUNK_BYTES);
}

/** tus-js-client against the gateway's TUS endpoint for transfer `id`, in this process (broker-door-threads). */
export function tusJsClientUpload(baseUrl: string, broker: BrokerSetup, id: string, file: string): Promise<number> {
  return tusJsUpload(tusEndpoint(baseUrl, id), senderHeaders(broker), file, CHUNK_BYTES);
}

/** The upload `system` sends of `file`, for a client process: to the gateway's transfer `id`, or to the plain server. */
function clientUpload(system: System, baseUrl: string, broker: BrokerSetup, id: string | undefined, file: string): ClientUpload {
  if (system === 'plain') return { client: 'one-request', url: `${baseUrl}/upload`, headers: {}, file };
  const client = system === 'raw-tus' || system === 'plain-tus' ? 'raw-tus' : 'tus-js-client';
  if (id === undefined) return { client, url: `${baseUrl}/tus`, headers: {}, file, chunkBytes: CHUNK_BYTES };
  return { client, url: tusEndpoint(baseUrl, id), headers: senderHeaders(broker), file, chunkBytes: CHUNK_BYTES };
}

function tusEndpoint(baseUrl: string, fileTransferId: string): string {
  return `${baseUrl}${BROKER_API}/filetransfer/upload/tus/${fileTransferId}`;
}

function senderHeaders(broker: BrokerSetup): Record<string, string> {
  return { authorization: `Bearer ${broker.senderToken}` };
}
