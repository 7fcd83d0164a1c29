/**
 * s3rver (the S3 emulator the tests use, test/helpers/s3-server.ts) as a process of its own for the
 * object-store-1gb scenario, so that its CPU is not the bench's: `node s3rver-server.js <port> <directory> <bucket>`.
 * Ready when GET / (ListBuckets) answers 200.
 */
import S3rver from 's3rver';

const [port, directory, bucket] = process.argv.slice(2);
const server = new S3rver({ address: '127.0.0.1', port: Number(port), directory: directory!, silent: true, configureBuckets: [{ name: bucket!, configs: [] }] });
server.run().catch((error: Error) => {
  process.stderr.write(`${error.stack ?? error.message}\n`);
  process.exit(1);
});
process.once('SIGTERM', () => void server.close().finally(() => process.exit(0)));
