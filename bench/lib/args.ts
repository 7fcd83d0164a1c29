/** Command-line options of `npm run bench -- [options]`. */
export const SCENARIO_NAMES = [
  'stream-1gb',
  'queue-scale',
  'list-500',
  'formtask-10x1mb',
  'purge',
  'encrypt-1gb',
  'blob-hashing',
  'broker-stream-1gb',
  'broker-tus-1gb',
  'broker-load',
  'broker-altinn2-rest-1gb',
  'broker-soap-1gb',
  'broker-door-threads',
  'object-store-1gb',
  'scale-out-2x',
] as const;
export type ScenarioName = (typeof SCENARIO_NAMES)[number];

/** Diagnoses, not measurements against a target: run only when named with --only. */
export const DIAGNOSTIC_SCENARIOS: readonly ScenarioName[] = ['broker-door-threads'];

export interface BenchOptions {
  /** Small sizes and short runs: a smoke run (CI) that finishes in a couple of minutes. */
  quick: boolean;
  /** Scenarios to run, in the order of SCENARIO_NAMES. */
  only: ScenarioName[];
  /** Run the gateway under `node --cpu-prof`; profiles land in bench/results/profiles/. */
  profile: boolean;
  /** Keep the benchmark database and temporary directory (for looking at them afterwards). */
  keep: boolean;
}

export const USAGE = `Usage: npm run bench -- [--quick] [--only <scenario>[,<scenario>...]] [--profile] [--keep]

  --quick            small sizes and short runs (smoke run, a couple of minutes)
  --only <names>     run only these scenarios (repeatable or comma-separated):
                     ${SCENARIO_NAMES.join(', ')}
                     (${DIAGNOSTIC_SCENARIOS.join(', ')}: a diagnosis, run only when named)
  --profile          run the gateway under node --cpu-prof (profiles in bench/results/profiles/)
  --keep             keep the benchmark database and temporary directory

Environment: BENCH_DATABASE_URL or DATABASE_URL (a Postgres server on which a fresh database
agw_bench_<random> is created and dropped at the end); unset → embedded PGlite, scaled down.`;

export function parseArgs(argv: string[]): BenchOptions | 'help' {
  const options: BenchOptions = { quick: false, only: [], profile: false, keep: false };
  const only = new Set<ScenarioName>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') return 'help';
    else if (arg === '--quick') options.quick = true;
    else if (arg === '--profile') options.profile = true;
    else if (arg === '--keep') options.keep = true;
    else if (arg === '--only' || arg.startsWith('--only=')) {
      const value = arg === '--only' ? argv[++i] : arg.slice('--only='.length);
      if (!value) throw new Error('--only needs a scenario name');
      for (const name of value.split(',').map((s) => s.trim()).filter(Boolean)) {
        if (!(SCENARIO_NAMES as readonly string[]).includes(name)) {
          throw new Error(`Unknown scenario '${name}' (known: ${SCENARIO_NAMES.join(', ')})`);
        }
        only.add(name as ScenarioName);
      }
    } else {
      throw new Error(`Unknown option '${arg}'\n${USAGE}`);
    }
  }
  options.only = only.size > 0 ? SCENARIO_NAMES.filter((n) => only.has(n)) : SCENARIO_NAMES.filter((n) => !DIAGNOSTIC_SCENARIOS.includes(n));
  return options;
}
