/**
 * Baseline "the limit" for the broker uploads: a plain Node HTTP server that writes each request
 * body to a new file (fs write stream) and fsyncs it before answering, nothing else: no parsing,
 * no hashing, no database. The broker's upload does the same plus MD5 and SHA-256, a rename into
 * place and its rows, so the difference measured is the cost of those.
 *
 *   node plain-upload-server.js <port> <directory>
 *
 * Any method and path but GET /ready and /tus… stores the body; the answer is {"sizeBytes":n}.
 *
 * The same in the shape of TUS, for the ceiling of a chunked upload: POST /tus creates an empty
 * file (201, Location /tus/<n>); PATCH /tus/<n> with Upload-Offset writes the body into it at that
 * offset and fsyncs it before answering 204 with the new Upload-Offset. No checks beyond the
 * offset, no hashing, no database: what is left is the protocol's own cost (a request, a body and
 * an fsync per chunk).
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

/** POST /tus: a new empty file, durable. */
async function createTusFile(): Promise<string> {
  const name = `tus-${++uploads}.bin`;
  const handle = await fs.promises.open(path.join(dir!, name), 'wx');
  await handle.sync();
  await handle.close();
  return name;
}

/** PATCH /tus/<name>: the body at Upload-Offset, fsynced; answers the new offset. */
async function writeTusChunk(name: string, offset: number, request: http.IncomingMessage): Promise<number> {
  const out = fs.createWriteStream(path.join(dir!, name), { flags: 'r+', start: offset, flush: true });
  await pipeline(request, out);
  return offset + out.bytesWritten;
}

function answerTus(request: http.IncomingMessage, response: http.ServerResponse): void {
  const name = /^\/tus\/(tus-\d+\.bin)$/.exec(request.url ?? '')?.[1];
  const offset = Number(request.headers['upload-offset']);
  const work =
    request.method === 'POST' && request.url === '/tus'
      ? createTusFile().then((created) => response.writeHead(201, { location: `/tus/${created}`, 'tus-resumable': '1.0.0' }).end())
      : request.method === 'PATCH' && name && Number.isSafeInteger(offset)
        ? writeTusChunk(name, offset, request).then((reached) => response.writeHead(204, { 'upload-offset': String(reached), 'tus-resumable': '1.0.0' }).end())
        : Promise.reject(new Error(`not a TUS request: ${request.method} ${request.url}`));
  if (request.method === 'POST') request.resume();
  work.catch((error: Error) => response.writeHead(400, { 'content-type': 'text/plain' }).end(error.message));
}

const server = http.createServer((request, response) => {
  if (request.method === 'GET' && request.url === '/ready') {
    request.resume();
    response.end('ok');
    return;
  }
  if (request.url?.startsWith('/tus')) return answerTus(request, response);
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
