/**
 * How fast one thread of this machine computes MD5 and SHA-256 together, as the gateway's
 * hashing thread does for a streamed upload (both sums of every slab, one after the other). No
 * server that computes both sums while it streams, on one thread, uploads faster than this here;
 * on cores shared with the client, the socket and the disk it gets less. Measured in the
 * benchmark process with nothing else of the run going on, over bytes already in memory.
 */
import { createHash } from 'node:crypto';
import { MB, MIB, median } from './stats';

/** MB/s of MD5 + SHA-256 over `totalBytes` in 1 MiB updates (the gateway's slab size), median of `trials`. */
export function measureHashingCeiling(totalBytes = 256 * MIB, trials = 3): number {
  const slab = Buffer.alloc(MIB, 0x5a);
  const rates: number[] = [];
  for (let trial = 0; trial < trials; trial++) {
    const md5 = createHash('md5');
    const sha256 = createHash('sha256');
    const started = process.hrtime.bigint();
    for (let done = 0; done < totalBytes; done += slab.length) {
      md5.update(slab);
      sha256.update(slab);
    }
    md5.digest();
    sha256.digest();
    rates.push(totalBytes / MB / (Number(process.hrtime.bigint() - started) / 1e9));
  }
  return median(rates);
}
