/**
 * Every route's JSON against the shapes of Altinn's own output (the seed
 * broker-altinn2-rest-transition.md, captured from Altinn in 2024): member names and their order,
 * value types, nulls, and the date format (Norwegian local time, no offset). Values that depend
 * on the transfer are checked too, where the seed and CONTRACT §9 fix them.
 */
import { ORGS } from '../../helpers/broker';
import { RECIPIENT_PERSON, SERVICE_CODE, SERVICE_EDITION, startAltinn2Fixture, type Altinn2Fixture } from './helpers';

// From the seed, verbatim.
const SEED_FILE = {
  ServiceCode: '4947',
  ServiceEditionCode: 4678,
  FileName: 'Altinn2FileName',
  FileReference: '1540b8dd-bb90-42d1-a95e-12e097823070',
  FileSize: 123,
  FileStatus: 'Initialized',
  ReceiptID: 0,
  Sender: '312903369',
  SentDate: '2024-04-26T13:17:33.911',
  SendersReference: 'SendersReferenceValue',
};
const SEED_SUB_RECEIPT = {
  ReceiptID: 0,
  ParentReceiptID: null,
  LastChanged: '2024-05-08T12:14:52.313',
  Status: 'Ok',
  Text: 'A file has been made available for download.',
  SendersReference: null,
  ServiceOwnerPartyReference: null,
  PartyReference: '313559017',
  ReceiptHistory: null,
  SubReceipts: null,
};
const SEED_SENDER_RECEIPT = {
  ReceiptID: 0,
  ParentReceiptID: null,
  LastChanged: '2024-05-08T12:14:52.313',
  Status: 'Ok',
  Text: 'Upload of file 0ed44efb-f397-43a7-883a-4be634c902f1 was successful. Recipients can now download the file.',
  SendersReference: null,
  ServiceOwnerPartyReference: null,
  PartyReference: '312903369',
  ReceiptHistory: null,
  SubReceipts: [SEED_SUB_RECEIPT, { ...SEED_SUB_RECEIPT, PartyReference: '314126866' }],
};
const SEED_RECIPIENT_RECEIPT = { ...SEED_SUB_RECEIPT, LastChanged: '2024-05-08T12:14:52.288' };

const LOCAL_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?$/;
const DATE_MEMBERS = new Set(['SentDate', 'LastChanged']);

const kind = (value: unknown) => (value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value);

/** Same member names in the same order, same JSON types (null where the seed has null), dates as the seed writes them. */
function expectShape(actual: unknown, seed: unknown, at = '$'): void {
  expect({ at, kind: kind(actual) }).toEqual({ at, kind: kind(seed) });
  if (Array.isArray(seed)) {
    for (const [index, item] of (actual as unknown[]).entries()) expectShape(item, seed[Math.min(index, seed.length - 1)], `${at}[${index}]`);
  } else if (seed !== null && typeof seed === 'object') {
    const object = actual as Record<string, unknown>;
    expect({ at, members: Object.keys(object) }).toEqual({ at, members: Object.keys(seed) });
    for (const [name, value] of Object.entries(seed)) {
      if (DATE_MEMBERS.has(name)) expect({ at: `${at}.${name}`, value: object[name] }).toEqual({ at: `${at}.${name}`, value: expect.stringMatching(LOCAL_TIME) });
      expectShape(object[name], value, `${at}.${name}`);
    }
  }
}

let fixture: Altinn2Fixture;
beforeAll(async () => {
  // Summer: Oslo is UTC+2, so 08:00:00.120Z is written 10:00:00.12.
  fixture = await startAltinn2Fixture();
  fixture.broker.clock.set(new Date('2026-06-10T08:00:00.120Z'));
});
afterAll(() => fixture?.close());

it('every route answers in the seed\'s shapes', async () => {
  const { a2, broker } = fixture;
  const outbox = `/${ORGS.sender}/brokerservice/outbox`;
  const inbox = `/${ORGS.recipient}/brokerservice/inbox`;
  const asRecipient = { person: RECIPIENT_PERSON };

  // 1. POST outbox: 201 with the file object.
  const sent = await fixture.send(Buffer.from('PK\x05\x06'.padEnd(22, '\0'), 'latin1'), { SendersReference: 'SendersReferenceValue', Recipients: [ORGS.recipient, ORGS.recipient2] }, { fileName: 'Altinn2FileName' });
  expect(sent.status).toBe(201);
  expect(sent.headers.get('content-type')).toBe('application/json; charset=utf-8');
  expectShape(sent.json, SEED_FILE);
  const id = sent.json.FileReference as string;
  expect(sent.json).toEqual({
    ServiceCode: SERVICE_CODE,
    ServiceEditionCode: SERVICE_EDITION,
    FileName: 'Altinn2FileName',
    FileReference: id,
    FileSize: 22,
    FileStatus: 'Uploaded',
    ReceiptID: 0,
    Sender: ORGS.sender,
    SentDate: '2026-06-10T10:00:00.12',
    SendersReference: 'SendersReferenceValue',
  });

  // 2. GET outbox file.
  const file = await a2('GET', `${outbox}/${id}`);
  expectShape(file.json, SEED_FILE);
  expect(file.json).toEqual(sent.json);

  // 3. GET outbox receipt: the sender's, one sub-receipt per recipient.
  broker.clock.advance(1000);
  const receipt = await a2('GET', `${outbox}/${id}/receipt`);
  expectShape(receipt.json, SEED_SENDER_RECEIPT);
  expect(receipt.json.Text).toBe(`Upload of file ${id} was successful. Recipients can now download the file.`);
  expect(receipt.json.SubReceipts.map((sub: { PartyReference: string }) => sub.PartyReference)).toEqual([ORGS.recipient, ORGS.recipient2]);
  expect(receipt.json.SubReceipts.every((sub: { LastChanged: string }) => sub.LastChanged === receipt.json.LastChanged)).toBe(true);

  // 4. hasavailablefiles: a bare JSON boolean.
  const available = await a2('GET', '/brokerservice/inbox/hasavailablefiles', { person: null, query: { serviceCode: SERVICE_CODE, serviceEditionCode: '1', recipients: ORGS.recipient } });
  expect(available.json).toBe(true);

  // 5. GET inbox: an array of file objects.
  const list = await a2('GET', inbox, { ...asRecipient, query: { serviceCode: SERVICE_CODE, serviceEditionCode: '1' } });
  expect(list.json).toHaveLength(1);
  expectShape(list.json, [SEED_FILE]);
  expect(list.json[0]).toEqual(sent.json);

  // 6. GET inbox file.
  const received = await a2('GET', `${inbox}/${id}`, asRecipient);
  expectShape(received.json, SEED_FILE);

  // 7. GET inbox receipt: the recipient's own, timed by its own latest status.
  const own = await a2('GET', `${inbox}/${id}/receipt`, asRecipient);
  expectShape(own.json, SEED_RECIPIENT_RECEIPT);
  expect(own.json).toEqual({ ...SEED_RECIPIENT_RECEIPT, LastChanged: '2026-06-10T10:00:00.12', PartyReference: ORGS.recipient });

  // 8. Download: the bytes, not JSON.
  broker.clock.advance(1000);
  const download = await a2('GET', `${inbox}/${id}/download`, asRecipient);
  expect(download.status).toBe(200);
  expect(download.headers.get('content-type')).toBe('application/octet-stream');
  expect(download.bytes.length).toBe(22);

  // 9. confirmdownloaded: the recipient receipt, now downloaded.
  broker.clock.advance(1000);
  const confirmed = await a2('POST', `${inbox}/${id}/confirmdownloaded`, asRecipient);
  expect(confirmed.status).toBe(200);
  expectShape(confirmed.json, SEED_RECIPIENT_RECEIPT);
  expect(confirmed.json).toEqual({
    ...SEED_RECIPIENT_RECEIPT,
    LastChanged: '2026-06-10T10:00:03.12',
    Text: 'File has been downloaded by the recipient.',
    PartyReference: ORGS.recipient,
  });
});

it('adds plain-string _links with Accept: application/hal+json, and only then', async () => {
  const { a2 } = fixture;
  const sent = await fixture.send(Buffer.alloc(0), {}, { headers: { accept: 'application/hal+json' } });
  expect(sent.status).toBe(201);
  expect(sent.headers.get('content-type')).toBe('application/hal+json; charset=utf-8');
  const id = sent.json.FileReference;
  const outboxUrl = `${fixture.broker.url}/api/${ORGS.sender}/brokerservice/outbox/${id}`;
  expect(Object.keys(sent.json)).toEqual([...Object.keys(SEED_FILE), '_links']);
  expect(sent.json._links).toEqual({ self: outboxUrl, receipt: `${outboxUrl}/receipt` });
  const inboxUrl = `${fixture.broker.url}/api/${ORGS.recipient}/brokerservice/inbox/${id}`;
  const received = await a2('GET', `/${ORGS.recipient}/brokerservice/inbox/${id}`, { person: RECIPIENT_PERSON, headers: { accept: 'application/hal+json' } });
  expect(received.json._links).toEqual({ self: inboxUrl, receipt: `${inboxUrl}/receipt`, download: `${inboxUrl}/download` });
  const plain = await a2('GET', `/${ORGS.recipient}/brokerservice/inbox/${id}`, { person: RECIPIENT_PERSON });
  expect(plain.json._links).toBeUndefined();
});

it('reads the description\'s member names in any case and a quoted edition, and ignores FileList', async () => {
  const sent = await fixture.send(Buffer.alloc(0), {}, {
    query: {
      brokerServiceDescription: JSON.stringify({
        servicecode: SERVICE_CODE,
        SERVICEEDITIONCODE: String(SERVICE_EDITION),
        sendersReference: 'lower',
        recipients: [ORGS.recipient],
        properties: null,
        FileList: [{ FileName: 'ignored.xml' }],
      }),
    },
  });
  expect(sent.status).toBe(201);
  expect(sent.json).toMatchObject({ ServiceCode: SERVICE_CODE, ServiceEditionCode: SERVICE_EDITION, SendersReference: 'lower' });
});

it('names a file <uuid>.zip when the request gives no fileName', async () => {
  const sent = await fixture.a2('POST', `/${ORGS.sender}/brokerservice/outbox`, {
    query: { BrokerServiceDescription: JSON.stringify({ ServiceCode: SERVICE_CODE, ServiceEditionCode: 1, SendersReference: 'r', Recipients: [ORGS.recipient] }) },
    body: Buffer.from('x'),
  });
  expect(sent.status).toBe(201);
  expect(sent.json.FileName).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.zip$/);
});

it('documents the nine routes in /api/openapi.json under the tag "broker: Altinn 2 REST", and at /api/help', async () => {
  const response = await fetch(`${fixture.broker.url}/api/openapi.json`);
  expect(response.status).toBe(200);
  const document = (await response.json()) as { paths: Record<string, Record<string, { tags?: string[]; summary?: string; responses?: Record<string, unknown> }>>; tags: { name: string; description: string }[] };
  const operations = Object.entries(document.paths).flatMap(([route, methods]) =>
    Object.entries(methods)
      .filter(([, operation]) => operation.tags?.includes('broker: Altinn 2 REST'))
      .map(([method, operation]) => ({ route: `${method.toUpperCase()} ${route}`, summary: operation.summary, statuses: Object.keys(operation.responses ?? {}) })),
  );
  expect(operations.map((operation) => operation.route).sort()).toEqual(
    [
      'POST /api/{who}/brokerservice/outbox',
      'GET /api/{who}/brokerservice/outbox/{fileReference}',
      'GET /api/{who}/brokerservice/outbox/{fileReference}/receipt',
      'GET /api/brokerservice/inbox/hasavailablefiles',
      'GET /api/{who}/brokerservice/inbox',
      'GET /api/{who}/brokerservice/inbox/{fileReference}',
      'GET /api/{who}/brokerservice/inbox/{fileReference}/receipt',
      'GET /api/{who}/brokerservice/inbox/{fileReference}/download',
      'POST /api/{who}/brokerservice/inbox/{fileReference}/confirmdownloaded',
    ].sort(),
  );
  for (const operation of operations) {
    expect(operation.summary).toEqual(expect.any(String));
    expect(operation.statuses).toEqual(expect.arrayContaining([operation.route.startsWith('POST /api/{who}/brokerservice/outbox') ? '201' : '200']));
  }
  expect(document.tags.find((tag) => tag.name === 'broker: Altinn 2 REST')?.description).toMatch(/pseudo-receipts/);
  const outbox = document.paths['/api/{who}/brokerservice/outbox']!.post as unknown as { parameters: { name: string; in: string }[] };
  expect(outbox.parameters.map((parameter) => `${parameter.in}:${parameter.name}`)).toEqual(expect.arrayContaining(['query:brokerServiceDescription', 'query:fileName', 'path:who']));
  expect((await fetch(`${fixture.broker.url}/api/help/static/index.html`)).status).toBe(200);
});
