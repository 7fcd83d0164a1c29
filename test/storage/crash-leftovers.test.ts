/**
 * kill -9 of a real gateway process at several points of a streamed broker upload, a streamed
 * attachment of an encrypted service's message, and the signing of such messages; then a restart
 * whose start-up sweep (grace period 0) collects what the kills left. Proven: no plaintext of the
 * encrypted service on disk at any point, and after the sweep no orphan or partial file and no row
 * without its bytes. Runs on whichever database the suite runs on (the embedded one is durable:
 * src/storage/durable-pglite.ts).
 */
import { readFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { addApiKey } from '../../src/auth/api-keys';
import { issueLocalToken } from '../../src/auth/end-user-tokens';
import { BROKER_SCOPES, issueLocalOrganisationToken } from '../../src/auth/organisation-tokens';
import { setServiceEncryption } from '../../src/archive/add-service';
import { addCertificate } from '../../src/archive/certificates';
import { loadConfig } from '../../src/config';
import { readCertificate } from '../../src/crypto/certificate';
import { setServiceDefinition } from '../../src/messages/service-definitions';
import { createOwnerWithService, type OwnerWithService } from '../helpers/archive-fixtures';
import { ORGS, party } from '../helpers/broker';
import { createTestCertificates, type TestCertificates } from '../helpers/certificates';
import { createGatewayProcess, type GatewayProcess } from '../helpers/gateway-process';

const MiB = 1024 * 1024;
const PERSON = '01017012345';
/** What the encrypted service's attachments are made of: it must never be found on disk. */
const SECRET = Buffer.from('KLARTEKST-HEMMELIG-VEDLEGG-');

let gw: GatewayProcess;
let certs: TestCertificates;
let owner: OwnerWithService;
let apiKey: string;
let userToken: string;
let senderToken: string;

function secretBytes(size: number): Buffer {
  const bytes = Buffer.alloc(size);
  for (let i = 0; i < size; i += SECRET.length) SECRET.copy(bytes, i);
  return bytes;
}

async function rest(method: string, urlPath: string, body?: unknown): Promise<{ status: number; json: any; location: string | null }> {
  const response = await fetch(`${gw.url}${urlPath}`, {
    method,
    headers: { accept: 'application/hal+json', apikey: apiKey, authorization: `Bearer ${userToken}`, ...(body !== undefined && { 'content-type': 'application/hal+json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, json: text ? JSON.parse(text) : undefined, location: response.headers.get('location') };
}

/** Starts a request, sends `sent` bytes of a body of `total`, and never finishes it (the gateway is killed). */
function unfinishedRequest(urlPath: string, headers: Record<string, string>, total: number, sent: Buffer): http.ClientRequest {
  const request = http.request({ host: '127.0.0.1', port: gw.port, method: 'POST', path: urlPath, headers: { ...headers, 'content-length': total } });
  request.on('error', () => undefined); // the connection dies with the gateway
  request.write(sent);
  return request;
}

async function partialGrows(): Promise<boolean> {
  const tmp = path.join(gw.env.DATA_DIR!, 'blobs', 'tmp');
  const files = await readdir(tmp).catch(() => []);
  for (const file of files) if (readFileSync(path.join(tmp, file)).length > 0) return true;
  return false;
}

/** Files under the blob store holding the encrypted service's plaintext. */
async function plaintextFiles(): Promise<string[]> {
  const root = path.join(gw.env.DATA_DIR!, 'blobs');
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => path.join(entry.parentPath, entry.name))
    .filter((file) => readFileSync(file).includes(SECRET));
}

async function draftWithAttachment(size: number): Promise<string> {
  const created = await rest('POST', '/api/my/messages?complete=false', {
    Type: 'FormTask',
    ServiceCode: owner.serviceCode,
    ServiceEdition: owner.serviceEditionCode,
    _embedded: { forms: [{ Type: 'MainForm', DataFormatId: '5703', DataFormatVersion: '34114', FormData: '<Skjema><Felt>hemmelig</Felt></Skjema>' }] },
  });
  expect(created.status).toBe(201);
  const response = await fetch(`${created.location}/attachments/streamedattachment?fileName=data.bin&attachmentType=Stordata`, {
    method: 'POST',
    headers: { accept: 'application/hal+json', apikey: apiKey, authorization: `Bearer ${userToken}`, 'content-type': 'application/octet-stream' },
    body: secretBytes(size),
  });
  expect(response.status).toBe(201);
  return new URL(created.location!).pathname;
}

beforeAll(async () => {
  certs = createTestCertificates();
  gw = await createGatewayProcess();
  await gw.cli(['migrate']);
  await gw.cli(['broker', 'resource', 'set', '--resource', 'crash-sweep', '--owner', ORGS.serviceOwner]);
  await gw.inspect(async (app) => {
    owner = await createOwnerWithService(app);
    await setServiceDefinition(app.db, owner.serviceId, {
      mainForm: { dataFormatId: '5703', dataFormatVersions: [34114] },
      attachmentRules: [{ attachmentTypeName: 'Stordata', allowedMimeTypes: ['application/octet-stream'], maxFileSizeBytes: 200 * MiB, maxAttachmentCount: 3 }],
    });
    await addCertificate(app.db, { serviceOwnerId: owner.serviceOwnerId, certificate: readCertificate(readFileSync(certs.owner.certDer)) });
    await setServiceEncryption(app.db, { serviceOwnerId: owner.serviceOwnerId, serviceCode: owner.serviceCode, serviceEditionCode: owner.serviceEditionCode, encrypted: true });
    ({ key: apiKey } = await addApiKey(app.db, { name: 'crash-sweep' }));
  });
  const config = loadConfig(gw.env);
  userToken = await issueLocalToken(config.messages.jwt, gw.env.DATA_DIR!, { person: PERSON, authLevel: 4, ttlSeconds: 3600 });
  senderToken = await issueLocalOrganisationToken(config.messages.jwt, gw.env.DATA_DIR!, { orgNumber: ORGS.sender, scopes: [BROKER_SCOPES.write], ttlSeconds: 3600 });
}, 180_000);

afterEach(() => {
  const state = expect.getState();
  if (state.assertionCalls !== state.numPassingAsserts || process.env.CRASH_TEST_LOG) process.stderr.write(`gateway log:\n${gw.log}\n`);
});

afterAll(async () => {
  await gw?.close();
  certs?.remove();
});

it('leaves no plaintext of an encrypted service at any kill point, and the start-up sweep leaves no orphan, partial or row without bytes', async () => {
  const killPoints: string[] = [];

  // 1. A streamed broker upload, killed with 16 of 48 MiB written.
  await gw.start();
  const initialized = await fetch(`${gw.url}/broker/api/v1/filetransfer`, {
    method: 'POST',
    headers: { authorization: `Bearer ${senderToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ resourceId: 'crash-sweep', fileName: 'big.bin', sendersFileTransferReference: 'sweep', sender: party(ORGS.sender), recipients: [party(ORGS.recipient)] }),
  });
  expect(initialized.status).toBe(200);
  const { fileTransferId } = (await initialized.json()) as { fileTransferId: string };
  const upload = unfinishedRequest(`/broker/api/v1/filetransfer/${fileTransferId}/upload`, { authorization: `Bearer ${senderToken}`, 'content-type': 'application/octet-stream' }, 48 * MiB, Buffer.alloc(16 * MiB, 7));
  await gw.eventually(partialGrows, 'the broker upload being written');
  await gw.kill9();
  upload.destroy();
  killPoints.push('broker upload: 16 of 48 MiB sent');
  expect(await plaintextFiles()).toEqual([]);

  // 2. A streamed attachment of an encrypted service's message, killed with 16 of 48 MiB written.
  await gw.start();
  const draft = await draftWithAttachment(MiB);
  const attachment = unfinishedRequest(
    `${draft}/attachments/streamedattachment?fileName=stor.bin&attachmentType=Stordata`,
    { accept: 'application/hal+json', apikey: apiKey, authorization: `Bearer ${userToken}`, 'content-type': 'application/octet-stream' },
    48 * MiB,
    secretBytes(16 * MiB),
  );
  await gw.eventually(partialGrows, 'the streamed attachment being written');
  await gw.kill9();
  attachment.destroy();
  killPoints.push('streamed attachment of an encrypted message: 16 of 48 MiB sent');
  expect(await plaintextFiles()).toEqual([]);

  // 3. Signing an encrypted message (8 MiB staged), killed 0, 10, 40, 150 and 600 ms after the request left.
  for (const delayMs of [0, 10, 40, 150, 600]) {
    await gw.start();
    const message = await draftWithAttachment(8 * MiB);
    const signing = fetch(`${gw.url}${message}`, {
      method: 'PUT',
      headers: { accept: 'application/hal+json', apikey: apiKey, authorization: `Bearer ${userToken}`, 'content-type': 'application/hal+json' },
      body: '{}',
    }).then((r) => r.status, () => 'killed');
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    await gw.kill9();
    killPoints.push(`signing an encrypted message, ${delayMs} ms in: ${await signing}`);
    expect(await plaintextFiles()).toEqual([]);
  }

  // Leftovers before the sweep.
  const before = await gw.blobFiles();
  expect(before.partials.length).toBeGreaterThan(0);

  // 4. Restart with a grace period of 0: the start-up sweep collects everything unreferenced.
  gw.env.STORAGE_GC_GRACE_SECONDS = '0';
  gw.log = '';
  await gw.start();
  await gw.eventually(async () => /"msg":"Removed \d+ files/.test(gw.log), 'the start-up sweep');
  const sweptLine = JSON.parse(gw.log.split('\n').find((line) => /"msg":"Removed \d+ files/.test(line))!);
  await gw.kill9();
  delete gw.env.STORAGE_GC_GRACE_SECONDS;
  process.stderr.write(`crash sweep: kill points ${JSON.stringify(killPoints)}; ${sweptLine.msg}\n`);
  // The attachment's partial at least (the broker's own restart deletes its dead attempt's bytes).
  expect(sweptLine.removed.partials.files).toBeGreaterThanOrEqual(1);

  const after = await gw.blobFiles();
  expect(after.partials).toEqual([]);
  const referenced = (
    await gw.rows<{ key: string }>(
      `SELECT blob_key AS key FROM attachments UNION SELECT blob_key FROM message_attachments
       UNION SELECT blob_key FROM broker_file_transfers WHERE blob_key IS NOT NULL UNION SELECT blob_key FROM broker_uploads WHERE blob_key IS NOT NULL`,
    )
  ).map((row) => row.key);
  // No orphan, and no row without its bytes.
  expect(after.blobs).toEqual([...new Set(referenced)].sort());
  expect(await plaintextFiles()).toEqual([]);
  // Every signed message is either archived whole or still a draft with all its attachments.
  const messages = await gw.rows<{ status: string; drafts: number; archived: number }>(
    `SELECT m.status, (SELECT count(*) FROM message_attachments a WHERE a.message_id = m.id)::int AS drafts,
            (SELECT count(*) FROM attachments a WHERE a.form_task_id = m.form_task_id)::int AS archived
       FROM messages m JOIN services s ON s.id = m.service_id WHERE s.id = ?`,
    [owner.serviceId],
  );
  for (const message of messages) {
    if (message.status === 'Sendt og arkivert') expect(message).toMatchObject({ drafts: 0, archived: 1 });
    else expect(message.archived).toBe(0);
  }
}, 600_000);
