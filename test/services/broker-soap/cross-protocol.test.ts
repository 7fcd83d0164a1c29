/**
 * One transfer store behind three doors: a file sent over SOAP is fetched by an Altinn 3 API
 * recipient (org token, /broker/api/v1) and by an Altinn 2 REST recipient (ApiKey + person token,
 * /api/{who}/brokerservice/inbox), and files sent through those doors reach a SOAP recipient; the
 * bytes are equal everywhere, statuses and events are those of any transfer.
 */
import { CONFIRMED_TRANSFER_EVENTS } from '../../helpers/broker';
import { addAltinn2Client, RECIPIENT_PERSON, SENDER_PERSON, type Altinn2Client } from '../brokerservice-rest/helpers';
import { listedReferences, ORGS, SERVICE, sha256, startBrokerSoapServer, zipFile, type BrokerSoapServer } from './support';

let soap: BrokerSoapServer;
let rest: Altinn2Client;

beforeAll(async () => {
  soap = await startBrokerSoapServer();
  rest = await addAltinn2Client(soap.broker);
});
afterAll(() => soap.close());

test('SOAP sender → Altinn 3 API recipient: bytes equal, the confirmation seen on the sender\'s side', async () => {
  const zip = await zipFile();
  const reference = await soap.send(zip);
  const { tokens } = soap.broker;
  const downloaded = await soap.broker.call('GET', `/filetransfer/${reference}/download`, { token: tokens.recipient });
  expect(downloaded.status).toBe(200);
  expect(sha256(downloaded.bytes)).toBe(sha256(zip));
  expect((await soap.broker.call('POST', `/filetransfer/${reference}/confirmdownload`, { token: tokens.recipient })).status).toBe(204);
  const details = await soap.broker.call('GET', `/filetransfer/${reference}/details`, { token: tokens.sender });
  expect(details.json.fileTransferStatus).toBe('AllConfirmedDownloaded');
  expect(details.json.sender).toBe(`0192:${ORGS.sender}`);
  expect(details.json.resourceId).toBe(soap.broker.resourceId);
  expect(details.json.recipientFileTransferStatusHistory.map((s: { recipientFileTransferStatusCode: string }) => s.recipientFileTransferStatusCode)).toEqual([
    'Initialized',
    'DownloadStarted',
    'DownloadConfirmed',
  ]);
  // The SOAP side lists it as Downloaded for that recipient.
  const listed = await soap.getAvailableFiles(soap.users.recipient, { fileStatus: 'Downloaded' });
  expect(listedReferences(listed)).toContain(reference);
});

test('SOAP sender → Altinn 2 REST recipient: listed in the inbox, bytes equal, confirmed', async () => {
  const zip = await zipFile();
  const reference = await soap.send(zip);
  const inbox = await rest.a2('GET', `/${ORGS.recipient}/brokerservice/inbox`, {
    person: RECIPIENT_PERSON,
    query: { serviceCode: SERVICE.code, serviceEditionCode: String(SERVICE.edition) },
  });
  expect(inbox.status).toBe(200);
  expect(inbox.json.map((f: { FileReference: string }) => f.FileReference)).toContain(reference);
  const downloaded = await rest.a2('GET', `/${ORGS.recipient}/brokerservice/inbox/${reference}/download`, { person: RECIPIENT_PERSON });
  expect(downloaded.status).toBe(200);
  expect(sha256(downloaded.bytes)).toBe(sha256(zip));
  const confirmed = await rest.a2('POST', `/${ORGS.recipient}/brokerservice/inbox/${reference}/confirmdownloaded`, { person: RECIPIENT_PERSON });
  expect(confirmed.status).toBe(200);
  const overview = await soap.broker.call('GET', `/filetransfer/${reference}`, { token: soap.broker.tokens.sender });
  expect(overview.json.fileTransferStatus).toBe('AllConfirmedDownloaded');
});

test('Altinn 3 API sender → SOAP recipient: Check, Get, Download (bytes equal), Confirm; events as for any transfer', async () => {
  const zip = await zipFile();
  const reference = await soap.broker.publish(zip);
  const bytes = await soap.receive(reference);
  expect(sha256(bytes)).toBe(sha256(zip));
  const details = await soap.broker.call('GET', `/filetransfer/${reference}/details`, { token: soap.broker.tokens.sender });
  expect(details.json.fileTransferStatus).toBe('AllConfirmedDownloaded');
  expect(await soap.broker.events(reference)).toEqual(CONFIRMED_TRANSFER_EVENTS);
});

test('Altinn 2 REST sender → SOAP recipient: bytes equal', async () => {
  const zip = await zipFile();
  const sent = await rest.a2('POST', `/${ORGS.sender}/brokerservice/outbox`, {
    person: SENDER_PERSON,
    body: zip,
    query: {
      fileName: 'melding.zip',
      brokerServiceDescription: JSON.stringify({
        ServiceCode: SERVICE.code,
        ServiceEditionCode: SERVICE.edition,
        SendersReference: 'rest-ref',
        Recipients: [ORGS.recipient],
      }),
    },
  });
  expect(sent.status).toBe(201);
  const reference = sent.json.FileReference as string;
  const bytes = await soap.receive(reference);
  expect(sha256(bytes)).toBe(sha256(zip));
});
