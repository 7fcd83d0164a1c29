/**
 * Graceful shutdown (what SIGTERM triggers): a download in flight finishes byte for byte, new
 * connections are refused, and a client that stalls past the grace period is cut off.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import { finished } from 'node:stream/promises';
import type { AddressInfo } from 'node:net';
import { archiveFormTasks } from '../../src/archive/archive-form-tasks';
import { buildServer, closeGracefully } from '../../src/server';
import { newTask } from '../helpers/archive-fixtures';
import { createTestApp } from '../helpers/database';
import { createSoapOwner, generatedAttachment, generatedSha256 } from '../helpers/fixtures';
import { envelope11, NS, operationXml, STREAMED_ACTION, STREAMED_PATH } from '../helpers/soap-client';

const SIZE = 40 * 1024 * 1024;

async function startWithAttachment() {
  const app = await createTestApp();
  const owner = await createSoapOwner(app);
  const [task] = await archiveFormTasks(app, owner.serviceOwnerId, [newTask(owner, { attachments: [generatedAttachment('big.bin', SIZE, 7)] })]);
  const server = buildServer(app, { logger: false });
  await server.listen({ port: 0, host: '127.0.0.1' });
  const port = (server.server.address() as AddressInfo).port;
  const body = envelope11(
    operationXml('GetAttachmentDataStreamedBasic', { systemUserName: owner.userName, systemPassword: owner.password, attachmentId: task!.attachmentIds[0]! }, NS.so),
  );
  return { app, server, port, body };
}

/** Starts the download; resolves with the response once its headers have arrived. */
function download(port: number, body: string): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      { host: '127.0.0.1', port, path: STREAMED_PATH, method: 'POST', agent: false, headers: { 'content-type': 'text/xml; charset=utf-8', soapaction: STREAMED_ACTION } },
      resolve,
    );
    request.on('error', reject);
    request.end(body);
  });
}

function connectionRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const request = http.get({ host: '127.0.0.1', port, path: '/health', agent: false }, (response) => {
      response.resume();
      resolve(false);
    });
    request.on('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
  });
}

it('lets a streamed download in flight finish, byte for byte, and refuses new connections meanwhile', async () => {
  const { app, server, port, body } = await startWithAttachment();
  const response = await download(port, body);
  expect(response.statusCode).toBe(200);

  // Read slowly at first, so the transfer is certainly still running when shutdown starts.
  const hash = createHash('sha256');
  const chunks: Buffer[] = [];
  let received = 0;
  const done = new Promise<void>((resolve, reject) => {
    response.on('data', (chunk: Buffer) => {
      received += chunk.length;
      chunks.push(chunk);
    });
    response.on('end', resolve);
    response.on('error', reject);
  });
  response.pause();
  const closing = closeGracefully(server, app, 30_000);
  await new Promise((resolve) => setTimeout(resolve, 100));
  expect(await connectionRefused(port)).toBe(true);
  await new Promise((resolve) => setTimeout(resolve, 300));
  response.resume();
  await done;
  await closing;

  // The body is MTOM: find the attachment part between its headers and the closing boundary.
  const whole = Buffer.concat(chunks);
  const boundary = /boundary="([^"]+)"/.exec(response.headers['content-type']!)![1]!;
  const partStart = whole.indexOf('\r\n\r\n', whole.indexOf('Content-Type: application/octet-stream')) + 4;
  const partEnd = whole.lastIndexOf(`\r\n--${boundary}--`);
  hash.update(whole.subarray(partStart, partEnd));
  expect(received).toBe(Number(response.headers['content-length']));
  expect(partEnd - partStart).toBe(SIZE);
  expect(hash.digest('hex')).toBe(generatedSha256(SIZE, 7));
});

it('cuts a client that stalls past the grace period, and still closes', async () => {
  const { app, server, port, body } = await startWithAttachment();
  const response = await download(port, body);
  response.pause(); // stalls: reads nothing while the server shuts down
  const started = Date.now();
  await closeGracefully(server, app, 300);
  expect(Date.now() - started).toBeLessThan(10_000);

  // Reading on now drains what was buffered, then ends early: the server cut the transfer.
  let received = 0;
  response.on('data', (chunk: Buffer) => (received += chunk.length));
  response.resume();
  // finished() also settles for a stream that already closed while we were not listening.
  await finished(response).catch(() => undefined);
  expect(response.complete).toBe(false);
  expect(received).toBeLessThan(Number(response.headers['content-length']));
});
