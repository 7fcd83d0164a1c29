/**
 * `serve` with WORKERS > 1: the primary process forks that many workers (node:cluster), each a whole
 * server on the shared port, so a machine's cores all serve requests. The primary serves nothing: it
 * starts the workers, replaces one that dies (with a growing delay, so a crash loop is not a hot
 * loop), forwards SIGTERM/SIGINT and exits when every worker is gone.
 *
 * A worker that exits before all have become ready the first time is a start-up failure (port taken,
 * …): the others are stopped and the primary exits 1, as a single process would.
 */
import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';

/** What a worker sends the primary once it listens and its background work has started. */
export const WORKER_READY = 'altinn-gateway:worker-ready';

export function reportWorkerReady(): void {
  if (cluster.isWorker) process.send?.({ type: WORKER_READY });
}

export interface SuperviseOptions {
  workers: number;
  log: Logger;
  /** First delay before a dead worker is replaced; doubled for each death in a row, up to maxRestartDelayMs. */
  restartDelayMs?: number;
  maxRestartDelayMs?: number;
  /** A worker that lived this long died "on its own": the delay starts over. */
  stableAfterMs?: number;
}

/** Runs in the primary; resolves with the exit code for the process once every worker has exited. */
export function superviseWorkers(options: SuperviseOptions): Promise<number> {
  const { workers: count, log } = options;
  const firstDelay = options.restartDelayMs ?? 1000;
  const maxDelay = options.maxRestartDelayMs ?? 30_000;
  const stableAfter = options.stableAfterMs ?? 60_000;

  return new Promise((resolve) => {
    const startedAt = new Map<Worker, number>();
    const restarts = new Set<NodeJS.Timeout>();
    let everyoneReady = false;
    let ready = 0;
    let stopping = false;
    let exitCode = 0;
    let deathsInARow = 0;

    const fork = () => {
      const worker = cluster.fork();
      startedAt.set(worker, Date.now());
      log.info({ worker: worker.id, workerPid: worker.process.pid }, 'worker started');
      worker.on('message', (message: unknown) => {
        if ((message as { type?: unknown } | null)?.type !== WORKER_READY) return;
        log.info({ worker: worker.id, workerPid: worker.process.pid }, 'worker ready');
        if (!everyoneReady && ++ready === count) everyoneReady = true;
      });
    };

    const stopAll = () => {
      stopping = true;
      for (const timer of restarts) clearTimeout(timer);
      restarts.clear();
      // SIGTERM, not a disconnect: each worker closes gracefully (requests in flight finish) on its own.
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
    };

    cluster.on('exit', (worker, code, signal) => {
      const lived = Date.now() - (startedAt.get(worker) ?? Date.now());
      startedAt.delete(worker);
      const clean = code === 0 && !signal;
      log[stopping && clean ? 'info' : 'warn']({ worker: worker.id, workerPid: worker.process.pid, code, signal }, 'worker exited');
      if (!stopping && !everyoneReady) {
        log.error('a worker failed to start: stopping the others');
        exitCode = 1;
        stopAll();
      } else if (!stopping) {
        deathsInARow = lived >= stableAfter ? 1 : deathsInARow + 1;
        const delay = Math.min(maxDelay, firstDelay * 2 ** (deathsInARow - 1));
        log.info({ delayMs: delay }, 'replacing the worker');
        const timer = setTimeout(() => {
          restarts.delete(timer);
          if (!stopping) fork();
        }, delay);
        restarts.add(timer);
      } else if (!clean) {
        exitCode = 1;
      }
      if (stopping && startedAt.size === 0) resolve(exitCode);
    });

    const onSignal = (signal: NodeJS.Signals) => {
      log.info({ signal }, 'shutting down the workers');
      stopAll();
      if (startedAt.size === 0) resolve(exitCode);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);

    for (let i = 0; i < count; i++) fork();
  });
}
