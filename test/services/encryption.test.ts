/**
 * Service-owner encryption end to end, over real HTTP against a real database: what an encrypted
 * service's tasks look like on the wire, checked with independent tools (openssl pkeyutl/enc,
 * xmlsec1) and with our own decrypt library on saved responses; that neither the database nor the
 * blob store holds plaintext; per-field encryption for a service with sensitive fields;
 * certificate rotation; refusals that leave nothing behind; and content the submitter encrypted
 * itself.
 */
import { readdir, readFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setServiceEncryption } from '../../src/archive/add-service';
import { archiveFormTasks, type NewFormTask } from '../../src/archive/archive-form-tasks';
import { addCertificate, retireCertificate } from '../../src/archive/certificates';
import { parseImportFile } from '../../src/archive/import-file';
import { readCertificate } from '../../src/crypto/certificate';
import { decryptAttachmentFile, decryptFormTaskResponse } from '../../src/crypto/decrypt-delivery';
import { readPrivateKey } from '../../src/crypto/private-key';
import { newSymmetricKey, wrapKey } from '../../src/crypto/symmetric-key';
import { attachmentEncryptor } from '../../src/crypto/attachment-cipher';
import { main } from '../../src/cli/main';
import { childElements } from '../../src/xml/parser';
import { CapturedOutput } from '../helpers/cli-runner';
import { bytesAttachment, countArchiveRows, listBlobFiles, newTask } from '../helpers/archive-fixtures';
import { createTestCertificates, opensslDecryptAttachment, opensslUnwrap, xmlsecDecrypt, type TestCertificates } from '../helpers/certificates';
import { createSoapOwner, generatedAttachment, generatedSha256, type SoapOwner } from '../helpers/fixtures';
import { startTestServer, type TestServer } from '../helpers/server';
import {
  altinnFaultOf,
  binaryOf,
  child,
  children,
  DQ_ACTION,
  DQ_PATH,
  envelope11,
  isNilElement,
  NS,
  operationXml,
  parseSoapResponse,
  post,
  sha256,
  STREAMED_ACTION,
  STREAMED_PATH,
  text,
  type RawResponse,
  type SoapResult,
} from '../helpers/soap-client';

const INLINE_LIMIT = 64 * 1024; // lowered so that one attachment goes through the streamed service
const FORM_MARKER = 'FORM-PLAINTEXT-MARKER-7f3a';
const ATTACHMENT_MARKER = 'ATTACHMENT-PLAINTEXT-MARKER-91c2';
const CONTROL_MARKER = 'CLEAR-CONTROL-MARKER-55d0';

const FORM_DATA = `<?xml version="1.0" encoding="utf-8"?>\n<Skjema xmlns="urn:skjema"><Navn>Blåbær</Navn><Hemmelig>${FORM_MARKER}</Hemmelig></Skjema>`;
const SMALL_ATTACHMENT = Buffer.from(`%PDF-1.4 ${ATTACHMENT_MARKER} slutt\r\n`);
const LARGE_SIZE = 200 * 1024 + 7;

let server: TestServer;
let certs: TestCertificates;
let workDir: string;

beforeAll(async () => {
  certs = createTestCertificates();
  workDir = await mkdtemp(path.join(tmpdir(), 'agw-encryption-'));
  server = await startTestServer({ inlineAttachmentMaxBytes: INLINE_LIMIT });
});
afterAll(async () => {
  await server.close();
  certs.remove();
  await rm(workDir, { recursive: true, force: true });
});

/** A SOAP owner whose service is encrypted, with `certFile` registered as current (unless null). */
async function encryptedOwner(certFile: string | null = certs.owner.certPem): Promise<SoapOwner> {
  const owner = await createSoapOwner(server.app);
  await setServiceEncryption(server.app.db, { ...owner, encrypted: true });
  if (certFile) await addCertificate(server.app.db, { serviceOwnerId: owner.serviceOwnerId, certificate: readCertificate(readFileSync(certFile)) });
  return owner;
}

function sensitiveTask(owner: SoapOwner, overrides: Partial<NewFormTask> = {}): NewFormTask {
  return newTask(owner, {
    forms: [{ dataFormatId: '5703', dataFormatVersion: 34114, formData: FORM_DATA }],
    attachments: [bytesAttachment('vedlegg.pdf', SMALL_ATTACHMENT, 'application_pdf'), generatedAttachment('stor.bin', LARGE_SIZE, 3)],
    ...overrides,
  });
}

async function rawCall(soapPath: string, action: string, bodyXml: string): Promise<RawResponse> {
  return post(server.url + soapPath, envelope11(bodyXml), { 'content-type': 'text/xml; charset=utf-8', soapaction: `"${action}"` });
}

async function getTaskRaw(owner: SoapOwner, archiveReference: string): Promise<RawResponse> {
  return rawCall(
    DQ_PATH,
    DQ_ACTION('GetArchivedFormTaskBasicDQ'),
    operationXml('GetArchivedFormTaskBasicDQ', { systemUserName: owner.userName, systemPassword: owner.password, archiveReference }),
  );
}

async function getTask(owner: SoapOwner, archiveReference: string): Promise<{ result: SoapResult; task: ReturnType<typeof child> }> {
  const result = parseSoapResponse(await getTaskRaw(owner, archiveReference));
  expect(result.status).toBe(200);
  return { result, task: child(result.bodyElement, 'GetArchivedFormTaskBasicDQResult') };
}

async function getStreamedRaw(owner: SoapOwner, attachmentId: number): Promise<RawResponse> {
  return rawCall(
    STREAMED_PATH,
    STREAMED_ACTION,
    operationXml('GetAttachmentDataStreamedBasic', { systemUserName: owner.userName, systemPassword: owner.password, attachmentId }, NS.so),
  );
}

function encryptedKeyOf(task: ReturnType<typeof child>): { thumbprint: string; encryptedKey: Buffer } {
  const key = child(task, 'SOEncryptedSymmetricKey', NS.ra);
  return { thumbprint: text(key, 'CertificateThumbprint'), encryptedKey: Buffer.from(text(key, 'EncryptedKey'), 'base64') };
}

describe('an encrypted service', () => {
  let owner: SoapOwner;
  let archiveReference: string;
  let attachmentIds: number[];
  beforeAll(async () => {
    owner = await encryptedOwner();
    const [task] = await archiveFormTasks(server.app, owner.serviceOwnerId, [sensitiveTask(owner)]);
    ({ archiveReference, attachmentIds } = task!);
  });

  it('delivers SOEncryptedSymmetricKey, ciphertext and EncryptedData that openssl and xmlsec1 decrypt to the originals', async () => {
    const { result, task } = await getTask(owner, archiveReference);

    const keyElement = child(task, 'SOEncryptedSymmetricKey', NS.ra);
    expect(childElements(keyElement).map((c) => [c.ns, c.local])).toEqual([
      [NS.dq, 'CertificateThumbprint'],
      [NS.dq, 'EncryptedKey'],
    ]);
    const { thumbprint, encryptedKey } = encryptedKeyOf(task);
    expect(thumbprint).toBe(certs.owner.thumbprint);
    const blob = opensslUnwrap(encryptedKey, certs.owner.keyPem);
    expect(blob).toHaveLength(32);

    const [small, large] = children(child(task, 'Attachments'), 'ArchivedAttachmentDQBE');
    expect(text(small!, 'IsEncrypted')).toBe('true');
    expect(text(large!, 'IsEncrypted')).toBe('true');
    const smallCiphertext = binaryOf(result, child(small!, 'AttachmentData'))!;
    expect(smallCiphertext.includes(ATTACHMENT_MARKER)).toBe(false);
    expect(opensslDecryptAttachment(smallCiphertext, blob).equals(SMALL_ATTACHMENT)).toBe(true);

    // Over the inline limit: nil here, ciphertext from the streamed service.
    expect(isNilElement(child(large!, 'AttachmentData'))).toBe(true);
    expect(text(task, 'AttachmentsInResponse')).toBe('1');
    const streamed = parseSoapResponse(await getStreamedRaw(owner, attachmentIds[1]!));
    const largeCiphertext = binaryOf(streamed, child(streamed.bodyElement, 'GetAttachmentDataStreamedBasicResult'))!;
    expect(largeCiphertext.length).toBe((Math.floor(LARGE_SIZE / 16) + 1) * 16);
    expect(sha256(opensslDecryptAttachment(largeCiphertext, blob))).toBe(generatedSha256(LARGE_SIZE, 3));

    const formData = text(child(child(task, 'Forms'), 'ArchivedFormDQBE'), 'FormData');
    expect(formData).not.toContain(FORM_MARKER);
    expect(formData.startsWith('<?xml version="1.0" encoding="utf-8"?>\n<xenc:EncryptedData ')).toBe(true);
    const decrypted = xmlsecDecrypt(formData, certs.owner.keyPem, workDir);
    expect(decrypted).toContain(`<Skjema xmlns="urn:skjema"><Navn>Blåbær</Navn><Hemmelig>${FORM_MARKER}</Hemmelig></Skjema>`);
  });

  it('a saved response (MTOM, boundary read from the file or given) and a saved streamed attachment decrypt with the library', async () => {
    const raw = await getTaskRaw(owner, archiveReference);
    const saved = path.join(workDir, 'response.mime');
    await writeFile(saved, raw.body);
    const privateKey = readPrivateKey(readFileSync(certs.owner.p12), { passphrase: certs.owner.p12Passphrase });

    for (const contentType of [undefined, raw.headers.get('content-type')!]) {
      const outDir = path.join(workDir, `out-${contentType ? 'given' : 'sniffed'}`);
      const decrypted = await decryptFormTaskResponse(saved, { privateKey, outDir, contentType });
      expect(decrypted.archiveReference).toBe(archiveReference);
      expect(decrypted.certificateThumbprint).toBe(certs.owner.thumbprint);
      const [form, attachment] = decrypted.files;
      expect(await readFile(form!.path, 'utf8')).toBe(FORM_DATA);
      expect(attachment!.sha256).toBe(sha256(SMALL_ATTACHMENT));
      expect(path.relative(outDir, attachment!.path)).toBe(path.join('attachments', `${attachmentIds[0]}-vedlegg.pdf`));
      expect(decrypted.skipped.map((s) => s.attachmentId)).toEqual([attachmentIds[1]]);
    }

    const wrongKey = readPrivateKey(readFileSync(certs.next.keyPem));
    await expect(decryptFormTaskResponse(saved, { privateKey: wrongKey, outDir: path.join(workDir, 'out-wrong') })).rejects.toThrow(
      `The encrypted key cannot be decrypted with this private key (wrapped under another certificate?); the task's key is wrapped under certificate ${certs.owner.thumbprint}`,
    );

    const { encryptedKey } = encryptedKeyOf((await getTask(owner, archiveReference)).task);
    const streamedFile = path.join(workDir, 'streamed.mime');
    await writeFile(streamedFile, (await getStreamedRaw(owner, attachmentIds[1]!)).body);
    const written = await decryptAttachmentFile(streamedFile, { privateKey, encryptedKey, outFile: path.join(workDir, 'stor.bin') });
    expect(written.sha256).toBe(generatedSha256(LARGE_SIZE, 3));
  });

  it('refuses GetFormSetPdfBasic with an AltinnFault saying the content is encrypted', async () => {
    const result = parseSoapResponse(
      await rawCall(
        DQ_PATH,
        DQ_ACTION('GetFormSetPdfBasic'),
        operationXml('GetFormSetPdfBasic', { systemName: owner.userName, systemPassword: owner.password, archiveReference, languageId: 1044 }),
      ),
    );
    expect(result.status).toBe(500);
    expect(result.parts.size).toBe(0);
    const fault = altinnFaultOf(result)!;
    expect(fault.errorId).toBe(0);
    expect(fault.message).toMatch(new RegExp(`^The content of ${archiveReference} is encrypted for the service owner`));
  });

  it('leaves no plaintext of the form data or attachments in the database or the blob store', async () => {
    // The control task is archived in clear: the scan must find its marker, or it proves nothing.
    const clearOwner = await createSoapOwner(server.app);
    await archiveFormTasks(server.app, clearOwner.serviceOwnerId, [
      newTask(clearOwner, {
        forms: [{ dataFormatId: '1', dataFormatVersion: 1, formData: `<S>${CONTROL_MARKER}</S>` }],
        attachments: [bytesAttachment('klar.txt', Buffer.from(CONTROL_MARKER))],
      }),
    ]);
    const databaseText = await allTableText();
    const blobBytes = await allBlobBytes();
    expect(databaseText).toContain(CONTROL_MARKER);
    expect(blobBytes.includes(CONTROL_MARKER)).toBe(true);
    for (const marker of [FORM_MARKER, ATTACHMENT_MARKER]) {
      expect(databaseText).not.toContain(marker);
      expect(databaseText).not.toContain(Buffer.from(marker).toString('hex'));
      expect(blobBytes.includes(marker)).toBe(false);
    }
    // And no hash of the plaintext that would let a guess be confirmed.
    expect(databaseText).not.toContain(sha256(SMALL_ATTACHMENT));
  });
});

describe('an encrypted service with sensitive fields', () => {
  const SENSITIVE = ['SENSITIVE-FNR-MARKER-4d1e', 'SENSITIVE-ACCOUNT-MARKER-a90b'];
  const CLEAR_PART = 'NON-SENSITIVE-MARKER-c3f8';
  const fieldForm =
    '<?xml version="1.0" encoding="utf-8"?>\n<Skjema xmlns="urn:skjema"><Innsender><Navn>' + CLEAR_PART + '</Navn>' +
    `<Fodselsnummer>${SENSITIVE[0]}</Fodselsnummer></Innsender><Betaling><Kontonummer>${SENSITIVE[1]}</Kontonummer><Belop>12,50</Belop></Betaling></Skjema>`;
  let owner: SoapOwner;
  let archiveReference: string;
  beforeAll(async () => {
    owner = await encryptedOwner();
    await setServiceEncryption(server.app.db, { ...owner, encrypted: true, sensitiveFields: ['Skjema/Innsender/Fodselsnummer', 'Kontonummer'] });
    const [task] = await archiveFormTasks(server.app, owner.serviceOwnerId, [
      sensitiveTask(owner, { forms: [{ dataFormatId: '5703', dataFormatVersion: 34114, formData: fieldForm }], attachments: [bytesAttachment('vedlegg.pdf', SMALL_ATTACHMENT)] }),
    ]);
    ({ archiveReference } = task!);
  });

  it('delivers the form in clear except each sensitive field, which xmlsec1 decrypts in place', async () => {
    const { task } = await getTask(owner, archiveReference);
    expect(encryptedKeyOf(task).thumbprint).toBe(certs.owner.thumbprint);
    const formData = text(child(child(task, 'Forms'), 'ArchivedFormDQBE'), 'FormData');
    expect(formData.startsWith('<?xml version="1.0" encoding="utf-8"?>\n<Skjema xmlns="urn:skjema"><Innsender><Navn>' + CLEAR_PART + '</Navn><xenc:EncryptedData ')).toBe(true);
    expect(formData).toContain('<Belop>12,50</Belop>');
    expect(formData.match(/<xenc:EncryptedData /g)).toHaveLength(2);
    for (const marker of SENSITIVE) expect(formData).not.toContain(marker);
    const once = xmlsecDecrypt(formData, certs.owner.keyPem, workDir);
    expect(once).toContain(`<Innsender><Navn>${CLEAR_PART}</Navn><Fodselsnummer>${SENSITIVE[0]}</Fodselsnummer></Innsender>`);
    expect(xmlsecDecrypt(once, certs.owner.keyPem, workDir)).toContain(fieldForm.slice(fieldForm.indexOf('<Skjema')));
  });

  it('the decrypt command restores the whole form byte for byte from a saved response', async () => {
    const saved = path.join(workDir, 'fields-response.mime');
    await writeFile(saved, (await getTaskRaw(owner, archiveReference)).body);
    const outDir = path.join(workDir, 'fields-out');
    const stdout = new CapturedOutput();
    const stderr = new CapturedOutput();
    const code = await main(['decrypt', saved, '--key', certs.owner.keyPem, '--out', outDir], { stdin: Readable.from([]), stdout, stderr, env: { LOG_LEVEL: 'silent' } });
    expect({ code, stderr: stderr.text }).toEqual({ code: 0, stderr: '' });
    const forms = await readdir(path.join(outDir, 'forms'));
    expect(forms).toHaveLength(1);
    expect(await readFile(path.join(outDir, 'forms', forms[0]!), 'utf8')).toBe(fieldForm);
  });

  it('leaves the sensitive values, and only those, out of the database and the blob store', async () => {
    const databaseText = await allTableText();
    const blobBytes = await allBlobBytes();
    expect(databaseText).toContain(CLEAR_PART);
    for (const marker of SENSITIVE) {
      expect(databaseText).not.toContain(marker);
      expect(databaseText).not.toContain(Buffer.from(marker).toString('hex'));
      expect(blobBytes.includes(marker)).toBe(false);
    }
  });

  it('encrypts the root of a form in which none of the sensitive fields occurs', async () => {
    const [task] = await archiveFormTasks(server.app, owner.serviceOwnerId, [
      sensitiveTask(owner, { forms: [{ dataFormatId: '5703', dataFormatVersion: 34114, formData: FORM_DATA }], attachments: [] }),
    ]);
    const formData = text(child(child((await getTask(owner, task!.archiveReference)).task, 'Forms'), 'ArchivedFormDQBE'), 'FormData');
    expect(formData.startsWith('<?xml version="1.0" encoding="utf-8"?>\n<xenc:EncryptedData ')).toBe(true);
    expect(formData).not.toContain(FORM_MARKER);
  });
});

/** Every row of every table as text (bytea as hex), PostgreSQL and PGlite alike. */
async function allTableText(): Promise<string> {
  const { rows: tables } = await server.app.db.raw<{ rows: { table_name: string }[] }>(
    `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`,
  );
  let all = '';
  for (const { table_name } of tables) {
    const { rows } = await server.app.db.raw<{ rows: { row: string }[] }>(`SELECT t::text AS row FROM "${table_name}" t`);
    all += rows.map((r) => r.row).join('\n');
  }
  return all;
}

async function allBlobBytes(): Promise<Buffer> {
  const root = path.join(server.app.dataDir, 'blobs');
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  const files = entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath ?? e.path, e.name));
  return Buffer.concat(await Promise.all(files.map((file) => readFile(file))));
}

describe('certificate rotation', () => {
  it('keeps the thumbprint a task was wrapped under after that certificate is retired', async () => {
    const owner = await encryptedOwner(certs.owner.certPem);
    const [before] = await archiveFormTasks(server.app, owner.serviceOwnerId, [sensitiveTask(owner, { attachments: [] })]);
    await addCertificate(server.app.db, { serviceOwnerId: owner.serviceOwnerId, certificate: readCertificate(readFileSync(certs.next.certDer)) });
    await retireCertificate(server.app.db, { serviceOwnerId: owner.serviceOwnerId, thumbprint: certs.owner.thumbprint });
    const [after] = await archiveFormTasks(server.app, owner.serviceOwnerId, [sensitiveTask(owner, { attachments: [] })]);

    const old = encryptedKeyOf((await getTask(owner, before!.archiveReference)).task);
    expect(old.thumbprint).toBe(certs.owner.thumbprint);
    expect(opensslUnwrap(old.encryptedKey, certs.owner.keyPem)).toHaveLength(32);
    const current = encryptedKeyOf((await getTask(owner, after!.archiveReference)).task);
    expect(current.thumbprint).toBe(certs.next.thumbprint);
    expect(opensslUnwrap(current.encryptedKey, certs.next.keyPem)).toHaveLength(32);
    expect(() => opensslUnwrap(current.encryptedKey, certs.owner.keyPem)).toThrow();
  });
});

describe('refusals', () => {
  async function expectNothingStored(work: () => Promise<unknown>, message: RegExp): Promise<void> {
    const rows = await countArchiveRows(server.app);
    const blobs = await listBlobFiles(server.app.dataDir);
    await expect(work()).rejects.toThrow(message);
    expect(await countArchiveRows(server.app)).toEqual(rows);
    expect(await listBlobFiles(server.app.dataDir)).toEqual(blobs);
  }

  it('archives nothing for an encrypted service whose owner has no current certificate', async () => {
    const owner = await encryptedOwner(null);
    await expectNothingStored(
      () => archiveFormTasks(server.app, owner.serviceOwnerId, [sensitiveTask(owner), sensitiveTask(owner)]),
      /^formTasks\[0\]: service \S+ edition 1 is encrypted, but the service owner has no current certificate to encrypt for; register one with: altinn-gateway certificate add/,
    );
  });

  it('archives nothing when the current certificate has expired since it was added', async () => {
    const owner = await encryptedOwner(null);
    const expired = readCertificate(readFileSync(certs.expiredCert));
    await addCertificate(server.app.db, { serviceOwnerId: owner.serviceOwnerId, certificate: expired, now: new Date(expired.notAfter.getTime() - 86_400_000) });
    await expectNothingStored(
      () => archiveFormTasks(server.app, owner.serviceOwnerId, [sensitiveTask(owner)]),
      /is encrypted, but the service owner's current certificate [0-9A-F]{40} cannot be used: it expired on/,
    );
  });

  it('archives nothing, not even ciphertext, when an attachment fails to read mid-way', async () => {
    const owner = await encryptedOwner();
    const failing = { fileName: 'borte.bin', attachmentType: 'application_octet-stream', open: () => { throw new Error('disk gone'); } };
    await expectNothingStored(
      () => archiveFormTasks(server.app, owner.serviceOwnerId, [sensitiveTask(owner, { attachments: [bytesAttachment('a.pdf', SMALL_ATTACHMENT), failing] })]),
      /formTasks\[0\]\.attachments\[1\]: could not read 'borte.bin': disk gone/,
    );
  });

  it('refuses registering expired, not yet valid, short and EC certificates', async () => {
    const owner = await createSoapOwner(server.app);
    for (const [file, reason] of [
      [certs.expiredCert, /cannot be used: it expired on/],
      [certs.notYetValidCert, /cannot be used: it is not valid until/],
      [certs.shortCert, /cannot be used: its RSA key is 1024 bits; at least 2048 are required/],
      [certs.ecCert, /cannot be used: its key is EC, not RSA/],
    ] as const) {
      await expect(addCertificate(server.app.db, { serviceOwnerId: owner.serviceOwnerId, certificate: readCertificate(readFileSync(file)) })).rejects.toThrow(reason);
    }
    expect(Number((await server.app.db('certificates').where({ service_owner_id: owner.serviceOwnerId }).count('* as count').first())!.count)).toBe(0);
  });
});

describe('content the submitter encrypted itself', () => {
  it('is stored and delivered exactly as received, attachments marked encrypted, never encrypted twice', async () => {
    const owner = await encryptedOwner(); // an encrypted service: must still not encrypt again
    const symmetricKey = newSymmetricKey();
    const cipher = attachmentEncryptor(symmetricKey);
    const ciphertext = Buffer.concat([cipher.update(SMALL_ATTACHMENT), cipher.final()]);
    const encryptedKey = wrapKey(symmetricKey.blob, readCertificate(readFileSync(certs.owner.certPem)).publicKey);
    const attachmentFile = path.join(workDir, 'sendt-kryptert.bin');
    await writeFile(attachmentFile, ciphertext);
    const formData = '<xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#"><xenc:CipherData><xenc:CipherValue>AAAA</xenc:CipherValue></xenc:CipherData></xenc:EncryptedData>';

    const importFile = parseImportFile(
      {
        serviceOwner: owner.orgNumber,
        formTasks: [
          {
            serviceCode: owner.serviceCode,
            serviceEditionCode: owner.serviceEditionCode,
            reportee: '910000001',
            reporteeType: 'Organisation',
            forms: [{ dataFormatId: '5703', dataFormatVersion: 1, formData }],
            approvers: [],
            attachments: [{ fileName: 'vedlegg.pdf', attachmentType: 'application_pdf', path: attachmentFile }],
            soEncryptedSymmetricKey: { certificateThumbprint: certs.owner.thumbprint.toLowerCase(), encryptedKey: encryptedKey.toString('base64') },
          },
        ],
      },
      workDir,
    );
    const [stored] = await archiveFormTasks(server.app, owner.serviceOwnerId, importFile.formTasks);

    const { result, task } = await getTask(owner, stored!.archiveReference);
    expect(encryptedKeyOf(task)).toEqual({ thumbprint: certs.owner.thumbprint, encryptedKey });
    expect(text(child(child(task, 'Forms'), 'ArchivedFormDQBE'), 'FormData')).toBe(formData);
    const attachment = child(child(task, 'Attachments'), 'ArchivedAttachmentDQBE');
    expect(text(attachment, 'IsEncrypted')).toBe('true');
    expect(binaryOf(result, child(attachment, 'AttachmentData'))!.equals(ciphertext)).toBe(true);
    expect(opensslDecryptAttachment(ciphertext, opensslUnwrap(encryptedKey, certs.owner.keyPem)).equals(SMALL_ATTACHMENT)).toBe(true);
  });

  it('refuses a malformed soEncryptedSymmetricKey in the import file, naming the field', () => {
    const task = (key: unknown) => ({
      serviceOwner: '910000001',
      formTasks: [
        {
          serviceCode: '1',
          serviceEditionCode: 1,
          reportee: '910000001',
          reporteeType: 'Organisation',
          forms: [{ dataFormatId: '1', dataFormatVersion: 1, formData: '<a/>' }],
          approvers: [],
          attachments: [],
          soEncryptedSymmetricKey: key,
        },
      ],
    });
    expect(() => parseImportFile(task({ certificateThumbprint: 'abc', encryptedKey: 'AAAA' }), workDir)).toThrow(
      'formTasks[0].soEncryptedSymmetricKey.certificateThumbprint: must be a certificate thumbprint (40 hexadecimal characters)',
    );
    expect(() => parseImportFile(task({ certificateThumbprint: 'A'.repeat(40), encryptedKey: 'not base64!' }), workDir)).toThrow(
      'formTasks[0].soEncryptedSymmetricKey.encryptedKey: must be base64 text',
    );
    expect(() => parseImportFile(task({ certificateThumbprint: 'A'.repeat(40) }), workDir)).toThrow('formTasks[0].soEncryptedSymmetricKey.encryptedKey: is required');
  });
});
