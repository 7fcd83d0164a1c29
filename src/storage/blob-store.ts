/**
 * Attachment bytes live outside the database, behind this small interface. The filesystem store
 * writes to a temporary file, fsyncs it, renames it into place and fsyncs the directory, all
 * before `put` resolves: callers commit the row that points at a blob only after that, so a crash
 * can leave an unreferenced blob (harmless, collectable) but never a row without its bytes.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { measureBytes } from './measure';

export interface StoredBlob {
  key: string;
  sizeBytes: number;
  /** Lower-case hex SHA-256 of the bytes. */
  sha256: string;
}

export interface BlobStore {
  /** Stream bytes in; resolves once they are durable. */
  put(source: Readable | AsyncIterable<Uint8Array>): Promise<StoredBlob>;
  /** Stream bytes out. Errors (e.g. a missing blob) surface on the stream. */
  open(key: string): Readable;
  /** Size in bytes, or undefined if the blob does not exist. */
  stat(key: string): Promise<number | undefined>;
  delete(key: string): Promise<void>;
}

const KEY_PATTERN = /^[0-9a-f]{2}\/[0-9a-f]{2}\/[0-9a-f-]{36}$/;

export class FileBlobStore implements BlobStore {
  private readonly tmpDir: string;

  constructor(private readonly rootDir: string) {
    this.tmpDir = path.join(rootDir, 'tmp');
    fs.mkdirSync(this.tmpDir, { recursive: true });
  }

  async put(source: Readable | AsyncIterable<Uint8Array>): Promise<StoredBlob> {
    const id = randomUUID();
    const key = `${id.slice(0, 2)}/${id.slice(2, 4)}/${id}`;
    const tmpPath = path.join(this.tmpDir, `${id}.partial`);
    const measure = measureBytes();
    // flush: true → fsync before the file is closed.
    const file = fs.createWriteStream(tmpPath, { flush: true, flags: 'wx' });
    try {
      await pipeline(source, measure.stream, file);
      const finalPath = this.pathOf(key);
      await fs.promises.mkdir(path.dirname(finalPath), { recursive: true });
      await fs.promises.rename(tmpPath, finalPath);
      await fsyncDirectory(path.dirname(finalPath));
    } catch (error) {
      // pipeline can reject (e.g. the source failed) before the file has even been opened; remove
      // it only once the stream is closed, or the open would recreate it after the removal.
      if (!file.closed) await new Promise<void>((resolve) => file.once('close', () => resolve()));
      await fs.promises.rm(tmpPath, { force: true });
      throw error;
    }
    return { key, ...measure.result() };
  }

  open(key: string): Readable {
    return fs.createReadStream(this.pathOf(key), { highWaterMark: 256 * 1024 });
  }

  async stat(key: string): Promise<number | undefined> {
    try {
      return (await fs.promises.stat(this.pathOf(key))).size;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    await fs.promises.rm(this.pathOf(key), { force: true });
  }

  /** Absolute path of a blob (for tools and benchmarks that read the file directly). */
  pathOf(key: string): string {
    if (!KEY_PATTERN.test(key)) throw new Error(`Invalid blob key '${key}'`);
    return path.join(this.rootDir, key);
  }
}

/** fsync a directory, so a rename into it survives a crash. */
export async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await fs.promises.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
