/**
 * A pass-through stream that counts the bytes flowing through it and computes their SHA-256 and
 * MD5, for reading bytes back and checking them on their way elsewhere (an export, a scan). The
 * hashing runs where the blob store's does (hashing-writer.ts: worker threads for all but small
 * streams), so the main thread only copies.
 */
import { Transform } from 'node:stream';
import { HashingWriter, type Hashing } from './hashing-writer';

export interface ByteMeasure {
  stream: Transform;
  /** Call after the stream has finished. */
  result(): { sizeBytes: number; sha256: string; md5: string };
}

export function measureBytes(options: { hashing?: Hashing } = {}): ByteMeasure {
  const hasher = new HashingWriter({ algorithms: ['sha256', 'md5'], hashing: options.hashing });
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      // Passed on once the hasher has taken it (copied), so a busy hasher holds the source back.
      hasher.write(chunk, (error) => (error ? callback(error) : callback(null, chunk)));
    },
    flush(callback) {
      hasher.end(() => callback(hasher.errored));
    },
    destroy(error, callback) {
      if (!hasher.writableFinished) hasher.destroy(error ?? undefined);
      callback(error);
    },
  });
  // Its errors reach the transform through the callbacks above.
  hasher.on('error', () => undefined);
  return {
    stream,
    result: () => {
      const digests = hasher.digests();
      return { sizeBytes: hasher.sizeBytes, sha256: digests.sha256, md5: digests.md5 };
    },
  };
}
