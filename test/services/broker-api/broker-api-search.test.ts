/**
 * GET /filetransfer (CONTRACT §2.4) over real HTTP: roles, current status and the caller's own
 * recipient status, from/to on creation or on entering the status (exclusive alone, inclusive
 * together), ordering, the cap of 100, and ASP.NET-style binding of the query.
 */
import { ORGS, party, startBrokerTestServer, type BrokerTestServer } from '../../helpers/broker';

const T0 = new Date('2026-03-02T08:00:00.000Z');
const HOUR = 60 * 60 * 1000;
const at = (hours: number) => new Date(T0.getTime() + hours * HOUR).toISOString();

let broker: BrokerTestServer;
// A: Initialized (created T0+1h). B: created T0+2h, Published at T0+5h. C: created and Published at T0+3h,
// two recipients, the first has downloaded. D: created T0+4h by the recipient's organisation, to the sender.
let A: string;
let B: string;
let C: string;
let D: string;

beforeAll(async () => {
  broker = await startBrokerTestServer({ start: T0 });
  broker.clock.set(new Date(at(1)));
  A = await broker.initialize();
  broker.clock.set(new Date(at(2)));
  B = await broker.initialize();
  broker.clock.set(new Date(at(3)));
  C = await broker.publish(Buffer.from('c'), { recipients: [party(ORGS.recipient), party(ORGS.recipient2)] });
  expect((await broker.call('GET', `/filetransfer/${C}/download`, { token: broker.tokens.recipient })).status).toBe(200);
  broker.clock.set(new Date(at(4)));
  const fromRecipient = await broker.call('POST', '/filetransfer', {
    token: broker.tokens.recipientWriteOnly,
    json: { resourceId: broker.resourceId, fileName: 'd', sendersFileTransferReference: 'd', sender: party(ORGS.recipient), recipients: [party(ORGS.sender)] },
  });
  D = fromRecipient.json.fileTransferId;
  broker.clock.set(new Date(at(5)));
  expect((await broker.upload(B, Buffer.from('b'))).status).toBe(200);
  // Elsewhere: a transfer on another resource is never found here.
  const other = await broker.configureResource();
  await broker.initialize({ resourceId: other });
});
afterAll(() => broker?.close());

async function search(query: string, token = broker.tokens.sender): Promise<string[]> {
  const response = await broker.call('GET', `/filetransfer?resourceId=${encodeURIComponent(broker.resourceId)}${query}`, { token });
  if (response.status !== 200) throw new Error(`search ${query} answered ${response.status}: ${response.text}`);
  return response.json;
}

describe('roles and order', () => {
  it('finds the transfers the caller sends or receives, newest first', async () => {
    expect(await search('')).toEqual([D, C, B, A]);
    expect(await search('&orderAscending=true')).toEqual([A, B, C, D]);
    expect(await search('&orderAscending=False')).toEqual([D, C, B, A]);
  });

  it('narrows to one role (by name, any case)', async () => {
    expect(await search('&role=Sender')).toEqual([C, B, A]);
    expect(await search('&role=recipient')).toEqual([D]);
    expect(await search('&role=Both')).toEqual([D, C, B, A]);
  });

  it('finds nothing for an organisation party to none, and nothing on another resource', async () => {
    expect(await search('', broker.tokens.stranger)).toEqual([]);
    const other = await broker.call('GET', `/filetransfer?resourceId=no-such-resource`, { token: broker.tokens.sender });
    expect(other.json).toEqual([]);
  });

  it('takes the resource id with its urn prefix', async () => {
    const response = await broker.call('GET', `/filetransfer?resourceId=urn:altinn:resource:${broker.resourceId}`, { token: broker.tokens.sender });
    expect(response.json).toEqual([D, C, B, A]);
  });
});

describe('status filters', () => {
  it('filters on the current status, by name in any case or by number, sorted by when it was entered', async () => {
    // B entered Published after C did, although it was created first.
    expect(await search('&status=published')).toEqual([B, C]);
    expect(await search('&status=3')).toEqual([B, C]);
    expect(await search('&status=Initialized')).toEqual([D, A]);
    expect(await search('&status=99')).toEqual([]);
  });

  it('filters recipients on their own latest status, which implies the recipient role', async () => {
    expect(await search('&recipientStatus=Initialized', broker.tokens.recipient)).toEqual([B, A]);
    expect(await search('&recipientStatus=downloadstarted', broker.tokens.recipient)).toEqual([C]);
    expect(await search('&recipientStatus=Initialized', broker.tokens.recipient2)).toEqual([C]);
    // The way recipients poll for new files.
    expect(await search('&status=Published&recipientStatus=Initialized', broker.tokens.recipient)).toEqual([B]);
    expect(await search('&recipientStatus=Initialized&role=Sender')).toEqual([D]);
  });
});

describe('from and to', () => {
  it('filter on creation: each alone exclusive, both together inclusive', async () => {
    expect(await search(`&from=${at(2)}`)).toEqual([D, C]);
    expect(await search(`&to=${at(3)}`)).toEqual([B, A]);
    expect(await search(`&from=${at(2)}&to=${at(3)}`)).toEqual([C, B]);
  });

  it('filter on entering the status when a status is given', async () => {
    expect(await search(`&status=Published&from=${at(4)}`)).toEqual([B]);
    expect(await search(`&status=Published&to=${at(4)}`)).toEqual([C]);
    expect(await search(`&status=Published&from=${at(3)}&to=${at(5)}`)).toEqual([B, C]);
  });

  it('read offsets, no offset as UTC, and a + left unencoded', async () => {
    expect(await search(`&from=${encodeURIComponent('2026-03-02T11:00:00+02:00')}`)).toEqual([D, C, B]);
    expect(await search('&from=2026-03-02T11:00:00+02:00')).toEqual([D, C, B]);
    expect(await search('&from=2026-03-02T09:00:00')).toEqual([D, C, B]);
    expect(await search('&to=2026-03-02')).toEqual([]);
  });
});

describe('query binding', () => {
  it.each([
    ['', 'resourceId', 'The resourceId field is required.'],
    ['resourceId=x&status=Done', 'status', "The value 'Done' is not valid for status."],
    ['resourceId=x&recipientStatus=Gone', 'recipientStatus', "The value 'Gone' is not valid for recipientStatus."],
    ['resourceId=x&from=yesterday', 'from', "The value 'yesterday' is not valid for from."],
    ['resourceId=x&to=2026-02-30', 'to', "The value '2026-02-30' is not valid for to."],
    ['resourceId=x&orderAscending=maybe', 'orderAscending', "The value 'maybe' is not valid for orderAscending."],
    ['resourceId=x&role=Owner', 'role', "The value 'Owner' is not valid for role."],
  ])('?%s → 400 keyed %s', async (query, key, message) => {
    const response = await broker.call('GET', `/filetransfer?${query}`, { token: broker.tokens.sender });
    expect(response.status).toBe(400);
    expect(response.json).toMatchObject({ title: 'One or more validation errors occurred.', errors: { [key]: [message] } });
  });
});

describe('the cap', () => {
  it('returns at most 100 ids: the newest 100, or the oldest with orderAscending', async () => {
    const resourceId = await broker.configureResource();
    const ids: string[] = [];
    for (let i = 0; i < 105; i++) {
      broker.clock.advance(1000);
      ids.push(await broker.initialize({ resourceId }));
    }
    const newest = await broker.call('GET', `/filetransfer?resourceId=${resourceId}`, { token: broker.tokens.sender });
    expect(newest.json).toHaveLength(100);
    expect(newest.json).toEqual(ids.slice(5).reverse());
    const oldest = await broker.call('GET', `/filetransfer?resourceId=${resourceId}&orderAscending=true`, { token: broker.tokens.recipient });
    expect(oldest.json).toEqual(ids.slice(0, 100));
  });
});
