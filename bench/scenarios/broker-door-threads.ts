/**
 * broker-door-threads (a diagnosis, no target; run only with --only): 1 GiB uploads through several
 * doors in ONE gateway process, alternating, with that process's CPU split per thread (user and
 * system time from /proc/<pid>/task: the main thread, the hashing worker, libuv's file threads,
 * V8's helpers) and the client's own CPU; the plain upload server in the same rounds.
 *
 *   BENCH_DOOR_DOORS     altinn3 (POST …/filetransfer/{id}/upload), altinn2rest (the outbox),
 *                        tusraw (TUS, 8 MiB PATCHes, raw client), tusjs (the same with tus-js-client);
 *                        default altinn3,altinn2rest
 *   BENCH_DOOR_VARIANTS  "name:KEY=VALUE,KEY=VALUE;name2:…": gateways started with extra
 *                        environment (node flags through BENCH_GATEWAY_NODE_ARGS, UV_THREADPOOL_SIZE),
 *                        each round in turn beside the plain server, order rotating; default one
 *   BENCH_DOOR_ROUNDS    default 4 (2 with --quick)
 *
 * The doors run the same use case on the same blob store, so a difference between them in one
 * process is the door's; a difference between rounds is the machine's. On PostgreSQL every blob is
 * deleted after each measured upload, as the plain server deletes its file every round. A TUS
 * upload's figures include its processing job (the MD5 and SHA-256, computed after the last
 * chunk): the MB/s stop at the last chunk's answer, the thread times once it is Published with its MD5.
 *
 * Compare like with like: every upload but a gateway's first follows the deletion of the previous
 * 1 GiB blob a moment before, and on a VM that hands freed memory back to its host that makes it
 * the cheaper one (its file threads' kernel time a third; with the blobs kept, it is the dearer
 * one). broker-tus-1gb primes before every upload instead; its figures match the first uploads
 * here (bench/PROFILE-NOTES.md).
 */
import { randomInt } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import { addApiKey } from '../../src/auth/api-keys';
import { issueLocalToken } from '../../src/auth/end-user-tokens';
import { addRole } from '../../src/auth/roles';
import { loadConfig } from '../../src/config';
import type { BenchContext } from '../lib/context';
import { gcStats } from '../lib/gc-stats';
import { deterministicFile } from '../lib/input-files';
import { scenarioLogger } from '../lib/log';
import type { Scenario, ScenarioResult } from '../lib/results';
import { MIB, median, round } from '../lib/stats';
import { rawBrokerTusUpload, tusJsClientUpload } from './broker-tus-1gb';
import { BENCH_ORGS, BROKER_API, deleteTransferBlobs, initialize, setUpBroker, startGatewayWith, uploadFile, waitForPublished } from './broker-support';

const log = scenarioLogger('broker-door-threads');

type ThreadTimes = Map<number, { user: number; system: number }>;

/** Per thread of `pid`: user and system CPU in ms. */
function threadTimes(pid: number): ThreadTimes {
  const ticks = 100; // CLK_TCK on Linux
  const times: ThreadTimes = new Map();
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      times.set(Number(tid), { user: (Number(fields[11]) * 1000) / ticks, system: (Number(fields[12]) * 1000) / ticks });
    } catch {
      // gone
    }
  }
  return times;
}

function diff(before: ThreadTimes, after: ThreadTimes): Map<number, { user: number; system: number }> {
  const out = new Map<number, { user: number; system: number }>();
  for (const [tid, a] of after) {
    const b = before.get(tid) ?? { user: 0, system: 0 };
    const d = { user: a.user - b.user, system: a.system - b.system };
    if (d.user + d.system > 0) out.set(tid, d);
  }
  return out;
}

export const brokerDoorThreads: Scenario = {
  name: 'broker-door-threads',
  title: 'Diagnosis: 1 GiB uploads through several doors in one gateway process, CPU per thread',
  async run(context: BenchContext): Promise<ScenarioResult> {
    const sizeBytes = Number(process.env.BENCH_STREAM_MIB || (context.quick ? 64 : 1024)) * MIB;
    const rounds = Number(process.env.BENCH_DOOR_ROUNDS || (context.quick ? 2 : 4));
    const input = await deterministicFile(context.cacheDir, 'stream', sizeBytes, 'altinn-gateway-bench');
    const warm = await deterministicFile(context.cacheDir, 'broker-warm', Math.min(sizeBytes, 32 * MIB), 'altinn-gateway-bench-warm');
    const serviceCode = String(randomInt(60_000, 99_999));
    const broker = await setUpBroker(context, { externalServiceCodeLegacy: serviceCode, externalServiceEditionCodeLegacy: 1, useManifestFileShim: false });
    const jwt = loadConfig({ ...process.env, DATA_DIR: context.dataDir }).messages.jwt;
    const apiKey = await context.withArchive(async (app) => {
      await addRole(app.db, { person: '01017012345', orgNumber: BENCH_ORGS.sender });
      return (await addApiKey(app.db, { name: `bench-door-${serviceCode}` })).key;
    });
    const personToken = await issueLocalToken(jwt, context.dataDir, { person: '01017012345', authLevel: 3, ttlSeconds: 12 * 3600 });
    const description = JSON.stringify({ ServiceCode: serviceCode, ServiceEditionCode: 1, SendersReference: 'bench', Recipients: [BENCH_ORGS.recipient], Properties: {}, FileList: null });

    const variants = (process.env.BENCH_DOOR_VARIANTS || 'base:')
      .split(';')
      .filter(Boolean)
      .map((spec) => {
        const [name, ...rest] = spec.split(':');
        const pairs = rest.join(':').split(',').filter(Boolean);
        return { name: name!, env: Object.fromEntries(pairs.map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)])) };
      });
    const doorNames = (process.env.BENCH_DOOR_DOORS || 'altinn3,altinn2rest').split(',') as ('altinn3' | 'altinn2rest' | 'tusraw' | 'tusjs')[];
    const uploadsDir = `${context.workDir}/plain-uploads`;
    const rows: Record<string, any>[] = [];
    for (let r = 1; r <= rounds; r++) {
      const systems = ['plain', ...variants.map((v) => v.name)];
      const order = [...systems.slice(r % systems.length), ...systems.slice(0, r % systems.length)];
      for (const system of order) {
        if (system === 'plain') {
          const plain = await context.startBaseline('plain-upload', 'plain-upload-server.js', [uploadsDir]);
          try {
            await uploadFile(`${plain.baseUrl}/upload`, warm.path);
            const before = threadTimes(plain.pid);
            const clientBefore = process.cpuUsage();
            const upload = await uploadFile(`${plain.baseUrl}/upload`, input.path);
            const client = process.cpuUsage(clientBefore);
            const perThread = [...diff(before, threadTimes(plain.pid))];
            const total = perThread.reduce((sum, [, t]) => sum + t.user + t.system, 0);
            const threads = perThread.map(([tid, t]) => `${tid === plain.pid ? 'main' : tid} ${t.user}u+${t.system}s`).join(', ');
            rows.push({ round: r, system, door: 'plain', mbPerSecond: round(upload.mbPerSecond, 1), totalMs: total, main: { user: 0, system: 0 } });
            log(`round ${r} plain ${round(upload.mbPerSecond, 0)} MB/s, CPU ${total} ms: ${threads}; client ${Math.round((client.user + client.system) / 1000)} ms (load ${os.loadavg()[0]!.toFixed(1)})`);
          } finally {
            await plain.stop();
            fs.rmSync(uploadsDir, { recursive: true, force: true });
          }
          continue;
        }
        const variant = variants.find((v) => v.name === system)!;
        const gateway = await startGatewayWith(context, `door-${system}`, variant.env);
        const timedTus = async (file: string, upload: (fileTransferId: string, sizeBytes: number) => Promise<unknown>) => {
          const id = await initialize(gateway.baseUrl, broker, { disableVirusScan: true });
          const sizeBytes = fs.statSync(file).size;
          const started = process.hrtime.bigint();
          await upload(id, sizeBytes);
          const seconds = Number(process.hrtime.bigint() - started) / 1e9;
          // A TUS upload is hashed after its last chunk: that CPU is the upload's too (the thread
          // times are read after this), and must not overlap the next upload.
          await waitForPublished(gateway.baseUrl, broker, id);
          return { status: 204, body: '', mbPerSecond: sizeBytes / 1e6 / seconds };
        };
        const doors = {
          altinn3: async (file: string) => {
            const id = await initialize(gateway.baseUrl, broker, { disableVirusScan: true });
            return uploadFile(`${gateway.baseUrl}${BROKER_API}/filetransfer/${id}/upload`, file, { headers: { authorization: `Bearer ${broker.senderToken}` } });
          },
          tusraw: (file: string) => timedTus(file, (id, sizeBytes) => rawBrokerTusUpload(gateway.baseUrl, broker, id, file, sizeBytes)),
          tusjs: (file: string) => timedTus(file, (id) => tusJsClientUpload(gateway.baseUrl, broker, id, file)),
          altinn2rest: async (file: string) => {
            const query = new URLSearchParams({ fileName: 'bench.zip', brokerServiceDescription: description });
            return uploadFile(`${gateway.baseUrl}/api/${BENCH_ORGS.sender}/brokerservice/outbox?${query}`, file, {
              headers: { apikey: apiKey, authorization: `Bearer ${personToken}`, accept: 'application/json', 'content-type': 'application/zip' },
            });
          },
        };
        try {
          for (const door of doorNames) {
            const warmed = await doors[door](warm.path);
            if (warmed.status >= 300) throw new Error(`warm-up answered ${warmed.status}: ${warmed.body}`);
          }
          for (const door of r % 2 === 1 ? doorNames : [...doorNames].reverse()) {
            const gcBefore = await gcStats(gateway.baseUrl);
            const before = threadTimes(gateway.pid);
            const clientBefore = process.cpuUsage();
            const upload = await doors[door](input.path);
            const client = process.cpuUsage(clientBefore);
            const after = threadTimes(gateway.pid);
            const gcAfter = await gcStats(gateway.baseUrl);
            if (upload.status >= 300) throw new Error(`${door} answered ${upload.status}: ${upload.body}`);
            const perThread = [...diff(before, after)].sort((a, b) => b[1].user + b[1].system - (a[1].user + a[1].system));
            const total = perThread.reduce((sum, [, t]) => sum + t.user + t.system, 0);
            const main = perThread.find(([tid]) => tid === gateway.pid)?.[1] ?? { user: 0, system: 0 };
            const others = perThread.filter(([tid]) => tid !== gateway.pid).map(([tid, t]) => `${tid} ${t.user}u+${t.system}s`);
            const gcMs = Math.round((gcAfter.totalSeconds - gcBefore.totalSeconds) * 1000);
            rows.push({ round: r, system, door, mbPerSecond: round(upload.mbPerSecond, 1), totalMs: total, main, others, gcMs, majors: gcAfter.majorCount - gcBefore.majorCount });
            log(`round ${r} ${system} ${door.padEnd(11)} ${round(upload.mbPerSecond, 0)} MB/s, CPU ${total} ms: main ${main.user}u+${main.system}s; ${others.join(', ')}; GC ${gcMs} ms; client ${Math.round((client.user + client.system) / 1000)} ms (load ${os.loadavg()[0]!.toFixed(1)})`);
            // As the plain server's file goes every round: the next upload then finds freed pages as
            // the plain one does (PROFILE-NOTES: kept blobs cost the next writer's file threads).
            // The embedded database has one owner, the running gateway: there they stay.
            if (context.db.kind !== 'pglite') await deleteTransferBlobs(context, 'every transfer');
          }
        } finally {
          await context.stopGateway();
        }
      }
    }
    const keys = [...new Set(rows.map((row) => `${row.system}/${row.door}`))];
    const of = (key: string, pick: (row: any) => number) => median(rows.filter((row) => `${row.system}/${row.door}` === key).map(pick));
    const plainMbps = of('plain/plain', (x) => x.mbPerSecond);
    const summary = Object.fromEntries(
      keys.map((key) => [key, { mbPerSecond: of(key, (x) => x.mbPerSecond), ratio: round(of(key, (x) => x.mbPerSecond) / plainMbps, 2), cpuMs: of(key, (x) => x.totalMs), mainMs: of(key, (x) => x.main.user + x.main.system) }]),
    );
    log(`medians: ${JSON.stringify(summary)}`);
    return {
      scenario: 'broker-door-threads',
      title: this.title,
      params: { sizeBytes, rounds },
      comparisons: [],
      details: { rows, summary },
      notes: [],
    };
  },
};
