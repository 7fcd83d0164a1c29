/**
 * The Altinn 3 Broker API end to end over real HTTP: a sender's transfer to two recipients through
 * every status, with its history and events; the overview and details JSON member by member;
 * uploads refused (409, checksum mismatch, size before reading); expiry, the grace purge and a
 * stuck upload with a controlled clock; and the multipart initialize-and-upload.
 */
import { createHash } from 'node:crypto';
import { scheduleStuckUploadSweep } from '../../../src/broker/jobs';
import { ORGS, TIMESTAMP, multipartBody, party, rawRequest, startBrokerTestServer, type BrokerTestServer } from '../../helpers/broker';

const md5 = (bytes: Buffer) => createHash('md5').update(bytes).digest('hex');
const HOUR = 60 * 60 * 1000;

let broker: BrokerTestServer;
beforeAll(async () => {
  broker = await startBrokerTestServer();
});
afterAll(() => broker?.close());

const statusesOf = (details: any) => details.fileTransferStatusHistory.map((row: any) => row.fileTransferStatus);
const recipientRowsOf = (details: any) =>
  details.recipientFileTransferStatusHistory.map((row: any) => `${row.recipient} ${row.recipientFileTransferStatusCode}`);

describe('a transfer from sender to two recipients', () => {
  const file = Buffer.from('PK\u0003\u0004 a small zip-like file for two recipients');
  let id: string;

  it('goes Initialized → UploadStarted → Published → AllConfirmedDownloaded → Purged, with its events in order', async () => {
    const { tokens, call } = broker;
    id = await broker.initialize({
      recipients: [party(ORGS.recipient), `urn:altinn:organization:identifier-no:${ORGS.recipient2}`],
      checksum: md5(file),
      propertyList: { kommune: '0301', år: '2026' },
    });
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    let overview = await call('GET', `/filetransfer/${id}`, { token: tokens.sender });
    expect(overview.json).toMatchObject({ fileTransferStatus: 'Initialized', fileTransferStatusText: 'Ready for upload', fileTransferSize: 0 });

    broker.clock.advance(1000);
    const upload = await broker.upload(id, file);
    expect(upload.status).toBe(200);
    expect(upload.json).toEqual({ fileTransferId: id });
    // Without a scanner, the 200 comes once the transfer is Published.
    overview = await call('GET', `/filetransfer/${id}`, { token: tokens.recipient });
    expect(overview.json).toMatchObject({ fileTransferStatus: 'Published', fileTransferStatusText: 'Ready for download', fileTransferSize: file.length, checksum: md5(file) });
    expect(overview.json.published).toBe(overview.json.fileTransferStatusChanged);

    broker.clock.advance(1000);
    const first = await call('GET', `/filetransfer/${id}/download`, { token: tokens.recipient });
    expect(first.status).toBe(200);
    expect(first.bytes.equals(file)).toBe(true);
    expect((await call('POST', `/filetransfer/${id}/confirmdownload`, { token: tokens.recipient })).status).toBe(204);
    overview = await call('GET', `/filetransfer/${id}`, { token: tokens.sender });
    expect(overview.json.fileTransferStatus).toBe('Published');
    expect(overview.json.recipients.map((r: any) => r.currentRecipientFileTransferStatusCode)).toEqual(['DownloadConfirmed', 'Initialized']);

    broker.clock.advance(1000);
    expect((await call('GET', `/filetransfer/${id}/download`, { token: tokens.recipient2 })).status).toBe(200);
    const confirm = await call('POST', `/filetransfer/${id}/confirmdownload`, { token: tokens.recipient2 });
    expect(confirm.status).toBe(204);
    expect(confirm.text).toBe('');
    overview = await call('GET', `/filetransfer/${id}`, { token: tokens.sender });
    expect(overview.json).toMatchObject({ fileTransferStatus: 'AllConfirmedDownloaded', fileTransferStatusText: 'All downloaded' });

    // Downloads stay allowed during the grace period (PT2H by default); the purge follows it.
    broker.clock.advance(HOUR);
    await broker.app.jobs.runDue();
    expect((await call('GET', `/filetransfer/${id}/download`, { token: tokens.recipient })).status).toBe(200);
    broker.clock.advance(HOUR);
    await broker.app.jobs.runDue();

    const details = await call('GET', `/filetransfer/${id}/details`, { token: tokens.sender });
    expect(statusesOf(details.json)).toEqual(['Initialized', 'UploadStarted', 'Published', 'AllConfirmedDownloaded', 'Purged']);
    expect(details.json.fileTransferStatusHistory.at(-1).fileTransferStatusText).toBe('FileTransfer has been purged');
    const r1 = party(ORGS.recipient);
    const r2 = party(ORGS.recipient2);
    expect(recipientRowsOf(details.json)).toEqual([
      `${r1} Initialized`,
      `${r2} Initialized`,
      `${r1} DownloadStarted`,
      `${r1} DownloadConfirmed`,
      `${r2} DownloadStarted`,
      `${r2} DownloadConfirmed`,
      // A download during the grace period is recorded too; the recipient stays DownloadConfirmed.
      `${r1} DownloadStarted`,
    ]);
    expect(details.json.recipients.map((r: any) => r.currentRecipientFileTransferStatusCode)).toEqual(['DownloadConfirmed', 'DownloadConfirmed']);

    expect(await broker.events(id)).toEqual([
      `filetransferinitialized ${ORGS.sender} Sender`,
      `published ${ORGS.sender} Sender`,
      `published ${ORGS.recipient} Recipient`,
      `published ${ORGS.recipient2} Recipient`,
      `downloadconfirmed ${ORGS.recipient} Recipient`,
      `downloadconfirmed ${ORGS.sender} Sender`,
      `downloadconfirmed ${ORGS.recipient2} Recipient`,
      `downloadconfirmed ${ORGS.sender} Sender`,
      `allconfirmeddownloaded ${ORGS.sender} Sender`,
      `filepurged ${ORGS.sender} Sender`,
    ]);
  });

  it('keeps a purged transfer readable (overview, details, search) but not downloadable', async () => {
    const { tokens, call } = broker;
    const overview = await call('GET', `/filetransfer/${id}`, { token: tokens.recipient2 });
    expect(overview.status).toBe(200);
    expect(overview.json.fileTransferStatus).toBe('Purged');
    expect((await call('GET', `/filetransfer/${id}/details`, { token: tokens.recipient })).status).toBe(200);
    const search = await call('GET', `/filetransfer?resourceId=${broker.resourceId}&status=Purged`, { token: tokens.sender });
    expect(search.json).toContain(id);
    const download = await call('GET', `/filetransfer/${id}/download`, { token: tokens.recipient });
    expect(download.status).toBe(403);
    expect(download.json).toMatchObject({ status: 403, code: 'BRO-00007', detail: "The requested file transfer's file is not ready for download. See file transfer status." });
    const confirm = await call('POST', `/filetransfer/${id}/confirmdownload`, { token: tokens.recipient });
    expect(confirm.status).toBe(400);
    expect(confirm.json.code).toBe('BRO-00010');
  });
});

describe('overview and details JSON', () => {
  const OVERVIEW_MEMBERS = [
    'fileTransferId',
    'resourceId',
    'fileName',
    'sendersFileTransferReference',
    'checksum',
    'useVirusScan',
    'fileTransferSize',
    'fileTransferStatus',
    'fileTransferStatusText',
    'fileTransferStatusChanged',
    'created',
    'expirationTime',
    'sender',
    'recipients',
    'propertyList',
    'published',
  ];

  it('writes the overview with Altinn\'s members, in order, with their types and timestamps', async () => {
    broker.clock.set(new Date('2026-03-05T10:11:12.340Z'));
    const id = await broker.initialize({ sender: `urn:altinn:organization:identifier-no:${ORGS.sender}`, resourceId: `urn:altinn:resource:${broker.resourceId}`, propertyList: { b: '2', a: '1' } });
    const response = await broker.call('GET', `/filetransfer/${id}`, { token: broker.tokens.sender });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
    // Key order as written on the wire (JSON.parse keeps it).
    expect(Object.keys(response.json)).toEqual(OVERVIEW_MEMBERS);
    expect(response.text.startsWith(`{"fileTransferId":"${id}","resourceId":"${broker.resourceId}","fileName":"report.zip"`)).toBe(true);
    expect(response.json).toEqual({
      fileTransferId: id,
      resourceId: broker.resourceId,
      fileName: 'report.zip',
      sendersFileTransferReference: 'ref-1',
      checksum: '',
      useVirusScan: false,
      fileTransferSize: 0,
      fileTransferStatus: 'Initialized',
      fileTransferStatusText: 'Ready for upload',
      fileTransferStatusChanged: '2026-03-05T10:11:12.34+00:00',
      created: '2026-03-05T10:11:12.34+00:00',
      expirationTime: '2026-04-04T10:11:12.34+00:00',
      sender: party(ORGS.sender),
      recipients: [
        {
          recipient: party(ORGS.recipient),
          currentRecipientFileTransferStatusCode: 'Initialized',
          currentRecipientFileTransferStatusText: 'Initialized',
          currentRecipientFileTransferStatusChanged: '2026-03-05T10:11:12.34+00:00',
        },
      ],
      propertyList: { b: '2', a: '1' },
      published: null,
    });
    expect(Object.keys(response.json.recipients[0])).toEqual([
      'recipient',
      'currentRecipientFileTransferStatusCode',
      'currentRecipientFileTransferStatusText',
      'currentRecipientFileTransferStatusChanged',
    ]);
    expect(Object.keys(response.json.propertyList)).toEqual(['b', 'a']);
  });

  it('writes details with the two histories first and no `published`', async () => {
    broker.clock.set(new Date('2026-03-06T00:00:00.000Z'));
    const id = await broker.publish(Buffer.from('details'));
    const response = await broker.call('GET', `/filetransfer/${id}/details`, { token: broker.tokens.recipient });
    expect(response.status).toBe(200);
    expect(Object.keys(response.json)).toEqual(['fileTransferStatusHistory', 'recipientFileTransferStatusHistory', ...OVERVIEW_MEMBERS.filter((m) => m !== 'published')]);
    expect(response.json.fileTransferStatusHistory).toEqual([
      { fileTransferStatus: 'Initialized', fileTransferStatusText: 'Ready for upload', fileTransferStatusChanged: '2026-03-06T00:00:00+00:00' },
      { fileTransferStatus: 'UploadStarted', fileTransferStatusText: 'Upload started', fileTransferStatusChanged: '2026-03-06T00:00:00+00:00' },
      { fileTransferStatus: 'Published', fileTransferStatusText: 'Ready for download', fileTransferStatusChanged: '2026-03-06T00:00:00+00:00' },
    ]);
    expect(response.json.recipientFileTransferStatusHistory).toEqual([
      {
        recipient: party(ORGS.recipient),
        recipientFileTransferStatusCode: 'Initialized',
        recipientFileTransferStatusText: 'Initialized',
        recipientFileTransferStatusChanged: '2026-03-06T00:00:00+00:00',
      },
    ]);
    for (const member of ['fileTransferStatusChanged', 'created', 'expirationTime']) expect(response.json[member]).toMatch(TIMESTAMP);
    expect(response.json.checksum).toBe(md5(Buffer.from('details')));
    expect(typeof response.json.fileTransferSize).toBe('number');
  });
});

describe('uploads refused', () => {
  it('answers 409 BRO-00004 to a second upload, leaving the first intact', async () => {
    const id = await broker.publish(Buffer.from('first'));
    const second = await broker.upload(id, Buffer.from('second'));
    expect(second.status).toBe(409);
    expect(second.headers.get('content-type')).toBe('application/problem+json; charset=utf-8');
    expect(second.json).toMatchObject({
      type: 'https://tools.ietf.org/html/rfc9110#section-15.5.10',
      title: 'Conflict',
      status: 409,
      code: 'BRO-00004',
      detail: 'A file transfer has already been, or attempted to be, created. Create a new file transfer resource to try again.',
    });
    expect(second.json.traceId).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
    const download = await broker.call('GET', `/filetransfer/${id}/download`, { token: broker.tokens.recipient });
    expect(download.text).toBe('first');
  });

  it('fails the transfer on an MD5 mismatch: 400 BRO-00009, Failed "Checksum mismatch", and no bytes kept', async () => {
    const id = await broker.initialize({ checksum: md5(Buffer.from('what the sender meant')) });
    const upload = await broker.upload(id, Buffer.from('what arrived'));
    expect(upload.status).toBe(400);
    expect(upload.json).toMatchObject({ code: 'BRO-00009', detail: 'The checksum of uploaded file did not match the checksum specified in initialize call.' });
    const overview = await broker.call('GET', `/filetransfer/${id}`, { token: broker.tokens.sender });
    expect(overview.json).toMatchObject({ fileTransferStatus: 'Failed', fileTransferStatusText: 'Checksum mismatch' });
    const row = await broker.app.db('broker_file_transfers').where({ id }).first('blob_key');
    expect(row.blob_key).toBeNull();
    // The blob deletion runs as a job after the commit; the store holds no blob of this upload afterwards.
    await broker.app.jobs.runDue();
    expect(await broker.events(id)).toEqual([`filetransferinitialized ${ORGS.sender} Sender`, `uploadfailed ${ORGS.sender} Sender`]);
    expect((await broker.upload(id, Buffer.from('what the sender meant'))).status).toBe(409);
  });

  it('refuses a Content-Length over the resource maximum with 400 BRO-00016 before reading the body', async () => {
    const resourceId = await broker.configureResource({ maxFileTransferSize: 1000 });
    const id = await broker.initialize({ resourceId });
    const response = await rawRequest(broker.url, {
      method: 'POST',
      path: `/broker/api/v1/filetransfer/${id}/upload`,
      headers: { authorization: `Bearer ${broker.tokens.sender}`, 'content-type': 'application/octet-stream', 'content-length': 5000 },
      // Only the headers go out: the answer arrives although not one byte of the body was sent.
      send: (request) => request.flushHeaders(),
    });
    expect(response.status).toBe(400);
    expect(response.headers.connection).toBe('close');
    expect(JSON.parse(response.body.toString())).toMatchObject({ code: 'BRO-00016', detail: 'File size exceeds maximum' });
    const overview = await broker.call('GET', `/filetransfer/${id}`, { token: broker.tokens.sender });
    expect(overview.json.fileTransferStatus).toBe('Initialized');
    // Within the limit the same transfer uploads fine.
    expect((await broker.upload(id, Buffer.alloc(1000, 7))).status).toBe(200);
  });

  it('refuses a chunked body that grows past the maximum while streaming', async () => {
    const resourceId = await broker.configureResource({ maxFileTransferSize: 1000 });
    const id = await broker.initialize({ resourceId });
    const stream = new ReadableStream({
      start(controller) {
        controller.enqueue(new Uint8Array(800));
        controller.enqueue(new Uint8Array(800));
        controller.close();
      },
    });
    const response = await broker.call('POST', `/filetransfer/${id}/upload`, { token: broker.tokens.sender, body: stream, headers: { 'content-type': 'application/octet-stream' } });
    expect(response.status).toBe(400);
    expect(response.json.code).toBe('BRO-00016');
  });
});

describe('time', () => {
  it('purges an unconfirmed transfer at its expiry: Purged, filepurged, fileneverconfirmeddownloaded', async () => {
    const resourceId = await broker.configureResource({ fileTransferTimeToLive: 'P1D' });
    broker.clock.set(new Date('2026-04-01T12:00:00.000Z'));
    const id = await broker.publish(Buffer.from('expires'), { resourceId, recipients: [party(ORGS.recipient), party(ORGS.recipient2)] });
    const overview = await broker.call('GET', `/filetransfer/${id}`, { token: broker.tokens.sender });
    expect(overview.json.expirationTime).toBe('2026-04-02T12:00:00+00:00');
    // The first recipient confirms; the second never does.
    await broker.call('GET', `/filetransfer/${id}/download`, { token: broker.tokens.recipient });
    expect((await broker.call('POST', `/filetransfer/${id}/confirmdownload`, { token: broker.tokens.recipient })).status).toBe(204);

    broker.clock.advance(24 * HOUR - 1);
    await broker.app.jobs.runDue();
    expect((await broker.call('GET', `/filetransfer/${id}`, { token: broker.tokens.sender })).json.fileTransferStatus).toBe('Published');
    broker.clock.advance(1);
    await broker.app.jobs.runDue();
    const purged = await broker.call('GET', `/filetransfer/${id}`, { token: broker.tokens.sender });
    expect(purged.json).toMatchObject({ fileTransferStatus: 'Purged', fileTransferStatusChanged: '2026-04-02T12:00:00+00:00' });
    expect((await broker.events(id)).slice(-3)).toEqual([
      `filepurged ${ORGS.sender} Sender`,
      `fileneverconfirmeddownloaded ${ORGS.recipient2} Recipient`,
      `fileneverconfirmeddownloaded ${ORGS.sender} Sender`,
    ]);
    const download = await broker.call('GET', `/filetransfer/${id}/download`, { token: broker.tokens.recipient2 });
    expect(download.status).toBe(403);
    expect(download.json.code).toBe('BRO-00007');
  });

  it('fails an upload stuck in UploadStarted for more than 24 hours', async () => {
    broker.clock.set(new Date('2026-05-01T00:00:00.000Z'));
    const id = await broker.initialize();
    // An upload that starts and then hangs: the headers and a few bytes, never the rest.
    let hanging: import('node:http').ClientRequest | undefined;
    const answer = rawRequest(broker.url, {
      method: 'POST',
      path: `/broker/api/v1/filetransfer/${id}/upload`,
      headers: { authorization: `Bearer ${broker.tokens.sender}`, 'content-type': 'application/octet-stream', 'content-length': 100_000 },
      send: (request) => {
        hanging = request;
        request.write(Buffer.alloc(10));
      },
    }).catch((error: unknown) => error);
    for (let i = 0; i < 100; i++) {
      const overview = await broker.call('GET', `/filetransfer/${id}`, { token: broker.tokens.sender });
      if (overview.json.fileTransferStatus === 'UploadStarted') break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await scheduleStuckUploadSweep(broker.app.db, broker.app);
    broker.clock.advance(23 * HOUR);
    await broker.app.jobs.runDue();
    expect((await broker.call('GET', `/filetransfer/${id}`, { token: broker.tokens.sender })).json.fileTransferStatus).toBe('UploadStarted');
    broker.clock.advance(2 * HOUR);
    await broker.app.jobs.runDue();
    const overview = await broker.call('GET', `/filetransfer/${id}`, { token: broker.tokens.sender });
    expect(overview.json).toMatchObject({
      fileTransferStatus: 'Failed',
      fileTransferStatusText: 'File transfer was stuck in UploadStarted as it failed upload mid-request.',
    });
    expect((await broker.events(id)).at(-1)).toBe(`uploadfailed ${ORGS.sender} Sender`);
    hanging!.destroy();
    await answer;
  });
});

describe('multipart initialize-and-upload', () => {
  const metadata = (): [string, string][] => [
    ['Metadata.FileName', 'skjema.xml'],
    ['Metadata.ResourceId', broker.resourceId],
    ['Metadata.SendersFileTransferReference', 'mp-1'],
    ['Metadata.Sender', party(ORGS.sender)],
    ['Metadata.Recipients', party(ORGS.recipient)],
    ['Metadata.Recipients', party(ORGS.recipient2)],
    ['Metadata.PropertyList[kommune]', '0301'],
    ['Metadata.DisableVirusScan', 'true'],
  ];

  it('initializes and streams the file part into the upload: Published, byte-exact', async () => {
    const bytes = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7) % 251));
    const form = multipartBody([...metadata(), ['Metadata.Checksum', md5(bytes)]], { fileName: 'skjema.xml', bytes });
    const response = await broker.call('POST', '/filetransfer/upload', { token: broker.tokens.sender, body: form.body, headers: { 'content-type': form.contentType } });
    expect(response.status).toBe(200);
    const id = response.json.fileTransferId;
    const overview = await broker.call('GET', `/filetransfer/${id}`, { token: broker.tokens.recipient2 });
    expect(overview.json).toMatchObject({
      fileName: 'skjema.xml',
      sendersFileTransferReference: 'mp-1',
      fileTransferStatus: 'Published',
      fileTransferSize: bytes.length,
      checksum: md5(bytes),
      propertyList: { kommune: '0301' },
      recipients: [{ recipient: party(ORGS.recipient) }, { recipient: party(ORGS.recipient2) }],
    });
    const download = await broker.call('GET', `/filetransfer/${id}/download`, { token: broker.tokens.recipient });
    expect(download.bytes.equals(bytes)).toBe(true);
  });

  it('reads indexed recipients and property pairs, field names in any case', async () => {
    const form = multipartBody(
      [
        ['metadata.filename', 'a.txt'],
        ['METADATA.RESOURCEID', broker.resourceId],
        ['Metadata.sendersFileTransferReference', 'mp-2'],
        ['Metadata.Sender', party(ORGS.sender)],
        ['Metadata.Recipients[1]', party(ORGS.recipient2)],
        ['Metadata.Recipients[0]', party(ORGS.recipient)],
        ['Metadata.PropertyList[0].Key', 'k'],
        ['Metadata.PropertyList[0].Value', 'v'],
      ],
      { bytes: Buffer.from('indexed') },
    );
    const response = await broker.call('POST', '/filetransfer/upload', { token: broker.tokens.sender, body: form.body, headers: { 'content-type': form.contentType } });
    expect(response.status).toBe(200);
    const overview = await broker.call('GET', `/filetransfer/${response.json.fileTransferId}`, { token: broker.tokens.sender });
    expect(overview.json.recipients.map((r: any) => r.recipient)).toEqual([party(ORGS.recipient), party(ORGS.recipient2)]);
    expect(overview.json.propertyList).toEqual({ k: 'v' });
  });

  it('refuses metadata after the file part, clearly, before reading the file', async () => {
    const all = metadata();
    const form = multipartBody(all.slice(0, 2), { fileName: 'late.txt', bytes: Buffer.alloc(100_000, 1) }, all.slice(2));
    const response = await broker.call('POST', '/filetransfer/upload', { token: broker.tokens.sender, body: form.body, headers: { 'content-type': form.contentType } });
    expect(response.status).toBe(400);
    expect(response.json.title).toBe('One or more validation errors occurred.');
    expect(response.json.errors['Metadata.Sender']).toEqual(['The Sender field is required.']);
    expect(response.json.errors.FileTransfer).toEqual(['The Metadata fields are read only before the file part FileTransfer: send them first.']);
    const none = multipartBody([], { bytes: Buffer.from('x') });
    const noMetadata = await broker.call('POST', '/filetransfer/upload', { token: broker.tokens.sender, body: none.body, headers: { 'content-type': none.contentType } });
    expect(noMetadata.status).toBe(400);
    expect(noMetadata.json.errors).toEqual({ FileTransfer: ['The Metadata fields are read only before the file part FileTransfer: send them first.'] });
  });

  it('refuses a form without the file part, a bad DisableVirusScan, and a body that is not multipart', async () => {
    const noFile = multipartBody(metadata());
    const response = await broker.call('POST', '/filetransfer/upload', { token: broker.tokens.sender, body: noFile.body, headers: { 'content-type': noFile.contentType } });
    expect(response.status).toBe(400);
    expect(response.json.errors).toEqual({ FileTransfer: ['The FileTransfer field is required.'] });

    const badFlag = multipartBody([...metadata().filter(([name]) => name !== 'Metadata.DisableVirusScan'), ['Metadata.DisableVirusScan', 'maybe']], { bytes: Buffer.from('x') });
    const flag = await broker.call('POST', '/filetransfer/upload', { token: broker.tokens.sender, body: badFlag.body, headers: { 'content-type': badFlag.contentType } });
    expect(flag.status).toBe(400);
    expect(flag.json.errors['Metadata.DisableVirusScan']).toEqual(["The value 'maybe' is not valid for DisableVirusScan."]);

    const json = await broker.call('POST', '/filetransfer/upload', { token: broker.tokens.sender, json: { fileName: 'x' } });
    expect(json.status).toBe(415);
    const malformed = await broker.call('POST', '/filetransfer/upload', {
      token: broker.tokens.sender,
      body: Buffer.from('--nope\r\nnot a form'),
      headers: { 'content-type': 'multipart/form-data; boundary=other' },
    });
    expect(malformed.status).toBe(400);
    expect(malformed.json.detail).toMatch(/^The multipart\/form-data request cannot be read/);
  });

  it('keys validation errors by the form field name and refuses what initialize refuses', async () => {
    const form = multipartBody(
      metadata().map(([name, value]) => (name === 'Metadata.FileName' ? [name, ''] : name === 'Metadata.Recipients' ? [name, '912345678'] : [name, value])) as [string, string][],
      { bytes: Buffer.from('x') },
    );
    const response = await broker.call('POST', '/filetransfer/upload', { token: broker.tokens.sender, body: form.body, headers: { 'content-type': form.contentType } });
    expect(response.status).toBe(400);
    expect(Object.keys(response.json.errors)).toEqual(expect.arrayContaining(['Metadata.FileName', 'Metadata.Recipients']));
    const unknown = multipartBody(metadata().map(([name, value]) => (name === 'Metadata.ResourceId' ? [name, 'no-such-resource'] : [name, value])) as [string, string][], {
      bytes: Buffer.from('x'),
    });
    const refused = await broker.call('POST', '/filetransfer/upload', { token: broker.tokens.sender, body: unknown.body, headers: { 'content-type': unknown.contentType } });
    expect(refused.status).toBe(400);
    expect(refused.json.code).toBe('BRO-00025');
  });
});
