/**
 * Signing and archiving a message, below HTTP: through the archive's own write path, so an
 * encrypted service's content is encrypted for its owner (staged encrypted: never plaintext at rest), a
 * missing certificate refuses archiving without touching the message, and two signings at once
 * archive the task once.
 */
import { readFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { setServiceEncryption } from '../../src/archive/add-service';
import { addCertificate } from '../../src/archive/certificates';
import { readCertificate } from '../../src/crypto/certificate';
import type { FileBlobStore } from '../../src/storage/blob-store';
import { addStreamedAttachment } from '../../src/messages/add-attachment';
import { createMessage } from '../../src/messages/create-message';
import { MessageError } from '../../src/messages/errors';
import { getForm } from '../../src/messages/get-form';
import { openAttachmentData } from '../../src/messages/get-attachment';
import { replaceMessage } from '../../src/messages/replace-message';
import { ensureReportee } from '../../src/messages/reportees';
import type { MessageContext, Reportee } from '../../src/messages/types';
import { createOwnerWithService, listBlobFiles, type OwnerWithService } from '../helpers/archive-fixtures';
import { createTestCertificates, opensslDecryptAttachment, opensslUnwrap, type TestCertificates } from '../helpers/certificates';
import { createTestApp, type TestApp } from '../helpers/database';

const PERSON = '01017012345';
const actor = { person: PERSON, authLevel: 4 };
const form = { type: 'MainForm' as const, dataFormatId: '5703', dataFormatVersion: 34114, formData: '<Skjema><Felt>hemmelig</Felt></Skjema>' };
const letter = Buffer.from('Dette er et vedlegg.\r\n', 'utf8');

let app: TestApp;
let ctx: MessageContext;
let reportee: Reportee;
let certs: TestCertificates;

beforeAll(async () => {
  app = await createTestApp();
  ctx = { db: app.db, blobs: app.blobs, limits: { defaultAttachmentMaxBytes: 100 * 1024 * 1024, defaultAttachmentMaxCount: 10 } };
  reportee = await ensureReportee(app.db, 'Person', PERSON);
  certs = createTestCertificates();
});
afterAll(async () => {
  certs?.remove();
  await app?.close();
});

async function draftWithAttachments(owner: OwnerWithService): Promise<number> {
  const { messageId } = await createMessage(
    ctx,
    actor,
    reportee,
    {
      serviceCode: owner.serviceCode,
      serviceEditionCode: owner.serviceEditionCode,
      forms: [form],
      attachments: [{ fileName: 'brev.txt', attachmentType: 'Vedlegg', data: letter.toString('base64') }],
    },
    { complete: true, sign: false },
  );
  const streamed = Buffer.alloc(3 * 1024 * 1024 + 5, 0x42);
  await addStreamedAttachment(ctx, actor, reportee, messageId, { fileName: 'data.bin', attachmentType: 'Data' }, { source: Readable.from([streamed]) });
  return messageId;
}

async function blobKeysOf(messageId: number): Promise<string[]> {
  return app.db('message_attachments').where({ message_id: messageId }).orderBy('id').pluck('blob_key');
}

it('archives an encrypted service through the archive path: the staged ciphertext blobs, under the message key that becomes the task key', async () => {
  const owner = await createOwnerWithService(app);
  await addCertificate(app.db, { serviceOwnerId: owner.serviceOwnerId, certificate: readCertificate(readFileSync(certs.owner.certDer)) });
  await setServiceEncryption(app.db, { serviceOwnerId: owner.serviceOwnerId, serviceCode: owner.serviceCode, serviceEditionCode: owner.serviceEditionCode, encrypted: true });
  const messageId = await draftWithAttachments(owner);
  const stagedKeys = await blobKeysOf(messageId);

  await replaceMessage(ctx, actor, reportee, messageId, {}, { complete: true, sign: true });

  const message = await app.db('messages').where({ id: messageId }).first('status', 'form_task_id');
  expect(message.status).toBe('Sendt og arkivert');
  const task = await app.db('form_tasks').where({ id: message.form_task_id }).first('certificate_thumbprint', 'encrypted_key');
  expect(task.certificate_thumbprint).toBe(certs.owner.thumbprint);
  const archived = await app.db('attachments').where({ form_task_id: message.form_task_id }).orderBy('position').select('blob_key', 'is_encrypted', 'file_name');
  expect(archived.map((a) => [a.file_name, a.is_encrypted])).toEqual([['brev.txt', true], ['data.bin', true]]);
  // The staged blobs were ciphertext already: the archive points at them; the message keeps no key.
  expect(archived.map((a) => a.blob_key)).toEqual(stagedKeys);
  const files = await listBlobFiles(app.dataDir);
  for (const { blob_key } of archived) expect(files).toContain(blob_key);
  expect((await app.db('messages').where({ id: messageId }).first('content_key')).content_key).toBeNull();
  // The owner decrypts them, independently of our code, back to the bytes sent.
  const keyBlob = opensslUnwrap(Buffer.from(task.encrypted_key), certs.owner.keyPem);
  const first = readFileSync((app.blobs as FileBlobStore).pathOf(archived[0].blob_key));
  expect(opensslDecryptAttachment(first, keyBlob)).toEqual(letter);
  const form0 = await app.db('forms').where({ form_task_id: message.form_task_id }).first('form_data');
  expect(form0.form_data).not.toContain('hemmelig');
  // The end user cannot read the encrypted content back through the API.
  const formId = (await app.db('forms').where({ form_task_id: message.form_task_id }).first('id')).id;
  await expect(getForm(ctx, reportee, messageId, formId)).rejects.toMatchObject({ errorCode: 'ContentEncrypted' });
  const attachmentId = (await app.db('attachments').where({ form_task_id: message.form_task_id }).orderBy('position').first('id')).id;
  await expect(openAttachmentData(ctx, reportee, messageId, attachmentId)).rejects.toMatchObject({ errorCode: 'ContentEncrypted' });
});

/** Every file of the blob store (temporary ones included) that holds `needle`. */
async function filesHolding(needle: Buffer): Promise<string[]> {
  const root = path.join(app.dataDir, 'blobs');
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  const files = entries.filter((entry) => entry.isFile()).map((entry) => path.join(entry.parentPath, entry.name));
  return files.filter((file) => readFileSync(file).includes(needle));
}

it('keeps no plaintext of an encrypted service at rest, from staging to the archive, and its sender reads drafts back', async () => {
  const owner = await createOwnerWithService(app);
  await addCertificate(app.db, { serviceOwnerId: owner.serviceOwnerId, certificate: readCertificate(readFileSync(certs.owner.certDer)) });
  await setServiceEncryption(app.db, { serviceOwnerId: owner.serviceOwnerId, serviceCode: owner.serviceCode, serviceEditionCode: owner.serviceEditionCode, encrypted: true });
  const messageId = await draftWithAttachments(owner);
  const plaintexts = [letter.subarray(0, 16), Buffer.alloc(64, 0x42)];

  // Staged: only ciphertext on disk (a crash here, or between the archive's COMMIT and any cleanup, leaves no plaintext).
  for (const needle of plaintexts) expect(await filesHolding(needle)).toEqual([]);
  const drafts = await app.db('message_attachments').where({ message_id: messageId }).orderBy('id').select('id', 'is_encrypted');
  expect(drafts.map((d) => d.is_encrypted)).toEqual([true, true]);
  // The sender reads the draft back in clear.
  const { open } = await openAttachmentData(ctx, reportee, messageId, drafts[0].id);
  expect(Buffer.concat(await open().toArray())).toEqual(letter);

  // A base64 attachment added by PUT is staged encrypted too; then signing.
  await replaceMessage(ctx, actor, reportee, messageId, { attachments: [{ fileName: 'ny.txt', attachmentType: 'Vedlegg', data: letter.toString('base64') }] }, { complete: true, sign: true });
  for (const needle of plaintexts) expect(await filesHolding(needle)).toEqual([]);
  const message = await app.db('messages').where({ id: messageId }).first('form_task_id', 'content_key');
  expect(message.content_key).toBeNull();
  const task = await app.db('form_tasks').where({ id: message.form_task_id }).first('encrypted_key');
  const [archived] = await app.db('attachments').where({ form_task_id: message.form_task_id }).select('blob_key', 'is_encrypted');
  expect(archived.is_encrypted).toBe(true);
  const keyBlob = opensslUnwrap(Buffer.from(task.encrypted_key), certs.owner.keyPem);
  expect(opensslDecryptAttachment(readFileSync((app.blobs as FileBlobStore).pathOf(archived.blob_key)), keyBlob)).toEqual(letter);
});

it('refuses archiving for an encrypted service whose owner has no certificate, and leaves the message as it was', async () => {
  const owner = await createOwnerWithService(app);
  await setServiceEncryption(app.db, { serviceOwnerId: owner.serviceOwnerId, serviceCode: owner.serviceCode, serviceEditionCode: owner.serviceEditionCode, encrypted: true });
  const messageId = await draftWithAttachments(owner);
  const before = { message: await app.db('messages').where({ id: messageId }).first(), keys: await blobKeysOf(messageId), files: await listBlobFiles(app.dataDir) };

  const error = await replaceMessage(ctx, actor, reportee, messageId, {}, { complete: true, sign: true }).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(MessageError);
  expect(error).toMatchObject({ kind: 'invalid', errorCode: 'ArchivingRefused' });
  expect((error as Error).message).toMatch(/^The message could not be archived: .*encrypted/);

  expect(await app.db('messages').where({ id: messageId }).first()).toEqual(before.message);
  expect(await blobKeysOf(messageId)).toEqual(before.keys);
  expect(await listBlobFiles(app.dataDir)).toEqual(before.files);
});

it('archives once when two signing requests race; the other is refused as a conflict', async () => {
  const owner = await createOwnerWithService(app);
  const messageId = await draftWithAttachments(owner);
  const stagedKeys = await blobKeysOf(messageId);
  const results = await Promise.allSettled([
    replaceMessage(ctx, actor, reportee, messageId, {}, { complete: true, sign: true }),
    replaceMessage(ctx, { person: PERSON, authLevel: 3 }, reportee, messageId, {}, { complete: true, sign: true }),
  ]);
  expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
  const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
  expect(rejected.reason).toBeInstanceOf(MessageError);
  expect(['ConcurrentUpdate', 'MessageArchived']).toContain(rejected.reason.errorCode);

  const message = await app.db('messages').where({ id: messageId }).first('status', 'form_task_id');
  expect(message.status).toBe('Sendt og arkivert');
  const tasks = await app.db('form_tasks').where({ service_id: owner.serviceId }).pluck('id');
  expect(tasks).toEqual([message.form_task_id]);
  // In clear, the archive points at the staged blobs themselves; all still on disk.
  expect(await app.db('attachments').where({ form_task_id: message.form_task_id }).orderBy('position').pluck('blob_key')).toEqual(stagedKeys);
  const files = await listBlobFiles(app.dataDir);
  for (const key of stagedKeys) expect(files).toContain(key);
});

it('refuses every losing signer of a message as a conflict, however the signings interleave', async () => {
  const owner = await createOwnerWithService(app);
  const reasons = new Map<string, number>();
  for (let round = 0; round < 20; round++) {
    const messageId = await draftWithAttachments(owner);
    // Staggered starts: some signers read the message before the winner commits and the rest after.
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) =>
        new Promise((resolve) => setTimeout(resolve, i * 2)).then(() => replaceMessage(ctx, actor, reportee, messageId, {}, { complete: true, sign: true })),
      ),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const result of results) {
      if (result.status === 'fulfilled') continue;
      const reason = result.reason as MessageError;
      const key = `${reason.kind}: ${reason.errorCode}${reason.kind === 'conflict' ? '' : ` ${reason.message}`}`;
      reasons.set(key, (reasons.get(key) ?? 0) + 1);
    }
  }
  expect([...reasons.keys()].filter((key) => !key.startsWith('conflict: '))).toEqual([]);
});
