/**
 * Summarise a V8 .cpuprofile (from `npm run bench -- --profile`): self time by function and by
 * file/package, and inclusive time of the functions that matter, as percentages of busy (non-idle)
 * time, so "where the time goes" can be said in a few lines.
 *
 *   node dist/bench/tools/profile-summary.js bench/results/profiles/<file>.cpuprofile [top]
 */
import fs from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount: number;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const [file, topArg] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: profile-summary <file.cpuprofile> [top]\n');
  process.exit(2);
}
const top = Number(topArg ?? 25);
const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

// Time per sample (µs) attributed to the sampled node.
const selfUs = new Map<number, number>();
profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
// Percentages are of busy time: idle samples (waiting in epoll) are left out.
const idleUs = [...selfUs.entries()].filter(([id]) => byId.get(id)!.callFrame.functionName === '(idle)').reduce((a, [, us]) => a + us, 0);
const sampledUs = [...selfUs.values()].reduce((a, b) => a + b, 0);
const totalUs = sampledUs - idleUs;
for (const [id] of [...selfUs.entries()]) if (byId.get(id)!.callFrame.functionName === '(idle)') selfUs.delete(id);

function where(n: ProfileNode): string {
  const url = n.callFrame.url.replace(/^file:\/\//, '');
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return `npm:${nm[1]}`;
  if (url.includes('/dist/src/')) return url.slice(url.indexOf('/dist/src/') + 1);
  if (url.startsWith('node:')) return url;
  return url || '(native/VM)';
}
function label(n: ProfileNode): string {
  return `${n.callFrame.functionName || '(anonymous)'} ${where(n)}:${n.callFrame.lineNumber + 1}`;
}

const pct = (us: number) => `${((100 * us) / totalUs).toFixed(1).padStart(5)}%`;
const self = new Map<string, number>();
const byWhere = new Map<string, number>();
const inclusive = new Map<string, number>();
for (const [id, us] of selfUs) {
  const n = byId.get(id)!;
  self.set(label(n), (self.get(label(n)) ?? 0) + us);
  const w = ['(program)', '(garbage collector)'].includes(n.callFrame.functionName) ? n.callFrame.functionName : where(n);
  byWhere.set(w, (byWhere.get(w) ?? 0) + us);
  // Inclusive: every distinct function on the stack gets the sample once.
  const seen = new Set<string>();
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const l = label(byId.get(cur)!);
    if (!seen.has(l)) {
      seen.add(l);
      inclusive.set(l, (inclusive.get(l) ?? 0) + us);
    }
  }
}
const sorted = (m: Map<string, number>) => [...m.entries()].sort((a, b) => b[1] - a[1]);
process.stdout.write(
  `${file}: ${(sampledUs / 1e6).toFixed(2)} s sampled, ${(totalUs / 1e6).toFixed(2)} s busy; percentages are of busy time\n\nSelf time by package/file:\n`,
);
for (const [k, us] of sorted(byWhere).slice(0, top)) process.stdout.write(`${pct(us)}  ${k}\n`);
process.stdout.write('\nSelf time by function:\n');
for (const [k, us] of sorted(self).slice(0, top)) process.stdout.write(`${pct(us)}  ${k}\n`);
process.stdout.write('\nInclusive time of our own functions (dist/src):\n');
for (const [k, us] of sorted(inclusive).filter(([k]) => k.includes('dist/src/')).slice(0, top)) process.stdout.write(`${pct(us)}  ${k}\n`);
process.stdout.write('\nInclusive time of dependencies\' entry points (top):\n');
for (const [k, us] of sorted(inclusive).filter(([k]) => / npm:/.test(k)).slice(0, top)) process.stdout.write(`${pct(us)}  ${k}\n`);
