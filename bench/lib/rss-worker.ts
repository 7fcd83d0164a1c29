/**
 * Worker thread of RssSampler: polls VmRSS of workerData.pid and its descendants (a gateway's
 * workers), summed, until told to stop, then reports. The process tree is looked up again now and then.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { processTree } from './cpu';
import { readTotalRss, type RssWorkerReport } from './rss';

const { pid, intervalMs } = workerData as { pid: number; intervalMs: number };
const report: RssWorkerReport = { peakBytes: 0, lastBytes: 0, samples: 0 };

let tree = processTree(pid);
let sinceTreeLookup = 0;

function sample(): void {
  if (++sinceTreeLookup >= 20) {
    tree = processTree(pid);
    sinceTreeLookup = 0;
  }
  const rss = readTotalRss(tree);
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
