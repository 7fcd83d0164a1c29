/**
 * An S3-compatible server for tests: s3rver (npm), in this process, on a free port of 127.0.0.1, storing
 * in its own temporary directory, with one empty bucket. Its limits (see test/storage/s3-blob-store.test.ts)
 * are those of a fake: no conditional writes, no AbortMultipartUpload, ListMultipartUploads or
 * UploadPartCopy, no fsync.
 *
 *   const s3 = await startS3Server();
 *   createS3BlobStore({ endpoint: s3.endpoint, region: 'us-east-1', bucket: s3.bucket, forcePathStyle: true, credentials: s3.credentials });
 *   await s3.stop();                  // stops it and removes its directory
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import S3rver from 's3rver';

export interface TestS3Server {
  /** `http://127.0.0.1:<port>` (path-style addressing). */
  endpoint: string;
  bucket: string;
  /** s3rver's fixed account: it checks signatures made with it. */
  credentials: { accessKeyId: string; secretAccessKey: string };
  stop(): Promise<void>;
}

export async function startS3Server(): Promise<TestS3Server> {
  const directory = await mkdtemp(path.join(tmpdir(), 's3rver-'));
  const bucket = 'gateway-test';
  const server = new S3rver({ address: '127.0.0.1', port: 0, directory, silent: true, configureBuckets: [{ name: bucket, configs: [] }] });
  try {
    const { port } = await server.run();
    return {
      endpoint: `http://127.0.0.1:${port}`,
      bucket,
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      stop: async () => {
        await server.close();
        await rm(directory, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await rm(directory, { recursive: true, force: true });
    throw error;
  }
}
