/**
 * `npm run bench`: the benchmark suite (issue 5). See BENCHMARKS.md for what it measures and how;
 * `npm run bench -- --help` for the options. Exits non-zero only when a scenario could not run
 * (an error), never because a target was missed: the figures are reported, not judged.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs, USAGE, type BenchOptions } from './lib/args';
import { createContext, type BenchContext } from './lib/context';
import { createBenchDatabase, type BenchDatabase } from './lib/database';
import { log } from './lib/log';
import { describeMachine } from './lib/machine';
import { stopAllChildren } from './lib/processes';
import { writeResults } from './lib/report';
import type { RunResult, ScenarioResult } from './lib/results';
import { SCENARIOS } from './scenarios';

const ROOT_DIR = path.resolve(__dirname, '..', '..');
/** Set by SIGINT/SIGTERM: the run stops, writes nothing, cleans up and exits 130. */
let interrupted = false;

async function main(): Promise<number> {
  let options: BenchOptions;
  try {
    const parsed = parseArgs(process.argv.slice(2));
    if (parsed === 'help') {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    options = parsed;
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    return 2;
  }

  const startedAt = new Date().toISOString();
  const loadAtStart = os.loadavg()[0]!;
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'agw-bench-'));
  const cacheDir = process.env.BENCH_CACHE_DIR || path.join(os.tmpdir(), 'altinn-gateway-bench-cache');
  let db: BenchDatabase | undefined;
  let context: BenchContext | undefined;
  let cleaning: Promise<void> | undefined;
  const cleanup = (): Promise<void> => (cleaning ??= cleanupOnce());
  const cleanupOnce = async (): Promise<void> => {
    await context?.dispose().catch((error: Error) => log(`could not drop a benchmark database: ${error.message}`));
    await stopAllChildren();
    if (options.keep) {
      log(`kept: ${workDir}${db?.kind === 'postgres' ? ` and ${db.description} (plus any agw_bench_* databases a scenario created)` : ''}`);
      return;
    }
    await db?.drop().catch((error: Error) => log(`could not drop the benchmark database: ${error.message}`));
    fs.rmSync(workDir, { recursive: true, force: true });
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      interrupted = true;
      log(`${signal}: stopping the servers and removing the benchmark databases`);
      void cleanup().finally(() => process.exit(130));
    });
  }

  try {
    db = await createBenchDatabase(process.env);
    log(`mode: ${options.quick ? 'quick' : 'full'}; scenarios: ${options.only.join(', ')}`);
    log(`database: ${db.description}`);
    if (db.kind === 'pglite') {
      log('NOTE: no BENCH_DATABASE_URL/DATABASE_URL, so the gateway runs on embedded PGlite; queue-scale is scaled down ' +
        '(PGlite is single-connection WebAssembly: loading 1,000,000 tasks would take very long). Set DATABASE_URL for full sizes.');
    }
    log(`work dir: ${workDir}; input cache: ${cacheDir}`);
    const cores = os.cpus().length;
    log(`load average ${loadAtStart.toFixed(2)} on ${cores} cores${loadAtStart > cores / 2 ? ': the machine is busy with other work, expect noisy absolute figures' : ''}`);
    context = createContext(options, db, ROOT_DIR, workDir, cacheDir);

    const results: ScenarioResult[] = [];
    const failures: RunResult['failures'] = [];
    for (const name of options.only) {
      if (interrupted) break;
      const scenario = SCENARIOS[name];
      log(`=== ${name}: ${scenario.title}`);
      try {
        const result = await scenario.run(context);
        results.push(result);
        for (const c of result.comparisons) {
          const baseline = c.baseline ? `; ${c.baseline.name}: ${c.baseline.value} ${c.unit}` : '';
          const ratio = c.ratio === undefined ? '' : `; ratio ${c.ratio}`;
          const target = c.target ? `; target ${c.target}: ${c.met ? 'met' : 'MISSED'}` : '';
          log(`${name}: ${c.measure}: ours ${c.ours} ${c.unit}${baseline}${ratio}${target}`);
        }
      } catch (error) {
        if (interrupted) break;
        const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
        failures.push({ scenario: name, error: message });
        log(`${name} FAILED: ${message}`);
        await stopAllChildren();
      }
    }

    if (interrupted) return 130;
    const run: RunResult = {
      startedAt,
      finishedAt: new Date().toISOString(),
      mode: options.quick ? 'quick' : 'full',
      argv: process.argv.slice(2),
      machine: describeMachine(db, loadAtStart),
      database: { kind: db.kind, description: db.description, version: db.version },
      scenarios: results,
      failures,
    };
    const written = writeResults(ROOT_DIR, run);
    log(`wrote ${path.relative(ROOT_DIR, written.latest)} and ${path.relative(ROOT_DIR, written.markdown)}`);
    log(`machine: ${run.machine.cores} cores, Node ${run.machine.node}, ${run.machine.database}; load average ${run.machine.loadAverage.start} → ${run.machine.loadAverage.end}`);
    if (failures.length > 0) {
      log(`${failures.length} scenario(s) failed: ${failures.map((f) => f.scenario).join(', ')}`);
      return 1;
    }
    return 0;
  } finally {
    await cleanup();
  }
}

main().then(
  // After an interrupt the signal handler exits once the clean-up is done.
  (code) => interrupted || process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    void stopAllChildren().finally(() => process.exit(1));
  },
);
