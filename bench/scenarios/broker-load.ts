/**
 * broker-load: Altinn's own load shape for the broker (tests/Altinn.Broker.LoadTests/test.js in
 * Altinn/altinn-broker: 20 virtual users, each looping initialize → upload a small file → poll the
 * overview until Published), run closed-loop against the gateway for 60 s (10 s with --quick):
 * transfers per second, end-to-end latency (p50/p99, from the initialize request to the overview
 * that shows Published), per-step latencies, CPU per transfer and peak RSS.
 *
 * Twice: without a malware scanner (Published when the upload is answered), and with a real clamd
 * scanning every upload (UploadProcessing → the scan job → Published), started as the tests start
 * theirs (test/helpers/clamd.ts: own directory, one EICAR signature). Without /usr/sbin/clamd that
 * half is skipped and the results say so.
 *
 * Where the time goes: after each measured half, a shorter run of the same load against a fresh
 * gateway under node --cpu-prof (always in a full run; with --quick only when --profile is given),
 * so the profiler's cost stays out of the reported figures. The main thread's profile, cut to that
 * run's window, is summarised with bench/tools/profile-summary.ts into the notes.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { buildServer } from '../../src/server';
import { findClamd, startTestClamd, type TestClamd } from '../../test/helpers/clamd';
import type { BenchContext } from '../lib/context';
import { CpuMeter, processCpuMs, type CpuSummary } from '../lib/cpu';
import { scenarioLogger } from '../lib/log';
import type { ChildServer } from '../lib/processes';
import type { Comparison, Scenario, ScenarioResult } from '../lib/results';
import { RssSampler, type RssSummary } from '../lib/rss';
import { round, summarizeLatencies, type LatencySummary } from '../lib/stats';
import { BROKER_API, call, describeProfiledRun, profileGateway, setUpBroker, startGatewayWith, type BrokerSetup, type ProfiledRun } from './broker-support';

const log = scenarioLogger('broker-load');
/** Altinn's load test sends tests/Altinn.Broker.LoadTests/data/testfile.txt; ours is as small. */
const FILE = Buffer.from('this is a testfile', 'utf8');
const FILE_MD5 = createHash('md5').update(FILE).digest('hex');
const CONNECTIONS = 20;
/** Between overview polls while a transfer is not yet Published (Altinn's script sleeps 1 s). */
const POLL_INTERVAL_MS = 50;

type Half = 'no-scan' | 'clamd';

interface LoadOutcome {
  half: Half;
  connections: number;
  durationSeconds: number;
  transfers: number;
  transfersPerSecond: number;
  endToEnd: LatencySummary;
  steps: { initialize: LatencySummary; upload: LatencySummary; overview: LatencySummary };
  pollsPerTransfer: number;
  errors: number;
  firstErrors: string[];
  cpu: CpuSummary & { clamdMs: number };
  /** Gateway + its Postgres backends (+ clamd when scanning), per transfer. */
  cpuMsPerTransfer: number;
  clientCpuMsPerTransfer: number;
  rss: RssSummary;
}

export const brokerLoad: Scenario = {
  name: 'broker-load',
  title: "Altinn's broker load shape: 20 clients looping initialize → upload 18 bytes → poll until Published",
  async run(context: BenchContext): Promise<ScenarioResult> {
    const durationSeconds = context.quick ? 10 : 60;
    const warmupSeconds = context.quick ? 2 : 5;
    // A separate run under the profiler: the profiler's own cost stays out of the reported figures.
    const profileSeconds = context.quick ? 5 : 20;
    const profileRun = !context.quick || context.options.profile;
    const broker = await setUpBroker(context);
    const databaseUrl = context.main.db.url;
    const statements = await countStatements(context, broker);
    log(`SQL per transfer: ${describeStatements(statements)}`);

    let clamdBinary: string | undefined;
    let clamdMissing: string | undefined;
    try {
      clamdBinary = findClamd();
    } catch (error) {
      clamdMissing = (error as Error).message;
      log(`SKIPPING the clamd half: ${clamdMissing}`);
    }

    const outcomes: LoadOutcome[] = [];
    const profiles: ProfileRun[] = [];
    for (const half of ['no-scan', 'clamd'] as const) {
      if (half === 'clamd' && !clamdBinary) continue;
      let clamd: TestClamd | undefined;
      try {
        if (half === 'clamd') {
          clamd = await startTestClamd();
          log(`clamd ${clamdBinary} answering on ${clamd.unixUrl} (started in ${Math.round(clamd.startupMs)} ms)`);
        }
        const gatewayEnv = { CLAMD_URL: clamd?.unixUrl };
        const clamdPid = clamd ? findPidByArgument(`--config-file=${path.join(path.dirname(clamd.socketPath), 'clamd.conf')}`) : undefined;

        const label = `broker-load-${half}`;
        const gateway = await startGatewayWith(context, label, gatewayEnv);
        let outcome: LoadOutcome;
        try {
          await checkScanSetting(gateway, broker, half);
          log(`${half}: warm-up ${warmupSeconds} s`);
          await runTransfers({ baseUrl: gateway.baseUrl, broker, half, seconds: warmupSeconds, serverPid: gateway.pid });
          log(`${half}: measuring ${durationSeconds} s with ${CONNECTIONS} clients`);
          outcome = await runTransfers({ baseUrl: gateway.baseUrl, broker, half, seconds: durationSeconds, serverPid: gateway.pid, databaseUrl, clamdPid });
        } finally {
          await context.stopGateway();
        }
        outcomes.push(outcome);
        logOutcome(outcome);
        if (outcome.errors > 0) throw new Error(`${half}: ${outcome.errors} failed transfers, e.g. ${outcome.firstErrors.join(' | ')}`);
        if (profileRun) {
          log(`${half}: a ${profileSeconds} s run under the CPU profiler (its figures are not the ones reported)`);
          let transfersPerSecond = NaN;
          const run = await profileGateway(
            context,
            `${label}-profiled`,
            gatewayEnv,
            async (profiled) => {
              transfersPerSecond = (await runTransfers({ baseUrl: profiled.baseUrl, broker, half, seconds: profileSeconds, serverPid: profiled.pid })).transfersPerSecond;
            },
            async (profiled) => {
              await runTransfers({ baseUrl: profiled.baseUrl, broker, half, seconds: warmupSeconds, serverPid: profiled.pid });
            },
          );
          if (run) profiles.push({ half, run, transfersPerSecond });
          else log(`${half}: node wrote no profile`);
        }
      } finally {
        await clamd?.close();
      }
    }

    const noScan = outcomes.find((o) => o.half === 'no-scan')!;
    const scanned = outcomes.find((o) => o.half === 'clamd');
    const label = `${CONNECTIONS} clients, ${durationSeconds} s`;
    const comparisons: Comparison[] = [
      { measure: `transfers/s, no malware scan, ${label}`, ours: noScan.transfersPerSecond, unit: 'transfers/s' },
      { measure: 'end-to-end p50, no scan (initialize → upload → overview says Published)', ours: noScan.endToEnd.p50Ms, unit: 'ms' },
      { measure: 'end-to-end p99, no scan', ours: noScan.endToEnd.p99Ms, unit: 'ms' },
      { measure: `CPU per transfer, no scan (gateway${databaseUrl ? ' + its Postgres backends' : ', PGlite in-process'})`, ours: noScan.cpuMsPerTransfer, unit: 'ms' },
      { measure: 'gateway peak RSS, no scan', ours: round(noScan.rss.peakBytes / 2 ** 20, 1), unit: 'MiB' },
    ];
    if (scanned) {
      const ratio = (a: number, b: number) => round(a / b, 2);
      comparisons.push(
        {
          measure: `transfers/s, every upload scanned by clamd, ${label}`,
          ours: scanned.transfersPerSecond,
          unit: 'transfers/s',
          baseline: { name: 'same, no scan', value: noScan.transfersPerSecond },
          ratio: ratio(scanned.transfersPerSecond, noScan.transfersPerSecond),
          ratioMeaning: 'clamd ÷ no scan',
        },
        {
          measure: 'end-to-end p50, clamd',
          ours: scanned.endToEnd.p50Ms,
          unit: 'ms',
          baseline: { name: 'same, no scan', value: noScan.endToEnd.p50Ms },
          ratio: ratio(scanned.endToEnd.p50Ms, noScan.endToEnd.p50Ms),
          ratioMeaning: 'clamd ÷ no scan, lower is better',
        },
        {
          measure: 'end-to-end p99, clamd',
          ours: scanned.endToEnd.p99Ms,
          unit: 'ms',
          baseline: { name: 'same, no scan', value: noScan.endToEnd.p99Ms },
          ratio: ratio(scanned.endToEnd.p99Ms, noScan.endToEnd.p99Ms),
          ratioMeaning: 'clamd ÷ no scan, lower is better',
        },
        {
          measure: `CPU per transfer, clamd (gateway${databaseUrl ? ' + Postgres backends' : ''} + clamd)`,
          ours: scanned.cpuMsPerTransfer,
          unit: 'ms',
          baseline: { name: 'same, no scan', value: noScan.cpuMsPerTransfer },
          ratio: ratio(scanned.cpuMsPerTransfer, noScan.cpuMsPerTransfer),
          ratioMeaning: 'clamd ÷ no scan, lower is better',
        },
        { measure: 'gateway peak RSS, clamd', ours: round(scanned.rss.peakBytes / 2 ** 20, 1), unit: 'MiB' },
      );
    } else {
      comparisons.push({ measure: `clamd half SKIPPED: ${clamdMissing}`, ours: NaN, unit: '' });
    }

    const steps = (o: LoadOutcome) =>
      `${o.half}: per request p50/p99 initialize ${o.steps.initialize.p50Ms}/${o.steps.initialize.p99Ms} ms, upload ${o.steps.upload.p50Ms}/${o.steps.upload.p99Ms} ms, ` +
      `overview ${o.steps.overview.p50Ms}/${o.steps.overview.p99Ms} ms; ${o.pollsPerTransfer} overview polls per transfer; CPU per transfer ${o.cpuMsPerTransfer} ms ` +
      `(gateway ${round(o.cpu.processMs / o.transfers, 2)}, database ${round(o.cpu.databaseMs / o.transfers, 2)}, clamd ${round(o.cpu.clamdMs / o.transfers, 2)}); load generator ${o.clientCpuMsPerTransfer} ms per transfer.`;
    const notes = [
      `Each of the ${CONNECTIONS} clients loops: POST /filetransfer (JSON, urn:altinn:organization:identifier-no recipients, as Altinn's script), POST …/upload with the 18-byte file (application/octet-stream), then GET the overview until it says Published (checked: size 18 and our MD5), polling every ${POLL_INTERVAL_MS} ms. Altinn's k6 script sleeps 1 s after each step and between polls; that think time is left out here, so the figures are the gateway's capacity, not the rate 20 sleeping users would generate (at most 20 ÷ 3 s ≈ 6.7 transfers/s).`,
      'One keep-alive connection per client; every answer is checked, and a single failed transfer fails the run. Clients start no new transfer once the time is up and finish the ones in flight; transfers/s = completed ÷ elapsed. Fresh gateway per half, warmed by the same loop first.',
      `SQL per transfer, counted once in-process on the same code (knex query events): ${describeStatements(statements)}.`,
      'Scanning: CLAMD_URL set to a clamd of our own (unix socket; one signature, the EICAR test file); the transfer is UploadProcessing until the background job (JOBS_CONCURRENCY default 4) has streamed it to clamd, then Published.',
      ...outcomes.map(steps),
      ...(clamdMissing ? [`The clamd half was skipped: ${clamdMissing}.`] : []),
      ...profiles.map(profileNote),
      ...(profiles.length > 0 && databaseUrl
        ? [
            'Reading the profiles: writev (native) is node-postgres writing each statement to its socket. Its samples are wall time on the main thread: on a small machine whose cores Postgres shares, a write that wakes the Postgres backend usually yields the core to it, so most of that time is the gateway waiting for the database to run the statement (the database\'s own CPU per transfer is shown above), not the gateway\'s own work.',
          ]
        : []),
    ];
    return {
      scenario: 'broker-load',
      title: this.title,
      params: {
        connections: CONNECTIONS,
        durationSeconds,
        warmupSeconds,
        pollIntervalMs: POLL_INTERVAL_MS,
        fileBytes: FILE.length,
        clamd: clamdBinary ?? 'missing: skipped',
        profile: profileRun ? `a separate ${profileSeconds} s run per half under node --cpu-prof` : 'none (quick; add --profile)',
      },
      comparisons,
      details: { outcomes, profiles, statements },
      notes,
    };
  },
};

interface ProfileRun {
  half: Half;
  run: ProfiledRun;
  transfersPerSecond: number;
}

function profileNote({ half, run, transfersPerSecond }: ProfileRun): string {
  return `Where the gateway's time goes, ${half}: a separate run under node --cpu-prof (${transfersPerSecond} transfers/s): ${describeProfiledRun(run, { packages: 8, functions: 6, own: 8, dependencies: 4 })}`;
}

/** A transfer initialized on this gateway is scanned exactly when clamd is on. */
async function checkScanSetting(gateway: ChildServer, broker: BrokerSetup, half: Half): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const id = await oneTransfer(gateway.baseUrl, broker, agent, { initialize: [], upload: [], overview: [] });
    const view = await call(gateway.baseUrl, 'GET', `${BROKER_API}/filetransfer/${id.fileTransferId}`, { token: broker.senderToken, agent });
    if (view.json?.useVirusScan !== (half === 'clamd')) throw new Error(`${half}: the transfer's useVirusScan is ${view.json?.useVirusScan}`);
  } finally {
    agent.destroy();
  }
}

interface StepStatements {
  statements: number;
  transactions: number;
}

/**
 * The SQL one transfer costs, step by step: the same code in this process (buildServer over the
 * bench archive, real HTTP), every statement counted from knex's query events. Done before the
 * gateway child starts (on PGlite only one process may open the archive).
 */
async function countStatements(context: BenchContext, broker: BrokerSetup): Promise<Record<'initialize' | 'upload' | 'overview', StepStatements>> {
  return context.withArchive(async (app) => {
    const server = buildServer(app, { logger: false });
    const baseUrl = await server.listen({ port: 0, host: '127.0.0.1' });
    let sql: string[] = [];
    const listener = (query: { sql: string }) => sql.push(query.sql);
    app.db.on('query', listener);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const settle = () => new Promise((resolve) => setTimeout(resolve, 200));
    try {
      const counted = async (work: () => Promise<unknown>): Promise<StepStatements> => {
        await settle();
        sql = [];
        await work();
        await settle(); // background work the step woke (jobs) counts too
        return { statements: sql.filter((q) => !/^(BEGIN|COMMIT|ROLLBACK)/i.test(q)).length, transactions: sql.filter((q) => /^BEGIN/i.test(q)).length };
      };
      let id = '';
      const initialize = await counted(async () => {
        const init = await call(baseUrl, 'POST', `${BROKER_API}/filetransfer`, {
          token: broker.senderToken,
          agent,
          json: { resourceId: broker.resourceId, fileName: 'testfile.txt', sendersFileTransferReference: 'test-data', sender: broker.sender, recipients: [broker.recipient] },
        });
        id = init.json.fileTransferId;
      });
      const upload = await counted(() => call(baseUrl, 'POST', `${BROKER_API}/filetransfer/${id}/upload`, { token: broker.senderToken, agent, body: FILE }));
      const overview = await counted(() => call(baseUrl, 'GET', `${BROKER_API}/filetransfer/${id}`, { token: broker.senderToken, agent }));
      return { initialize, upload, overview };
    } finally {
      app.db.removeListener('query', listener);
      agent.destroy();
      await server.close();
    }
  });
}

function describeStatements(counts: Record<string, StepStatements>): string {
  const total = Object.values(counts).reduce((sum, c) => ({ statements: sum.statements + c.statements, transactions: sum.transactions + c.transactions }), { statements: 0, transactions: 0 });
  return (
    Object.entries(counts)
      .map(([step, c]) => `${step} ${c.statements} statements in ${c.transactions} transaction${c.transactions === 1 ? '' : 's'}`)
      .join(', ') + ` (${total.statements} statements, ${total.transactions} transactions in all, without scanning)`
  );
}

interface RunOptions {
  baseUrl: string;
  broker: BrokerSetup;
  half: Half;
  seconds: number;
  serverPid: number;
  databaseUrl?: string | undefined;
  clamdPid?: number | undefined;
}

async function runTransfers(options: RunOptions): Promise<LoadOutcome> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  const steps = { initialize: [] as number[], upload: [] as number[], overview: [] as number[] };
  const endToEnd: number[] = [];
  const firstErrors: string[] = [];
  let errors = 0;
  let polls = 0;
  let stopping = false;
  const sampler = RssSampler.start(options.serverPid);
  const cpuMeter = await CpuMeter.start(options.serverPid, options.databaseUrl);
  const clamdBefore = options.clamdPid ? (processCpuMs(options.clamdPid) ?? 0) : 0;
  const clientCpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  const timer = setTimeout(() => (stopping = true), options.seconds * 1000);
  try {
    await Promise.all(
      Array.from({ length: CONNECTIONS }, async () => {
        while (!stopping) {
          const t0 = process.hrtime.bigint();
          try {
            const done = await oneTransfer(options.baseUrl, options.broker, agent, steps);
            polls += done.polls;
            endToEnd.push(Number(process.hrtime.bigint() - t0) / 1e6);
          } catch (error) {
            errors++;
            if (firstErrors.length < 3) firstErrors.push((error as Error).message);
          }
        }
      }),
    );
  } finally {
    clearTimeout(timer);
    agent.destroy();
  }
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  const clientUsage = process.cpuUsage(clientCpu);
  const cpu = await cpuMeter.stop();
  const clamdMs = options.clamdPid ? Math.round((processCpuMs(options.clamdPid) ?? clamdBefore) - clamdBefore) : 0;
  const rss = await sampler.stop();
  const transfers = endToEnd.length;
  return {
    half: options.half,
    connections: CONNECTIONS,
    durationSeconds: round(elapsed, 2),
    transfers,
    transfersPerSecond: round(transfers / elapsed, 1),
    endToEnd: summarizeLatencies(endToEnd),
    steps: { initialize: summarizeLatencies(steps.initialize), upload: summarizeLatencies(steps.upload), overview: summarizeLatencies(steps.overview) },
    pollsPerTransfer: transfers ? round(polls / transfers, 2) : NaN,
    errors,
    firstErrors,
    cpu: { ...cpu, clamdMs },
    cpuMsPerTransfer: transfers ? round((cpu.totalMs + clamdMs) / transfers, 2) : NaN,
    clientCpuMsPerTransfer: transfers ? round((clientUsage.user + clientUsage.system) / 1000 / transfers, 2) : NaN,
    rss,
  };
}

/** initialize → upload → poll the overview until Published; step latencies pushed into `steps`. */
async function oneTransfer(
  baseUrl: string,
  broker: BrokerSetup,
  agent: http.Agent,
  steps: { initialize: number[]; upload: number[]; overview: number[] },
): Promise<{ fileTransferId: string; polls: number }> {
  const init = await call(baseUrl, 'POST', `${BROKER_API}/filetransfer`, {
    token: broker.senderToken,
    agent,
    json: {
      resourceId: broker.resourceId,
      checksum: null,
      fileName: 'testfile.txt',
      recipients: [`urn:altinn:organization:identifier-no:${broker.recipient.slice('0192:'.length)}`],
      sender: `urn:altinn:organization:identifier-no:${broker.sender.slice('0192:'.length)}`,
      sendersFileTransferReference: 'test-data',
    },
  });
  if (init.status !== 200) throw new Error(`initialize: ${init.status} ${init.text.slice(0, 200)}`);
  steps.initialize.push(init.ms);
  const fileTransferId = init.json.fileTransferId as string;
  const upload = await call(baseUrl, 'POST', `${BROKER_API}/filetransfer/${fileTransferId}/upload`, { token: broker.senderToken, agent, body: FILE });
  if (upload.status !== 200) throw new Error(`upload: ${upload.status} ${upload.text.slice(0, 200)}`);
  steps.upload.push(upload.ms);
  const deadline = Date.now() + 60_000;
  for (let polls = 1; ; polls++) {
    const view = await call(baseUrl, 'GET', `${BROKER_API}/filetransfer/${fileTransferId}`, { token: broker.senderToken, agent });
    if (view.status !== 200) throw new Error(`overview: ${view.status} ${view.text.slice(0, 200)}`);
    steps.overview.push(view.ms);
    const o = view.json;
    if (o.fileTransferStatus === 'Published') {
      if (o.fileTransferSize !== FILE.length || o.checksum !== FILE_MD5) throw new Error(`Published with size ${o.fileTransferSize} and checksum ${o.checksum}`);
      return { fileTransferId, polls };
    }
    if (o.fileTransferStatus === 'Failed') throw new Error(`Failed: ${o.fileTransferStatusText}`);
    if (Date.now() > deadline) throw new Error(`not Published within 60 s (${o.fileTransferStatus})`);
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
  }
}

function logOutcome(o: LoadOutcome): void {
  log(
    `${o.half}: ${o.transfers} transfers in ${o.durationSeconds} s = ${o.transfersPerSecond}/s, end-to-end p50 ${o.endToEnd.p50Ms} ms p99 ${o.endToEnd.p99Ms} ms, ` +
      `${o.pollsPerTransfer} polls each, CPU ${o.cpuMsPerTransfer} ms/transfer (gateway ${o.cpu.processMs} ms, database ${o.cpu.databaseMs} ms, clamd ${o.cpu.clamdMs} ms), ` +
      `peak RSS ${(o.rss.peakBytes / 2 ** 20).toFixed(1)} MiB, ${o.errors} errors`,
  );
}

/** The process whose command line has this argument (clamd, started by the test helper), if any. */
function findPidByArgument(argument: string): number | undefined {
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const args = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (args.includes(argument)) return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}
