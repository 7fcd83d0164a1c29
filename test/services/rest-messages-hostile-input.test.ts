/**
 * Hostile and unusual bodies for the REST messages API, over real HTTP: every route reads its body
 * only in the media types it documents (415 for the rest, checked before the body is read), text
 * that is not UTF-8 is refused rather than stored as U+FFFD, control characters, lengths and
 * numbers are bounded by the route schemas (400 naming the field, never a 500, never the input
 * echoed back), and base64 attachments work up to the documented JSON body limit (32 MiB).
 */
import { createHash } from 'node:crypto';
import { createRestFixture, expectRefusal as expectRefusalOf, MAIN_FORM, messageBody, MiB, type ApiResponse, type RestFixture } from '../messages/rest-helpers';

let fixture: RestFixture;

beforeAll(async () => {
  fixture = await createRestFixture();
});
afterAll(() => fixture?.close());

async function draft(): Promise<string> {
  const created = await fixture.call('POST', '/api/my/messages?complete=false', { body: messageBody(fixture.owner) });
  expect(created.status).toBe(201);
  return created.headers.get('location')!;
}

const expectRefusal = (refused: () => Promise<ApiResponse>, status: number, errorCode: string, message: string | RegExp) =>
  expectRefusalOf(fixture, refused, status, errorCode, message);

const JSON_TYPES = 'application/hal+json or application/json';

describe('media types: each route reads its body only in the types it documents (415 otherwise)', () => {
  it('a junk application/octet-stream body on PUT is refused, not taken as "no changes" and signed', async () => {
    const location = await draft();
    await expectRefusal(
      () => fixture.call('PUT', location, { rawBody: Buffer.from('\x00\x01junk'), headers: { 'content-type': 'application/octet-stream' } }),
      415,
      'UnsupportedMediaType',
      `Content-Type application/octet-stream is not accepted here: send ${JSON_TYPES}`,
    );
    const message = await fixture.call('GET', location);
    expect(message.json.Status).not.toBe('Sendt og arkivert');
  });

  it('POST /messages as text/plain, octet-stream, a made-up type or none: 415, never a 500', async () => {
    const json = JSON.stringify(messageBody(fixture.owner));
    for (const type of ['text/plain', 'application/octet-stream', 'application/x-whatever']) {
      await expectRefusal(
        () => fixture.call('POST', '/api/my/messages', { rawBody: json, headers: { 'content-type': type } }),
        415,
        'UnsupportedMediaType',
        `Content-Type ${type} is not accepted here: send ${JSON_TYPES}`,
      );
    }
    await expectRefusal(
      () => fixture.call('POST', '/api/my/messages', { rawBody: new Blob([json]), headers: { 'content-type': '' } }),
      415,
      'UnsupportedMediaType',
      `The request has no Content-Type: send ${JSON_TYPES}`,
    );
  });

  it('a JSON body for the streamed attachment route is refused (it takes the file as application/octet-stream)', async () => {
    const location = await draft();
    await expectRefusal(
      () => fixture.call('POST', `${location}/attachments/streamedattachment?fileName=a.bin&attachmentType=Stordata`, { body: { Data: 'AAAA' } }),
      415,
      'UnsupportedMediaType',
      'Content-Type application/hal+json is not accepted here: send application/octet-stream',
    );
  });

  it('application/json and application/hal+json (with parameters) are both read', async () => {
    for (const type of ['application/json; charset=utf-8', 'application/hal+json']) {
      const created = await fixture.call('POST', '/api/my/messages?complete=false', { rawBody: JSON.stringify(messageBody(fixture.owner)), headers: { 'content-type': type } });
      expect(created.status).toBe(201);
    }
  });
});

describe('encoding: JSON text that is not UTF-8 is refused, never stored as U+FFFD', () => {
  it.each([
    ['a stray continuation byte', [0x80]],
    ['a lead byte without its continuation', [0xc3, 0x28]],
    ['an encoded surrogate', [0xed, 0xa0, 0x80]],
    ['an overlong encoding', [0xc0, 0xaf]],
  ])('%s in a string member', async (_name, bytes) => {
    const [before, after] = JSON.stringify(messageBody(fixture.owner, { forms: [{ DataFormatId: '5703', DataFormatVersion: 34114, FormData: '<Skjema>#</Skjema>' }] })).split('#');
    const body = Buffer.concat([Buffer.from(before!), Buffer.from(bytes), Buffer.from(after!)]);
    for (const type of ['application/json', 'application/hal+json']) {
      await expectRefusal(
        () => fixture.call('POST', '/api/my/messages', { rawBody: body, headers: { 'content-type': type } }),
        400,
        'InvalidJson',
        'body: is not valid UTF-8',
      );
    }
  });
});

describe('bad input: 400 naming the field, never a 500, never the input echoed back', () => {
  it('U+0000 (and other control characters) in ServiceCode, DataFormatId, AttachmentType and FileName', async () => {
    const controls = 'must not contain control characters (U+0000-U+001F, U+007F)';
    const nulCode = { ...messageBody(fixture.owner), ServiceCode: `${fixture.owner.serviceCode}\u0000` };
    await expectRefusal(() => fixture.call('POST', '/api/my/messages', { body: nulCode }), 400, 'InvalidRequest', `ServiceCode: ${controls}`);
    const nulFormat = messageBody(fixture.owner, { forms: [{ DataFormatId: '57\u000003', DataFormatVersion: 34114, FormData: MAIN_FORM }] });
    await expectRefusal(() => fixture.call('POST', '/api/my/messages', { body: nulFormat }), 400, 'InvalidRequest', `_embedded.forms[0].DataFormatId: ${controls}`);

    const location = await draft();
    const data = Buffer.from('%PDF').toString('base64');
    await expectRefusal(
      () => fixture.call('POST', `${location}/attachments`, { body: { FileName: 'a.pdf', AttachmentType: 'Vedlegg\u0000', Data: data } }),
      400,
      'InvalidRequest',
      `AttachmentType: ${controls}`,
    );
    await expectRefusal(
      () => fixture.call('POST', `${location}/attachments`, { body: { FileName: 'a\u001b.pdf', AttachmentType: 'Vedlegg', Data: data } }),
      400,
      'InvalidRequest',
      `FileName: ${controls}`,
    );
    await expectRefusal(
      () => fixture.call('POST', `${location}/attachments/streamedattachment?fileName=a.bin&attachmentType=Stor%00data`, { rawBody: Buffer.from('x') }),
      400,
      'InvalidRequest',
      `attachmentType: ${controls}`,
    );
    await expectRefusal(
      () => fixture.call('PUT', location, { body: { ServiceCode: '\u0000' } }),
      400,
      'InvalidRequest',
      `ServiceCode: ${controls}`,
    );
  });

  it('$skip and $top beyond 32 bits (and beyond 64) are refused', async () => {
    for (const query of ['$skip=99999999999999999999', '$skip=2147483648', '$top=1e30']) {
      const response = await fixture.call('GET', `/api/my/messages?${query}`);
      expect(response.status).toBe(400);
      expect(response.json.ErrorMessage).toMatch(/^\$(skip|top): must be <= 2147483647$/);
    }
    expect((await fixture.call('GET', '/api/my/messages?$skip=2147483647')).status).toBe(200);
  });

  it('an oversized ServiceCode (5 MB) or path segment is refused in a short answer', async () => {
    const huge = 'x'.repeat(5 * 1000 * 1000);
    const created = await expectRefusal(
      () => fixture.call('POST', '/api/my/messages', { body: { ...messageBody(fixture.owner), ServiceCode: huge } }),
      400,
      'InvalidRequest',
      'ServiceCode: must NOT have more than 50 characters',
    );
    expect(created.text.length).toBeLessThan(200);
    const location = await draft();
    const replaced = await expectRefusal(() => fixture.call('PUT', location, { body: { ServiceCode: huge } }), 400, 'InvalidRequest', 'ServiceCode: must NOT have more than 50 characters');
    expect(replaced.text.length).toBeLessThan(200);
    const longWho = await fixture.call('GET', `/api/${'9'.repeat(60)}/messages`);
    expect(longWho.status).toBe(400);
    expect(longWho.json.ErrorMessage).toBe('who: must NOT have more than 50 characters');
  });
});

describe('base64 attachments up to the JSON body limit (32 MiB)', () => {
  // A backtracking validation pattern overflowed the stack above ~3.2 MiB of base64 (500).
  it.each([
    ['4.5 MiB', 4.5 * MiB],
    ['22 MiB (30 MiB of base64)', 22 * MiB],
  ])('a %s attachment is stored byte for byte', async (_name, size) => {
    const location = await draft();
    const bytes = Buffer.alloc(size);
    for (let i = 0; i < size; i += 997) bytes[i] = i % 256;
    const added = await fixture.call('POST', `${location}/attachments`, { body: { FileName: 'big.bin', AttachmentType: 'Stordata', Data: bytes.toString('base64') } });
    expect(added.status).toBe(201);
    expect(added.json).toMatchObject({ FileSize: size, Sha256: createHash('sha256').update(bytes).digest('hex') });
  });
});
