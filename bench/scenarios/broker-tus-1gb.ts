/**
 * broker-tus-1gb: one large file uploaded through the broker's TUS endpoint
 * (/broker/api/v1/filetransfer/upload/tus/{id}) in 8 MiB chunks, against the plain Node upload
 * server (body → file, fsync) receiving the same file in one request, measured in the same run.
 *
 * Two TUS clients, both in this process and both streaming each chunk from the file (no chunk is
 * buffered whole):
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
import http from 'node:http';
import path from 'node:path';
import { Upload as TusUpload } from 'tus-js-client';
import type { BenchContext } from '../lib/context';
import { CpuMeter } from '../lib/cpu';
import { deterministicFile } from '../lib/input-files';
import { scenarioLogger } from '../lib/log';
import type { ChildServer } from '../lib/processes';
import type { Comparison, Scenario, ScenarioResult } from '../lib/results';
import { RssSampler, type RssSummary } from '../lib/rss';
import { MB, MIB, median, round } from '../lib/stats';
import { PRIMED_NOTE, primeFreedPages } from '../lib/page-cache';
import {
  BROKER_API,
  call,
  deleteTransferBlobs,
  describeProfiledRun,
  fileMd5,
  initialize,
  overview,
  profileGateway,
  setUpBroker,
  sizeLabelOf,
  uploadFile,
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
  /** The benchmark process's CPU while it sent the file: the client's cost, on cores it shares with the server. */
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
          /** Times a TUS upload (its requests counted by `upload`), of the gateway's transfer `id` if given. */
          const timed = async (upload: () => Promise<number>, id?: string) => {
            const started = process.hrtime.bigint();
            const requests = await upload();
            return { seconds: Number(process.hrtime.bigint() - started) / 1e9, requests, id, started };
          };
          const send = async (file: string, bytes: number) => {
            if (system === 'plain') {
              const upload = await uploadFile(`${server.baseUrl}/upload`, file);
              if (upload.status !== 200 || JSON.parse(upload.body).sizeBytes !== bytes) throw new Error(`plain upload: ${upload.status} ${upload.body}`);
              return { seconds: upload.seconds, requests: 1, id: undefined };
            }
            if (system === 'plain-tus') return timed(() => rawTusUpload(`${server.baseUrl}/tus`, {}, file, bytes));
            if (system === 'plain-tus-js') return timed(() => tusJsUpload(`${server.baseUrl}/tus`, {}, file));
            const id = await initialize(server.baseUrl, broker, { disableVirusScan: true });
            uploaded.push(id);
            return timed(() => (system === 'raw-tus' ? rawBrokerTusUpload(server.baseUrl, broker, id, file, bytes) : tusJsClientUpload(server.baseUrl, broker, id, file)), id);
          };
          // One unmeasured upload (several chunks) warms the process's code paths.
          const warmed = await send(warm.path, warmBytes);
          if (warmed.id) await waitForPublished(server.baseUrl, broker, warmed.id);
          await primeFreedPages(context.workDir, sizeBytes);
          const sampler = RssSampler.start(server.pid);
          const cpu = await CpuMeter.start(server.pid);
          const clientCpuBefore = process.cpuUsage();
          const sent = await send(input.path, sizeBytes);
          const clientCpu = process.cpuUsage(clientCpuBefore);
          const publication: Pick<Round, 'statusAfterLastChunk' | 'secondsToPublished'> = {};
          if (sent.id) {
            publication.statusAfterLastChunk = (await overview(server.baseUrl, broker, sent.id)).json?.fileTransferStatus;
            const view = await waitForPublished(server.baseUrl, broker, sent.id);
            publication.secondsToPublished = round(Number(process.hrtime.bigint() - sent.started!) / 1e9, 3);
            if (view.checksum !== md5 || view.fileTransferSize !== sizeBytes) {
              throw new Error(`${system}: Published with checksum ${view.checksum} and size ${view.fileTransferSize}, expected ${md5} and ${sizeBytes}`);
            }
          }
          // The gateway's CPU counts until Published with its MD5: the sums computed after the last chunk are the upload's cost too.
          const cpuMs = (await cpu.stop()).processMs;
          const rss = await sampler.stop();
          const measured: Round = { system, round: r, mbPerSecond: round(sizeBytes / MB / sent.seconds, 1), seconds: round(sent.seconds, 3), requests: sent.requests, rss, cpuMs, clientCpuMs: Math.round((clientCpu.user + clientCpu.system) / 1000), ...publication };
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
          const started = process.hrtime.bigint();
          await tusJsClientUpload(gateway.baseUrl, broker, prepared, input.path);
          seconds = Number(process.hrtime.bigint() - started) / 1e9;
        },
        async (gateway) => {
          const warmId = await initialize(gateway.baseUrl, broker, { disableVirusScan: true });
          await tusJsClientUpload(gateway.baseUrl, broker, warmId, warm.path);
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
      {
        measure: 'client CPU per GiB sent, tus-js-client against the gateway (median; the benchmark process, which shares the cores with the server)',
        ours: round(clientCpuPerGiB('tus-js-client'), 3),
        unit: 's',
        baseline: { name: 'the one-request client of the plain upload', value: round(clientCpuPerGiB('plain'), 3) },
        ratio: round(clientCpuPerGiB('tus-js-client') / clientCpuPerGiB('plain'), 2),
        ratioMeaning: 'tus-js-client ÷ one-request client: CPU the headline client takes from a 2-core machine that its server does not get',
      },
      {
        measure: 'client CPU per GiB sent, raw TUS client against the gateway (median)',
        ours: round(clientCpuPerGiB('raw-tus'), 3),
        unit: 's',
        baseline: { name: 'the one-request client of the plain upload', value: round(clientCpuPerGiB('plain'), 3) },
        ratio: round(clientCpuPerGiB('raw-tus') / clientCpuPerGiB('plain'), 2),
        ratioMeaning: 'raw TUS client ÷ one-request client',
      },
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
        `tus-js-client (4.x, in the benchmark process) is given an fs.ReadStream: for each ${CHUNK_BYTES / MIB} MiB chunk it opens a read stream of that range and pipes it into the PATCH request, so the client streams as the raw client does; its figure is the headline. The raw client (creation POST, then one PATCH per chunk with Upload-Offset, over a keep-alive agent) is there to show whether the library adds a cost of its own.`,
        `Per chunk the gateway reads the transfer with its recipients (1 statement), takes the lease on the upload its current attempt names, reading the row and numbering the part (1 statement), streams the chunk into the upload file from the request's own buffers, gathered into vectored writes of 1 MiB (fdatasync started every 4 MiB while the rest arrives; nothing hashed: a chunk's own MD5 only when the client sends Upload-Checksum, which neither client here does), fsyncs, then moves the offset, records the part and releases the lease in one statement; the last chunk renames the file into a blob and attaches it to the transfer, and the processing job reads the blob back for its MD5 and SHA-256. After the last chunk's answer the transfer was: ${statuses.join(', ') || '?'}.`,
        'The baseline receives the same file in one request (no chunks, no hashing) and fsyncs once. The plain TUS baseline is the same server in the shape of TUS (creation, then each chunk a PATCH written at its offset and fsynced before the answer; no checks, hashing or database), driven by the raw client and by tus-js-client: the ceiling of chunking itself for each client. Fresh server processes every round, order rotated; each warmed by one unmeasured upload of 24 MiB. Client CPU is the benchmark process\'s while it sends (the client, and the RSS sampler\'s thread reading /proc every 50 ms): on this machine the client and the server share the cores, so what the client spends the server does not get.',
        ...(profileNote ? [profileNote] : []),
      ],
    };
  },
};

/** The raw client against the gateway's TUS endpoint for transfer `id`. */
export function rawBrokerTusUpload(baseUrl: string, broker: BrokerSetup, id: string, file: string, sizeBytes: number): Promise<number> {
  return rawTusUpload(`${baseUrl}${BROKER_API}/filetransfer/upload/tus/${id}`, { authorization: `Bearer ${broker.senderToken}` }, file, sizeBytes);
}

/**
 * TUS creation at `creationUrl`, then a PATCH per chunk, each streamed from the file (the raw
 * client, also driving the plain TUS baseline). Returns the number of requests.
 */
async function rawTusUpload(creationUrl: string, headers: Record<string, string>, file: string, sizeBytes: number): Promise<number> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const auth = { ...headers, 'tus-resumable': '1.0.0' };
    const creation = new URL(creationUrl);
    const created = await call(creation.origin, 'POST', creation.pathname, { agent, headers: { ...auth, 'upload-length': String(sizeBytes) } });
    const location = created.status === 201 ? created.headers.location : undefined;
    if (!location) throw new Error(`TUS creation answered ${created.status}: ${created.text.slice(0, 300)}`);
    const uploadUrl = new URL(location, creation).toString();
    let offset = 0;
    let requests = 1;
    while (offset < sizeBytes) {
      const bytes = Math.min(CHUNK_BYTES, sizeBytes - offset);
      const patch = await uploadFile(uploadUrl, file, {
        method: 'PATCH',
        start: offset,
        bytes,
        agent,
        headers: { ...auth, 'upload-offset': String(offset), 'content-type': 'application/offset+octet-stream' },
      });
      requests++;
      if (patch.status !== 204 || patch.headers['upload-offset'] !== String(offset + bytes)) {
        throw new Error(`TUS PATCH at ${offset} answered ${patch.status} (Upload-Offset ${patch.headers['upload-offset']}): ${patch.body.slice(0, 300)}`);
      }
      offset += bytes;
    }
    return requests;
  } finally {
    agent.destroy();
  }
}

/** tus-js-client against the gateway's TUS endpoint for transfer `id`. */
export function tusJsClientUpload(baseUrl: string, broker: BrokerSetup, id: string, file: string): Promise<number> {
  return tusJsUpload(`${baseUrl}${BROKER_API}/filetransfer/upload/tus/${id}`, { Authorization: `Bearer ${broker.senderToken}` }, file);
}

/** tus-js-client with an fs.ReadStream, CHUNK_BYTES chunks, no retries. Returns the number of requests. */
function tusJsUpload(endpoint: string, headers: Record<string, string>, file: string): Promise<number> {
  let requests = 0;
  return new Promise((resolve, reject) => {
    const upload = new TusUpload(fs.createReadStream(file), {
      endpoint,
      chunkSize: CHUNK_BYTES,
      headers,
      retryDelays: [],
      storeFingerprintForResuming: false,
      removeFingerprintOnSuccess: false,
      onBeforeRequest: () => {
        requests++;
      },
      onError: reject,
      onSuccess: () => resolve(requests),
    });
    upload.start();
  });
}
