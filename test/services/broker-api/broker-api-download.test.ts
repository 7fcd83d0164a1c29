/**
 * Download and confirm over real HTTP: Range (206, 416 with Content-Range, ignored forms), the
 * headers Altinn writes, DownloadStarted bookkeeping, the confirm rules, and a 200 MiB file
 * streamed up and down byte-exact without the process's memory growing with it.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { ORGS, party, rawRequest, startBrokerTestServer, type BrokerTestServer } from '../../helpers/broker';

let broker: BrokerTestServer;
beforeAll(async () => {
  broker = await startBrokerTestServer();
});
afterAll(() => broker?.close());

const FILE = Buffer.from('0123456789abcdefghijklmnopqrstuvwxyz'); // 36 bytes

describe('Range', () => {
  let id: string;
  beforeAll(async () => {
    id = await broker.publish(FILE);
  });
  const get = (range?: string) =>
    broker.call('GET', `/filetransfer/${id}/download`, { token: broker.tokens.recipient, headers: range === undefined ? {} : { range } });

  it.each([
    ['bytes=0-9', 0, 9],
    ['bytes=10-', 10, 35],
    ['bytes=-5', 31, 35],
    ['bytes=-100', 0, 35],
    ['bytes=30-1000', 30, 35],
    ['BYTES = 2-3', 2, 3],
    ['bytes=35-35', 35, 35],
  ])('%s → 206 with exactly those bytes', async (range, start, end) => {
    const response = await get(range);
    expect(response.status).toBe(206);
    expect(response.headers.get('content-range')).toBe(`bytes ${start}-${end}/36`);
    expect(response.headers.get('content-length')).toBe(String(end - start + 1));
    expect(response.headers.get('accept-ranges')).toBe('bytes');
    expect(response.bytes.equals(FILE.subarray(start, end + 1))).toBe(true);
  });

  it.each(['bytes=36-', 'bytes=100-200', 'bytes=-0', 'bytes=5-3'])('%s → 416 BRO-00029 with Content-Range: bytes */36', async (range) => {
    const response = await get(range);
    expect(response.status).toBe(416);
    expect(response.headers.get('content-range')).toBe('bytes */36');
    expect(response.headers.get('content-type')).toBe('application/problem+json; charset=utf-8');
    expect(response.json).toMatchObject({
      type: 'https://tools.ietf.org/html/rfc9110#section-15.5.17',
      title: 'Range Not Satisfiable',
      status: 416,
      code: 'BRO-00029',
      detail: 'The requested byte range is not satisfiable.',
    });
  });

  it('answers 416 to any range of an empty file', async () => {
    const empty = await broker.publish(Buffer.alloc(0));
    for (const range of ['bytes=0-', 'bytes=-1', 'bytes=0-0']) {
      const response = await broker.call('GET', `/filetransfer/${empty}/download`, { token: broker.tokens.recipient, headers: { range } });
      expect(response.status).toBe(416);
      expect(response.headers.get('content-range')).toBe('bytes */0');
    }
    const whole = await broker.call('GET', `/filetransfer/${empty}/download`, { token: broker.tokens.recipient });
    expect(whole.status).toBe(200);
    expect(whole.headers.get('content-length')).toBe('0');
  });

  it.each(['bytes=0-1,5-6', 'items=0-5', 'bytes=abc', 'bytes=-', 'bytes 0-5', 'bytes=1-2-3', 'bytes=99999999999999999999-'])(
    'ignores %s: 200 with the whole file',
    async (range) => {
      const response = await get(range);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-range')).toBeNull();
      expect(response.bytes.equals(FILE)).toBe(true);
    },
  );

  it('writes Altinn\'s headers on a whole download', async () => {
    const response = await get();
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/octet-stream');
    expect(response.headers.get('content-length')).toBe('36');
    expect(response.headers.get('accept-ranges')).toBe('bytes');
    expect(response.headers.get('content-disposition')).toBe("attachment; filename=report.zip; filename*=UTF-8''report.zip");
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('cache-control')).toBe('no-store');
  });

  it.each([
    ['my file.txt', `attachment; filename="my file.txt"; filename*=UTF-8''my%20file.txt`],
    ['æøå.txt', `attachment; filename=___.txt; filename*=UTF-8''%C3%A6%C3%B8%C3%A5.txt`],
    ['a"b\\c.txt', `attachment; filename="a\\"b\\\\c.txt"; filename*=UTF-8''a%22b%5Cc.txt`],
    ["rapport(1)'x'.zip", `attachment; filename="rapport(1)'x'.zip"; filename*=UTF-8''rapport%281%29%27x%27.zip`],
  ])('names %s in Content-Disposition as ASP.NET does', async (fileName, expected) => {
    const named = await broker.publish(Buffer.from('x'), { fileName });
    const response = await broker.call('GET', `/filetransfer/${named}/download`, { token: broker.tokens.recipient });
    expect(response.headers.get('content-disposition')).toBe(expected);
  });

  it('records DownloadStarted for every whole download, and for ranged ones at most once per five minutes', async () => {
    const tracked = await broker.publish(FILE);
    const rows = async () =>
      (await broker.app.db('broker_recipient_statuses').where({ file_transfer_id: tracked, status: 'DownloadStarted' }).count<{ count: string }[]>('* as count'))[0]!.count;
    const download = (range?: string) =>
      broker.call('GET', `/filetransfer/${tracked}/download`, { token: broker.tokens.recipient, headers: range ? { range } : {} });
    await download('bytes=0-9');
    await download('bytes=10-19');
    expect(Number(await rows())).toBe(1);
    broker.clock.advance(5 * 60 * 1000 + 1);
    await download('bytes=20-');
    expect(Number(await rows())).toBe(2);
    await download();
    await download();
    expect(Number(await rows())).toBe(4);
  });
});

describe('confirm download', () => {
  const confirm = (id: string, token: string) => broker.call('POST', `/filetransfer/${id}/confirmdownload`, { token });
  const download = (id: string, token: string) => broker.call('GET', `/filetransfer/${id}/download`, { token });

  it('answers 204 with an empty body, and a repeat by the same recipient is a no-op', async () => {
    const id = await broker.publish(FILE, { recipients: [party(ORGS.recipient), party(ORGS.recipient2)] });
    await download(id, broker.tokens.recipient);
    const first = await confirm(id, broker.tokens.recipient);
    expect(first.status).toBe(204);
    expect(first.bytes.length).toBe(0);
    expect(first.headers.get('content-type')).toBeNull();
    const again = await confirm(id, broker.tokens.recipient);
    expect(again.status).toBe(204);
    const confirmations = await broker.app.db('broker_recipient_statuses').where({ file_transfer_id: id, status: 'DownloadConfirmed' }).select('recipient');
    expect(confirmations).toEqual([{ recipient: party(ORGS.recipient) }]);
    expect((await broker.events(id)).filter((event) => event.startsWith('downloadconfirmed'))).toHaveLength(2);
  });

  it('refuses a recipient that never downloaded: 400 BRO-00019', async () => {
    const id = await broker.publish(FILE);
    const response = await confirm(id, broker.tokens.recipient);
    expect(response.status).toBe(400);
    expect(response.json).toMatchObject({ code: 'BRO-00019', detail: 'Cannot confirm before the files have been downloaded' });
  });

  it('refuses before anything is uploaded (BRO-00003), when not Published (BRO-00010), and after all have confirmed (BRO-00010)', async () => {
    const initialized = await broker.initialize();
    const notUploaded = await confirm(initialized, broker.tokens.recipient);
    expect(notUploaded.status).toBe(400);
    expect(notUploaded.json).toMatchObject({ code: 'BRO-00003', detail: 'No file uploaded yet' });

    const failed = await broker.initialize({ checksum: 'a'.repeat(32) });
    expect((await broker.upload(failed, FILE)).status).toBe(400);
    const afterFailure = await confirm(failed, broker.tokens.recipient);
    expect(afterFailure.status).toBe(400);
    expect(afterFailure.json).toMatchObject({
      code: 'BRO-00010',
      detail: 'A file transfer can only be confirmed to be downloaded when it is published. See file transfer status.',
    });

    const done = await broker.publish(FILE);
    await download(done, broker.tokens.recipient);
    expect((await confirm(done, broker.tokens.recipient)).status).toBe(204);
    const repeat = await confirm(done, broker.tokens.recipient);
    expect(repeat.status).toBe(400);
    expect(repeat.json.code).toBe('BRO-00010');
  });

  it('refuses the download itself before publication: 403 BRO-00007', async () => {
    const id = await broker.initialize();
    const response = await download(id, broker.tokens.recipient);
    expect(response.status).toBe(403);
    expect(response.json.code).toBe('BRO-00007');
  });
});

describe('a 200 MiB file', () => {
  const SIZE = 200 * 1024 * 1024;
  const CHUNK = 1024 * 1024;

  /** Deterministic bytes, generated chunk by chunk (never the whole file in memory). */
  function* chunks(): Generator<Buffer> {
    for (let offset = 0; offset < SIZE; offset += CHUNK) {
      const chunk = Buffer.alloc(CHUNK);
      for (let i = 0; i < CHUNK; i += 4) chunk.writeInt32LE((offset + i) ^ 0x9e3779b9, i);
      yield chunk;
    }
  }

  it('uploads and downloads byte-exact (sha256) while the process memory stays flat', async () => {
    const resourceId = await broker.configureResource({ maxFileTransferSize: SIZE });
    const id = await broker.initialize({ resourceId });
    const expected = createHash('sha256');
    for (const chunk of chunks()) expected.update(chunk);
    const expectedSha256 = expected.digest('hex');

    global.gc?.();
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 25);
    try {
      const upload = await rawRequest(broker.url, {
        method: 'POST',
        path: `/broker/api/v1/filetransfer/${id}/upload`,
        headers: { authorization: `Bearer ${broker.tokens.sender}`, 'content-type': 'application/octet-stream', 'content-length': SIZE },
        body: Readable.from(chunks()),
      });
      expect(upload.status).toBe(200);

      const received = createHash('sha256');
      let length = 0;
      const response = await fetch(`${broker.url}/broker/api/v1/filetransfer/${id}/download`, { headers: { authorization: `Bearer ${broker.tokens.recipient}` } });
      expect(response.status).toBe(200);
      expect(response.headers.get('content-length')).toBe(String(SIZE));
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        received.update(chunk);
        length += chunk.length;
      }
      expect(length).toBe(SIZE);
      expect(received.digest('hex')).toBe(expectedSha256);
    } finally {
      clearInterval(sampler);
    }
    const row = await broker.app.db('broker_file_transfers').where({ id }).first('sha256', 'size_bytes');
    expect(row.sha256).toBe(expectedSha256);
    expect(Number(row.size_bytes)).toBe(SIZE);
    // Client and server share this process: a buffered copy of the file would add 200 MiB at least.
    // The bound leaves room for the runtime's own noise (about 30 MiB was seen), far below the file's size.
    expect(peak - baseline).toBeLessThan(64 * 1024 * 1024);
  });
});
