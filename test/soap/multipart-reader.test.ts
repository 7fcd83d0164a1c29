/**
 * The streaming multipart reader (src/soap/multipart-reader.ts): parts and their content exact
 * however the body is cut into chunks (a delimiter split across chunks, a CR at a chunk's end),
 * the framing Java stacks use (preamble, padding, epilogue, no final CRLF), malformed bodies
 * refused, and content pulled only as fast as it is read.
 */
import { createHash, randomBytes } from 'node:crypto';
import { MultipartFormatError, MultipartStreamReader } from '../../src/soap/multipart-reader';

const OPTIONS = { maxHeaderBytes: 1024, maxParts: 10, maxPreambleBytes: 256 };

async function* chunked(body: Buffer, chunkSize: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < body.length; i += chunkSize) yield body.subarray(i, i + chunkSize);
}

interface ReadPart {
  headers: Record<string, string>;
  content: Buffer;
}

async function readAll(reader: MultipartStreamReader): Promise<ReadPart[]> {
  const parts: ReadPart[] = [];
  for (let head = await reader.nextPart(); head; head = await reader.nextPart()) {
    const chunks: Buffer[] = [];
    for (let chunk = await reader.readContent(); chunk; chunk = await reader.readContent()) {
      expect(chunk.length).toBeGreaterThan(0);
      chunks.push(chunk);
    }
    parts.push({ headers: head.headers, content: Buffer.concat(chunks) });
  }
  return parts;
}

function message(boundary: string, parts: { head: string; content: Buffer }[], options: { preamble?: string; closing?: string } = {}): Buffer {
  const out: Buffer[] = [Buffer.from(options.preamble ?? '')];
  parts.forEach((part, i) => {
    out.push(Buffer.from(`${i === 0 && !options.preamble ? '' : '\r\n'}--${boundary}\r\n${part.head}\r\n`), part.content);
  });
  out.push(Buffer.from(options.closing ?? `\r\n--${boundary}--\r\n`));
  return Buffer.concat(out);
}

async function refusal(body: Buffer, boundary: string, options = OPTIONS): Promise<MultipartFormatError> {
  const error = await readAll(new MultipartStreamReader(chunked(body, 5), boundary, options)).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(MultipartFormatError);
  return error as MultipartFormatError;
}

describe('MultipartStreamReader', () => {
  const boundary = 'uuid:5d4c3b2a';
  // Content that contains near-misses of the delimiter, CRs and LFs at its edges.
  const tricky = Buffer.concat([
    Buffer.from('\r\n'),
    // A fixed byte after the near-miss: a random 'a' there would complete the delimiter (1 run in 256).
    Buffer.from(`\r\n--uuid:5d4c3b2!`),
    randomBytes(300),
    Buffer.from('\r\n-\r\r\n--uu\r'),
    Buffer.from('ends with CRLF\r\n'),
  ]);
  const body = message(boundary, [
    { head: 'Content-Type: application/xop+xml; type="text/xml"\r\nContent-ID: <root@x>\r\n', content: Buffer.from('<root/>') },
    { head: 'Content-Type: application/octet-stream\r\nContent-ID: <bin@x>\r\nContent-Transfer-Encoding: binary\r\n', content: tricky },
    { head: '', content: Buffer.alloc(0) },
  ]);

  test('parts, headers and content are exact for every chunk size (delimiters split anywhere)', async () => {
    for (const size of [1, 2, 3, 5, 7, 13, 17, 64, 1000, body.length]) {
      const parts = await readAll(new MultipartStreamReader(chunked(body, size), boundary, OPTIONS));
      expect(parts.map((p) => p.headers['content-id'])).toEqual(['<root@x>', '<bin@x>', undefined]);
      expect(parts[0]!.headers['content-type']).toBe('application/xop+xml; type="text/xml"');
      expect(parts[0]!.content.toString()).toBe('<root/>');
      expect(parts[1]!.content.equals(tricky)).toBe(true);
      expect(parts[2]!.content.length).toBe(0);
    }
  });

  test('a preamble (CXF: a lone CRLF), padding after a boundary and an epilogue are accepted', async () => {
    const framed = Buffer.concat([
      Buffer.from(`\r\n--${boundary}  \t\r\nContent-ID: <a>\r\n\r\nA`),
      Buffer.from(`\r\n--${boundary}\r\nContent-ID: <b>\r\n\r\nB\r\n--${boundary}--`),
      Buffer.from('\r\nan epilogue nobody reads'),
    ]);
    const parts = await readAll(new MultipartStreamReader(chunked(framed, 4), boundary, OPTIONS));
    expect(parts.map((p) => [p.headers['content-id'], p.content.toString()])).toEqual([
      ['<a>', 'A'],
      ['<b>', 'B'],
    ]);
  });

  test('a textual preamble is skipped; folded headers are unfolded, names lower-cased', async () => {
    const framed = message(boundary, [{ head: 'CONTENT-TYPE: text/xml;\r\n charset=utf-8\r\n', content: Buffer.from('x') }], { preamble: 'This is MIME.' });
    const [part] = await readAll(new MultipartStreamReader(chunked(framed, 3), boundary, OPTIONS));
    expect(part!.headers['content-type']).toBe('text/xml; charset=utf-8');
  });

  test('malformed bodies are refused with a reason', async () => {
    expect((await refusal(message(boundary, [{ head: 'A: b\r\n', content: Buffer.from('half') }], { closing: '' }), boundary)).message).toBe(
      'Multipart stream not finished',
    );
    expect((await refusal(Buffer.from('no boundary at all '.repeat(20)), boundary)).message).toMatch(/^no boundary '--uuid:5d4c3b2a' in the first 256 bytes$/);
    expect((await refusal(Buffer.from('short'), boundary)).message).toMatch(/^no boundary/);
    expect((await refusal(Buffer.from(`--${boundary}xyz\r\n\r\nx\r\n--${boundary}--`), boundary)).message).toBe(
      'a boundary is followed by something other than a line break',
    );
    const bigHeader = message(boundary, [{ head: `X-Big: ${'h'.repeat(2000)}\r\n`, content: Buffer.from('x') }]);
    expect((await refusal(bigHeader, boundary)).message).toBe("a part's headers are larger than 1024 bytes");
    const many = message(boundary, Array.from({ length: 11 }, () => ({ head: '', content: Buffer.from('p') })));
    expect((await refusal(many, boundary)).message).toBe('more than 10 parts');
  });

  test('content is pulled from the body only as fast as it is read', async () => {
    const size = 8 * 1024 * 1024;
    const head = Buffer.from(`--${boundary}\r\nContent-ID: <big>\r\n\r\n`);
    let pulled = 0;
    async function* body(): AsyncGenerator<Buffer> {
      yield head;
      const chunk = Buffer.alloc(64 * 1024, 0x5a);
      for (let sent = 0; sent < size; sent += chunk.length) {
        pulled += chunk.length;
        yield chunk;
      }
      yield Buffer.from(`\r\n--${boundary}--\r\n`);
    }
    const reader = new MultipartStreamReader(body(), boundary, OPTIONS);
    await reader.nextPart();
    const hash = createHash('sha256');
    let read = 0;
    for (let chunk = await reader.readContent(); chunk; chunk = await reader.readContent()) {
      read += chunk.length;
      hash.update(chunk);
      // Never more than one chunk ahead of the consumer.
      expect(pulled - read).toBeLessThanOrEqual(64 * 1024);
    }
    expect(read).toBe(size);
    expect(hash.digest('hex')).toBe(createHash('sha256').update(Buffer.alloc(size, 0x5a)).digest('hex'));
    expect(await reader.nextPart()).toBeUndefined();
  });

  test('discardRest reads what is left, up to a bound, and says whether the body ended', async () => {
    const long = Buffer.concat([Buffer.from(`--${boundary}\r\n\r\n`), Buffer.alloc(10_000, 1), Buffer.from(`\r\n--${boundary}--\r\n`)]);
    const reader = new MultipartStreamReader(chunked(long, 1000), boundary, OPTIONS);
    await reader.nextPart();
    await reader.readContent();
    expect(await reader.discardRest(20_000)).toBe(true);

    const bounded = new MultipartStreamReader(chunked(long, 1000), boundary, OPTIONS);
    await bounded.nextPart();
    expect(await bounded.discardRest(5_000)).toBe(false);
  });

  test('discardRest waits for a read still in flight (a consumer that gave up mid-part)', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    async function* slow(): AsyncGenerator<Buffer> {
      yield Buffer.from(`--${boundary}\r\n\r\nfirst`);
      await gate;
      yield Buffer.from(`second\r\n--${boundary}--\r\n`);
    }
    const reader = new MultipartStreamReader(slow(), boundary, OPTIONS);
    await reader.nextPart();
    expect((await reader.readContent())!.toString()).toBe('first');
    const pending = reader.readContent();
    const discarded = reader.discardRest(1000);
    release();
    expect((await pending)!.toString()).toBe('second');
    expect(await discarded).toBe(true);
  });
});
