/**
 * object-store-1gb (issue 14): one large file through the Altinn 3 broker API, up and down, with the
 * gateway's blobs in an object store (BLOB_STORE_URL): Azure Blob Storage on Azurite and S3 on
 * s3rver, each emulator in a process of its own. The limit, measured in the same run against the
 * same emulator: the store's own SDK moving the same file directly from a process of its own
 * (bench/baselines/object-store-sdk.ts: @azure/storage-blob uploadStream/download, @aws-sdk/client-s3
 * multipart upload/GetObject, with the gateway stores' block size and parallelism).
 *
 * Each round starts a fresh gateway (order gateway/SDK alternating), warmed by one unmeasured
 * upload or download; only the transfer request is timed and sampled (the gateway's RSS every 50
 * ms, its CPU from /proc). Every upload is checked through the Altinn 3 overview (Published, MD5,
 * size), every download by its SHA-256, on both sides.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { startAzurite, type Azurite } from '../../test/helpers/azurite';
import type { BenchContext } from '../lib/context';
import { CpuMeter } from '../lib/cpu';
import { deterministicFile, type InputFile } from '../lib/input-files';
import { scenarioLogger } from '../lib/log';
import type { ChildServer } from '../lib/processes';
import type { Comparison, Scenario, ScenarioResult } from '../lib/results';
import { RssSampler, type RssSummary } from '../lib/rss';
import { MIB, median, round } from '../lib/stats';
import { BROKER_API, downloadFile, fileMd5, initialize, overview, setUpBroker, sizeLabelOf, startGatewayWith, uploadFile, type BrokerSetup } from './broker-support';
import { checkDownload, checkUpload } from './broker-updown';

const log = scenarioLogger('object-store-1gb');
const S3_BUCKET = 'bench';

type Store = 'azure' | 's3';
type Direction = 'upload' | 'download';
type System = 'gateway' | 'sdk';

interface Emulator {
  store: Store;
  /** The gateway's environment: BLOB_STORE_URL and the store's credentials variables. */
  gatewayEnv: Record<string, string>;
  /** The SDK baseline's environment. */
  sdkEnv: Record<string, string>;
  stop(): Promise<void>;
}

interface Round {
  store: Store;
  direction: Direction;
  system: System;
  round: number;
  mbPerSecond: number;
  seconds: number;
  /** The gateway's RSS (the SDK process reports its own peak in sdkPeakRssBytes). */
  rss?: RssSummary;
  sdkPeakRssBytes?: number;
  /** The gateway process's CPU, or the SDK process's own, on the measured transfer. */
  cpuMs: number;
}

interface SdkTransfer {
  bytes: number;
  seconds: number;
  cpuMs: number;
  sha256?: string;
  peakRssBytes: number;
}

export const objectStore1gb: Scenario = {
  name: 'object-store-1gb',
  title: 'One large file through the Altinn 3 broker API with the blobs in Azure Blob (Azurite) and S3 (s3rver), against each SDK directly',
  async run(context: BenchContext): Promise<ScenarioResult> {
    const sizeBytes = Number(process.env.BENCH_STREAM_MIB || (context.quick ? 64 : 1024)) * MIB;
    const warmBytes = Math.min(sizeBytes, 32 * MIB);
    const rounds = context.quick ? 1 : 3;
    const sizeLabel = sizeLabelOf(sizeBytes);

    log(`generating a deterministic ${sizeLabel} file (once; cached in ${context.cacheDir})`);
    const input = await deterministicFile(context.cacheDir, 'stream', sizeBytes, 'altinn-gateway-bench', (done) => log(`  generated ${Math.round(done / MIB)} MiB`));
    const warm = await deterministicFile(context.cacheDir, 'broker-warm', warmBytes, 'altinn-gateway-bench-warm');
    const md5 = await fileMd5(input.path);
    const broker = await setUpBroker(context);

    const results: Round[] = [];
    for (const store of ['azure', 's3'] as const) {
      const emulator = await startEmulator(context, store);
      try {
        results.push(...(await measureStore(context, emulator, broker, input, warm, md5, rounds)));
      } finally {
        await context.stopGateway();
        await emulator.stop();
      }
    }

    const comparisons: Comparison[] = [];
    const summary: Record<string, unknown> = {};
    for (const store of ['azure', 's3'] as const) {
      const sdkName = store === 'azure' ? '@azure/storage-blob on Azurite' : '@aws-sdk/client-s3 on s3rver';
      for (const direction of ['upload', 'download'] as const) {
        const of = (system: System) => results.filter((x) => x.store === store && x.direction === direction && x.system === system);
        const ours = median(of('gateway').map((x) => x.mbPerSecond));
        const sdk = median(of('sdk').map((x) => x.mbPerSecond));
        const growth = Math.max(...of('gateway').map((x) => x.rss!.growthBytes));
        const cpuPerGiB = (system: System) => median(of(system).map((x) => x.cpuMs)) / (sizeBytes / (1024 * MIB)) / 1000;
        summary[`${store} ${direction}`] = { oursMbps: ours, sdkMbps: sdk, oursGrowth: growth, oursCpuPerGiB: cpuPerGiB('gateway'), sdkCpuPerGiB: cpuPerGiB('sdk') };
        comparisons.push(
          {
            measure: `${store === 'azure' ? 'Azure Blob' : 'S3'} ${direction} MB/s, ${sizeLabel} (median of ${rounds})`,
            ours: round(ours, 0),
            unit: 'MB/s',
            baseline: { name: sdkName, value: round(sdk, 0) },
            ratio: round(ours / sdk, 2),
            ratioMeaning: 'ours ÷ SDK directly',
          },
          {
            measure: `gateway RSS growth during the ${store === 'azure' ? 'Azure Blob' : 'S3'} ${direction} (worst of ${rounds})`,
            ours: round(growth / MIB, 1),
            unit: 'MiB',
            baseline: { name: `${sdkName} (its process's peak RSS)`, value: round(Math.max(...of('sdk').map((x) => x.sdkPeakRssBytes!)) / MIB, 1) },
            target: '< 64 MiB',
            met: growth < 64 * MIB,
          },
          {
            measure: `CPU per GiB ${direction === 'upload' ? 'stored' : 'fetched'}, gateway process vs SDK process (median)`,
            ours: round(cpuPerGiB('gateway'), 3),
            unit: 's',
            baseline: { name: sdkName, value: round(cpuPerGiB('sdk'), 3) },
            ratio: round(cpuPerGiB('gateway') / cpuPerGiB('sdk'), 2),
            ratioMeaning: 'ours ÷ SDK, lower is better',
          },
        );
      }
    }

    return {
      scenario: 'object-store-1gb',
      title: this.title,
      params: { sizeBytes, sizeLabel, rounds, warmUpBytes: warmBytes, sha256: input.sha256, md5, s3PartBytes: 8 * MIB, azureBlockBytes: 8 * MIB },
      comparisons,
      details: { rounds: results, summary },
      notes: [
        'Gateway: BLOB_STORE_URL=azure://bench-gateway/ (AZURE_STORAGE_CONNECTION_STRING of Azurite) or s3://bench/gateway/ (AWS_ENDPOINT_URL_S3 of s3rver); the file sent to POST /broker/api/v1/filetransfer/{id}/upload by the streaming client of broker-stream-1gb (Content-Length, 256 KiB reads), the gateway hashing it (MD5, SHA-256) and staging 8 MiB blocks (Azure, 3 in flight) or multipart parts (S3, 2 in flight); the transfer Published when the answer comes (overview checked: MD5, size). Download: GET …/download by the recipient, hashed by the client.',
        'Limit: the store\'s SDK in a process of its own moving the same file: Azure uploadStream (8 MiB blocks, 3 in flight) and download(); S3 CreateMultipartUpload + UploadPart (8 MiB parts read from the file, 2 in flight) + Complete, and GetObject; downloads hashed with SHA-256 as the bench client does. Its time is the transfer alone (the SDK loaded and warmed by one 32 MiB transfer first); its CPU is its own process\'s.',
        'Both emulators run in child processes of their own (Azurite: npm azurite, blob service, on disk; s3rver: npm s3rver, on disk): they are the slowest part of the path and use much of a core, so the absolute MB/s say more about the emulators than about a real store; the ratio says what the gateway costs on top of the SDK against the same server. No fsync by either emulator.',
        'What the ratios hold: the gateway path has one more HTTP hop than the SDK (client → gateway → emulator, and back), on 2 cores shared with the client and the emulator. CPU per GiB: on uploads the gateway also computes MD5 and SHA-256 of the stream (about 2 CPU-s per GiB, see broker-stream-1gb), which the SDK process does not; on downloads the SDK process hashes what it receives (SHA-256) while the gateway only relays (the bench client hashes), so the gateway can spend less CPU than the SDK there.',
        `Each round a fresh gateway (order gateway/SDK alternating), warmed by one ${warmBytes / MIB} MiB upload (before uploads) or one full download (before downloads). MB = 10^6 bytes.`,
      ],
    };
  },
};

async function startEmulator(context: BenchContext, store: Store): Promise<Emulator> {
  if (store === 'azure') {
    const azurite: Azurite = await startAzurite();
    log(`Azurite at ${azurite.blobEndpoint}`);
    const connection = { AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString };
    return { store, gatewayEnv: { BLOB_STORE_URL: 'azure://bench-gateway/', ...connection }, sdkEnv: { ...connection, BENCH_CONTAINER: 'bench-sdk' }, stop: () => azurite.stop() };
  }
  const directory = fs.mkdtempSync(path.join(context.workDir, 's3rver-'));
  const server: ChildServer = await context.startProgram('s3rver', process.execPath, [path.join(context.rootDir, 'dist', 'bench', 'baselines', 's3rver-server.js')], [directory, S3_BUCKET], '/');
  log(`s3rver at ${server.baseUrl}`);
  const credentials = { AWS_ENDPOINT_URL_S3: server.baseUrl, AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' };
  return {
    store,
    gatewayEnv: { BLOB_STORE_URL: `s3://${S3_BUCKET}/gateway/`, ...credentials },
    sdkEnv: { ...credentials, BENCH_BUCKET: S3_BUCKET },
    stop: async () => {
      await server.stop();
      fs.rmSync(directory, { recursive: true, force: true });
    },
  };
}

async function measureStore(
  context: BenchContext,
  emulator: Emulator,
  broker: BrokerSetup,
  input: InputFile,
  warm: InputFile,
  md5: string,
  rounds: number,
): Promise<Round[]> {
  const { store } = emulator;
  const results: Round[] = [];
  const push = (r: Omit<Round, 'store'>, checked: string) => {
    results.push({ store, ...r, mbPerSecond: round(r.mbPerSecond, 1), seconds: round(r.seconds, 3) });
    const rss = r.rss ? `gateway RSS growth ${(r.rss.growthBytes / MIB).toFixed(1)} MiB` : `SDK process peak RSS ${(r.sdkPeakRssBytes! / MIB).toFixed(1)} MiB`;
    log(`${store} ${r.direction} round ${r.round}/${rounds} ${r.system.padEnd(7)} ${r.mbPerSecond.toFixed(0).padStart(5)} MB/s, ${rss}, CPU ${r.cpuMs} ms, ${checked}`);
  };
  const sdk = (args: string[]) => runSdk(context, emulator, args);
  const sdkKey = (r: number) => `sdk/round-${r}.bin`;
  const order = (r: number): System[] => (r % 2 === 1 ? ['sdk', 'gateway'] : ['gateway', 'sdk']);
  let published: string | undefined;

  for (let r = 1; r <= rounds; r++) {
    for (const system of order(r)) {
      if (system === 'sdk') {
        const [, measured] = await sdk(['upload', warm.path, 'sdk/warm.bin', input.path, sdkKey(r)]);
        if (measured!.bytes !== input.sizeBytes) throw new Error(`${store} SDK upload: ${measured!.bytes} bytes`);
        push({ direction: 'upload', system, round: r, mbPerSecond: input.sizeBytes / 1e6 / measured!.seconds, seconds: measured!.seconds, sdkPeakRssBytes: measured!.peakRssBytes, cpuMs: measured!.cpuMs }, 'size ok');
        continue;
      }
      const gateway = await startGatewayWith(context, `object-store-${store}-upload-${r}`, emulator.gatewayEnv);
      try {
        const prepare = async (file: InputFile) => {
          const id = await initialize(gateway.baseUrl, broker, { disableVirusScan: true });
          return { id, send: () => uploadFile(`${gateway.baseUrl}${BROKER_API}/filetransfer/${id}/upload`, file.path, { headers: { authorization: `Bearer ${broker.senderToken}` } }) };
        };
        checkUpload(await (await prepare(warm)).send(), `${store} gateway upload (warm-up)`);
        const { id, send } = await prepare(input);
        const sampler = RssSampler.start(gateway.pid);
        const cpu = await CpuMeter.start(gateway.pid);
        const upload = await send();
        const cpuMs = (await cpu.stop()).processMs;
        const rss = await sampler.stop();
        checkUpload(upload, `${store} gateway upload`);
        const view = await overview(gateway.baseUrl, broker, id);
        const o = view.json;
        if (view.status !== 200 || o.fileTransferStatus !== 'Published' || o.checksum !== md5 || o.fileTransferSize !== input.sizeBytes) {
          throw new Error(`${store} gateway upload: overview is ${view.status} ${view.text.slice(0, 400)} (expected Published, checksum ${md5}, size ${input.sizeBytes})`);
        }
        published = id;
        push({ direction: 'upload', system, round: r, mbPerSecond: input.sizeBytes / 1e6 / upload.seconds, seconds: upload.seconds, rss, cpuMs }, 'Published, md5 ok');
      } finally {
        await context.stopGateway();
      }
    }
  }
  if (!published) throw new Error(`${store}: no transfer was published`);

  for (let r = 1; r <= rounds; r++) {
    for (const system of order(r)) {
      if (system === 'sdk') {
        const [warmed, measured] = await sdk(['download', sdkKey(1), sdkKey(1)]);
        for (const d of [warmed!, measured!]) {
          if (d.bytes !== input.sizeBytes || d.sha256 !== input.sha256) throw new Error(`${store} SDK download: ${d.bytes} bytes, sha256 ${d.sha256}`);
        }
        push({ direction: 'download', system, round: r, mbPerSecond: input.sizeBytes / 1e6 / measured!.seconds, seconds: measured!.seconds, sdkPeakRssBytes: measured!.peakRssBytes, cpuMs: measured!.cpuMs }, 'sha256 ok');
        continue;
      }
      const gateway = await startGatewayWith(context, `object-store-${store}-download-${r}`, emulator.gatewayEnv);
      try {
        const once = () => downloadFile(`${gateway.baseUrl}${BROKER_API}/filetransfer/${published}/download`, { authorization: `Bearer ${broker.recipientToken}` });
        checkDownload(await once(), input, `${store} gateway download (warm-up)`);
        const sampler = RssSampler.start(gateway.pid);
        const cpu = await CpuMeter.start(gateway.pid);
        const download = await once();
        const cpuMs = (await cpu.stop()).processMs;
        const rss = await sampler.stop();
        checkDownload(download, input, `${store} gateway download`);
        push({ direction: 'download', system, round: r, mbPerSecond: download.mbPerSecond, seconds: download.seconds, rss, cpuMs }, 'sha256 ok');
      } finally {
        await context.stopGateway();
      }
    }
  }
  return results;
}

/** One run of the SDK baseline process; its transfers' figures, in order. */
async function runSdk(context: BenchContext, emulator: Emulator, args: string[]): Promise<SdkTransfer[]> {
  const script = path.join(context.rootDir, 'dist', 'bench', 'baselines', 'object-store-sdk.js');
  try {
    const { stdout } = await promisify(execFile)(process.execPath, [script, emulator.store, ...args], {
      env: { ...process.env, NODE_ENV: 'production', ...emulator.sdkEnv },
      maxBuffer: 1024 * 1024,
    });
    return stdout.trim().split('\n').map((line) => JSON.parse(line) as SdkTransfer);
  } catch (error) {
    throw new Error(`${emulator.store} SDK ${args[0]} failed: ${(error as { stderr?: string }).stderr || (error as Error).message}`);
  }
}
