/**
 * A process's resident set size, read from /proc/<pid>/status (VmRSS), summed with its descendants'
 * (a gateway's workers). RssSampler polls it every ~50 ms on a worker thread, so a busy load
 * generator on the main thread cannot delay the samples.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { processTree } from './cpu';

/** VmRSS of a process in bytes, or undefined once it has gone (or off Linux). */
export function readRss(pid: number): number | undefined {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** VmRSS of `pids` summed (a process and its workers), or undefined when all have gone. */
export function readTotalRss(pids: number[]): number | undefined {
  const parts = pids.map(readRss).filter((bytes): bytes is number => bytes !== undefined);
  return parts.length === 0 ? undefined : parts.reduce((sum, bytes) => sum + bytes, 0);
}

export interface RssSummary {
  /** RSS when sampling started (bytes). */
  beforeBytes: number;
  peakBytes: number;
  afterBytes: number;
  /** peak - before. */
  growthBytes: number;
  samples: number;
}

export interface RssWorkerReport {
  peakBytes: number;
  lastBytes: number;
  samples: number;
}

export class RssSampler {
  private readonly worker: Worker;
  private readonly beforeBytes: number;

  private constructor(
    private readonly pid: number,
    intervalMs: number,
  ) {
    this.beforeBytes = readTotalRss(processTree(pid)) ?? 0;
    this.worker = new Worker(path.join(__dirname, 'rss-worker.js'), { workerData: { pid, intervalMs } });
  }

  /** Start sampling `pid`; RSS "before" is read synchronously now. */
  static start(pid: number, intervalMs = 50): RssSampler {
    return new RssSampler(pid, intervalMs);
  }

  async stop(): Promise<RssSummary> {
    const report = await new Promise<RssWorkerReport>((resolve, reject) => {
      this.worker.once('message', resolve);
      this.worker.once('error', reject);
      this.worker.postMessage('stop');
    });
    await this.worker.terminate();
    const after = readTotalRss(processTree(this.pid)) ?? report.lastBytes;
    const peak = Math.max(report.peakBytes, this.beforeBytes, after);
    return { beforeBytes: this.beforeBytes, peakBytes: peak, afterBytes: after, growthBytes: peak - this.beforeBytes, samples: report.samples + 2 };
  }
}
