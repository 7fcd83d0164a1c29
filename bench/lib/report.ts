/**
 * Writing results: bench/results/latest.json (this run, every raw figure), and BENCHMARKS.md, a
 * table per mode (full, quick) rendered from bench/results/published.json, where each scenario's
 * latest result of that mode is kept. A `--only` run thus replaces its scenarios' rows and leaves
 * the others; every row names the run it comes from, and each run its machine.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Machine } from './machine';
import type { Comparison, RunResult, ScenarioResult } from './results';
import { SCENARIO_NAMES } from './args';

interface PublishedRun {
  startedAt: string;
  machine: Machine;
  database: RunResult['database'];
}

type Section = 'full:postgres' | 'quick:postgres' | 'full:pglite' | 'quick:pglite';
const SECTIONS: { key: Section; title: string; intro: string }[] = [
  { key: 'full:postgres', title: 'Full size, on PostgreSQL', intro: '' },
  {
    key: 'full:pglite',
    title: 'Full size, on embedded PGlite',
    intro: 'Without a Postgres server the gateway runs on PGlite (single-connection WebAssembly Postgres); queue-scale is scaled down.\n\n',
  },
  { key: 'quick:postgres', title: 'Quick (smoke run), on PostgreSQL', intro: 'Small sizes and short runs: these show the suite works, not how fast anything is.\n\n' },
  { key: 'quick:pglite', title: 'Quick (smoke run), on embedded PGlite', intro: 'Small sizes and short runs: these show the suite works, not how fast anything is.\n\n' },
];

interface Published {
  runs: Record<string, PublishedRun>;
  sections: Partial<Record<Section, Record<string, { run: string; result: ScenarioResult }>>>;
}

export function writeResults(rootDir: string, run: RunResult): { latest: string; markdown: string } {
  const resultsDir = path.join(rootDir, 'bench', 'results');
  fs.mkdirSync(resultsDir, { recursive: true });
  const latest = path.join(resultsDir, 'latest.json');
  writeAtomically(latest, `${JSON.stringify(run, null, 2)}\n`);

  const publishedFile = path.join(resultsDir, 'published.json');
  let published: Published = { runs: {}, sections: {} };
  try {
    const read = JSON.parse(fs.readFileSync(publishedFile, 'utf8')) as Published;
    if (read.runs && read.sections) published = read;
  } catch {
    // first run
  }
  if (run.scenarios.length > 0) {
    published.runs[run.startedAt] = { startedAt: run.startedAt, machine: run.machine, database: run.database };
    const section = (published.sections[`${run.mode}:${run.machine.databaseKind}`] ??= {});
    for (const result of run.scenarios) section[result.scenario] = { run: run.startedAt, result };
    // Forget runs no row refers to any more.
    const used = new Set(Object.values(published.sections).flatMap((entries) => Object.values(entries ?? {}).map((e) => e.run)));
    for (const key of Object.keys(published.runs)) if (!used.has(key)) delete published.runs[key];
    writeAtomically(publishedFile, `${JSON.stringify(published, null, 2)}\n`);
  }
  const markdown = path.join(rootDir, 'BENCHMARKS.md');
  writeAtomically(markdown, renderMarkdown(published));
  return { latest, markdown };
}

function writeAtomically(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

function fmt(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return '–';
  if (Math.abs(value) >= 100) return String(Math.round(value));
  return String(Number(value.toPrecision(3)));
}

function row(scenario: string, c: Comparison, runLabel: string): string {
  const met = c.met === undefined ? '' : c.met ? '**yes**' : '**no**';
  return `| ${scenario} | ${c.measure} | ${fmt(c.ours)} ${c.unit} | ${c.baseline?.name ?? ''} | ${
    c.baseline ? `${fmt(c.baseline.value)} ${c.unit}` : ''
  } | ${c.ratio === undefined ? '' : `${fmt(c.ratio)}${c.ratioMeaning ? ` (${c.ratioMeaning})` : ''}`} | ${c.target ?? ''} | ${met} | ${runLabel} |`;
}

function describeRun(run: PublishedRun): string {
  const m = run.machine;
  const load = m.loadAverage ? `; load average ${m.loadAverage.start} at start, ${m.loadAverage.end} at end` : '';
  return `${m.cores} cores (${m.cpuModel}), ${m.memoryGiB} GiB, ${m.os}, Node ${m.node}, ${m.database}${load}`;
}

function renderSection(published: Published, key: Section): string {
  const section = published.sections[key] ?? {};
  const entries = SCENARIO_NAMES.map((name) => section[name]).filter((e): e is NonNullable<typeof e> => e !== undefined);
  if (entries.length === 0) return '_No results yet._\n';
  const runKeys = [...new Set(entries.map((e) => e.run))].sort();
  const runLabel = (key: string) => `R${runKeys.indexOf(key) + 1}`;
  const lines = [
    '| Scenario | Measure | Ours | Baseline | Baseline figure | Ratio | Target | Met | Run |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const entry of entries) {
    for (const comparison of entry.result.comparisons) lines.push(row(`\`${entry.result.scenario}\``, comparison, runLabel(entry.run)));
  }
  lines.push('');
  for (const key of runKeys) {
    const run = published.runs[key];
    if (run) lines.push(`- **${runLabel(key)}** (${key}): ${describeRun(run)}; database: ${run.database.description}.`);
  }
  lines.push('');
  for (const entry of entries) {
    const { result } = entry;
    lines.push(`**\`${result.scenario}\`**: ${result.title}. Parameters: ${Object.entries(result.params).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ')}.`);
    for (const note of result.notes) lines.push(`- ${note}`);
    lines.push('');
  }
  return lines.join('\n');
}

function renderMarkdown(published: Published): string {
  return `# Benchmarks

<!-- Generated by \`npm run bench\` (bench/lib/report.ts) from bench/results/published.json: do not edit by hand. -->

\`npm run bench\` builds the project, starts the gateway as a child process (\`node bin/altinn-gateway.js serve\`)
on a fresh database of its own (a new \`agw_bench_<random>\` database on \`BENCH_DATABASE_URL\`/\`DATABASE_URL\`,
dropped afterwards; embedded PGlite, scaled down, when neither is set), loads data, and runs each scenario
beside its baseline **in the same run**: the machines are shared and noisy, so the ratios are the figures that
carry over, not the absolute numbers. Baselines run as child processes too, and every server's RSS is sampled
from \`/proc/<pid>/status\` (VmRSS) every 50 ms on a worker thread. Load comes from a closed-loop generator at a
fixed concurrency (node:http keep-alive connections, llhttp parser as in undici; each response read to the
end), with every response's latency recorded; list-500 uses wrk instead (C, one event loop; its own CPU time is
reported so that it is seen not to set the pace); queue-scale also uses sequential keep-alive clients,
alternating between the two archives. list-500 and formtask-10x1mb also run against a JAX-WS RI (Metro) server
generated by wsimport from Altinn's reference WSDL, serving the same data from memory: the bar a Java team would set. (Not autocannon: its client measured ~280 req/s for 200 KB bodies and
~1.5 req/s for 10 MB bodies on this machine, where node:http and undici reach ~1,700-2,400 and ~68 against
the same plain server: it would have measured itself.) The gateway runs with \`LOG_LEVEL=warn\` (no per-request log lines; the
baselines log nothing either). Raw figures of the latest run: \`bench/results/latest.json\`.

Besides throughput and latency, each load run records the **CPU time per request** of the server under test
(utime+stime from \`/proc/<pid>/stat\`, plus, for the gateway, its Postgres backends found in
\`pg_stat_activity\`): on a shared 2-core machine, where the load generator and Postgres compete for the
same cores, that is the steadier measure of cost; capacity on a dedicated machine is roughly cores ÷ CPU per
request. Profiles and where the time goes: [bench/PROFILE-NOTES.md](bench/PROFILE-NOTES.md).

\`npm run bench -- --quick\` is the smoke run (small sizes, a couple of minutes); \`--only <scenario>\` runs a
subset; \`--profile\` runs the gateway under \`node --cpu-prof\` (profiles in \`bench/results/profiles/\`).

${SECTIONS.filter((s) => s.key === 'full:postgres' || published.sections[s.key])
  .map((s) => `## ${s.title}\n\n${s.intro}${renderSection(published, s.key)}`)
  .join('\n')}`;
}
