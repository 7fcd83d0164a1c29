/**
 * The Altinn 2 SOAP broker's whole loop over real HTTP, each request shaped as eFormidling's
 * integrasjonspunkt (Metro) sends it (altinn2-broker CONTRACT §6, §11): the sender initiates
 * (ArrayOfFile in the Manifest) and uploads a ZIP (chunked MTOM, headers in WSDL order, posted to
 * `…svc?wsdl`); the recipient polls (Check), lists (Get, Uploaded), downloads (MTOM, bytes equal),
 * confirms, and the file is no longer listed. Every member of every answer is checked, in order.
 */
import { childElements } from '../../../src/xml/parser';
import { CONFIRMED_TRANSFER_EVENTS } from '../../helpers/broker';
import { child, children, binaryOf, isNilElement } from '../../helpers/soap-client';
import {
  ACTIONS,
  availableFiles,
  BASIC_PATH,
  envelope,
  getAvailableFilesXml,
  initiatedReference,
  listedReferences,
  members,
  NS,
  ORGS,
  plainBody,
  SERVICE,
  sha256,
  soapCall,
  startBrokerSoapServer,
  STREAMED_PATH,
  STREAMED_TYPO_PATH,
  uploadHeadersFor,
  zipFile,
  type BrokerSoapServer,
} from './support';

let soap: BrokerSoapServer;

beforeAll(async () => {
  soap = await startBrokerSoapServer();
});
afterAll(() => soap.close());

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

test('send a ZIP, then as the recipient Check, Get, Download (bytes equal), Confirm: no longer listed', async () => {
  const { sender, recipient } = soap.users;
  const zip = await zipFile();
  const sendersReference = '0f5d7b0e-2f8c-4e7e-9d61-1f3c8a1b2c3d';

  // Initiate: plain text/xml to …Basic.svc?wsdl.
  const initiated = await soap.initiate(sender, { sendersReference });
  expect(initiated.status).toBe(200);
  expect(initiated.rawHeaders['content-type']).toBe('text/xml; charset=utf-8');
  expect(initiated.bodyElement).toMatchObject({ local: 'InitiateBrokerServiceBasicResponse', ns: NS.svc });
  const reference = initiatedReference(initiated);
  expect(reference).toMatch(GUID);

  // Upload: chunked MTOM to …BasicStreamed.svc?wsdl.
  const uploaded = await soap.upload(uploadHeadersFor(sender, reference), zip);
  expect(uploaded.status).toBe(200);
  expect(uploaded.bodyElement).toMatchObject({ local: 'ReceiptExternalStreamedBE', ns: NS.svc });
  expect(childElements(uploaded.bodyElement).map((m) => m.local)).toEqual([
    'LastChanged',
    'ParentReceiptId',
    'ReceiptHistory',
    'ReceiptId',
    'ReceiptStatusCode',
    'ReceiptText',
    'ReceiptTypeName',
  ]);
  expect(members(uploaded.bodyElement)).toEqual({
    // The ManualClock stands at 2026-03-02T08:00:00Z: 09:00 in Oslo (winter time).
    LastChanged: '02.03.2026 09:00:00',
    ParentReceiptId: '0',
    ReceiptHistory: null,
    ReceiptId: '0',
    ReceiptStatusCode: 'OK',
    ReceiptText: `Upload of file ${reference} was successful. Recipients can now download the file.`,
    ReceiptTypeName: 'BrokerService',
  });

  // The recipient polls.
  const check = await soap.check(recipient);
  expect(check.status).toBe(200);
  expect(members(check.bodyElement)).toEqual({ CheckIfAvailableFilesBasicResult: 'true' });

  // … lists …
  const listed = await soap.getAvailableFiles(recipient);
  expect(listed.status).toBe(200);
  const result = child(listed.bodyElement, 'GetAvailableFilesBasicResult', NS.svc);
  const files = children(result, 'BrokerServiceAvailableFile');
  expect(files).toHaveLength(1);
  expect(files[0]!.ns).toBe(NS.bs);
  expect(childElements(files[0]!).every((m) => m.ns === NS.bs)).toBe(true);
  expect(members(files[0]!)).toEqual({
    ExternalServiceCode: SERVICE.code,
    ExternalServiceEditionCode: String(SERVICE.edition),
    FileName: 'sbd.zip',
    FileReference: reference,
    FileSize: String(zip.length),
    FileStatus: 'Uploaded',
    IsSftpDownloadOnly: 'false',
    ReceiptID: '0',
    Reportee: ORGS.sender,
    SendersReference: sendersReference,
    SentDate: '2026-03-02T09:00:00+01:00',
  });
  expect(childElements(files[0]!).map((m) => m.local)).toEqual(Object.keys(members(files[0]!)));

  // … downloads (Metro MTOM-wraps this request too) …
  const downloaded = await soap.download(recipient, reference);
  expect(downloaded.status).toBe(200);
  expect(downloaded.rawHeaders['content-type']).toMatch(/^multipart\/related; type="application\/xop\+xml"; start="<[^>]+>"; start-info="text\/xml"; boundary="uuid:[^"]+"$/);
  const resultElement = child(downloaded.bodyElement, 'DownloadFileStreamedBasicResult', NS.svc);
  expect(childElements(resultElement)).toEqual([expect.objectContaining({ local: 'Include', ns: NS.xop })]);
  const bytes = binaryOf(downloaded, resultElement)!;
  expect(sha256(bytes)).toBe(sha256(zip));
  expect(bytes.length).toBe(zip.length);
  expect(Number(downloaded.rawHeaders['content-length'])).toBe(downloaded.body.length);
  // The file is the second part, application/octet-stream, its bytes as stored.
  expect(downloaded.body.toString('latin1')).toMatch(/\r\nContent-Type: application\/octet-stream\r\nContent-Transfer-Encoding: Binary\r\n\r\nPK/);

  // … confirms …
  const confirmed = await soap.confirm(recipient, reference);
  expect(confirmed.status).toBe(200);
  expect(confirmed.bodyElement).toMatchObject({ local: 'ConfirmDownloadedBasicResponse', ns: NS.svc });
  expect(childElements(confirmed.bodyElement)).toHaveLength(0);

  // … and the file is no longer listed as Uploaded: an empty list, never nil.
  const after = await soap.getAvailableFiles(recipient);
  const emptyResult = child(after.bodyElement, 'GetAvailableFilesBasicResult', NS.svc);
  expect(isNilElement(emptyResult)).toBe(false);
  expect(childElements(emptyResult)).toHaveLength(0);
  const checkAfter = await soap.check(recipient);
  expect(members(checkAfter.bodyElement)).toEqual({ CheckIfAvailableFilesBasicResult: 'false' });

  // Listed as Downloaded while it is still stored.
  const downloadedFiles = availableFiles(await soap.getAvailableFiles(recipient, { fileStatus: 'Downloaded' }));
  expect(downloadedFiles.map((f) => members(f).FileReference)).toEqual([reference]);
  expect(members(downloadedFiles[0]!).FileStatus).toBe('Downloaded');

  // A repeated confirmation is a no-op success (CONTRACT §13), even once all recipients have confirmed.
  const again = await soap.confirm(recipient, reference);
  expect(again.status).toBe(200);

  // Statuses and events as for any transfer.
  const overview = await soap.broker.call('GET', `/filetransfer/${reference}`, { token: soap.broker.tokens.sender });
  expect(overview.status).toBe(200);
  expect(overview.json.fileTransferStatus).toBe('AllConfirmedDownloaded');
  expect(overview.json.fileName).toBe('sbd.zip');
  expect(overview.json.sendersFileTransferReference).toBe(sendersReference);
  expect(await soap.broker.events(reference)).toEqual(CONFIRMED_TRANSFER_EVENTS);
});

test('the FileList element (as the schema names it) gives the file name; without one the name is <uuid>.zip', async () => {
  const { sender } = soap.users;
  const namedId = initiatedReference(await soap.initiate(sender, { fileList: { as: 'FileList', names: ['melding.zip', 'second.zip'] } }));
  const unnamedId = initiatedReference(await soap.initiate(sender, { fileList: null }));
  const token = soap.broker.tokens.sender;
  expect((await soap.broker.call('GET', `/filetransfer/${namedId}`, { token })).json.fileName).toBe('melding.zip');
  expect((await soap.broker.call('GET', `/filetransfer/${unnamedId}`, { token })).json.fileName).toMatch(/^[0-9a-f-]{36}\.zip$/);
});

test('properties reach the transfer; Min/MaxSentDateTime (Norwegian local time without an offset) filter the list', async () => {
  const { recipient } = soap.users;
  const reference = await soap.send(await zipFile(), soap.users.sender, { properties: [['conversationId', 'c-1'], ['kind', 'dpo']], recipients: [ORGS.recipient2] });
  const details = await soap.broker.call('GET', `/filetransfer/${reference}/details`, { token: soap.broker.tokens.sender });
  expect(details.json.propertyList).toEqual({ conversationId: 'c-1', kind: 'dpo' });

  const recipient2 = soap.users.recipient2;
  const list = (window: { minSentDateTime?: string; maxSentDateTime?: string }) => soap.listed(recipient2, window);
  // Sent at 09:00 Oslo time.
  expect(await list({ minSentDateTime: '2026-03-02T09:00:00', maxSentDateTime: '2026-03-02T09:00:00' })).toEqual([reference]);
  expect(await list({ minSentDateTime: '2026-03-02T09:00:01' })).toEqual([]);
  expect(await list({ maxSentDateTime: '2026-03-02T08:59:59' })).toEqual([]);
  expect(await list({ minSentDateTime: '2026-03-02T08:00:00Z', maxSentDateTime: '2026-03-02T08:00:00Z' })).toEqual([reference]);
  // A recipient of other transfers only does not see it.
  expect(listedReferences(await soap.getAvailableFiles(recipient))).not.toContain(reference);
});

test('Get and Check without a service code cover every broker service with an Altinn 2 code; comma-separated recipients are accepted', async () => {
  const { sender, recipient2 } = soap.users;
  const reference = await soap.send(await zipFile(), sender, { recipients: [ORGS.recipient2] });
  const anyService = await soap.basic(
    'GetAvailableFilesBasic',
    getAvailableFilesXml(recipient2, { serviceCode: null, serviceEdition: undefined }).replace('<ExternalServiceEditionCode>270815</ExternalServiceEditionCode>', ''),
  );
  expect(listedReferences(anyService)).toContain(reference);
  // recipient2's system user is its own; the comma-separated list names only it.
  const check = await soap.check(recipient2, { serviceCode: null, serviceEdition: null, recipients: [`${ORGS.recipient2}, `] });
  expect(members(check.bodyElement)).toEqual({ CheckIfAvailableFilesBasicResult: 'true' });
});

test('Test answers on both services and on the misspelt streamed path; the WSDLs keep Altinn\'s service and port names', async () => {
  const testBody = plainBody(envelope(`<Test xmlns="${NS.base}"/>`));
  for (const path of [BASIC_PATH, STREAMED_PATH, STREAMED_TYPO_PATH]) {
    const reply = await soapCall(soap.url, path, ACTIONS.test, testBody);
    expect(reply.status).toBe(200);
    expect(reply.bodyElement).toMatchObject({ local: 'TestResponse', ns: NS.base });
  }
  const basic = await (await fetch(`${soap.url}${BASIC_PATH}?wsdl`)).text();
  expect(basic).toContain('<wsdl:service name="BrokerServiceExternalBasicSF">');
  expect(basic).toContain('<wsdl:port name="BasicHttpBinding_IBrokerServiceExternalBasic"');
  expect(basic).toContain(`location="${soap.url}${BASIC_PATH}"`);
  for (const path of [STREAMED_PATH, STREAMED_TYPO_PATH]) {
    const streamed = await (await fetch(`${soap.url}${path}?singleWsdl`)).text();
    expect(streamed).toContain('<wsdl:service name="BrokerServiceExternalBasicStreamedSF">');
    expect(streamed).toContain('<wsdl:port name="BasicHttpBinding_IBrokerServiceExternalBasicStreamed"');
    expect(streamed).toContain(`location="${soap.url}${STREAMED_PATH}"`);
  }
});
