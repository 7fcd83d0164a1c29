/**
 * Baseline "the limit" for the broker uploads: a plain Node HTTP server that writes each request
 * body to a new file (fs write stream) and fsyncs it before answering, nothing else: no parsing,
 * no hashing, no database. The broker's upload does the same plus MD5 and SHA-256, a rename into
 * place and its rows, so the difference measured is the cost of those.
 *
 *   node plain-upload-server.js <port> <directory>
 *
 * Any method and path but GET /ready stores the body; the answer is {"sizeBytes":n}.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';

const [portArg, dir] = process.argv.slice(2);
if (!portArg || !dir) {
  process.stderr.write('usage: plain-upload-server <port> <directory>\n');
  process.exit(2);
}
fs.mkdirSync(dir, { recursive: true });
let uploads = 0;

async function store(request: http.IncomingMessage): Promise<number> {
  // flush: fsync before the file is closed, and pipeline resolves only after the close.
  const out = fs.createWriteStream(path.join(dir!, `upload-${++uploads}.bin`), { flush: true });
  await pipeline(request, out);
  return out.bytesWritten;
}

const server = http.createServer((request, response) => {
  if (request.method === 'GET' && request.url === '/ready') {
    request.resume();
    response.end('ok');
    return;
  }
  store(request).then(
    (sizeBytes) => {
      const body = JSON.stringify({ sizeBytes });
      response.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      response.end(body);
    },
    (error: Error) => {
      response.writeHead(500, { 'content-type': 'text/plain' });
      response.end(error.message);
    },
  );
});
server.keepAliveTimeout = 60_000;
server.requestTimeout = 0;
server.listen(Number(portArg), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
