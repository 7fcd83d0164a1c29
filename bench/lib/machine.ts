/** What the figures were measured on: they mean little without it. */
import os from 'node:os';

export interface Machine {
  cores: number;
  cpuModel: string;
  memoryGiB: number;
  os: string;
  node: string;
  database: string;
  databaseKind: 'postgres' | 'pglite';
  /** 1-minute load average when the run started and ended: other work on a shared machine shows here. */
  loadAverage: { start: number; end: number };
}

export function describeMachine(database: { kind: 'postgres' | 'pglite'; version: string }, loadAtStart: number): Machine {
  const cpus = os.cpus();
  return {
    cores: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    // 'PostgreSQL 15.20 (Debian 15.20-0+deb12u1) on x86_64-pc-linux-gnu, compiled by …' → up to ' on '.
    database: database.version.split(' on ')[0]!,
    databaseKind: database.kind,
    loadAverage: { start: Math.round(loadAtStart * 100) / 100, end: Math.round(os.loadavg()[0]! * 100) / 100 },
  };
}
