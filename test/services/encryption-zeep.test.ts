/**
 * An encrypted task fetched by python3-zeep generated from Altinn's REFERENCE WSDL (only the
 * address changed), then decrypted with the owner's key by the OpenSSL command line: the forms
 * and the attachment match the originals by sha256. Needs /usr/bin/python3 with python3-zeep.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { setServiceEncryption } from '../../src/archive/add-service';
import { archiveFormTasks } from '../../src/archive/archive-form-tasks';
import { addCertificate } from '../../src/archive/certificates';
import { readCertificate } from '../../src/crypto/certificate';
import { newTask, bytesAttachment } from '../helpers/archive-fixtures';
import { createTestCertificates, opensslDecryptAttachment, opensslUnwrap, xmlsecDecrypt, type TestCertificates } from '../helpers/certificates';
import { createSoapOwner } from '../helpers/fixtures';
import { startTestServer, type TestServer } from '../helpers/server';
import { sha256 } from '../helpers/soap-client';

const REFERENCE_WSDL = path.resolve(__dirname, '../../../shared/reference/altinn2/DownloadQueueExternalBasic.wsdl');

// Prints the task as JSON: binary members base64, FormData as text.
const ZEEP_FETCH = `
import base64, json, sys, zeep
wsdl, address, user, password, reference = sys.argv[1:6]
client = zeep.Client(wsdl)
service = client.create_service('{http://www.altinn.no/services/Archive/DownloadQueue/2012/08}BasicHttpBinding_IDownloadQueueExternalBasic', address)
task = service.GetArchivedFormTaskBasicDQ(systemUserName=user, systemPassword=password, archiveReference=reference)
b64 = lambda data: None if data is None else base64.b64encode(data).decode()
print(json.dumps({
  'thumbprint': task.SOEncryptedSymmetricKey.CertificateThumbprint,
  'encryptedKey': b64(task.SOEncryptedSymmetricKey.EncryptedKey),
  'forms': [f.FormData for f in task.Forms.ArchivedFormDQBE],
  'attachments': [{'isEncrypted': a.IsEncrypted, 'data': b64(a.AttachmentData)} for a in task.Attachments.ArchivedAttachmentDQBE],
}))
`;

let server: TestServer;
let certs: TestCertificates;
beforeAll(async () => {
  certs = createTestCertificates();
  server = await startTestServer();
});
afterAll(async () => {
  await server.close();
  certs.remove();
});

it('zeep from the reference WSDL receives a task the owner decrypts to the originals', async () => {
  const owner = await createSoapOwner(server.app);
  await setServiceEncryption(server.app.db, { ...owner, encrypted: true });
  await addCertificate(server.app.db, { serviceOwnerId: owner.serviceOwnerId, certificate: readCertificate(readFileSync(certs.owner.certPem)) });
  const formData = '<Skjema xmlns="urn:s"><Felt>zeep-hemmelig</Felt></Skjema>';
  const attachment = Buffer.from('vedlegg som ender med CRLF\r\n');
  const [task] = await archiveFormTasks(server.app, owner.serviceOwnerId, [
    newTask(owner, { forms: [{ dataFormatId: '1', dataFormatVersion: 1, formData }], attachments: [bytesAttachment('v.txt', attachment)] }),
  ]);

  // Asynchronously: the server answering zeep runs in this process.
  const { stdout: output } = await promisify(execFile)('/usr/bin/python3', [
    '-c',
    ZEEP_FETCH,
    REFERENCE_WSDL,
    `${server.url}/ArchiveExternal/DownloadQueueExternalBasic.svc`,
    owner.userName,
    owner.password,
    task!.archiveReference,
  ]);
  const received = JSON.parse(output) as { thumbprint: string; encryptedKey: string; forms: string[]; attachments: { isEncrypted: boolean; data: string }[] };

  expect(received.thumbprint).toBe(certs.owner.thumbprint);
  const blob = opensslUnwrap(Buffer.from(received.encryptedKey, 'base64'), certs.owner.keyPem);
  expect(blob).toHaveLength(32);
  expect(received.attachments[0]!.isEncrypted).toBe(true);
  expect(sha256(opensslDecryptAttachment(Buffer.from(received.attachments[0]!.data, 'base64'), blob))).toBe(sha256(attachment));
  expect(xmlsecDecrypt(received.forms[0]!, certs.owner.keyPem, certs.dir).trim()).toBe(`<?xml version="1.0"?>\n${formData}`);
});
