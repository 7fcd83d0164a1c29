/** The shape of what a scenario reports, and of bench/results/latest.json. */
import type { ScenarioName } from './args';
import type { BenchContext } from './context';
import type { Machine } from './machine';

/** One line of the BENCHMARKS.md table: our figure, optionally beside one baseline's. */
export interface Comparison {
  /** What is measured, e.g. "MB/s (1 GB attachment)". */
  measure: string;
  ours: number;
  unit: string;
  baseline?: { name: string; value: number };
  /** ours ÷ baseline for "more is better" figures, as stated in ratioMeaning. */
  ratio?: number;
  ratioMeaning?: string;
  target?: string;
  /** Whether the target is met; undefined when there is no target. */
  met?: boolean;
}

export interface ScenarioResult {
  scenario: ScenarioName;
  title: string;
  /** Sizes and settings actually used (after --quick / PGlite scaling). */
  params: Record<string, unknown>;
  comparisons: Comparison[];
  /** Every raw measurement, for latest.json. */
  details: Record<string, unknown>;
  notes: string[];
}

export interface Scenario {
  name: ScenarioName;
  title: string;
  run(context: BenchContext): Promise<ScenarioResult>;
}

export interface RunResult {
  startedAt: string;
  finishedAt: string;
  mode: 'full' | 'quick';
  argv: string[];
  machine: Machine;
  database: { kind: string; description: string; version: string };
  scenarios: ScenarioResult[];
  failures: { scenario: ScenarioName; error: string }[];
}
