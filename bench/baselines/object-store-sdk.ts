/**
 * The limit of the object-store-1gb scenario: the store's own SDK moving a file directly, in a
 * process of its own (so its CPU is its own), with the same block/part size and parallelism the
 * gateway's stores use (8 MiB; Azure 3 blocks in flight, S3 2 parts):
 *
 *   node object-store-sdk.js azure|s3 upload <file> <key> [<file> <key> ...]
 *   node object-store-sdk.js azure|s3 download <key> [<key> ...]
 *
 * Azure: AZURE_STORAGE_CONNECTION_STRING and BENCH_CONTAINER; S3: AWS_ENDPOINT_URL_S3,
 * AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, BENCH_BUCKET. Each transfer prints one JSON line
 * {bytes, seconds, cpuMs, sha256?, peakRssBytes}; a download hashes every byte (SHA-256) as the
 * bench's download client does.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { BlobServiceClient } from '@azure/storage-blob';
import { CompleteMultipartUploadCommand, CreateMultipartUploadCommand, GetObjectCommand, S3Client, UploadPartCommand } from '@aws-sdk/client-s3';

const MIB = 1024 * 1024;
const PART_BYTES = 8 * MIB;

interface Transfer {
  upload(file: string, key: string): Promise<number>;
  download(key: string): Promise<{ bytes: number; sha256: string }>;
}

function azure(): Transfer {
  const container = BlobServiceClient.fromConnectionString(process.env.AZURE_STORAGE_CONNECTION_STRING!).getContainerClient(process.env.BENCH_CONTAINER!);
  return {
    async upload(file, key) {
      await container.createIfNotExists();
      await container.getBlockBlobClient(key).uploadStream(fs.createReadStream(file, { highWaterMark: 256 * 1024 }), PART_BYTES, 3);
      return fs.statSync(file).size;
    },
    async download(key) {
      const response = await container.getBlobClient(key).download();
      return hashStream(response.readableStreamBody!);
    },
  };
}

function s3(): Transfer {
  const client = new S3Client({
    endpoint: process.env.AWS_ENDPOINT_URL_S3,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: process.env.AWS_ACCESS_KEY_ID!, secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY! },
  });
  const Bucket = process.env.BENCH_BUCKET!;
  return {
    // Multipart as the gateway's store sends a large put: 8 MiB parts read from the file, 2 in flight.
    async upload(file, key) {
      const size = fs.statSync(file).size;
      const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket, Key: key }));
      const handle = await fs.promises.open(file, 'r');
      const parts: { PartNumber: number; ETag: string }[] = [];
      try {
        let next = 0;
        const worker = async () => {
          for (;;) {
            const index = next++;
            const offset = index * PART_BYTES;
            if (offset >= size) return;
            const body = Buffer.allocUnsafe(Math.min(PART_BYTES, size - offset));
            await handle.read(body, 0, body.length, offset);
            const { ETag } = await client.send(new UploadPartCommand({ Bucket, Key: key, UploadId, PartNumber: index + 1, Body: body, ContentLength: body.length }));
            parts.push({ PartNumber: index + 1, ETag: ETag! });
          }
        };
        await Promise.all([worker(), worker()]);
      } finally {
        await handle.close();
      }
      parts.sort((a, b) => a.PartNumber - b.PartNumber);
      await client.send(new CompleteMultipartUploadCommand({ Bucket, Key: key, UploadId, MultipartUpload: { Parts: parts } }));
      return size;
    },
    async download(key) {
      const response = await client.send(new GetObjectCommand({ Bucket, Key: key }));
      return hashStream(response.Body as NodeJS.ReadableStream);
    },
  };
}

async function hashStream(stream: NodeJS.ReadableStream): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  return { bytes, sha256: hash.digest('hex') };
}

async function main(): Promise<void> {
  const [kind, operation, ...rest] = process.argv.slice(2);
  const store = kind === 'azure' ? azure() : kind === 's3' ? s3() : undefined;
  if (!store || (operation !== 'upload' && operation !== 'download')) throw new Error('usage: object-store-sdk.js azure|s3 upload <file> <key>... | download <key>...');
  let peakRssBytes = 0;
  const sampler = setInterval(() => (peakRssBytes = Math.max(peakRssBytes, process.memoryUsage.rss())), 50);
  const step = operation === 'upload' ? 2 : 1;
  for (let i = 0; i < rest.length; i += step) {
    peakRssBytes = process.memoryUsage.rss();
    const rssBefore = peakRssBytes;
    const cpu = process.cpuUsage();
    const started = process.hrtime.bigint();
    const result = operation === 'upload' ? { bytes: await store.upload(rest[i]!, rest[i + 1]!) } : await store.download(rest[i]!);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const used = process.cpuUsage(cpu);
    peakRssBytes = Math.max(peakRssBytes, process.memoryUsage.rss());
    process.stdout.write(`${JSON.stringify({ ...result, seconds, cpuMs: Math.round((used.user + used.system) / 1000), rssBeforeBytes: rssBefore, peakRssBytes })}\n`);
  }
  clearInterval(sampler);
}

main().catch((error: Error) => {
  process.stderr.write(`${error.stack ?? error.message}\n`);
  process.exit(1);
});
