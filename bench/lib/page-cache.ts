/**
 * Evening out the VM's memory for upload benchmarks. This Firecracker VM hands memory freed by the
 * guest back to the host about two seconds later (free page reporting), and the next touch of such
 * a page is charged to the guest thread touching it: writing 1 GiB into the page cache costs 1.4 s
 * of system time when the pages were freed 8 s earlier, 0.23 s when freed a moment before
 * (bench/PROFILE-NOTES.md). Which of two servers found recently freed pages was left to chance (the
 * order of the rounds, how long a server took to start), and the ratios swung with it.
 */
import fs from 'node:fs';
import path from 'node:path';

const PIECE = 1024 * 1024;

/** Primed beyond the upload's own size: the server's other allocations during the upload. */
const MARGIN_BYTES = 64 * 1024 * 1024;

/**
 * Writes a scratch file of `uploadBytes` plus a margin to `dir` (no fsync) and deletes it, right
 * before a measured upload, so that the upload, gateway or plain server alike, fills pages freed a
 * moment before.
 */
export async function primeFreedPages(dir: string, uploadBytes: number): Promise<void> {
  const bytes = uploadBytes + MARGIN_BYTES;
  const scratch = path.join(dir, `prime-${process.pid}-${Date.now()}.bin`);
  const piece = Buffer.alloc(PIECE, 0x5a);
  const handle = await fs.promises.open(scratch, 'w');
  try {
    for (let written = 0; written < bytes; written += PIECE) await handle.write(piece, 0, Math.min(PIECE, bytes - written));
  } finally {
    await handle.close();
    await fs.promises.rm(scratch, { force: true });
  }
}

/** For the notes of every scenario that primes. */
export const PRIMED_NOTE =
  'Right before each measured upload, the gateway\'s and the plain server\'s alike, the benchmark writes and deletes a scratch file of the upload\'s size plus 64 MiB (bench/lib/page-cache.ts): this VM returns freed memory to its host about 2 s after it is freed and charges the next touch to the writer (1 GiB into the page cache: 0.23 s of system time right after a deletion, 1.4 s when the pages were freed 8 s before), which decided the ratios by chance before. An upload slower than about 500 MB/s outlasts the 2 s and still pays part of it.';
