/**
 * What the Altinn 2 REST brokerservice API refuses (CONTRACT §9): the outbox POST's input, each
 * refusal a 400 naming the field with nothing stored (rows and blob files compared before and
 * after); authentication as the messages API's; and isolation: a person without a role for
 * {who}, an organisation that is not party, a file in the other box, a service Altinn 2 cannot
 * name: 403 or 404, never data.
 */
import http from 'node:http';
import { addResourceAccess } from '../../../src/broker/resource-access';
import { ORGS, party } from '../../helpers/broker';
import { description, RECIPIENT_PERSON, SENDER_PERSON, SERVICE_CODE, startAltinn2Fixture, STRANGER_PERSON, type Altinn2Fixture } from './helpers';

let fixture: Altinn2Fixture;
beforeAll(async () => {
  fixture = await startAltinn2Fixture();
});
afterAll(() => fixture?.close());

const outbox = `/${ORGS.sender}/brokerservice/outbox`;

/** The request is refused with `status` and an ErrorMessage matching `message`, and nothing is stored. */
async function expectRefusedUnstored(request: () => Promise<{ status: number; json: any }>, status: number, errorCode: string, message: RegExp): Promise<void> {
  const before = await fixture.snapshot();
  const response = await request();
  expect({ status: response.status, body: response.json }).toEqual({ status, body: { ErrorCode: errorCode, ErrorMessage: expect.stringMatching(message) } });
  expect(await fixture.snapshot()).toEqual(before);
}

describe('outbox POST input', () => {
  it.each<[string, Record<string, string>, RegExp]>([
    ['no description', { fileName: 'x.zip' }, /^brokerServiceDescription: is required/],
    ['a description that is not JSON', { brokerServiceDescription: '{"ServiceCode":"4747",' }, /^brokerServiceDescription: is not valid JSON/],
    ['a description that is no object', { brokerServiceDescription: '["4747"]' }, /^brokerServiceDescription: must be a JSON object$/],
    [
      'a description without its required members',
      { brokerServiceDescription: '{"SendersReference":"r"}' },
      /^brokerServiceDescription\.ServiceCode: is required; brokerServiceDescription\.ServiceEditionCode: is required; brokerServiceDescription\.Recipients: is required$/,
    ],
    [
      'members of the wrong type',
      { brokerServiceDescription: JSON.stringify(description({ ServiceEditionCode: 'one', Recipients: '974760673', Properties: ['a'] })) },
      /^brokerServiceDescription\.ServiceEditionCode: must be an integer; brokerServiceDescription\.Recipients: must be an array of organisation numbers \(strings\); brokerServiceDescription\.Properties: must be an object of strings$/,
    ],
  ])('refuses %s (400, nothing stored)', async (_what, query, message) => {
    await expectRefusedUnstored(() => fixture.a2('POST', outbox, { query, body: Buffer.from('PK\x03\x04data', 'latin1') }), 400, 'InvalidRequest', message);
  });

  it.each<[string, Record<string, unknown>, string, RegExp]>([
    ['an unknown service code', { ServiceCode: '9999' }, 'LegacyServiceNotFound', /service code 9999 and edition 1/],
    ['an unknown service edition', { ServiceEditionCode: 2 }, 'LegacyServiceNotFound', /service code 4747 and edition 2/],
    ['a national identity number as recipient', { Recipients: [ORGS.recipient, '01017012345'] }, 'InvalidRequest', /^brokerServiceDescription\.Recipients: a national identity number cannot be a broker party/],
    ['an organisation number with a wrong check digit', { Recipients: ['912345678'] }, 'InvalidRequest', /^brokerServiceDescription\.Recipients: 912345678 is not a valid organisation number/],
    ['no recipients', { Recipients: [] }, 'InvalidRequest', /^brokerServiceDescription\.Recipients: One or more recipients are required/],
    ['no senders reference', { SendersReference: null }, 'InvalidRequest', /^brokerServiceDescription\.SendersReference: The SendersReference field is required\.$/],
    [
      'more than ten properties',
      { Properties: Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`k${i}`, 'v'])) },
      'InvalidRequest',
      /^brokerServiceDescription\.Properties: Properties can contain at most 10 properties/,
    ],
    // U+0000 reached PostgreSQL (500); a long code was echoed back whole.
    ['U+0000 in the service code', { ServiceCode: '47\u000047' }, 'InvalidRequest', /^brokerServiceDescription\.ServiceCode: The field ServiceCode must be at most 255 characters, without control characters\.$/],
    ['a service code of 5,000 characters', { ServiceCode: '4'.repeat(5000) }, 'InvalidRequest', /^brokerServiceDescription\.ServiceCode: The field ServiceCode must be at most 255 characters, without control characters\.$/],
    ['U+0000 in the senders reference', { SendersReference: 'a\u0000b' }, 'InvalidRequest', /^brokerServiceDescription\.SendersReference: The field SendersReference must not contain the character U\+0000\.$/],
    ['U+0000 in a property', { Properties: { k: 'v\u0000' } }, 'InvalidRequest', /^brokerServiceDescription\.Properties: The field Properties must not contain the character U\+0000\.$/],
  ])('refuses %s (400, nothing stored)', async (_what, overrides, code, message) => {
    await expectRefusedUnstored(() => fixture.send(Buffer.from('PK\x03\x04data', 'latin1'), overrides), 400, code, message);
  });

  it('refuses a file name with control characters, naming fileName', async () => {
    await expectRefusedUnstored(() => fixture.send(Buffer.from('x'), {}, { fileName: 'a\u0001b.zip' }), 400, 'InvalidRequest', /^fileName: The field fileName must not contain control characters\.$/);
  });

  it('refuses recipients that are not on the access list of the resource', async () => {
    const resourceId = await fixture.broker.configureResource({ externalServiceCodeLegacy: '4750', externalServiceEditionCodeLegacy: 1 });
    await addResourceAccess(fixture.broker.app.broker, resourceId, party(ORGS.sender));
    await addResourceAccess(fixture.broker.app.broker, resourceId, party(ORGS.recipient));
    await expectRefusedUnstored(() => fixture.send(Buffer.from('x'), { ServiceCode: '4750', Recipients: [ORGS.recipient2] }), 400, 'RecipientsNotInAccessList', /access list/);
    expect((await fixture.send(Buffer.from('x'), { ServiceCode: '4750', Recipients: [ORGS.recipient] })).status).toBe(201);
  });

  it('refuses a declared size over the service\'s limit before reading the body, nothing stored', async () => {
    await fixture.broker.configureResource({ externalServiceCodeLegacy: '4751', externalServiceEditionCodeLegacy: 1, maxFileTransferSize: 100 });
    await expectRefusedUnstored(() => fixture.send(Buffer.alloc(101), { ServiceCode: '4751' }), 400, 'FileSizeTooBig', /File size exceeds maximum/);
    expect((await fixture.send(Buffer.alloc(100), { ServiceCode: '4751' })).status).toBe(201);
  });

  it('requires Content-Length: a chunked body is refused before it is read, nothing stored', async () => {
    const before = await fixture.snapshot();
    const token = await fixture.token(SENDER_PERSON);
    const query = new URLSearchParams({ fileName: 'chunked.zip', brokerServiceDescription: JSON.stringify(description()) });
    const url = new URL(fixture.broker.url);
    const response = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const request = http.request(
        {
          host: url.hostname,
          port: url.port,
          method: 'POST',
          path: `/api${outbox}?${query}`,
          headers: { apikey: fixture.apiKey, authorization: `Bearer ${token}`, 'content-type': 'application/zip', 'transfer-encoding': 'chunked', accept: 'application/json' },
        },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (body += chunk));
          res.on('end', () => resolve({ status: res.statusCode!, body }));
        },
      );
      request.on('error', (error: NodeJS.ErrnoException) => (error.code === 'EPIPE' || error.code === 'ECONNRESET' ? undefined : reject(error)));
      // A first chunk, and the body left open: the answer must come without it.
      request.write('PK\x03\x04 first chunk');
    });
    expect(response.status).toBe(400);
    expect(JSON.parse(response.body)).toEqual({ ErrorCode: 'MissingContentLength', ErrorMessage: expect.stringMatching(/^Content-Length: the header is required/) });
    expect(await fixture.snapshot()).toEqual(before);
  });
});

describe('authentication', () => {
  it('needs the ApiKey (400 without, 403 when unknown) and the end user (401)', async () => {
    const path = `${outbox}/00000000-0000-0000-0000-000000000000`;
    expect((await fixture.a2('GET', path, { apiKey: null })).json).toEqual({ ErrorCode: 'MissingApiKey', ErrorMessage: "Required header 'ApiKey' is missing." });
    expect((await fixture.a2('GET', path, { apiKey: null })).status).toBe(400);
    const unknownKey = await fixture.a2('GET', path, { apiKey: 'not-a-key' });
    expect([unknownKey.status, unknownKey.json.ErrorCode]).toEqual([403, 'InvalidApiKey']);
    const noToken = await fixture.a2('GET', path, { person: null });
    expect([noToken.status, noToken.json.ErrorCode, noToken.headers.get('www-authenticate')]).toEqual([401, 'Unauthenticated', 'Bearer']);
    const badToken = await fixture.a2('GET', path, { authorization: 'Bearer abc.def.ghi' });
    expect([badToken.status, badToken.json.ErrorCode]).toEqual([401, 'InvalidToken']);
  });

  it('takes {who} as r<reporteeId> too, for an organisation the person has a role for', async () => {
    const sent = await fixture.send(Buffer.from('by reportee id'));
    const reportee = await fixture.broker.app.db('reportees').where({ identifier: ORGS.sender }).first('id');
    const file = await fixture.a2('GET', `/r${reportee.id}/brokerservice/outbox/${sent.json.FileReference}`);
    expect([file.status, file.json.FileReference]).toEqual([200, sent.json.FileReference]);
    expect((await fixture.a2('GET', `/r${reportee.id}/brokerservice/outbox/${sent.json.FileReference}`, { person: STRANGER_PERSON })).status).toBe(403);
  });

  it('refuses the outbox POST of an unauthenticated caller before its body is read, nothing stored', async () => {
    await expectRefusedUnstored(() => fixture.send(Buffer.alloc(64 * 1024), {}, { person: null }), 401, 'Unauthenticated', /Bearer/);
  });

  it('hasavailablefiles takes the ApiKey alone, and checks its recipients', async () => {
    const poll = (query: Record<string, string>, apiKey?: string | null) => fixture.a2('GET', '/brokerservice/inbox/hasavailablefiles', { person: null, apiKey, query });
    expect((await poll({ recipients: ORGS.recipient })).status).toBe(200);
    expect((await poll({ recipients: ORGS.recipient }, null)).status).toBe(400);
    expect((await poll({ recipients: ORGS.recipient }, 'wrong')).status).toBe(403);
    expect((await poll({})).json).toEqual({ ErrorCode: 'InvalidRequest', ErrorMessage: 'recipients: is required: organisation numbers, comma-separated' });
    expect((await poll({ recipients: `${ORGS.recipient},01017012345` })).json.ErrorMessage).toMatch(/^recipients: a national identity number cannot be a broker party/);
    expect((await poll({ recipients: 'abc' })).json.ErrorMessage).toBe("recipients: 'abc' is not an organisation number (9 digits)");
    expect((await poll({ recipients: ORGS.recipient, serviceEditionCode: 'x' })).json.ErrorMessage).toBe("serviceEditionCode: 'x' is not an integer");
  });
});

describe('isolation', () => {
  let id: string;
  beforeAll(async () => {
    const sent = await fixture.send(Buffer.from('secret'), { Recipients: [ORGS.recipient] });
    id = sent.json.FileReference;
  });

  it('a person without a role for {who} gets 403 and nothing else, whatever the file', async () => {
    for (const path of [`${outbox}/${id}`, `${outbox}/${id}/receipt`, `/${ORGS.recipient}/brokerservice/inbox/${id}`, `/${ORGS.recipient}/brokerservice/inbox`]) {
      const response = await fixture.a2('GET', path, { person: STRANGER_PERSON });
      expect({ path, status: response.status, body: response.json }).toEqual({ path, status: 403, body: { ErrorCode: 'Forbidden', ErrorMessage: expect.stringMatching(/may not act for reportee/) } });
    }
    const download = await fixture.a2('GET', `/${ORGS.recipient}/brokerservice/inbox/${id}/download`, { person: STRANGER_PERSON });
    expect(download.status).toBe(403);
    await expectRefusedUnstored(() => fixture.send(Buffer.from('x'), {}, { person: STRANGER_PERSON }), 403, 'Forbidden', /may not act for reportee '974760673'/);
  });

  it('{who} must be an organisation: `my` (the person) is no broker party', async () => {
    const response = await fixture.a2('GET', '/my/brokerservice/inbox', { person: RECIPIENT_PERSON });
    expect([response.status, response.json.ErrorCode]).toEqual([403, 'NotABrokerParty']);
    await expectRefusedUnstored(() => fixture.send(Buffer.from('x'), {}, { who: 'my' }), 403, 'NotABrokerParty', /names a person/);
  });

  it('an organisation that is not party gets 404 exactly as for an unknown file, and an empty inbox', async () => {
    const unknown = await fixture.a2('GET', `/${ORGS.stranger}/brokerservice/inbox/00000000-0000-4000-8000-000000000000`, { person: STRANGER_PERSON });
    expect(unknown.status).toBe(404);
    for (const path of [`/${ORGS.stranger}/brokerservice/outbox/${id}`, `/${ORGS.stranger}/brokerservice/outbox/${id}/receipt`, `/${ORGS.stranger}/brokerservice/inbox/${id}`, `/${ORGS.stranger}/brokerservice/inbox/${id}/receipt`]) {
      const response = await fixture.a2('GET', path, { person: STRANGER_PERSON });
      expect({ path, status: response.status, body: response.json }).toEqual({ path, status: 404, body: unknown.json });
    }
    const download = await fixture.a2('GET', `/${ORGS.stranger}/brokerservice/inbox/${id}/download`, { person: STRANGER_PERSON });
    expect([download.status, download.json]).toEqual([404, unknown.json]);
    await expectRefusedUnstored(() => fixture.a2('POST', `/${ORGS.stranger}/brokerservice/inbox/${id}/confirmdownloaded`, { person: STRANGER_PERSON }), 404, 'NotFound', /was not found/);
    const inbox = await fixture.a2('GET', `/${ORGS.stranger}/brokerservice/inbox`, { person: STRANGER_PERSON, query: { fileStatus: 'Initialized' } });
    expect([inbox.status, inbox.json]).toEqual([200, []]);
  });

  it('a file is in its sender\'s outbox and its recipients\' inboxes only', async () => {
    const senderInbox = await fixture.a2('GET', `/${ORGS.sender}/brokerservice/inbox/${id}`, { person: SENDER_PERSON });
    expect(senderInbox.status).toBe(404);
    const recipientOutbox = await fixture.a2('GET', `/${ORGS.recipient}/brokerservice/outbox/${id}`, { person: RECIPIENT_PERSON });
    expect(recipientOutbox.status).toBe(404);
    const senderDownload = await fixture.a2('GET', `/${ORGS.sender}/brokerservice/inbox/${id}/download`, { person: SENDER_PERSON });
    expect(senderDownload.status).toBe(404);
  });

  it('a transfer on a resource without an Altinn 2 service code does not exist for Altinn 2', async () => {
    const { broker } = fixture;
    const resourceId = await broker.configureResource({});
    const id = await broker.publish(Buffer.from('altinn 3 only'), { resourceId });
    const response = await fixture.a2('GET', `/${ORGS.recipient}/brokerservice/inbox/${id}`, { person: RECIPIENT_PERSON });
    expect([response.status, response.json.ErrorCode]).toEqual([404, 'NotFound']);
    const listed = await fixture.a2('GET', `/${ORGS.recipient}/brokerservice/inbox`, { person: RECIPIENT_PERSON });
    expect(listed.json.map((file: { FileReference: string }) => file.FileReference)).not.toContain(id);
    expect((await fixture.a2('GET', '/brokerservice/inbox/hasavailablefiles', { person: null, query: { recipients: ORGS.recipient2 } })).text).toBe('false');
    expect(listed.json.every((file: { ServiceCode: string }) => file.ServiceCode === SERVICE_CODE || file.ServiceCode === '4750' || file.ServiceCode === '4751')).toBe(true);
  });
});
