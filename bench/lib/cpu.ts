/**
 * CPU time spent by a server while it is measured: the process and its descendants (the workers of a
 * gateway started with WORKERS > 1) plus, for the gateway, the
 * Postgres backends serving its database (found in pg_stat_activity). Unlike throughput, CPU
 * milliseconds per request hardly change when other work shares the machine, so they are the
 * steadier comparison on a noisy box (capacity on a dedicated machine ≈ cores ÷ CPU per request).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import pg from 'pg';

let ticksPerSecond: number | undefined;
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** utime + stime of a process in ms, or undefined if it has gone. */
export function processCpuMs(pid: number): number | undefined {
  try {
    return statCpuMs(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** utime + stime in ms from the text of a /proc/<pid>/stat (e.g. one a process printed of itself). */
export function statCpuMs(stat: string): number {
  // Fields after the command name (which may contain spaces) start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return ((utime + stime) * 1000) / clockTicks();
}

/** `pid` and every process descending from it (ppid chains read from /proc/<pid>/stat). */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  let entries: string[] = [];
  try {
    entries = fs.readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return [pid];
  }
  for (const name of entries) {
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
    } catch {
      // gone meanwhile
    }
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i]!) ?? []));
  return tree;
}

async function backendPids(databaseUrl: string): Promise<number[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ pid: number }>(
      'SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
    );
    return rows.map((r) => r.pid);
  } finally {
    await client.end();
  }
}

export interface CpuSummary {
  /** CPU ms of the server process. */
  processMs: number;
  /** CPU ms of the Postgres backends of its database (0 when not measured). */
  databaseMs: number;
  totalMs: number;
}

export class CpuMeter {
  private constructor(
    private readonly pid: number,
    private readonly databaseUrl: string | undefined,
    private readonly start: Map<number, number>,
    private readonly processStart: Map<number, number>,
  ) {}

  /** Snapshot now. `pid` is the server (use process.pid for in-process work); databaseUrl adds its backends. */
  static async start(pid: number, databaseUrl?: string): Promise<CpuMeter> {
    const start = new Map<number, number>();
    if (databaseUrl) for (const b of await backendPids(databaseUrl)) start.set(b, processCpuMs(b) ?? 0);
    return new CpuMeter(pid, databaseUrl, start, treeCpuMs(pid));
  }

  async stop(): Promise<CpuSummary> {
    // Processes of the tree started during the run (a replaced worker) count whole.
    let processMs = 0;
    for (const [p, ms] of treeCpuMs(this.pid)) processMs += ms - (this.processStart.get(p) ?? 0);
    let databaseMs = 0;
    if (this.databaseUrl) {
      // Backends opened during the run count whole (they did nothing before it).
      for (const b of await backendPids(this.databaseUrl)) databaseMs += (processCpuMs(b) ?? 0) - (this.start.get(b) ?? 0);
    }
    return { processMs: Math.round(processMs), databaseMs: Math.round(databaseMs), totalMs: Math.round(processMs + databaseMs) };
  }
}

function treeCpuMs(pid: number): Map<number, number> {
  if (pid === process.pid) return new Map([[pid, ownCpuMs(pid)]]);
  return new Map(processTree(pid).map((p) => [p, ownCpuMs(p)]));
}

function ownCpuMs(pid: number): number {
  if (pid === process.pid) {
    const usage = process.cpuUsage();
    return (usage.user + usage.system) / 1000;
  }
  return processCpuMs(pid) ?? 0;
}
