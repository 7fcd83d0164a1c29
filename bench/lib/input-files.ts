/**
 * Deterministic input files (attachments), generated once into the cache directory and reused:
 * AES-128-CTR keystream under a fixed key, i.e. incompressible bytes that are the same on every
 * machine. A sidecar `<file>.sha256` holds the digest computed while writing.
 */
import { createCipheriv, createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { MIB } from './stats';

export interface InputFile {
  path: string;
  sizeBytes: number;
  sha256: string;
}

export async function deterministicFile(cacheDir: string, name: string, sizeBytes: number, seed: string, onProgress?: (done: number) => void): Promise<InputFile> {
  const file = path.join(cacheDir, `${name}-${sizeBytes}-${seed}.bin`);
  const sidecar = `${file}.sha256`;
  try {
    const [stat, sha256] = [fs.statSync(file), fs.readFileSync(sidecar, 'utf8').trim()];
    if (stat.size === sizeBytes && /^[0-9a-f]{64}$/.test(sha256)) return { path: file, sizeBytes, sha256 };
  } catch {
    // not there yet
  }
  fs.mkdirSync(cacheDir, { recursive: true });
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  const hash = createHash('sha256');
  const zeros = Buffer.alloc(4 * MIB);
  const tmp = `${file}.tmp-${process.pid}`;
  const handle = await fs.promises.open(tmp, 'w');
  try {
    let written = 0;
    while (written < sizeBytes) {
      const n = Math.min(zeros.length, sizeBytes - written);
      const chunk = cipher.update(zeros.subarray(0, n));
      hash.update(chunk);
      await handle.write(chunk);
      written += n;
      if (written % (64 * MIB) === 0) onProgress?.(written);
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
  const sha256 = hash.digest('hex');
  fs.renameSync(tmp, file);
  fs.writeFileSync(sidecar, `${sha256}\n`);
  return { path: file, sizeBytes, sha256 };
}
