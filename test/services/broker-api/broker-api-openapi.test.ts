/**
 * The Altinn 3 door in the gateway's one OpenAPI document (/api/openapi.json) and the Swagger UI
 * (/api/help), beside the messages API: every route, its tag, its token, and its streamed bodies
 * documented as binary; SOAP, health and metrics left out.
 */
import { startBrokerTestServer, type BrokerTestServer } from '../../helpers/broker';

let broker: BrokerTestServer;
let document: any;
beforeAll(async () => {
  broker = await startBrokerTestServer();
  const response = await fetch(`${broker.url}/api/openapi.json`);
  expect(response.status).toBe(200);
  document = await response.json();
});
afterAll(() => broker?.close());

const P = '/broker/api/v1';

it('documents every file transfer and resource route, tagged, with the organisation token', () => {
  const operations: [string, string, string][] = [
    ['post', `${P}/filetransfer`, 'broker: file transfers'],
    ['get', `${P}/filetransfer`, 'broker: file transfers'],
    ['post', `${P}/filetransfer/upload`, 'broker: file transfers'],
    ['get', `${P}/filetransfer/{fileTransferId}`, 'broker: file transfers'],
    ['get', `${P}/filetransfer/{fileTransferId}/details`, 'broker: file transfers'],
    ['post', `${P}/filetransfer/{fileTransferId}/upload`, 'broker: file transfers'],
    ['get', `${P}/filetransfer/{fileTransferId}/download`, 'broker: file transfers'],
    ['post', `${P}/filetransfer/{fileTransferId}/confirmdownload`, 'broker: file transfers'],
    ['put', `${P}/resource/{resourceId}`, 'broker: resources'],
    ['get', `${P}/resource/{resourceId}`, 'broker: resources'],
  ];
  for (const [method, path, tag] of operations) {
    const operation = document.paths[path]?.[method];
    expect({ route: `${method} ${path}`, documented: operation !== undefined }).toEqual({ route: `${method} ${path}`, documented: true });
    expect(operation.tags).toEqual([tag]);
    expect(operation.security).toEqual([{ OrganisationToken: [] }]);
  }
  expect(document.tags.map((tag: any) => tag.name)).toEqual(expect.arrayContaining(['broker: file transfers', 'broker: resources', 'messages']));
  expect(document.components.securitySchemes.OrganisationToken).toMatchObject({ type: 'http', scheme: 'bearer' });
  expect(document.info.description).toContain('altinn-gateway token --org 991825827 --scope "altinn:broker.write altinn:broker.read"');
  // The messages API is still there, with its own security.
  expect(document.paths['/api/{who}/messages']).toBeDefined();
  expect(document.security).toEqual([{ ApiKey: [], Bearer: [] }]);
});

it('documents the streamed bodies as binary and the JSON ones with their members and limits', () => {
  expect(document.paths[`${P}/filetransfer/{fileTransferId}/upload`].post.requestBody.content).toEqual({
    'application/octet-stream': { schema: { type: 'string', format: 'binary' } },
  });
  const multipart = document.paths[`${P}/filetransfer/upload`].post.requestBody.content['multipart/form-data'].schema;
  expect(multipart.properties.FileTransfer).toEqual({ type: 'string', format: 'binary' });
  expect(Object.keys(multipart.properties)).toEqual(expect.arrayContaining(['Metadata.FileName', 'Metadata.Recipients', 'Metadata.Sender']));
  const initialize = document.paths[`${P}/filetransfer`].post.requestBody.content['application/json'].schema;
  expect(initialize.properties.fileName).toMatchObject({ type: 'string', minLength: 1, maxLength: 255 });
  expect(initialize.required).toEqual(['fileName', 'resourceId', 'sendersFileTransferReference', 'sender', 'recipients']);
  const download = document.paths[`${P}/filetransfer/{fileTransferId}/download`].get;
  expect(download.responses['206'].content['application/octet-stream'].schema).toEqual({ type: 'string', format: 'binary' });
  expect(download.responses['416'].content['application/problem+json']).toBeDefined();
  const overview = document.paths[`${P}/filetransfer/{fileTransferId}`].get.responses['200'].content['application/json'].schema;
  expect(Object.keys(overview.properties).at(-1)).toBe('published');
});

it('leaves out SOAP, health, metrics and the help pages', () => {
  const paths = Object.keys(document.paths);
  expect(paths.every((path) => path.startsWith('/api/') || path.startsWith(`${P}/`))).toBe(true);
  expect(paths).not.toContain(`${P}/health`);
  expect(paths.some((path) => path.startsWith('/api/help'))).toBe(false);
});

it('serves the Swagger UI at /api/help with the same document', async () => {
  const help = await fetch(`${broker.url}/api/help`);
  expect(help.status).toBe(200);
  expect(await help.text()).toContain('swagger-ui');
  const uiDocument = await fetch(`${broker.url}/api/help/json`);
  expect(((await uiDocument.json()) as any).paths).toEqual(document.paths);
});
