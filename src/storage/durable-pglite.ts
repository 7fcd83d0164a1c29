/**
 * The embedded database on disk, durable: a COMMIT reported to us survives a power loss, as it does
 * on PostgreSQL.
 *
 * PGlite starts postgres with `-F` (fsync off), and even with fsync on its Node filesystem (emscripten
 * NODEFS) has no fsync operation: postgres' fsync() reaches the wasm runtime and stops there
 * (fdatasync is a no-op outright). So we start without `-F`, make the WAL use fsync() (not
 * fdatasync), and give NODEFS the fsync it lacks, calling the real fsync on the real file.
 */
import fs from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { NodeFS } from '@electric-sql/pglite/nodefs';

type PostgresMod = Parameters<NodeFS['init']>[1];
type NodeFsStream = { nfd?: number };
interface EmscriptenNodeFs {
  stream_ops: { fsync?: (stream: NodeFsStream) => number };
}

/** PGlite's start parameters with fsync on and the WAL synced by fsync(), the one call NODEFS gets. */
export const DURABLE_START_PARAMS = [...PGlite.defaultStartParams.filter((param) => param !== '-F'), '-c', 'fsync=on', '-c', 'wal_sync_method=fsync'];

class DurableNodeFS extends NodeFS {
  override async init(pg: PGlite, opts: PostgresMod) {
    const { emscriptenOpts } = await super.init(pg, opts);
    const preRun = [
      ...((emscriptenOpts as { preRun?: ((mod: unknown) => void)[] }).preRun ?? []),
      (mod: unknown) => {
        const nodefs = (mod as { NODEFS: EmscriptenNodeFs }).NODEFS;
        nodefs.stream_ops.fsync = (stream) => {
          if (stream.nfd !== undefined) fs.fsyncSync(stream.nfd);
          return 0;
        };
      },
    ];
    return { emscriptenOpts: { ...emscriptenOpts, preRun } as typeof emscriptenOpts };
  }
}

/** A PGlite whose data directory `dir` is synced to disk at every commit and checkpoint. */
export function openDurablePGlite(dir: string): PGlite {
  return new PGlite({ fs: new DurableNodeFS(dir), startParams: DURABLE_START_PARAMS });
}
