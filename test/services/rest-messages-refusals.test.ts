/**
 * The REST messages API refuses what it must, with the status and message a client can act on,
 * and stores nothing of a refused request (rows and blob files compared before and after): no
 * ApiKey, bad tokens, another reportee, disallowed types, oversized attachments (base64, declared
 * and streamed), malformed XML, changes after archiving. A client that disconnects halfway through
 * a streamed attachment leaves no attachment and no blob; a crash inside the archiving transaction
 * leaves the message as it was.
 */
import http from 'node:http';
import { generateKeyPair, SignJWT, importJWK } from 'jose';
import { issueLocalToken, loadOrCreateIssuerKey, AUTH_LEVEL_CLAIM } from '../../src/auth/end-user-tokens';
import { revokeApiKey, addApiKey } from '../../src/auth/api-keys';
import { createMessageBody } from '../../src/services/rest-messages/schemas';
import { listBlobFiles } from '../helpers/archive-fixtures';
import {
  createRestFixture,
  eventually,
  expectNoOrphanBlobs,
  expectRefusal as expectRefusalOf,
  giveRole,
  MAIN_FORM,
  messageBody,
  MiB,
  OTHER_PERSON,
  PERSON,
  SUB_FORM,
  tmpFiles,
  type RestFixture,
} from '../messages/rest-helpers';

let fixture: RestFixture;

beforeAll(async () => {
  fixture = await createRestFixture();
});
afterAll(() => fixture?.close());

const expectRefusal = <R extends { status: number; json: any }>(refused: () => Promise<R>, status: number, errorCode: string, message: string | RegExp) =>
  expectRefusalOf(fixture, refused, status, errorCode, message);

async function draft(extra: Parameters<typeof messageBody>[1] = {}): Promise<string> {
  const created = await fixture.call('POST', '/api/my/messages?complete=false', { body: messageBody(fixture.owner, extra) });
  expect(created.status).toBe(201);
  return created.headers.get('location')!;
}

interface RawUploadResult {
  status?: number;
  body?: string;
  aborted: boolean;
}

/**
 * A streamed upload over node:http: `chunks` of `chunkSize` bytes, stopping early when the
 * server answers, or (abortAfter) destroying the connection after that many chunks.
 */
function rawUpload(
  url: string,
  headers: Record<string, string>,
  options: { chunks: number; chunkSize: number; abortAfter?: number; beforeAbort?: () => Promise<void> },
): Promise<RawUploadResult> {
  return new Promise((resolve) => {
    const request = http.request(url, { method: 'POST', headers: { 'content-type': 'application/octet-stream', ...headers } });
    let answered = false;
    request.on('response', (response) => {
      answered = true;
      const parts: Buffer[] = [];
      response.on('data', (c: Buffer) => parts.push(c));
      response.on('end', () => {
        // Done: a client that was refused mid-upload stops sending.
        request.destroy();
        resolve({ status: response.statusCode, body: Buffer.concat(parts).toString('utf8'), aborted: false });
      });
      response.on('error', () => resolve({ status: response.statusCode, body: Buffer.concat(parts).toString('utf8'), aborted: false }));
    });
    request.on('error', () => {
      if (!answered) resolve({ aborted: true });
    });
    const chunk = Buffer.alloc(options.chunkSize, 0x5a);
    let sent = 0;
    const writeMore = () => {
      while (!answered && sent < options.chunks) {
        if (options.abortAfter !== undefined && sent === options.abortAfter) {
          // Let the server take in what was sent, then vanish mid-body.
          setTimeout(async () => {
            await options.beforeAbort?.();
            request.destroy();
            resolve({ aborted: true });
          }, 300);
          return;
        }
        sent += 1;
        if (!request.write(chunk)) {
          request.once('drain', writeMore);
          return;
        }
      }
      if (!answered && sent >= options.chunks) request.end();
    };
    writeMore();
  });
}

async function authHeaders(level = 4, person = PERSON): Promise<Record<string, string>> {
  return { apikey: fixture.apiKey, authorization: `Bearer ${await fixture.token(level, person)}` };
}

describe('who may call', () => {
  it('needs an ApiKey header: 400 when missing, 403 when unknown or revoked', async () => {
    const body = messageBody(fixture.owner);
    await expectRefusal(() => fixture.call('POST', '/api/my/messages', { body, apiKey: null }), 400, 'MissingApiKey', "Required header 'ApiKey' is missing.");
    await expectRefusal(() => fixture.call('GET', '/api/my/messages', { apiKey: null }), 400, 'MissingApiKey', "Required header 'ApiKey' is missing.");
    await expectRefusal(() => fixture.call('POST', '/api/my/messages', { body, apiKey: 'agw_not-a-key' }), 403, 'InvalidApiKey', 'The ApiKey is not valid: unknown or revoked.');
    const { key } = await addApiKey(fixture.server.app.db, { name: 'soon revoked' });
    expect((await fixture.call('GET', '/api/my/messages', { apiKey: key })).status).toBe(200);
    await revokeApiKey(fixture.server.app.db, 'soon revoked');
    await expectRefusal(() => fixture.call('POST', '/api/my/messages', { body, apiKey: key }), 403, 'InvalidApiKey', 'The ApiKey is not valid: unknown or revoked.');
  });

  it('needs a valid Bearer token of an end user: 401 otherwise', async () => {
    const body = messageBody(fixture.owner);
    const jwt = fixture.server.app.config.messages.jwt;
    const dataDir = fixture.server.app.dataDir;
    const missing = await expectRefusal(() => fixture.call('POST', '/api/my/messages', { body, token: null }), 401, 'Unauthenticated', /Authorization: Bearer/);
    expect(missing.status).toBe(401);
    await expectRefusal(() => fixture.call('POST', '/api/my/messages', { body, token: 'not.a.token' }), 401, 'InvalidToken', /not a well-formed signed JWT/);

    // Signed by a key that is not the issuer's.
    const { privateKey } = await generateKeyPair('ES256');
    const forged = await new SignJWT({ pid: PERSON, [AUTH_LEVEL_CLAIM]: 4 }).setProtectedHeader({ alg: 'ES256' }).setIssuer(jwt.issuer).setIssuedAt().setExpirationTime('1h').sign(privateKey);
    await expectRefusal(() => fixture.call('POST', '/api/my/messages', { body, token: forged }), 401, 'InvalidToken', 'The bearer token is not accepted: the token signature is not valid.');

    const expired = await issueLocalToken(jwt, dataDir, { person: PERSON, authLevel: 4, ttlSeconds: -300 });
    await expectRefusal(() => fixture.call('POST', '/api/my/messages', { body, token: expired }), 401, 'InvalidToken', 'The bearer token is not accepted: the token has expired.');

    const otherIssuer = await issueLocalToken({ ...jwt, issuer: 'https://someone-else.example' }, dataDir, { person: PERSON, authLevel: 4, ttlSeconds: 300 });
    await expectRefusal(() => fixture.call('POST', '/api/my/messages', { body, token: otherIssuer }), 401, 'InvalidToken', /'iss' claim is not accepted/);

    // The issuer's own key, but no authentication level, or no person.
    const { privateJwk } = await loadOrCreateIssuerKey(dataDir);
    const key = await importJWK(privateJwk, 'ES256');
    const noLevel = await new SignJWT({ pid: PERSON }).setProtectedHeader({ alg: 'ES256', kid: privateJwk.kid }).setIssuer(jwt.issuer).setExpirationTime('1h').sign(key);
    await expectRefusal(() => fixture.call('POST', '/api/my/messages', { body, token: noLevel }), 401, 'InvalidToken', /no authentication level/);
    const noPerson = await new SignJWT({ [AUTH_LEVEL_CLAIM]: 3 }).setProtectedHeader({ alg: 'ES256', kid: privateJwk.kid }).setIssuer(jwt.issuer).setExpirationTime('1h').sign(key);
    await expectRefusal(() => fixture.call('POST', '/api/my/messages', { body, token: noPerson }), 401, 'InvalidToken', /'pid' claim is not a national identity number/);
    // Without `exp` a token would be valid forever.
    const neverExpires = await new SignJWT({ pid: PERSON, [AUTH_LEVEL_CLAIM]: 4 }).setProtectedHeader({ alg: 'ES256', kid: privateJwk.kid }).setIssuer(jwt.issuer).setIssuedAt().sign(key);
    await expectRefusal(() => fixture.call('POST', '/api/my/messages', { body, token: neverExpires }), 401, 'InvalidToken', "The bearer token is not accepted: the token has no 'exp' claim.");
  });

  it('acts only for the person and organisations they have a role for (403), and finds only their messages (404)', async () => {
    const org = '987654321';
    const location = await draft();
    const messageId = location.split('/').pop()!;
    const other = await fixture.token(3, OTHER_PERSON);

    // Another person's message is simply not there.
    await expectRefusal(() => fixture.call('GET', `/api/my/messages/${messageId}`, { token: other }), 404, 'NotFound', `Message ${messageId} was not found`);
    await expectRefusal(() => fixture.call('PUT', `/api/my/messages/${messageId}`, { body: {}, token: other }), 404, 'NotFound', `Message ${messageId} was not found`);
    await expectRefusal(
      () => fixture.call('POST', `/api/my/messages/${messageId}/attachments/streamedattachment?fileName=a.bin&attachmentType=Stordata`, { rawBody: Buffer.alloc(10), token: other }),
      404,
      'NotFound',
      `Message ${messageId} was not found`,
    );
    expect((await fixture.call('GET', '/api/my/messages', { token: other })).json._embedded.messages).toEqual([]);

    // An organisation without a role, and the other person's reportee id.
    await expectRefusal(() => fixture.call('POST', `/api/${org}/messages`, { body: messageBody(fixture.owner), token: other }), 403, 'Forbidden', `The authenticated user may not act for reportee '${org}'`);
    const personReportee = await fixture.server.app.db('reportees').where({ identifier: PERSON }).first('id');
    await expectRefusal(() => fixture.call('GET', `/api/r${personReportee.id}/messages`, { token: other }), 403, 'Forbidden', `The authenticated user may not act for reportee 'r${personReportee.id}'`);
    await expectRefusal(() => fixture.call('GET', `/api/r999999/messages`, { token: other }), 403, 'Forbidden', "The authenticated user may not act for reportee 'r999999'");
    await expectRefusal(() => fixture.call('GET', `/api/someone/messages`, { token: other }), 403, 'Forbidden', /'someone' is not a reportee/);

    // With a role the organisation's messages are theirs, by number and by reportee id; the archived task's reportee is the organisation.
    await giveRole(fixture, OTHER_PERSON, org);
    const created = await fixture.call('POST', `/api/${org}/messages`, { body: messageBody(fixture.owner), token: other });
    expect(created.status).toBe(201);
    expect(created.json.Status).toBe('Sendt og arkivert');
    const task = await fixture.server.app.db('form_tasks').where({ id: Number(created.json.ArchiveReference.slice(2)) }).first('reportee', 'reportee_type');
    expect(task).toEqual({ reportee: org, reportee_type: 'Organisation' });
    const approver = await fixture.server.app.db('approvers').where({ form_task_id: Number(created.json.ArchiveReference.slice(2)) }).first('approver_id', 'security_level');
    expect(approver).toEqual({ approver_id: OTHER_PERSON, security_level: 'sensitive' });
    const orgReportee = await fixture.server.app.db('reportees').where({ identifier: org }).first('id');
    const byId = await fixture.call('GET', `/api/r${orgReportee.id}/messages/${created.json.MessageId}`, { token: other });
    expect(byId.status).toBe(200);
    // PERSON has no role for it.
    await expectRefusal(() => fixture.call('GET', `/api/${org}/messages/${created.json.MessageId}`), 403, 'Forbidden', `The authenticated user may not act for reportee '${org}'`);
  });
});

describe('what the service accepts', () => {
  it('refuses data formats, attachment types, file types and counts outside the service definition (400, nothing stored)', async () => {
    const owner = fixture.owner;
    await expectRefusal(
      () => fixture.call('POST', '/api/my/messages', { body: messageBody(owner, { forms: [{ Type: 'MainForm', DataFormatId: '9999', DataFormatVersion: 1, FormData: MAIN_FORM }] }) }),
      400,
      'DataFormatNotAllowed',
      "_embedded.forms[0].DataFormatId: '9999' is not allowed for the main form of this service (allowed: 5703 (versions 34114))",
    );
    await expectRefusal(
      () => fixture.call('POST', '/api/my/messages', { body: messageBody(owner, { forms: [{ Type: 'MainForm', DataFormatId: '5703', DataFormatVersion: 1, FormData: MAIN_FORM }] }) }),
      400,
      'DataFormatNotAllowed',
      /^_embedded\.forms\[0\]\.DataFormatVersion: 1 is not an allowed version/,
    );
    const attachment = (FileName: string, AttachmentType: string, bytes = Buffer.from('x')) => ({ FileName, AttachmentType, Data: bytes.toString('base64') });
    await expectRefusal(
      () => fixture.call('POST', '/api/my/messages', { body: messageBody(owner, { attachments: [attachment('a.pdf', 'Hemmelig')] }) }),
      400,
      'AttachmentTypeNotAllowed',
      "_embedded.attachments[0].AttachmentType: 'Hemmelig' is not an attachment type of this service (allowed: Vedlegg, Stordata)",
    );
    await expectRefusal(
      () => fixture.call('POST', '/api/my/messages', { body: messageBody(owner, { attachments: [attachment('a.pdf', 'Vedlegg'), attachment('virus.exe', 'Vedlegg')] }) }),
      400,
      'FileTypeNotAllowed',
      "_embedded.attachments[1].FileName: files of type application/octet-stream ('.exe') are not allowed for attachment type 'Vedlegg' (allowed: application/pdf, text/plain)",
    );
    await expectRefusal(
      () => fixture.call('POST', '/api/my/messages', { body: messageBody(owner, { attachments: ['1.pdf', '2.pdf', '3.pdf', '4.pdf'].map((f) => attachment(f, 'Vedlegg')) }) }),
      400,
      'TooManyAttachments',
      "_embedded.attachments[3].AttachmentType: at most 3 attachment(s) of type 'Vedlegg' are allowed",
    );
    const location = await draft();
    await expectRefusal(
      () => fixture.call('POST', `${location}/attachments`, { body: attachment('a.zip', 'Vedlegg') }),
      400,
      'FileTypeNotAllowed',
      "FileName: files of type application/zip ('.zip') are not allowed for attachment type 'Vedlegg' (allowed: application/pdf, text/plain)",
    );
    await expectRefusal(
      () => fixture.call('POST', `${location}/attachments/streamedattachment?fileName=a.bin&attachmentType=Ukjent`, { rawBody: Buffer.alloc(100) }),
      400,
      'AttachmentTypeNotAllowed',
      "attachmentType: 'Ukjent' is not an attachment type of this service (allowed: Vedlegg, Stordata)",
    );
    await expectRefusal(
      () => fixture.call('POST', `${location}/forms`, { body: { Type: 'SubForm', DataFormatId: '5703', DataFormatVersion: 34114, FormData: SUB_FORM } }),
      400,
      'DataFormatNotAllowed',
      /^body\.DataFormatId: '5703' is not allowed for a sub form of this service/,
    );
    await expectRefusal(
      () => fixture.call('POST', `${location}/forms`, { body: { Type: 'MainForm', DataFormatId: '5703', DataFormatVersion: 34114, FormData: MAIN_FORM } }),
      400,
      'MainFormExists',
      /^Type: a message has exactly one main form/,
    );
    // Request shape: a missing member is named.
    await expectRefusal(
      () => fixture.call('POST', '/api/my/messages', { body: messageBody(owner, { forms: [{ Type: 'MainForm', DataFormatId: '5703', FormData: MAIN_FORM }] }) }),
      400,
      'InvalidRequest',
      '_embedded.forms[0].DataFormatVersion: is required',
    );
    await expectRefusal(
      () => fixture.call('POST', '/api/my/messages', { body: { ServiceCode: 'nope', ServiceEdition: 1, _embedded: { forms: [{ DataFormatId: '5703', DataFormatVersion: 34114, FormData: MAIN_FORM }] } } }),
      400,
      'UnknownService',
      'ServiceCode: there is no service nope',
    );
    await expectRefusal(
      () => fixture.call('POST', '/api/my/messages', { body: { ...messageBody(owner), ServiceEdition: 77 } }),
      400,
      'UnknownService',
      `ServiceEdition: service ${owner.serviceCode} has no edition 77 (editions: 1)`,
    );
  });

  it('refuses form data that is not well-formed XML (400, nothing stored)', async () => {
    const owner = fixture.owner;
    await expectRefusal(
      () => fixture.call('POST', '/api/my/messages', { body: messageBody(owner, { forms: [{ Type: 'MainForm', DataFormatId: '5703', DataFormatVersion: 34114, FormData: '<Skjema><Navn>x</Skjema>' }] }) }),
      400,
      'FormDataNotWellFormed',
      /^_embedded\.forms\[0\]\.FormData: is not well-formed XML: /,
    );
    await expectRefusal(
      () => fixture.call('POST', '/api/my/messages', {
        body: messageBody(owner, { forms: [{ Type: 'MainForm', DataFormatId: '5703', DataFormatVersion: 34114, FormData: '<!DOCTYPE x [<!ENTITY a "b">]><Skjema>&a;</Skjema>' }] }),
      }),
      400,
      'FormDataNotWellFormed',
      /^_embedded\.forms\[0\]\.FormData: is not well-formed XML: .*DTD/i,
    );
    const location = await draft();
    await expectRefusal(
      () => fixture.call('POST', `${location}/forms`, { body: { Type: 'SubForm', DataFormatId: '5704', DataFormatVersion: 34115, FormData: 'not xml' } }),
      400,
      'FormDataNotWellFormed',
      /^body\.FormData: is not well-formed XML/,
    );
    const mainFormId = (await fixture.call('GET', `${location}/forms`)).json._embedded.forms[0].FormId;
    await expectRefusal(
      () => fixture.call('PUT', `${location}/forms/${mainFormId}`, { body: { DataFormatId: '5703', DataFormatVersion: 34114, FormData: '<a><b></a>' } }),
      400,
      'FormDataNotWellFormed',
      /^body\.FormData: is not well-formed XML/,
    );
    await expectRefusal(
      () => fixture.call('PUT', location, { body: { _embedded: { forms: [{ DataFormatId: '5703', DataFormatVersion: 34114, FormData: '<a>' }] } } }),
      400,
      'FormDataNotWellFormed',
      /^_embedded\.forms\[0\]\.FormData: is not well-formed XML/,
    );
  });
});

describe('attachment sizes', () => {
  it('refuses an oversized base64 attachment (400, nothing stored)', async () => {
    const location = await draft();
    const tooBig = Buffer.alloc(MiB + 1, 1).toString('base64');
    await expectRefusal(
      () => fixture.call('POST', `${location}/attachments`, { body: { FileName: 'big.pdf', AttachmentType: 'Vedlegg', Data: tooBig } }),
      400,
      'AttachmentTooLarge',
      `Data: the attachment is ${MiB + 1} bytes; more than the ${MiB} bytes allowed for attachment type 'Vedlegg'`,
    );
    await expectRefusal(
      () => fixture.call('POST', '/api/my/messages', { body: messageBody(fixture.owner, { attachments: [{ FileName: 'big.pdf', AttachmentType: 'Vedlegg', Data: tooBig }] }) }),
      400,
      'AttachmentTooLarge',
      `_embedded.attachments[0].Data: the attachment is ${MiB + 1} bytes; more than the ${MiB} bytes allowed for attachment type 'Vedlegg'`,
    );
  });

  it('refuses a streamed attachment over the limit: by its Content-Length before reading, or as soon as the bytes cross it', async () => {
    const location = await draft();
    const url = `${location}/attachments/streamedattachment?fileName=big.pdf&attachmentType=Vedlegg`;
    const before = await fixture.snapshot();

    const declared = await rawUpload(url, { ...(await authHeaders()), 'content-length': String(3 * MiB) }, { chunks: 3 * 16, chunkSize: 64 * 1024 });
    expect(declared.status).toBe(400);
    expect(JSON.parse(declared.body!)).toEqual({
      ErrorCode: 'AttachmentTooLarge',
      ErrorMessage: `body: the attachment is ${3 * MiB} bytes; more than the ${MiB} bytes allowed for attachment type 'Vedlegg'`,
    });

    // Chunked (no length given): refused at the first byte too many; the rest is never read.
    const streamed = await rawUpload(url, await authHeaders(), { chunks: 200, chunkSize: 64 * 1024 });
    expect(streamed.status).toBe(400);
    expect(JSON.parse(streamed.body!)).toEqual({
      ErrorCode: 'AttachmentTooLarge',
      ErrorMessage: `body: the attachment is larger than the ${MiB} bytes allowed for attachment type 'Vedlegg'`,
    });
    await eventually(async () => (await tmpFiles(fixture)).length === 0);
    expect(await fixture.snapshot()).toEqual(before);

    // Exactly at the limit is fine.
    const exact = await fixture.call('POST', url, { rawBody: Buffer.alloc(MiB, 1) });
    expect(exact.status).toBe(201);
    expect(exact.json.FileSize).toBe(MiB);
    await expectNoOrphanBlobs(fixture);
  });

  it('leaves no attachment and no blob when the client disconnects halfway through a streamed attachment', async () => {
    const location = await draft();
    const url = `${location}/attachments/streamedattachment?fileName=${encodeURIComponent('halv.bin')}&attachmentType=Stordata`;
    const before = await fixture.snapshot();
    const blobsBefore = await listBlobFiles(fixture.server.app.dataDir);

    // 20 MiB of a declared 100 MiB, then the connection is gone.
    let partialFiles: string[] = [];
    const result = await rawUpload(url, { ...(await authHeaders()), 'content-length': String(100 * MiB) }, {
      chunks: 1600,
      chunkSize: 64 * 1024,
      abortAfter: 320,
      beforeAbort: async () => {
        partialFiles = await tmpFiles(fixture);
      },
    });
    expect(result.aborted).toBe(true);
    // Bytes did arrive (a partial file was being written), and are gone once the server has noticed.
    expect(partialFiles).toHaveLength(1);
    await eventually(async () => (await tmpFiles(fixture)).length === 0);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await fixture.snapshot()).toEqual(before);
    expect(await listBlobFiles(fixture.server.app.dataDir)).toEqual(blobsBefore);
    expect((await fixture.call('GET', `${location}/attachments`)).json._embedded.attachments).toEqual([]);
    await expectNoOrphanBlobs(fixture);

    // The server is fine afterwards: the same upload completes.
    const complete = await fixture.call('POST', url, { rawBody: Buffer.alloc(2 * MiB, 3) });
    expect(complete.status).toBe(201);
  });
});

describe('after archiving', () => {
  it('refuses every change to an archived message (409, nothing stored)', async () => {
    const created = await fixture.call('POST', '/api/my/messages', {
      body: messageBody(fixture.owner, { attachments: [{ FileName: 'a.pdf', AttachmentType: 'Vedlegg', Data: Buffer.from('%PDF').toString('base64') }] }),
    });
    expect(created.status).toBe(201);
    expect(created.json.Status).toBe('Sendt og arkivert');
    const location = created.headers.get('location')!;
    const id = created.json.MessageId;
    const archived = `Message ${id} is sent and archived ("Sendt og arkivert") and can no longer be changed`;
    const formId = created.json._embedded.forms[0].FormId;
    const attachmentId = created.json._embedded.attachments[0].AttachmentId;

    await expectRefusal(() => fixture.call('PUT', location, { body: {} }), 409, 'MessageArchived', archived);
    await expectRefusal(() => fixture.call('PUT', `${location}?complete=false`, { body: messageBody(fixture.owner) }), 409, 'MessageArchived', archived);
    await expectRefusal(() => fixture.call('POST', `${location}/forms`, { body: { Type: 'SubForm', DataFormatId: '5704', DataFormatVersion: 34115, FormData: SUB_FORM } }), 409, 'MessageArchived', archived);
    await expectRefusal(() => fixture.call('PUT', `${location}/forms/${formId}`, { body: { DataFormatId: '5703', DataFormatVersion: 34114, FormData: MAIN_FORM } }), 409, 'MessageArchived', archived);
    await expectRefusal(() => fixture.call('DELETE', `${location}/forms/${formId}`), 409, 'MessageArchived', archived);
    await expectRefusal(() => fixture.call('POST', `${location}/attachments`, { body: { FileName: 'b.pdf', AttachmentType: 'Vedlegg', Data: 'AAAA' } }), 409, 'MessageArchived', archived);
    await expectRefusal(() => fixture.call('DELETE', `${location}/attachments/${attachmentId}`), 409, 'MessageArchived', archived);
    const streamed = await rawUpload(`${location}/attachments/streamedattachment?fileName=c.bin&attachmentType=Stordata`, await authHeaders(), { chunks: 100, chunkSize: 64 * 1024 });
    expect(streamed.status).toBe(409);
    expect(JSON.parse(streamed.body!)).toEqual({ ErrorCode: 'MessageArchived', ErrorMessage: archived });
    await expectNoOrphanBlobs(fixture);
  });

  it('leaves the message unsubmitted when the archiving transaction fails midway (a crash before COMMIT)', async () => {
    const db = fixture.server.app.db;
    const location = await draft({ attachments: [{ FileName: 'a.txt', AttachmentType: 'Vedlegg', Data: Buffer.from('tekst').toString('base64') }] });
    expect((await fixture.call('PUT', `${location}?sign=false`, { body: {} })).json.Status).toBe('Signering');
    await fixture.call('POST', `${location}/attachments/streamedattachment?fileName=s.bin&attachmentType=Stordata`, { rawBody: Buffer.alloc(3 * MiB, 9) });

    // The last insert of the archive transaction (the queue item) fails, after every other row was written.
    await db.raw(`CREATE FUNCTION agw_test_crash() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'simulated crash'; END $$`);
    await db.raw(`CREATE TRIGGER agw_test_crash BEFORE INSERT ON download_queue_items FOR EACH ROW EXECUTE FUNCTION agw_test_crash()`);
    try {
      await expectRefusal(() => fixture.call('PUT', location, { body: {} }), 500, 'InternalError', /^Internal error \(reference /);
    } finally {
      await db.raw('DROP TRIGGER agw_test_crash ON download_queue_items');
      await db.raw('DROP FUNCTION agw_test_crash()');
    }
    expect((await fixture.call('GET', location)).json.Status).toBe('Signering');

    const signed = await fixture.call('PUT', location, { body: {} });
    expect(signed.status).toBe(200);
    expect(signed.json.Status).toBe('Sendt og arkivert');
    expect(signed.json._embedded.attachments.map((a: any) => a.FileName)).toEqual(['a.txt', 's.bin']);
    await expectNoOrphanBlobs(fixture);
  });
});

describe('lists, representations and documentation', () => {
  it('pages lists at 50 with X-Warning-LimitReached', async () => {
    const person = '03038012345';
    const token = await fixture.token(2, person);
    for (let i = 0; i < 52; i++) {
      const created = await fixture.call('POST', '/api/my/messages?complete=false', { body: messageBody(fixture.owner), token });
      expect(created.status).toBe(201);
    }
    const all = await fixture.call('GET', '/api/my/messages', { token });
    expect(all.json._embedded.messages).toHaveLength(50);
    expect(all.headers.get('x-warning-limitreached')).toBe('50');
    expect(all.json._links.next.href).toMatch(/\$top=50&\$skip=50$/);
    const asked = await fixture.call('GET', '/api/my/messages?$top=500', { token });
    expect(asked.json._embedded.messages).toHaveLength(50);
    expect(asked.headers.get('x-warning-limitreached')).toBe('50');
    const small = await fixture.call('GET', '/api/my/messages?$top=10&$skip=5', { token });
    expect(small.json._embedded.messages).toHaveLength(10);
    expect(small.headers.get('x-warning-limitreached')).toBeNull();
    const rest = await fixture.call('GET', '/api/my/messages?$skip=50', { token });
    expect(rest.json._embedded.messages).toHaveLength(2);
    expect(rest.headers.get('x-warning-limitreached')).toBeNull();
    expect(rest.json._links.next).toBeUndefined();
    // Newest first.
    const ids = all.json._embedded.messages.map((m: any) => Number(m.MessageId.slice(1)));
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
    const badTop = await fixture.call('GET', '/api/my/messages?$top=0', { token });
    expect(badTop.status).toBe(400);
    expect(badTop.json).toEqual({ ErrorCode: 'InvalidRequest', ErrorMessage: '$top: must be >= 1' });
  });

  it('serves OpenAPI 3 at /api/openapi.json and a help page at /api/help, from the validating schemas, without credentials', async () => {
    const response = await fetch(`${fixture.server.url}/api/openapi.json`);
    expect(response.status).toBe(200);
    const document = (await response.json()) as any;
    expect(document.openapi).toBe('3.0.3');
    // The document also holds the broker APIs (/broker/api/v1, /api/{who}/brokerservice), tested with them.
    expect(Object.keys(document.paths).filter((p) => p.startsWith('/api/') && p.includes('/messages')).sort()).toEqual([
      '/api/{who}/messages',
      '/api/{who}/messages/{messageId}',
      '/api/{who}/messages/{messageId}/attachments',
      '/api/{who}/messages/{messageId}/attachments/streamedattachment',
      '/api/{who}/messages/{messageId}/attachments/{attachmentId}',
      '/api/{who}/messages/{messageId}/attachments/{attachmentId}/attachmentdata',
      '/api/{who}/messages/{messageId}/forms',
      '/api/{who}/messages/{messageId}/forms/{formId}',
      '/api/{who}/messages/{messageId}/forms/{formId}/formdata',
    ]);
    const create = document.paths['/api/{who}/messages'].post;
    const schema = create.requestBody.content['application/hal+json'].schema;
    expect(schema.required).toEqual([...createMessageBody.required]);
    expect(Object.keys(schema.properties._embedded.properties.forms.items.properties)).toEqual(['Type', 'DataFormatId', 'DataFormatVersion', 'FormData']);
    expect(create.parameters.map((p: any) => `${p.in}:${p.name}`).sort()).toEqual(['path:who', 'query:complete', 'query:language', 'query:sign']);
    expect(create.responses['201'].headers.Location).toBeDefined();
    expect(document.paths['/api/{who}/messages/{messageId}/attachments/streamedattachment'].post.requestBody.content).toEqual({
      'application/octet-stream': { schema: { type: 'string', format: 'binary' } },
    });
    expect(document.components.securitySchemes.ApiKey).toEqual({ type: 'apiKey', in: 'header', name: 'ApiKey' });
    expect(document.security).toEqual([{ ApiKey: [], Bearer: [] }]);

    const help = await fetch(`${fixture.server.url}/api/help`);
    expect(help.status).toBe(200);
    expect(help.headers.get('content-type')).toMatch(/^text\/html/);
    const page = await help.text();
    expect(page).toContain('swagger-ui');
    // The page's assets come from the npm package itself (works offline).
    const bundle = await fetch(`${fixture.server.url}/api/help/static/swagger-ui-bundle.js`);
    expect(bundle.status).toBe(200);
    expect((await bundle.text()).length).toBeGreaterThan(100_000);
    const uiDocument = await fetch(`${fixture.server.url}/api/help/json`);
    expect(uiDocument.status).toBe(200);
    expect(((await uiDocument.json()) as any).paths).toEqual(document.paths);
  });

  it('answers unknown paths under /api with a JSON 404', async () => {
    const response = await fixture.call('GET', '/api/my/nothing-here');
    expect(response.status).toBe(404);
    expect(response.json.ErrorCode).toBe('NotFound');
  });
});
