/**
 * What the broker scenarios share: a resource and organisation tokens made in-process on the
 * bench archive (the gateway child shares its DATA_DIR, hence its token issuer key), small JSON
 * calls of the Altinn 3 API, the streamed file upload client (Content-Length, read from the file as
 * it is sent, nothing buffered; from bench/lib/upload-clients.ts), the gateway started with extra
 * environment (CLAMD_URL, node flags), an optional clamd, and the summary of a gateway CPU profile.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { promisify } from 'node:util';
import { BROKER_SCOPES, issueLocalOrganisationToken } from '../../src/auth/organisation-tokens';
import { configureResource, type ResourceSettings } from '../../src/broker/configure-resource';
import { loadConfig } from '../../src/config';
import type { Archive, BenchContext } from '../lib/context';
import type { ChildServer } from '../lib/processes';
import type { Download } from '../lib/stream-client';
import { call, type JsonResponse } from '../lib/upload-clients';
import { MB } from '../lib/stats';

export const BROKER_API = '/broker/api/v1';

/** Organisation numbers with valid mod-11 check digits, by the part they play. */
export const BENCH_ORGS = { serviceOwner: '991825827', sender: '974760673', recipient: '889640782' } as const;

export interface BrokerSetup {
  resourceId: string;
  /** `0192:<orgnr>` */
  sender: string;
  recipient: string;
  /** altinn:broker.write for the sender */
  senderToken: string;
  /** altinn:broker.read for the recipient */
  recipientToken: string;
}

/**
 * A fresh resource (default settings: no size limit below the global one) and tokens valid for the
 * whole run. Done in-process, so on PGlite the archive's gateway must not be running (withArchive
 * stops it).
 */
export async function setUpBroker(context: BenchContext, settings: ResourceSettings = {}, archive?: Archive): Promise<BrokerSetup> {
  const target = archive ?? context.main;
  const resourceId = `bench-broker-${randomBytes(4).toString('hex')}`;
  // The issuer settings the gateway child will use: it inherits this process's environment.
  const jwt = loadConfig({ ...process.env, DATA_DIR: target.dataDir }).messages.jwt;
  const token = (orgNumber: string, scopes: string[]) => issueLocalOrganisationToken(jwt, target.dataDir, { orgNumber, scopes, ttlSeconds: 12 * 3600 });
  await context.withArchive(async (app) => {
    await configureResource(app.broker, { orgNumber: BENCH_ORGS.serviceOwner, partyId: `0192:${BENCH_ORGS.serviceOwner}` }, resourceId, settings);
  }, target);
  return {
    resourceId,
    sender: `0192:${BENCH_ORGS.sender}`,
    recipient: `0192:${BENCH_ORGS.recipient}`,
    senderToken: await token(BENCH_ORGS.sender, [BROKER_SCOPES.write]),
    recipientToken: await token(BENCH_ORGS.recipient, [BROKER_SCOPES.read]),
  };
}

/** The sender initializes a transfer to the recipient; returns its id (throws unless 200). */
export async function initialize(baseUrl: string, broker: BrokerSetup, options: { agent?: http.Agent; fileName?: string; disableVirusScan?: boolean } = {}): Promise<string> {
  const response = await call(baseUrl, 'POST', `${BROKER_API}/filetransfer`, {
    token: broker.senderToken,
    agent: options.agent,
    json: {
      resourceId: broker.resourceId,
      fileName: options.fileName ?? 'bench.bin',
      sendersFileTransferReference: 'bench',
      sender: broker.sender,
      recipients: [broker.recipient],
      checksum: null,
      ...(options.disableVirusScan !== undefined && { disableVirusScan: options.disableVirusScan }),
    },
  });
  if (response.status !== 200) throw new Error(`initialize answered ${response.status}: ${response.text.slice(0, 500)}`);
  return response.json.fileTransferId as string;
}

/**
 * Deletes the stored bytes of measured transfers once their round is over (the gateway stopped), as
 * the plain upload server's file is deleted after every round: both sides then leave the page cache
 * as they found it. On this VM filling page-cache pages costs several times more system time when
 * the kernel has no recently freed ones (1 GiB of writes: 0.25-0.3 s into freed pages, 1.5-2.4 s
 * with earlier gigabytes kept; bench/PROFILE-NOTES.md), so kept blobs would tilt the comparison.
 * 'every transfer': all of the archive's (a gateway still running on PostgreSQL is left alone).
 */
export async function deleteTransferBlobs(context: BenchContext, fileTransferIds: string[] | 'every transfer'): Promise<void> {
  if (Array.isArray(fileTransferIds) && fileTransferIds.length === 0) return;
  await context.withArchive(async (app) => {
    const stored = app.db('broker_file_transfers').whereNotNull('blob_key');
    if (fileTransferIds !== 'every transfer') stored.whereIn('id', fileTransferIds);
    const rows = await stored.select<{ blob_key: string }[]>('blob_key');
    for (const row of rows) await app.blobs.delete(row.blob_key);
  });
}

/** The transfer's overview as its sender sees it. */
export async function overview(baseUrl: string, broker: BrokerSetup, fileTransferId: string, agent?: http.Agent): Promise<JsonResponse> {
  return call(baseUrl, 'GET', `${BROKER_API}/filetransfer/${fileTransferId}`, { token: broker.senderToken, agent });
}

/** Polls the overview until the transfer is Published (throws on Failed or after `timeoutMs`). */
export async function waitForPublished(baseUrl: string, broker: BrokerSetup, fileTransferId: string, timeoutMs = 120_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const response = await overview(baseUrl, broker, fileTransferId);
    if (response.status !== 200) throw new Error(`overview answered ${response.status}: ${response.text.slice(0, 500)}`);
    const status = response.json.fileTransferStatus;
    // The MD5 of a TUS upload may be filled in just after publication (a background job).
    if (status === 'Published' && response.json.checksum) return response.json;
    if (status === 'Failed') throw new Error(`transfer ${fileTransferId} Failed: ${response.json.fileTransferStatusText}`);
    if (Date.now() > deadline) throw new Error(`transfer ${fileTransferId} not Published within ${timeoutMs} ms (status ${status})`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export { call, uploadFile, type JsonResponse, type Upload } from '../lib/upload-clients';

/**
 * GETs a URL with request headers (a token) and hashes the whole body with SHA-256 as it arrives,
 * keeping nothing: the same work as stream-client's downloadRaw, which sends no headers.
 */
export function downloadFile(url: string, headers: Record<string, string>): Promise<Download> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const request = http.request(url, { method: 'GET', agent: false, headers }, (response) => {
      const ttfbMs = Number(process.hrtime.bigint() - started) / 1e6;
      if (response.statusCode !== 200) {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.length < 4 && chunks.push(chunk));
        response.on('end', () => reject(new Error(`HTTP ${response.statusCode}: ${Buffer.concat(chunks).subarray(0, 600).toString()}`)));
        return;
      }
      const hash = createHash('sha256');
      let bytes = 0;
      response.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        bytes += chunk.length;
      });
      response.on('end', () => {
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        const length = response.headers['content-length'];
        resolve({ bytes, sha256: hash.digest('hex'), seconds, mbPerSecond: bytes / MB / seconds, ttfbMs, contentLength: length === undefined ? undefined : Number(length) });
      });
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end();
  });
}

/** MD5 of a file, lower-case hex (what the broker reports as the transfer's checksum). */
export async function fileMd5(file: string): Promise<string> {
  const hash = createHash('md5');
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1024 * 1024 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Starts the archive's gateway with extra environment variables. The context copies process.env
 * when it spawns the child, so they are set only around that call (CLAMD_URL, or
 * BENCH_GATEWAY_NODE_ARGS for a CPU profile).
 */
export async function startGatewayWith(context: BenchContext, label: string, env: Record<string, string | undefined>, archive?: Archive): Promise<ChildServer> {
  const saved = Object.fromEntries(Object.keys(env).map((key) => [key, process.env[key]]));
  const assign = (values: Record<string, string | undefined>) => {
    for (const [key, value] of Object.entries(values)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  };
  assign(env);
  try {
    return await context.startGateway(label, archive);
  } finally {
    assign(saved);
  }
}

/**
 * Node flags that make the gateway write CPU profiles on exit into a directory of its own. No
 * --cpu-prof-name: with one name every thread (the hashing workers too) would write the same file
 * and the last to exit would win; node's default names carry the thread id (0 = main thread).
 */
export function cpuProfileFlags(context: BenchContext, label: string): { nodeArgs: string; dir: string } {
  const dir = path.join(context.rootDir, 'bench', 'results', 'profiles', `gateway-${label}-${Date.now()}`);
  fs.mkdirSync(dir, { recursive: true });
  const existing = process.env.BENCH_GATEWAY_NODE_ARGS ?? '';
  return { nodeArgs: `${existing} --cpu-prof --cpu-prof-dir=${dir}`.trim(), dir };
}

/** The profiles node wrote into `dir` (CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile): the main thread's and the workers'. */
export function profilesIn(dir: string): { main: string | undefined; workers: string[] } {
  const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((name) => name.endsWith('.cpuprofile')) : [];
  const thread = (name: string) => name.split('.')[4];
  const main = files.find((name) => thread(name) === '0');
  return { main: main && path.join(dir, main), workers: files.filter((name) => thread(name) !== '0').map((name) => path.join(dir, name)) };
}

/**
 * Starts the gateway with `--cpu-prof` into its own directory. The suite's own --profile (which
 * names the file) is held off for this start, so that the two sets of flags do not collide.
 */
export async function startProfiledGateway(context: BenchContext, label: string, env: Record<string, string | undefined>): Promise<{ gateway: ChildServer; dir: string }> {
  const { nodeArgs, dir } = cpuProfileFlags(context, label);
  const suiteProfile = context.options.profile;
  context.options.profile = false;
  try {
    return { gateway: await startGatewayWith(context, label, { ...env, BENCH_GATEWAY_NODE_ARGS: nodeArgs }), dir };
  } finally {
    context.options.profile = suiteProfile;
  }
}

export interface ProfileSummary {
  file: string;
  /** e.g. "12.3 s sampled, 8.1 s busy" */
  header: string;
  busySeconds: number;
  byPackage: string[];
  byFunction: string[];
  ownInclusive: string[];
  dependencies: string[];
}

/** bench/tools/profile-summary.ts over a profile, its sections cut to the top `top` lines. */
export async function summariseProfile(context: BenchContext, file: string, top = 8): Promise<ProfileSummary> {
  const tool = path.join(context.rootDir, 'dist', 'bench', 'tools', 'profile-summary.js');
  const { stdout } = await promisify(execFile)(process.execPath, [tool, file, String(top)], { maxBuffer: 16 * 1024 * 1024 });
  const sections = stdout.split(/\n\n/);
  const lines = (title: string) =>
    (sections.find((s) => s.startsWith(title)) ?? '')
      .split('\n')
      .slice(1)
      .map((line) => line.trim().replace(/\s+/g, ' '))
      .filter(Boolean);
  const header = /: (.*s sampled, .*s busy)/.exec(sections[0] ?? '')?.[1] ?? '';
  return {
    file: path.relative(context.rootDir, file),
    header,
    busySeconds: Number(/([\d.]+) s busy/.exec(header)?.[1] ?? NaN),
    byPackage: lines('Self time by package/file'),
    byFunction: lines('Self time by function'),
    ownInclusive: lines('Inclusive time of our own functions'),
    dependencies: lines("Inclusive time of dependencies' entry points"),
  };
}

/** Microseconds on the clock V8's profiler stamps samples with (CLOCK_MONOTONIC on Linux, as process.hrtime). */
export function profilerClockUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/**
 * A copy of a .cpuprofile holding only the samples taken between `fromUs` and `toUs` (the measured
 * window, without start-up and warm-up). Undefined when the window is not within the profile,
 * i.e. the clocks did not agree: then the whole profile is what there is.
 */
export function trimProfile(file: string, fromUs: number, toUs: number): string | undefined {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as { startTime: number; endTime: number; samples: number[]; timeDeltas: number[] };
  if (fromUs < profile.startTime || toUs > profile.endTime || fromUs >= toUs) return undefined;
  const samples: number[] = [];
  const timeDeltas: number[] = [];
  let time = profile.startTime;
  let previous = fromUs;
  profile.samples.forEach((sample, i) => {
    time += profile.timeDeltas[i] ?? 0;
    if (time < fromUs || time > toUs) return;
    samples.push(sample);
    timeDeltas.push(time - previous);
    previous = time;
  });
  const trimmed = file.replace(/\.cpuprofile$/, '.measured.cpuprofile');
  fs.writeFileSync(trimmed, JSON.stringify({ ...profile, startTime: fromUs, endTime: toUs, samples, timeDeltas }));
  return trimmed;
}

export interface ProfiledRun {
  /** Wall time of the profiled work. */
  seconds: number;
  /** The gateway's main thread, cut to the work's window when the clocks allowed it. */
  main: ProfileSummary;
  /** Its other threads (the hashing workers). */
  workers: ProfileSummary[];
  trimmed: boolean;
}

/**
 * Runs `work` against a fresh gateway under node --cpu-prof (`warm` first, outside the window)
 * and summarises the profiles of its threads over the work's window. Undefined when node wrote none.
 */
export async function profileGateway(
  context: BenchContext,
  label: string,
  env: Record<string, string | undefined>,
  work: (gateway: ChildServer) => Promise<void>,
  warm?: (gateway: ChildServer) => Promise<void>,
): Promise<ProfiledRun | undefined> {
  const { gateway, dir } = await startProfiledGateway(context, label, env);
  let fromUs: number;
  let toUs: number;
  try {
    await warm?.(gateway);
    fromUs = profilerClockUs();
    await work(gateway);
    toUs = profilerClockUs();
  } finally {
    await context.stopGateway();
  }
  const written = profilesIn(dir);
  if (!written.main) return undefined;
  const main = trimProfile(written.main, fromUs, toUs);
  const workers = await Promise.all(written.workers.map(async (file) => summariseProfile(context, trimProfile(file, fromUs, toUs) ?? file, 3)));
  return { seconds: (toUs - fromUs) / 1e6, main: await summariseProfile(context, main ?? written.main), workers, trimmed: main !== undefined };
}

/** One line for the notes: how busy each thread was, and where the main thread's time went. */
export function describeProfiledRun(run: ProfiledRun, top = { packages: 8, functions: 6, own: 8, dependencies: 0 }): string {
  const lines = (list: string[], n: number) => list.slice(0, n).join('; ');
  const workersBusy = run.workers.reduce((sum, w) => sum + (Number.isFinite(w.busySeconds) ? w.busySeconds : 0), 0);
  const workerTop = run.workers.find((w) => w.busySeconds === Math.max(...run.workers.map((x) => x.busySeconds)))?.byFunction[0];
  return (
    `${round2(run.seconds)} s profiled; main thread ${round2(run.main.busySeconds)} s busy${run.trimmed ? '' : ' (whole process life: the window could not be cut)'}, ` +
    `worker threads ${round2(workersBusy)} s busy${workerTop ? ` (top: ${workerTop})` : ''}. Main thread, self time by package: ${lines(run.main.byPackage, top.packages)}. ` +
    `Top functions (self): ${lines(run.main.byFunction, top.functions)}. Our code, inclusive: ${lines(run.main.ownInclusive, top.own)}.` +
    (top.dependencies > 0 ? ` Dependencies, inclusive: ${lines(run.main.dependencies, top.dependencies)}.` : '')
  );
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}


export function sizeLabelOf(sizeBytes: number): string {
  const MIB = 1024 * 1024;
  return sizeBytes >= 1024 * MIB ? `${sizeBytes / (1024 * MIB)} GiB` : `${sizeBytes / MIB} MiB`;
}
