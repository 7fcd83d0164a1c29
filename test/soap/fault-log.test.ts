/**
 * A SOAP fault's log line is one JSON object a reader can search by the ErrorGuid the client saw:
 * one `msg`, the error's message under `err`, the guid as a field.
 */
import { Writable } from 'node:stream';
import { startTestServer, type TestServer } from '../helpers/server';
import { call, child, DQ_ACTION, DQ_PATH, NS, operationXml, text } from '../helpers/soap-client';

const lines: string[] = [];
const logStream = new Writable({
  write(chunk: Buffer, _encoding, callback) {
    lines.push(...chunk.toString().split('\n').filter(Boolean));
    callback();
  },
});

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({}, { logger: { level: 'info', stream: logStream } });
});
afterAll(() => server.close());

test('the fault line found by ErrorGuid holds the error message once, under err', async () => {
  const result = await call(
    server.url,
    DQ_PATH,
    DQ_ACTION('GetDownloadQueueItems'),
    operationXml('GetDownloadQueueItems', { systemUserName: 'nobody', systemPassword: 'wrong', serviceCode: '4711' }),
  );
  expect(result.status).toBe(500);
  const detail = child(child(result.bodyElement, 'detail'), 'AltinnFault', NS.fault);
  const errorGuid = text(detail, 'ErrorGuid');
  const errorMessage = text(detail, 'AltinnErrorMessage');
  expect(errorGuid).toMatch(/^[0-9a-f-]{36}$/);

  const matching = lines.filter((line) => line.includes(errorGuid));
  expect(matching).toHaveLength(1);
  const [line] = matching;
  // JSON.parse keeps the last of duplicate keys, as log readers do: there must be only one msg.
  expect(line.match(/"msg":/g)).toHaveLength(1);
  const entry = JSON.parse(line) as Record<string, unknown>;
  expect(entry.msg).toBe('SOAP fault');
  expect(entry.errorGuid).toBe(errorGuid);
  expect(entry.errorId).toBe(989);
  expect(entry.err).toMatchObject({ type: 'SoapFault', message: errorMessage });
});
