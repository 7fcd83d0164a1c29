/** The demo seed: what `npm start` puts into an empty embedded database, read back through the archive. */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { presentFormData } from '../../src/archive/form-data';
import { getFormTask } from '../../src/archive/get-form-task';
import { listQueue } from '../../src/archive/list-queue';
import { findServiceOwnerByOrg } from '../../src/archive/add-service-owner';
import { findApiClientByKey } from '../../src/auth/api-keys';
import { hasRole } from '../../src/auth/roles';
import { formatDemoInstructions } from '../../src/demo/instructions';
import { DEMO, findDemo, isDemoNeeded, seedDemo, type DemoInfo } from '../../src/demo/seed';
import { createTestApp, type TestApp } from '../helpers/database';

let app: TestApp;
let demo: DemoInfo;
let serviceOwnerId: number;

beforeAll(async () => {
  app = await createTestApp();
  expect(await isDemoNeeded(app)).toBe(true);
  demo = await seedDemo(app);
  serviceOwnerId = (await findServiceOwnerByOrg(app.db, DEMO.orgNumber))!.serviceOwnerId;
});
afterAll(() => app.close());

async function blobBytes(key: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of app.blobs.open(key) as Readable) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('seedDemo', () => {
  it('creates the documented owner, system user and service, and is then no longer needed', async () => {
    expect(await isDemoNeeded(app)).toBe(false);
    await expect(app.authenticator.authenticate('demo', 'demo-password-123', '127.0.0.1')).resolves.toMatchObject({ serviceOwnerId });
    const service = await app.db('services').where({ service_owner_id: serviceOwnerId }).first();
    expect(service).toMatchObject({ service_code: '4711', service_edition_code: 1, name: 'Demo-skjema', download_queue: true });
    await expect(findDemo(app)).resolves.toMatchObject({ orgNumber: '910000001', systemUserName: 'demo' });
  });

  it('queues five tasks, oldest first, in the past', async () => {
    expect(demo.archiveReferences).toHaveLength(5);
    const queue = await listQueue(app, { serviceOwnerId, limit: 500 });
    expect(queue.map((item) => item.archiveReference)).toEqual(demo.archiveReferences);
    const times = queue.map((item) => item.archivedAt.getTime());
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    expect(Math.max(...times)).toBeLessThan(Date.now());
    expect(new Set(queue.map((item) => item.reporteeType))).toEqual(new Set(['Organisation', 'Person', 'Selfregistereduser']));
    expect(queue.filter((item) => item.shipmentMetadata !== null).length).toBeGreaterThanOrEqual(2);
  });

  it('has a sub form, InfoPath my: fields hidden unless includeXmlNamespace, and several security levels', async () => {
    const tasks = await Promise.all(demo.archiveReferences.map((archiveReference) => getFormTask(app, { serviceOwnerId, archiveReference })));
    const withSubForm = tasks.find((task) => task.forms.some((form) => form.parentReference !== null))!;
    expect(withSubForm.forms[1]!.parentReference).toBe(withSubForm.forms[0]!.reference);

    const infoPath = tasks.flatMap((task) => task.forms).find((form) => form.formData.includes('xmlns:my='))!;
    expect(presentFormData(infoPath.formData, true)).toContain('<my:Egenandel>');
    const stripped = presentFormData(infoPath.formData, false);
    expect(stripped).not.toContain('my:');
    expect(stripped).toContain('<Tiltak>');

    const levels = new Set(tasks.flatMap((task) => task.approvers.map((a) => a.securityLevel)));
    expect(levels.size).toBeGreaterThanOrEqual(4);
  });

  it('stores real PDF, PNG and text attachments whose bytes match their recorded sha256', async () => {
    const attachments = (await Promise.all(demo.archiveReferences.map((archiveReference) => getFormTask(app, { serviceOwnerId, archiveReference })))).flatMap(
      (task) => task.attachments,
    );
    const byType = new Map(attachments.map((a) => [a.attachmentType, a]));
    const pdf = await blobBytes(byType.get('application_pdf')!.blobKey);
    expect(pdf.subarray(0, 5).toString('latin1')).toBe('%PDF-');
    expect(pdf.subarray(-6).toString('latin1')).toContain('%%EOF');
    const png = await blobBytes(byType.get('image_png')!.blobKey);
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    const text = await blobBytes(byType.get('text_plain')!.blobKey);
    expect(text.toString('utf8')).toMatch(/æ|ø|å/);
    expect(text.subarray(-2).toString('latin1')).toBe('\r\n');

    for (const attachment of attachments) {
      const bytes = await blobBytes(attachment.blobKey);
      expect(bytes.length).toBe(attachment.sizeBytes);
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(attachment.sha256);
    }
  });

  it('creates the REST API client, whose key is returned once, and a role for the demo person', async () => {
    expect(demo.apiKey).toMatch(/^agw_[\w-]{43}$/);
    await expect(findApiClientByKey(app.db, demo.apiKey!)).resolves.toMatchObject({ name: 'Demo-fagsystem', revokedAt: null });
    expect(await hasRole(app.db, '01017012345', '910000001')).toBe(true);
    const later = await findDemo(app);
    expect(later).toMatchObject({ apiClientName: 'Demo-fagsystem', person: '01017012345' });
    expect(later!.apiKey).toBeUndefined();
  });

  it('a second seed fails cleanly on the existing demo owner', async () => {
    await expect(seedDemo(app)).rejects.toThrow('A service owner with organisation number 910000001 already exists');
  });
});

describe('formatDemoInstructions', () => {
  it('gives reachable URLs, the credentials and a SOAP 1.1 curl command', () => {
    const text = formatDemoInstructions(demo, 'http://0.0.0.0:8080', { dataDir: '/srv/data' });
    expect(text).toContain('http://localhost:8080/ArchiveExternal/DownloadQueueExternalBasic.svc?wsdl');
    expect(text).toContain('http://localhost:8080/ArchiveExternal/ServiceOwnerArchiveExternalStreamedBasic.svc?wsdl');
    expect(text).toContain('demo-password-123');
    expect(text).toContain(`-H 'SOAPAction: "http://www.altinn.no/services/Archive/DownloadQueue/2012/08/IDownloadQueueExternalBasic/GetDownloadQueueItems"'`);
    expect(text).toContain("-H 'Content-Type: text/xml; charset=utf-8'");
    expect(text).toMatch(/--data-binary '<s:Envelope xmlns:s="http:\/\/schemas\.xmlsoap\.org\/soap\/envelope\/">.*<systemUserName>demo<\/systemUserName>.*<\/s:Envelope>'/);
  });

  it('prints the API key once and paste-ready REST commands with a token from the local issuer', () => {
    const text = formatDemoInstructions(demo, 'http://0.0.0.0:8080', { dataDir: "/srv/o'data" });
    expect(text).toContain(`KEY='${demo.apiKey!}'`);
    expect(text).toContain(`TOKEN=$(DATA_DIR='/srv/o'\\''data' npx altinn-gateway token --person 01017012345 --level 4)`);
    expect(text).toContain('curl -sS -H "ApiKey: $KEY" -H "Authorization: Bearer $TOKEN" http://localhost:8080/api/my/messages\n');
    const body = /--data-binary '(\{.*\})'$/m.exec(text)![1]!;
    expect(JSON.parse(body)).toMatchObject({
      Type: 'FormTask',
      ServiceCode: '4711',
      ServiceEdition: 1,
      _embedded: { forms: [{ Type: 'MainForm', DataFormatId: '5703', DataFormatVersion: 34114, FormData: expect.stringMatching(/^<Skjema .*<\/Skjema>$/) }] },
    });
  });

  it('on later starts says where the key went, and with an external issuer asks for its token', () => {
    const text = formatDemoInstructions({ ...demo, apiKey: undefined }, 'http://localhost:8080', {
      dataDir: '/srv/data',
      jwksUrl: 'https://issuer.example/jwks',
    });
    expect(text).not.toContain(demo.apiKey!);
    expect(text).toContain('printed at the first start (only its hash is stored)');
    expect(text).toContain('altinn-gateway apikey add --name');
    expect(text).toContain("KEY='paste the key here'");
    expect(text).toContain('JWT_JWKS_URL is set');
    expect(text).not.toContain('npx altinn-gateway token');
  });
});
