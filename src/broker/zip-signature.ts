/**
 * Is it a ZIP file? Checked on the first four bytes as they stream past (a local file header
 * `PK\x03\x04`, the end record of an empty archive `PK\x05\x06`, or a spanning marker
 * `PK\x07\x08`: the signatures .NET's ZipArchive accepts at the start). An empty stream passes:
 * the caller decides what nothing means.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { BrokerError } from './errors';

const SIGNATURES = [Buffer.from('PK\x03\x04', 'latin1'), Buffer.from('PK\x05\x06', 'latin1'), Buffer.from('PK\x07\x08', 'latin1')];

export function isZipSignature(head: Buffer): boolean {
  return SIGNATURES.some((signature) => head.subarray(0, 4).equals(signature));
}

/** A pass-through that fails with NotAZipFile as soon as the first four bytes are not a ZIP signature. */
export function requireZipSignature(): Transform {
  let head = Buffer.alloc(0);
  let checked = false;
  const check = (callback: TransformCallback): boolean => {
    checked = true;
    if (isZipSignature(head)) return true;
    callback(new BrokerError('NotAZipFile'));
    return false;
  };
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (!checked) {
        head = Buffer.concat([head, chunk.subarray(0, 4 - head.length)]);
        if (head.length >= 4 && !check(callback)) return;
      }
      callback(null, chunk);
    },
    flush(callback) {
      if (!checked && head.length > 0 && !check(callback)) return;
      callback();
    },
  });
}
