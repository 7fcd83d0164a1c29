/**
 * Baseline "the limit" for stream-1gb: a plain Node HTTP server that pipes one file to the socket
 * (fs.createReadStream → response, with Content-Length), nothing else. Same read chunk size as
 * the gateway's blob store (256 KiB), so the difference measured is the SOAP/MTOM layer's.
 *
 *   node plain-pipe-server.js <port> <file>
 */
import fs from 'node:fs';
import http from 'node:http';
import { pipeline } from 'node:stream/promises';

const [portArg, file] = process.argv.slice(2);
if (!portArg || !file) {
  process.stderr.write('usage: plain-pipe-server <port> <file>\n');
  process.exit(2);
}
const size = fs.statSync(file).size;

const server = http.createServer((request, response) => {
  request.resume();
  if (request.url === '/ready') {
    response.end('ok');
    return;
  }
  response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size });
  pipeline(fs.createReadStream(file, { highWaterMark: 256 * 1024 }), response).catch(() => response.destroy());
});
server.keepAliveTimeout = 60_000;
server.listen(Number(portArg), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
