/**
 * The Altinn 2 REST brokerservice API and the Altinn 3 Broker API on the same transfers, over real
 * HTTP (CONTRACT §9, issue 9): an Altinn 2 sender to an Altinn 3 recipient and the reverse, the
 * bytes equal by SHA-256, each side seeing the other's statuses, and the events of any transfer.
 */
import { createHash, randomBytes } from 'node:crypto';
import { CONFIRMED_TRANSFER_EVENTS, ORGS, party } from '../../helpers/broker';
import { RECIPIENT_PERSON, SENDER_PERSON, SERVICE_CODE, SERVICE_EDITION, startAltinn2Fixture, type Altinn2Fixture } from './helpers';

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const LOCAL_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?$/;

let fixture: Altinn2Fixture;
beforeAll(async () => {
  fixture = await startAltinn2Fixture();
});
afterAll(() => fixture?.close());

it('Altinn 2 sender (REST outbox) → Altinn 3 recipient: same bytes, statuses seen both ways, events', async () => {
  const { broker, a2 } = fixture;
  const bytes = randomBytes(3 * 1024 * 1024 + 11);
  const sent = await fixture.send(bytes, { SendersReference: 'a2-til-a3' }, { fileName: 'rapport.zip' });
  expect(sent.status).toBe(201);
  const id = sent.json.FileReference as string;
  expect(sent.headers.get('location')).toBe(`${broker.url}/api/${ORGS.sender}/brokerservice/outbox/${id}`);
  // No scanner configured: the upload is published before the answer.
  expect(sent.json).toMatchObject({ FileStatus: 'Uploaded', FileSize: bytes.length, Sender: ORGS.sender, SendersReference: 'a2-til-a3', FileName: 'rapport.zip' });

  // The Altinn 3 recipient finds it, reads the Altinn 2 metadata, downloads the same bytes.
  const search = await broker.call('GET', `/filetransfer?resourceId=${broker.resourceId}&status=Published&recipientStatus=Initialized`, { token: broker.tokens.recipient });
  expect(search.json).toEqual([id]);
  const overview = await broker.call('GET', `/filetransfer/${id}`, { token: broker.tokens.recipient });
  expect(overview.json).toMatchObject({
    fileTransferId: id,
    resourceId: broker.resourceId,
    fileName: 'rapport.zip',
    sendersFileTransferReference: 'a2-til-a3',
    fileTransferSize: bytes.length,
    fileTransferStatus: 'Published',
    sender: party(ORGS.sender),
    recipients: [{ recipient: party(ORGS.recipient), currentRecipientFileTransferStatusCode: 'Initialized' }],
    propertyList: { kommune: 'Bø' },
  });
  const downloaded = await broker.call('GET', `/filetransfer/${id}/download`, { token: broker.tokens.recipient });
  expect(downloaded.status).toBe(200);
  expect(sha256(downloaded.bytes)).toBe(sha256(bytes));

  // The Altinn 2 sender sees the download start, then the confirmation.
  const afterDownload = await a2('GET', `/${ORGS.sender}/brokerservice/outbox/${id}/receipt`);
  expect(afterDownload.json.SubReceipts[0]).toMatchObject({ Status: 'Ok', Text: 'A file has been made available for download.', PartyReference: ORGS.recipient });
  expect((await broker.call('POST', `/filetransfer/${id}/confirmdownload`, { token: broker.tokens.recipient })).status).toBe(204);
  const file = await a2('GET', `/${ORGS.sender}/brokerservice/outbox/${id}`);
  expect(file.json.FileStatus).toBe('Downloaded');
  const receipt = await a2('GET', `/${ORGS.sender}/brokerservice/outbox/${id}/receipt`);
  expect(receipt.json).toMatchObject({
    Status: 'Ok',
    Text: `Upload of file ${id} was successful. Recipients can now download the file.`,
    PartyReference: ORGS.sender,
    SubReceipts: [{ Status: 'Ok', Text: 'File has been downloaded by the recipient.', PartyReference: ORGS.recipient, SubReceipts: null }],
  });
  expect(receipt.json.LastChanged).toMatch(LOCAL_TIME);

  expect(await broker.events(id)).toEqual(CONFIRMED_TRANSFER_EVENTS);
});

it('Altinn 3 sender → Altinn 2 recipient (REST inbox): polled, listed, downloaded whole, confirmed once; the sender sees it all', async () => {
  const { broker, a2 } = fixture;
  const bytes = randomBytes(2 * 1024 * 1024 + 5);
  const id = await broker.publish(bytes, { fileName: 'til-a2.bin', sendersFileTransferReference: 'a3-til-a2', propertyList: { k: 'v' } });
  const inbox = `/${ORGS.recipient}/brokerservice/inbox`;
  const asRecipient = { person: RECIPIENT_PERSON };

  // The cheap poll: ApiKey only.
  const poll = { query: { serviceCode: SERVICE_CODE, serviceEditionCode: String(SERVICE_EDITION), recipients: `${ORGS.recipient2},${ORGS.recipient}` }, person: null };
  const available = await a2('GET', '/brokerservice/inbox/hasavailablefiles', poll);
  expect(available.status).toBe(200);
  expect(available.headers.get('content-type')).toBe('application/json; charset=utf-8');
  expect(available.text).toBe('true');

  const listed = await a2('GET', inbox, { ...asRecipient, query: { serviceCode: SERVICE_CODE, serviceEditionCode: String(SERVICE_EDITION) } });
  expect(listed.status).toBe(200);
  expect(listed.json.map((file: { FileReference: string }) => file.FileReference)).toContain(id);
  expect(listed.json.find((file: { FileReference: string }) => file.FileReference === id)).toMatchObject({
    ServiceCode: SERVICE_CODE,
    ServiceEditionCode: SERVICE_EDITION,
    FileName: 'til-a2.bin',
    FileSize: bytes.length,
    FileStatus: 'Uploaded',
    Sender: ORGS.sender,
    SendersReference: 'a3-til-a2',
  });
  expect((await a2('GET', `${inbox}/${id}/receipt`, asRecipient)).json).toMatchObject({ Status: 'Ok', Text: 'A file has been made available for download.', SubReceipts: null });

  // A Range header is ignored: always the whole file.
  const downloaded = await a2('GET', `${inbox}/${id}/download`, { ...asRecipient, headers: { range: 'bytes=0-9' } });
  expect(downloaded.status).toBe(200);
  expect(downloaded.headers.get('content-type')).toBe('application/octet-stream');
  expect(downloaded.headers.get('content-length')).toBe(String(bytes.length));
  expect(downloaded.headers.get('content-disposition')).toBe("attachment; filename=til-a2.bin; filename*=UTF-8''til-a2.bin");
  expect(downloaded.headers.get('content-range')).toBeNull();
  expect(sha256(downloaded.bytes)).toBe(sha256(bytes));

  // The Altinn 3 sender sees the download started…
  const details = await broker.call('GET', `/filetransfer/${id}/details`, { token: broker.tokens.sender });
  expect(details.json.recipientFileTransferStatusHistory.map((row: { recipientFileTransferStatusCode: string }) => row.recipientFileTransferStatusCode)).toEqual([
    'Initialized',
    'DownloadStarted',
  ]);

  // …and the confirmation, which needs no earlier download in Altinn 2 but is accepted once only.
  const confirmed = await a2('POST', `${inbox}/${id}/confirmdownloaded`, asRecipient);
  expect(confirmed.status).toBe(200);
  expect(confirmed.json).toMatchObject({ ReceiptID: 0, Status: 'Ok', Text: 'File has been downloaded by the recipient.', PartyReference: ORGS.recipient, SubReceipts: null });
  const again = await a2('POST', `${inbox}/${id}/confirmdownloaded`, asRecipient);
  expect(again.status).toBe(400);
  expect(again.json).toEqual({ ErrorCode: 'FileTransferNotPublished', ErrorMessage: expect.stringContaining('confirmed to be downloaded when it is published') });
  const overview = await broker.call('GET', `/filetransfer/${id}`, { token: broker.tokens.sender });
  expect(overview.json).toMatchObject({ fileTransferStatus: 'AllConfirmedDownloaded', recipients: [{ currentRecipientFileTransferStatusCode: 'DownloadConfirmed' }] });

  expect((await a2('GET', '/brokerservice/inbox/hasavailablefiles', poll)).text).toBe('false');
  const uploaded = await a2('GET', inbox, { ...asRecipient, query: { serviceCode: SERVICE_CODE } });
  expect(uploaded.json.map((file: { FileReference: string }) => file.FileReference)).not.toContain(id);
  const downloadedList = await a2('GET', `${inbox}/`, { ...asRecipient, query: { fileStatus: 'downloaded' } });
  expect(downloadedList.json.find((file: { FileReference: string }) => file.FileReference === id)).toMatchObject({ FileStatus: 'Downloaded' });
  expect((await a2('GET', `${inbox}/${id}`, asRecipient)).json.FileStatus).toBe('Downloaded');

  expect(await broker.events(id)).toEqual(CONFIRMED_TRANSFER_EVENTS);
});

it('a repeated confirmation while other recipients have not confirmed is refused too', async () => {
  const { broker, a2 } = fixture;
  const id = await broker.publish(Buffer.from('to two'), { recipients: [party(ORGS.recipient), party(ORGS.recipient2)] });
  const path = `/${ORGS.recipient}/brokerservice/inbox/${id}/confirmdownloaded`;
  expect((await a2('POST', path, { person: RECIPIENT_PERSON })).status).toBe(200);
  const again = await a2('POST', path, { person: RECIPIENT_PERSON });
  expect(again.status).toBe(400);
  expect(again.json.ErrorCode).toBe('AlreadyConfirmed');
  const receipt = await a2('GET', `/${ORGS.sender}/brokerservice/outbox/${id}/receipt`, { person: SENDER_PERSON });
  expect(receipt.json.SubReceipts.map((sub: { PartyReference: string; Text: string }) => [sub.PartyReference, sub.Text])).toEqual([
    [ORGS.recipient, 'File has been downloaded by the recipient.'],
    [ORGS.recipient2, 'A file has been made available for download.'],
  ]);
});

it('streams a sent file of 40 MiB to storage as it arrives', async () => {
  const { broker } = fixture;
  const chunk = randomBytes(1024 * 1024);
  const hash = createHash('sha256');
  async function* body(): AsyncGenerator<Uint8Array> {
    for (let i = 0; i < 40; i++) {
      hash.update(chunk);
      yield chunk;
    }
  }
  const sent = await fixture.send(Buffer.alloc(0), {}, { body: body(), headers: { 'content-length': String(40 * chunk.length) } });
  expect(sent.status).toBe(201);
  const row = await broker.app.db('broker_file_transfers').where({ id: sent.json.FileReference }).first('sha256', 'size_bytes');
  expect(Number(row.size_bytes)).toBe(40 * chunk.length);
  expect(row.sha256).toBe(hash.digest('hex'));
});
