/** peek (send.ts): the first bytes of an upload, and the upload still whole afterwards. */
import { PassThrough, Readable } from 'node:stream';
import { peek } from '../../../src/broker/altinn2/send';

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

it('reads the head across chunks and leaves every byte in the stream', async () => {
  const source = new PassThrough();
  const peeked = peek(source, 4);
  source.write(Buffer.from('P'));
  setTimeout(() => {
    source.write(Buffer.from('K\x03'));
    source.write(Buffer.from('\x04rest of the file'));
    source.end(Buffer.from(' and more'));
  }, 10);
  const { head, stream } = await peeked;
  expect(head.toString('latin1')).toBe('PK\x03\x04');
  expect((await collect(stream)).toString('latin1')).toBe('PK\x03\x04rest of the file and more');
});

it('returns fewer bytes when the stream ends first, and an empty stream as empty', async () => {
  const short = await peek(Readable.from([Buffer.from('PK')]), 4);
  expect(short.head.toString()).toBe('PK');
  expect((await collect(short.stream)).toString()).toBe('PK');
  const empty = await peek(Readable.from([]), 4);
  expect(empty.head.length).toBe(0);
  expect((await collect(empty.stream)).length).toBe(0);
});

it('fails when the stream fails or closes before its end', async () => {
  const failing = new PassThrough();
  const attempt = peek(failing, 4);
  failing.write(Buffer.from('P'));
  failing.destroy(new Error('connection reset'));
  await expect(attempt).rejects.toThrow('connection reset');
  const closed = new PassThrough();
  const closedAttempt = peek(closed, 4);
  closed.destroy();
  await expect(closedAttempt).rejects.toThrow(/ended before it was complete/);
});
