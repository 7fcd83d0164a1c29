/** Worker thread of RssSampler: polls VmRSS of workerData.pid until told to stop, then reports. */
import { parentPort, workerData } from 'node:worker_threads';
import { readRss, type RssWorkerReport } from './rss';

const { pid, intervalMs } = workerData as { pid: number; intervalMs: number };
const report: RssWorkerReport = { peakBytes: 0, lastBytes: 0, samples: 0 };

function sample(): void {
  const rss = readRss(pid);
  if (rss === undefined) return;
  report.samples++;
  report.lastBytes = rss;
  if (rss > report.peakBytes) report.peakBytes = rss;
}

sample();
const timer = setInterval(sample, intervalMs);
parentPort!.on('message', () => {
  clearInterval(timer);
  sample();
  parentPort!.postMessage(report);
});
