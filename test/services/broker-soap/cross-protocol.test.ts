/**
 * One transfer store behind three doors: a file sent over SOAP is fetched by an Altinn 3 API
 * recipient (org token, /broker/api/v1) and by an Altinn 2 REST recipient (ApiKey + person token,
 * /api/{who}/brokerservice/inbox), and files sent through those doors reach a SOAP recipient; the
 * bytes are equal everywhere, statuses and events are those of any transfer.
 */
import { addApiKey } from '../../../src/auth/api-keys';
import { issueLocalToken } from '../../../src/auth/end-user-tokens';
import { addRole } from '../../../src/auth/roles';
import { child, children, binaryOf } from '../../helpers/soap-client';
import {
  ACTIONS,
  BASIC_PATH,
  checkXml,
  confirmXml,
  downloadXml,
  envelope,
  getAvailableFilesXml,
  initiateXml,
  members,
  mtomBody,
  ORGS,
  plainBody,
  SERVICE,
  sha256,
  soapCall,
  startBrokerSoapServer,
  STREAMED_PATH,
  uploadBody,
  uploadHeadersFor,
  zipFile,
  type BrokerSoapServer,
} from './support';

let soap: BrokerSoapServer;
let apiKey: string;
const RECIPIENT_PERSON = '02029012345';
const SENDER_PERSON = '01017012345';

beforeAll(async () => {
  soap = await startBrokerSoapServer();
  apiKey = (await addApiKey(soap.broker.app.db, { name: 'cross-protocol' })).key;
  await addRole(soap.broker.app.db, { person: RECIPIENT_PERSON, orgNumber: ORGS.recipient });
  await addRole(soap.broker.app.db, { person: SENDER_PERSON, orgNumber: ORGS.sender });
});
afterAll(() => soap.close());

async function altinn2Rest(method: string, apiPath: string, person: string, body?: Buffer, query: Record<string, string> = {}) {
  const token = await issueLocalToken(soap.broker.app.config.messages.jwt, soap.broker.app.dataDir, { person, authLevel: 3, ttlSeconds: 600 });
  const url = new URL(`${soap.url}/api${apiPath}`);
  for (const [name, value] of Object.entries(query)) url.searchParams.set(name, value);
  const response = await fetch(url, {
    method,
    headers: { apikey: apiKey, authorization: `Bearer ${token}`, accept: 'application/json', 'content-type': 'application/zip' },
    body,
  });
  const bytes = Buffer.from(await response.arrayBuffer());
  return { status: response.status, bytes, json: /json/.test(response.headers.get('content-type') ?? '') && bytes.length ? JSON.parse(bytes.toString('utf8')) : undefined };
}

/** Initiate + upload over SOAP, as the integrasjonspunkt does; returns the reference. */
async function sendOverSoap(zip: Buffer): Promise<string> {
  const initiated = await soapCall(soap.url, BASIC_PATH, ACTIONS.basic('InitiateBrokerServiceBasic'), plainBody(envelope(initiateXml(soap.users.sender))));
  const reference = members(initiated.bodyElement).InitiateBrokerServiceBasicResult!;
  const uploaded = await soapCall(soap.url, STREAMED_PATH, ACTIONS.streamed('UploadFileStreamedBasic'), uploadBody(uploadHeadersFor(soap.users.sender, reference), zip));
  expect(uploaded.status).toBe(200);
  return reference;
}

/** Check → Get → Download → Confirm as the SOAP recipient; returns the downloaded bytes. */
async function receiveOverSoap(reference: string): Promise<Buffer> {
  const { recipient } = soap.users;
  const check = await soapCall(soap.url, BASIC_PATH, ACTIONS.basic('CheckIfAvailableFilesBasic'), plainBody(envelope(checkXml(recipient))));
  expect(members(check.bodyElement).CheckIfAvailableFilesBasicResult).toBe('true');
  const listed = await soapCall(soap.url, BASIC_PATH, ACTIONS.basic('GetAvailableFilesBasic'), plainBody(envelope(getAvailableFilesXml(recipient))));
  const files = children(child(listed.bodyElement, 'GetAvailableFilesBasicResult'), 'BrokerServiceAvailableFile').map(members);
  expect(files.map((f) => f.FileReference)).toContain(reference);
  const downloaded = await soapCall(soap.url, STREAMED_PATH, ACTIONS.streamed('DownloadFileStreamedBasic'), mtomBody(envelope(downloadXml(recipient, reference))));
  expect(downloaded.status).toBe(200);
  const bytes = binaryOf(downloaded, child(downloaded.bodyElement, 'DownloadFileStreamedBasicResult'))!;
  const confirmed = await soapCall(soap.url, BASIC_PATH, ACTIONS.basic('ConfirmDownloadedBasic'), plainBody(envelope(confirmXml(recipient, reference))));
  expect(confirmed.status).toBe(200);
  return bytes;
}

test('SOAP sender → Altinn 3 API recipient: bytes equal, the confirmation seen on the sender\'s side', async () => {
  const zip = await zipFile();
  const reference = await sendOverSoap(zip);
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
  const listed = await soapCall(
    soap.url,
    BASIC_PATH,
    ACTIONS.basic('GetAvailableFilesBasic'),
    plainBody(envelope(getAvailableFilesXml(soap.users.recipient, { fileStatus: 'Downloaded' }))),
  );
  expect(children(child(listed.bodyElement, 'GetAvailableFilesBasicResult'), 'BrokerServiceAvailableFile').map((f) => members(f).FileReference)).toContain(reference);
});

test('SOAP sender → Altinn 2 REST recipient: listed in the inbox, bytes equal, confirmed', async () => {
  const zip = await zipFile();
  const reference = await sendOverSoap(zip);
  const inbox = await altinn2Rest('GET', `/${ORGS.recipient}/brokerservice/inbox`, RECIPIENT_PERSON, undefined, {
    serviceCode: SERVICE.code,
    serviceEditionCode: String(SERVICE.edition),
  });
  expect(inbox.status).toBe(200);
  expect(inbox.json.map((f: { FileReference: string }) => f.FileReference)).toContain(reference);
  const downloaded = await altinn2Rest('GET', `/${ORGS.recipient}/brokerservice/inbox/${reference}/download`, RECIPIENT_PERSON);
  expect(downloaded.status).toBe(200);
  expect(sha256(downloaded.bytes)).toBe(sha256(zip));
  const confirmed = await altinn2Rest('POST', `/${ORGS.recipient}/brokerservice/inbox/${reference}/confirmdownloaded`, RECIPIENT_PERSON);
  expect(confirmed.status).toBe(200);
  const overview = await soap.broker.call('GET', `/filetransfer/${reference}`, { token: soap.broker.tokens.sender });
  expect(overview.json.fileTransferStatus).toBe('AllConfirmedDownloaded');
});

test('Altinn 3 API sender → SOAP recipient: Check, Get, Download (bytes equal), Confirm; events as for any transfer', async () => {
  const zip = await zipFile();
  const reference = await soap.broker.publish(zip);
  const bytes = await receiveOverSoap(reference);
  expect(sha256(bytes)).toBe(sha256(zip));
  const details = await soap.broker.call('GET', `/filetransfer/${reference}/details`, { token: soap.broker.tokens.sender });
  expect(details.json.fileTransferStatus).toBe('AllConfirmedDownloaded');
  expect(await soap.broker.events(reference)).toEqual([
    `filetransferinitialized ${ORGS.sender} Sender`,
    `published ${ORGS.sender} Sender`,
    `published ${ORGS.recipient} Recipient`,
    `downloadconfirmed ${ORGS.recipient} Recipient`,
    `downloadconfirmed ${ORGS.sender} Sender`,
    `allconfirmeddownloaded ${ORGS.sender} Sender`,
  ]);
});

test('Altinn 2 REST sender → SOAP recipient: bytes equal', async () => {
  const zip = await zipFile();
  const sent = await altinn2Rest('POST', `/${ORGS.sender}/brokerservice/outbox`, SENDER_PERSON, zip, {
    fileName: 'melding.zip',
    brokerServiceDescription: JSON.stringify({
      ServiceCode: SERVICE.code,
      ServiceEditionCode: SERVICE.edition,
      SendersReference: 'rest-ref',
      Recipients: [ORGS.recipient],
    }),
  });
  expect(sent.status).toBe(201);
  const reference = sent.json.FileReference as string;
  const bytes = await receiveOverSoap(reference);
  expect(sha256(bytes)).toBe(sha256(zip));
});
