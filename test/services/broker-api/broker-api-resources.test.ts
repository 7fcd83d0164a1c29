/**
 * Resource configuration over real HTTP (CONTRACT §2.7): PUT 204 and GET with Altinn's eight
 * members, Postman's PascalCase keys and quoted numbers, partial updates, every BRO rule, and
 * ownership by the first service owner.
 */
import { BROKER_SCOPES } from '../../../src/auth/organisation-tokens';
import { loadConfig } from '../../../src/config';
import { ORGS, party, startBrokerTestServer, type BrokerTestServer } from '../../helpers/broker';

let broker: BrokerTestServer;
let otherOwner: string;
beforeAll(async () => {
  broker = await startBrokerTestServer({ config: { broker: { ...loadConfig({}).broker, clamdUrl: undefined, maxFileTransferSize: 10 * 1024 ** 3 } } });
  otherOwner = await broker.token(ORGS.stranger, [BROKER_SCOPES.serviceOwner]);
});
afterAll(() => broker?.close());

const put = (resourceId: string, json: unknown, token = broker.tokens.serviceOwner) => broker.call('PUT', `/resource/${resourceId}`, { token, json });
const get = (resourceId: string, token = broker.tokens.serviceOwner) => broker.call('GET', `/resource/${resourceId}`, { token });

describe('PUT and GET /resource/{resourceId}', () => {
  it('creates a resource (204, empty) whose GET has the eight members in Altinn\'s order, unset ones null', async () => {
    const created = await put('fresh-resource', {});
    expect(created.status).toBe(204);
    expect(created.bytes.length).toBe(0);
    const response = await get('fresh-resource');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(response.text).toBe(
      '{"maxFileTransferSize":null,"fileTransferTimeToLive":null,"purgeFileTransferAfterAllRecipientsConfirmed":true,' +
        '"purgeFileTransferGracePeriod":null,"useManifestFileShim":false,"externalServiceCodeLegacy":null,' +
        '"externalServiceEditionCodeLegacy":null,"requiredParty":null}',
    );
  });

  it('reads Postman\'s PascalCase keys and quoted numbers, and the resource id with its urn prefix', async () => {
    const response = await put('urn:altinn:resource:postman-resource', {
      MaxFileTransferSize: '1112391230',
      FileTransferTimeToLive: 'P10D',
      PurgeFileTransferAfterAllRecipientsConfirmed: false,
      PurgeFileTransferGracePeriod: 'PT30M',
      ExternalServiceCodeLegacy: '4947',
      ExternalServiceEditionCodeLegacy: '2',
      UseManifestFileShim: true,
      RequiredParty: `urn:altinn:organization:identifier-no:${ORGS.sender}`,
      Unknown: 'ignored',
    });
    expect(response.status).toBe(204);
    expect((await get('postman-resource')).json).toEqual({
      maxFileTransferSize: 1112391230,
      fileTransferTimeToLive: 'P10D',
      purgeFileTransferAfterAllRecipientsConfirmed: false,
      purgeFileTransferGracePeriod: 'PT30M',
      useManifestFileShim: true,
      externalServiceCodeLegacy: '4947',
      externalServiceEditionCodeLegacy: 2,
      requiredParty: party(ORGS.sender),
    });
  });

  it('keeps the members a later PUT leaves out or sends as null', async () => {
    expect((await put('partial-resource', { maxFileTransferSize: 5000, fileTransferTimeToLive: 'P2D' })).status).toBe(204);
    expect((await put('partial-resource', { fileTransferTimeToLive: 'P3D', maxFileTransferSize: null })).status).toBe(204);
    expect((await get('partial-resource')).json).toMatchObject({ maxFileTransferSize: 5000, fileTransferTimeToLive: 'P3D' });
  });

  it('answers GET of an unconfigured resource 400 BRO-00025', async () => {
    const response = await get('never-configured');
    expect(response.status).toBe(400);
    expect(response.json).toMatchObject({ code: 'BRO-00025', detail: 'The resource has not been configured.' });
  });

  it('lets only the owning service owner change or read a resource (401 BRO-00006)', async () => {
    expect((await put('owned-resource', { maxFileTransferSize: 10 })).status).toBe(204);
    for (const response of [await put('owned-resource', { maxFileTransferSize: 20 }, otherOwner), await get('owned-resource', otherOwner)]) {
      expect(response.status).toBe(401);
      expect(response.json).toMatchObject({
        title: 'Unauthorized',
        code: 'BRO-00006',
        detail: 'You must use a bearer token that represents a system user with access to the resource in the Resource Rights Registry',
      });
    }
    expect((await get('owned-resource')).json.maxFileTransferSize).toBe(10);
  });
});

describe('rules', () => {
  it.each([
    [{ maxFileTransferSize: -1 }, 'BRO-00011', 'Max file transfer size cannot be negative'],
    [{ maxFileTransferSize: '0' }, 'BRO-00012', 'Max file transfer size cannot be zero'],
    [{ fileTransferTimeToLive: '30.00:00:00' }, 'BRO-00014', "Invalid file transfer time to live format. Should follow ISO8601 standard for duration. Example: 'P30D' for 30 days."],
    [{ fileTransferTimeToLive: 'P366D' }, 'BRO-00015', 'Time to live cannot exceed 365 days'],
    [{ purgeFileTransferGracePeriod: '2 hours' }, 'BRO-00017', "Invalid grace period format. Should follow ISO8601 standard for duration. Example: 'PT2H' for 2 hours."],
    [{ purgeFileTransferGracePeriod: 'PT24H1S' }, 'BRO-00018', 'Grace period cannot exceed 24 hours'],
    [{ maxFileTransferSize: 10 * 1024 ** 3 + 1 }, 'BRO-00022', 'Max file transfer size cannot be set higher than the maximum of this gateway (BROKER_MAX_FILE_TRANSFER_SIZE)'],
    [{ useManifestFileShim: true }, 'BRO-00023', 'In order to use manifest file shim you need to provide external service code and edition code'],
  ])('%j → 400 %s', async (settings, code, detail) => {
    const response = await put('ruled-resource', settings);
    expect(response.status).toBe(400);
    expect(response.json).toMatchObject({ type: 'https://tools.ietf.org/html/rfc9110#section-15.5.1', title: 'Bad Request', status: 400, code, detail });
  });

  it('accepts the limits themselves: P365D, PT24H, the gateway maximum', async () => {
    const response = await put('limit-resource', { fileTransferTimeToLive: 'P365D', purgeFileTransferGracePeriod: 'PT24H', maxFileTransferSize: 10 * 1024 ** 3 });
    expect(response.status).toBe(204);
  });

  it('refuses a member of the wrong type with a validation problem keyed by the JSON path', async () => {
    const response = await put('typed-resource', { maxFileTransferSize: 'ten', useManifestFileShim: 'perhaps' });
    expect(response.status).toBe(400);
    expect(response.json.errors).toEqual({
      '$.maxFileTransferSize': ['The JSON value could not be converted to System.Nullable`1[System.Int64]. Path: $.maxFileTransferSize'],
      '$.useManifestFileShim': ['The JSON value could not be converted to System.Nullable`1[System.Boolean]. Path: $.useManifestFileShim'],
      resourceExt: ['The resourceExt field is required.'],
    });
    const malformed = await broker.call('PUT', '/resource/typed-resource', { token: broker.tokens.serviceOwner, json: '{"maxFileTransferSize":' });
    expect(Object.keys(malformed.json.errors)).toEqual(['$', 'resourceExt']);
    const notJson = await broker.call('PUT', '/resource/typed-resource', { token: broker.tokens.serviceOwner, body: 'maxFileTransferSize=1', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(notJson.status).toBe(415);
  });

  it('refuses a required party that is no organisation', async () => {
    const response = await put('party-resource', { requiredParty: '01017012345' });
    expect(response.status).toBe(400);
    expect(Object.keys(response.json.errors)).toEqual(['RequiredParty']);
  });

  it('applies a resource\'s maximum to uploads, and its required party to initialize (BRO-00026, 00027)', async () => {
    expect((await put('small-resource', { maxFileTransferSize: 4, requiredParty: party(ORGS.recipient) })).status).toBe(204);
    const id = await broker.initialize({ resourceId: 'small-resource' });
    const tooBig = await broker.upload(id, Buffer.from('12345'));
    expect(tooBig.json.code).toBe('BRO-00016');
    const twoRecipients = await broker.call('POST', '/filetransfer', {
      token: broker.tokens.sender,
      json: { resourceId: 'small-resource', fileName: 'x', sendersFileTransferReference: 'r', sender: party(ORGS.sender), recipients: [party(ORGS.recipient), party(ORGS.recipient2)] },
    });
    expect(twoRecipients.json.code).toBe('BRO-00027');
    const wrongRecipient = await broker.call('POST', '/filetransfer', {
      token: broker.tokens.sender,
      json: { resourceId: 'small-resource', fileName: 'x', sendersFileTransferReference: 'r', sender: party(ORGS.sender), recipients: [party(ORGS.recipient2)] },
    });
    expect(wrongRecipient.json.code).toBe('BRO-00026');
  });
});
