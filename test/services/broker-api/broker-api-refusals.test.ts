/**
 * What the Altinn 3 door refuses, and how: isolation (a stranger's 404 on every route), tokens and
 * scopes (401/403 with empty bodies), 406 for a foreign Accept, security headers on every answer,
 * and the JSON conventions of CONTRACT §1 (case-insensitive names, validation problems keyed as
 * ASP.NET keys them, malformed JSON, 415).
 */
import { ORGS, SECURITY_HEADERS, party, startBrokerTestServer, type BrokerTestServer } from '../../helpers/broker';

let broker: BrokerTestServer;
let published: string;
beforeAll(async () => {
  broker = await startBrokerTestServer();
  published = await broker.publish(Buffer.from('isolated bytes'));
});
afterAll(() => broker?.close());

const VALID_BODY = () => ({
  resourceId: broker.resourceId,
  fileName: 'a.txt',
  sendersFileTransferReference: 'r',
  sender: party(ORGS.sender),
  recipients: [party(ORGS.recipient)],
});

/** Every route of one transfer: [method, path, body?]. */
const transferRoutes = (id: string): [string, string][] => [
  ['GET', `/filetransfer/${id}`],
  ['GET', `/filetransfer/${id}/details`],
  ['POST', `/filetransfer/${id}/upload`],
  ['GET', `/filetransfer/${id}/download`],
  ['POST', `/filetransfer/${id}/confirmdownload`],
];

describe('isolation', () => {
  it('answers a third organisation 404 BRO-00001 on every route of a transfer it is not party to, as for one that does not exist', async () => {
    const missing = '0b7e6a32-1c2d-4e5f-8a9b-0c1d2e3f4a5b';
    for (const id of [published, missing]) {
      for (const [method, path] of transferRoutes(id)) {
        const response = await broker.call(method, path, {
          token: broker.tokens.stranger,
          ...(path.endsWith('/upload') && { body: Buffer.from('intruding'), headers: { 'content-type': 'application/octet-stream' } }),
        });
        expect({ route: `${method} ${path}`, status: response.status, body: response.json }).toEqual({
          route: `${method} ${path}`,
          status: 404,
          body: {
            type: 'https://tools.ietf.org/html/rfc9110#section-15.5.5',
            title: 'Not Found',
            status: 404,
            detail: 'The requested file transfer was not found',
            code: 'BRO-00001',
            traceId: expect.stringMatching(/^00-/),
          },
        });
      }
    }
    const search = await broker.call('GET', `/filetransfer?resourceId=${broker.resourceId}`, { token: broker.tokens.stranger });
    expect(search.status).toBe(200);
    expect(search.json).toEqual([]);
  });

  it('keeps the roles apart: a recipient cannot upload, the sender cannot download or confirm', async () => {
    const recipientUpload = await broker.call('POST', `/filetransfer/${published}/upload`, {
      token: broker.tokens.recipientWriteOnly,
      body: Buffer.from('x'),
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(recipientUpload.status).toBe(404);
    expect((await broker.call('GET', `/filetransfer/${published}/download`, { token: broker.tokens.senderReadOnly })).status).toBe(404);
    expect((await broker.call('POST', `/filetransfer/${published}/confirmdownload`, { token: broker.tokens.senderReadOnly })).status).toBe(404);
    // Either scope reads the overview of a transfer the organisation is party to.
    expect((await broker.call('GET', `/filetransfer/${published}`, { token: broker.tokens.senderReadOnly })).status).toBe(200);
    expect((await broker.call('GET', `/filetransfer/${published}/details`, { token: broker.tokens.recipientWriteOnly })).status).toBe(200);
  });

  it('refuses to initialize for another sender (401 BRO-00006)', async () => {
    const response = await broker.call('POST', '/filetransfer', { token: broker.tokens.stranger, json: VALID_BODY() });
    expect(response.status).toBe(401);
    expect(response.json).toMatchObject({ status: 401, title: 'Unauthorized', code: 'BRO-00006' });
  });
});

describe('tokens and scopes', () => {
  const routes = (): [string, string][] => [
    ['POST', '/filetransfer'],
    ['POST', '/filetransfer/upload'],
    ['GET', `/filetransfer?resourceId=${broker.resourceId}`],
    ...transferRoutes(published),
    ['PUT', `/resource/${broker.resourceId}`],
    ['GET', `/resource/${broker.resourceId}`],
  ];

  it('answers 401 with an empty body and WWW-Authenticate: Bearer without a token, or with an expired or forged one', async () => {
    const expired = await broker.token(ORGS.sender, ['altinn:broker.write', 'altinn:broker.read', 'altinn:serviceowner'], -60);
    for (const [method, path] of routes()) {
      const none = await broker.call(method, path);
      expect({ route: `${method} ${path}`, status: none.status, body: none.text, auth: none.headers.get('www-authenticate') }).toEqual({
        route: `${method} ${path}`,
        status: 401,
        body: '',
        auth: 'Bearer',
      });
      const old = await broker.call(method, path, { token: expired });
      expect(old.status).toBe(401);
      expect(old.text).toBe('');
      expect(old.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/);
    }
    const forged = await broker.call('GET', `/filetransfer/${published}`, { token: `${broker.tokens.sender.slice(0, -4)}AAAA` });
    expect(forged.status).toBe(401);
  });

  it('answers 403 with an empty body to a token without the route\'s scope', async () => {
    const cases: [string, string, string][] = [
      ['POST', '/filetransfer', broker.tokens.recipient],
      ['POST', `/filetransfer/${published}/upload`, broker.tokens.recipient],
      ['POST', '/filetransfer/upload', broker.tokens.recipient],
      ['GET', `/filetransfer/${published}/download`, broker.tokens.sender],
      ['POST', `/filetransfer/${published}/confirmdownload`, broker.tokens.sender],
      ['GET', `/filetransfer/${published}`, broker.tokens.serviceOwner],
      ['GET', `/filetransfer?resourceId=${broker.resourceId}`, broker.tokens.serviceOwner],
      ['PUT', `/resource/${broker.resourceId}`, broker.tokens.sender],
      ['GET', `/resource/${broker.resourceId}`, broker.tokens.stranger],
    ];
    for (const [method, path, token] of cases) {
      const response = await broker.call(method, path, { token });
      expect({ route: `${method} ${path}`, status: response.status, body: response.text }).toEqual({ route: `${method} ${path}`, status: 403, body: '' });
    }
  });
});

describe('Accept and headers', () => {
  it('answers 406 to Accept: text/html on JSON routes, before authentication, but not on download', async () => {
    const jsonRoutes: [string, string][] = [
      ['POST', '/filetransfer'],
      ['POST', `/filetransfer/${published}/confirmdownload`],
      ['GET', `/filetransfer/${published}`],
      ['GET', `/filetransfer/${published}/details`],
      ['GET', `/filetransfer?resourceId=${broker.resourceId}`],
      ['POST', `/filetransfer/${published}/upload`],
      ['POST', '/filetransfer/upload'],
      ['PUT', `/resource/${broker.resourceId}`],
      ['GET', `/resource/${broker.resourceId}`],
    ];
    for (const [method, path] of jsonRoutes) {
      const response = await broker.call(method, path, { headers: { accept: 'text/html' } });
      expect({ route: `${method} ${path}`, status: response.status }).toEqual({ route: `${method} ${path}`, status: 406 });
      expect(response.text).toBe('This endpoint does not support the requested Accept header. Supported Accept headers are: application/json, */*.');
    }
    const accepted = await broker.call('GET', `/filetransfer/${published}`, { token: broker.tokens.sender, headers: { accept: 'text/html, application/json;q=0.9' } });
    expect(accepted.status).toBe(200);
    const download = await broker.call('GET', `/filetransfer/${published}/download`, { token: broker.tokens.recipient, headers: { accept: 'text/html' } });
    expect(download.status).toBe(200);
  });

  it('puts the security headers on every answer, errors included', async () => {
    const answers = [
      await broker.call('GET', `/filetransfer/${published}`, { token: broker.tokens.sender }), // 200
      await broker.call('GET', `/filetransfer/${published}/download`, { token: broker.tokens.recipient, headers: { range: 'bytes=0-1' } }), // 206
      await broker.call('GET', `/filetransfer/${published}/download`, { token: broker.tokens.recipient, headers: { range: 'bytes=900-' } }), // 416
      await broker.call('POST', `/filetransfer/${published}/confirmdownload`, { token: broker.tokens.recipient }), // 204
      await broker.call('GET', `/filetransfer/${published}`), // 401
      await broker.call('GET', `/filetransfer/${published}`, { token: broker.tokens.serviceOwner }), // 403
      await broker.call('GET', `/filetransfer/${published}`, { token: broker.tokens.stranger }), // 404
      await broker.call('GET', `/filetransfer/${published}`, { headers: { accept: 'text/html' } }), // 406
      await broker.call('POST', '/filetransfer', { token: broker.tokens.sender, json: '{' }), // 400
      await broker.call('POST', `/filetransfer/${published}/upload`, { token: broker.tokens.sender, body: Buffer.from('x'), headers: { 'content-type': 'application/octet-stream' } }), // 409
      await broker.call('GET', '/no-such-route', { token: broker.tokens.sender }), // 404 (router)
    ];
    expect(answers.map((answer) => answer.status)).toEqual([200, 206, 416, 204, 401, 403, 404, 406, 400, 409, 404]);
    for (const answer of answers) {
      for (const [name, value] of Object.entries(SECURITY_HEADERS)) expect(answer.headers.get(name)).toBe(value);
    }
  });
});

describe('JSON in', () => {
  it('reads member names in any case and ignores unknown members (as Postman sends them)', async () => {
    const response = await broker.call('POST', '/filetransfer', {
      token: broker.tokens.sender,
      json: {
        FileName: 'Postman.txt',
        RESOURCEID: broker.resourceId,
        sendersFileTransferReference: 'pm',
        Sender: party(ORGS.sender),
        recipients: [party(ORGS.recipient)],
        PropertyList: { Key: 'Value' },
        DisableVirusScan: 'true',
        somethingElse: { nested: true },
      },
    });
    expect(response.status).toBe(200);
    const overview = await broker.call('GET', `/filetransfer/${response.json.fileTransferId}`, { token: broker.tokens.sender });
    expect(overview.json).toMatchObject({ fileName: 'Postman.txt', propertyList: { Key: 'Value' } });
  });

  it('reports every broken rule at once, keyed by the C# property names', async () => {
    const response = await broker.call('POST', '/filetransfer', {
      token: broker.tokens.sender,
      json: { resourceId: broker.resourceId, fileName: '', sender: '910000001', recipients: [], checksum: 'ABC' },
    });
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toBe('application/problem+json; charset=utf-8');
    expect(response.json).toEqual({
      type: 'https://tools.ietf.org/html/rfc9110#section-15.5.1',
      title: 'One or more validation errors occurred.',
      status: 400,
      errors: {
        FileName: ['The FileName field is required.', 'The field FileName must be a string with a minimum length of 1 and a maximum length of 255.'],
        SendersFileTransferReference: ['The SendersFileTransferReference field is required.'],
        Sender: [expect.stringMatching(/^Organization numbers should be on the form/)],
        Recipients: ['One or more recipients are required'],
        Checksum: ['The checksum, if used, must be a MD5 hash with a length of 32 characters'],
      },
      traceId: expect.stringMatching(/^00-/),
    });
    expect(response.json.code).toBeUndefined();
  });

  it('refuses U+0000 in text members with a validation problem (PostgreSQL cannot store it: it was a 500)', async () => {
    const response = await broker.call('POST', '/filetransfer', {
      token: broker.tokens.sender,
      json: { ...VALID_BODY(), sendersFileTransferReference: 'ref\u0000', propertyList: { key: 'value\u0000' } },
    });
    expect(response.status).toBe(400);
    expect(response.json.errors).toEqual({
      SendersFileTransferReference: ['The field SendersFileTransferReference must not contain the character U+0000.'],
      PropertyList: ['The field PropertyList must not contain the character U+0000.'],
    });
  });

  it('answers malformed JSON, an empty body and a wrong member type with validation problems as ASP.NET does', async () => {
    const malformed = await broker.call('POST', '/filetransfer', { token: broker.tokens.sender, json: '{"fileName": x}' });
    expect(malformed.status).toBe(400);
    expect(Object.keys(malformed.json.errors)).toEqual(['$', 'initializeExt']);
    expect(malformed.json.errors.initializeExt).toEqual(['The initializeExt field is required.']);

    const empty = await broker.call('POST', '/filetransfer', { token: broker.tokens.sender, json: '' });
    expect(empty.status).toBe(400);
    expect(empty.json.errors).toEqual({ '': ['A non-empty request body is required.'], initializeExt: ['The initializeExt field is required.'] });

    // Bytes that are not UTF-8 are refused, never read as U+FFFD.
    const [before, after] = JSON.stringify({ ...VALID_BODY(), FileName: 'a#.zip' }).split('#');
    const notUtf8 = await broker.call('POST', '/filetransfer', {
      token: broker.tokens.sender,
      body: Buffer.concat([Buffer.from(before!), Buffer.from([0xc3, 0x28]), Buffer.from(after!)]),
      headers: { 'content-type': 'application/json' },
    });
    expect(notUtf8.status).toBe(400);
    expect(notUtf8.json.errors).toEqual({ $: ['The request body is not valid UTF-8. Path: $'], initializeExt: ['The initializeExt field is required.'] });

    const array = await broker.call('POST', '/filetransfer', { token: broker.tokens.sender, json: '[1,2]' });
    expect(array.json.errors.$[0]).toMatch(/^The JSON value could not be converted to /);

    const wrongType = await broker.call('POST', '/filetransfer', { token: broker.tokens.sender, json: { ...VALID_BODY(), Recipients: party(ORGS.recipient) } });
    expect(wrongType.status).toBe(400);
    expect(wrongType.json.errors).toEqual({
      '$.Recipients': ['The JSON value could not be converted to System.Collections.Generic.List`1[System.String]. Path: $.Recipients'],
      initializeExt: ['The initializeExt field is required.'],
    });
  });

  it('answers 415 to a body that is not JSON', async () => {
    for (const contentType of ['text/plain', 'application/xml', 'application/octet-stream']) {
      const response = await broker.call('POST', '/filetransfer', { token: broker.tokens.sender, body: JSON.stringify(VALID_BODY()), headers: { 'content-type': contentType } });
      expect({ contentType, status: response.status }).toEqual({ contentType, status: 415 });
      expect(response.json).toMatchObject({ type: 'https://tools.ietf.org/html/rfc9110#section-15.5.16', title: 'Unsupported Media Type', status: 415 });
    }
    const json = await broker.call('POST', '/filetransfer', { token: broker.tokens.sender, body: JSON.stringify(VALID_BODY()), headers: { 'content-type': 'text/json' } });
    expect(json.status).toBe(200);
    const upload = await broker.call('POST', `/filetransfer/${published}/upload`, { token: broker.tokens.sender, json: { not: 'bytes' } });
    expect(upload.status).toBe(415);
    // As ASP.NET's [Consumes]: an upload without any Content-Type is taken as the bytes.
    const fresh = await broker.initialize();
    const untyped = await broker.call('POST', `/filetransfer/${fresh}/upload`, { token: broker.tokens.sender, body: Buffer.from('untyped bytes') });
    expect(untyped.status).toBe(200);
    expect((await broker.call('GET', `/filetransfer/${fresh}/download`, { token: broker.tokens.recipient })).text).toBe('untyped bytes');
  });

  it('answers a path id that is no GUID with a 400 validation problem, and reads every .NET GUID form', async () => {
    const response = await broker.call('GET', '/filetransfer/not-a-guid', { token: broker.tokens.sender });
    expect(response.status).toBe(400);
    expect(response.json.errors).toEqual({ fileTransferId: ["The value 'not-a-guid' is not valid for fileTransferId."] });
    for (const form of [published.toUpperCase(), published.replace(/-/g, ''), `{${published}}`]) {
      const found = await broker.call('GET', `/filetransfer/${encodeURIComponent(form)}`, { token: broker.tokens.sender });
      expect({ form, status: found.status, id: found.json.fileTransferId }).toEqual({ form, status: 200, id: published });
    }
  });

  it('refuses an unknown resource with 400 BRO-00025 and a person as recipient with a validation problem', async () => {
    const unknown = await broker.call('POST', '/filetransfer', { token: broker.tokens.sender, json: { ...VALID_BODY(), resourceId: 'nobody-configured-this' } });
    expect(unknown.status).toBe(400);
    expect(unknown.json).toMatchObject({ code: 'BRO-00025', detail: 'The resource has not been configured.' });
    const person = await broker.call('POST', '/filetransfer', { token: broker.tokens.sender, json: { ...VALID_BODY(), recipients: ['01017012345'] } });
    expect(person.status).toBe(400);
    expect(Object.keys(person.json.errors)).toEqual(['Recipients']);
  });
});
