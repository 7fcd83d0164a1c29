/** A pass-through stream that counts and SHA-256-hashes the bytes flowing through it. */
import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';

export interface ByteMeasure {
  stream: Transform;
  /** Call after the stream has finished. */
  result(): { sizeBytes: number; sha256: string };
}

export function measureBytes(): ByteMeasure {
  const hash = createHash('sha256');
  let sizeBytes = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      sizeBytes += chunk.length;
      callback(null, chunk);
    },
  });
  return { stream, result: () => ({ sizeBytes, sha256: hash.digest('hex') }) };
}
