/** archiveFormTasks over a real database and blob store: what it writes, and that failures write nothing. */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { archiveFormTasks, type NewFormTask } from '../../src/archive/archive-form-tasks';
import { ArchiveError } from '../../src/archive/errors';
import { getFormTask } from '../../src/archive/get-form-task';
import { listQueue } from '../../src/archive/list-queue';
import type { BlobStore } from '../../src/storage/blob-store';
import { bytesAttachment, countArchiveRows, createOwnerWithService, listBlobFiles, newTask, type OwnerWithService } from '../helpers/archive-fixtures';
import { createTestApp, type TestApp } from '../helpers/database';

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

let app: TestApp;
let owner: OwnerWithService;

beforeAll(async () => {
  app = await createTestApp();
  owner = await createOwnerWithService(app);
});
afterAll(() => app.close());

describe('archiveFormTasks', () => {
  it('archives a full form task: rows, blobs, queue item, and reads it back', async () => {
    const pdf = Buffer.from('%PDF-1.4 not really a pdf but bytes\r\n');
    const big = Buffer.alloc(300_000, 7);
    const task = newTask(owner, {
      reportee: '01017012345',
      reporteeType: 'Person',
      caseId: 42,
      archivedAt: new Date('2024-01-02T03:04:05.678Z'),
      forms: [
        { dataFormatId: '4136', dataFormatVersion: 37000, formData: '<Hoved><Navn>Kari</Navn></Hoved>' },
        { dataFormatId: '4137', dataFormatVersion: 37001, formData: '<Under><Sum>10</Sum></Under>', parentIndex: 0 },
      ],
      approvers: [
        { approverId: '01017012345', approvedAt: new Date('2024-01-02T03:00:00Z'), securityLevel: 'verySensitive' },
        { approverId: '02028012345', approvedAt: new Date('2024-01-02T03:01:00Z'), securityLevel: 'lessSensitive' },
      ],
      attachments: [
        { ...bytesAttachment('kvittering.pdf', pdf, 'application_pdf'), attachmentTypeName: 'Kvittering', attachmentTypeNameLanguage: 'nb' },
        bytesAttachment('stor.bin', big),
      ],
      shipmentMetadata: [
        { key: 'Kommunenummer', value: '0301' },
        { key: 'Merknad', value: null },
      ],
    });

    const [result] = await archiveFormTasks(app, owner.serviceOwnerId, [task]);
    expect(result!.archiveReference).toMatch(/^AR[1-9][0-9]*$/);
    expect(result!.attachmentIds).toHaveLength(2);
    expect(result!.attachmentIds[0]).toBeLessThan(result!.attachmentIds[1]!);
    expect(result!.formReferences).toHaveLength(2);
    expect(result!.queued).toBe(true);

    // The blobs hold exactly the bytes, and the rows say so.
    const attachmentRows = await app.db('attachments').whereIn('id', result!.attachmentIds).orderBy('position');
    expect(attachmentRows.map((row) => [row.file_name, Number(row.size_bytes), row.sha256])).toEqual([
      ['kvittering.pdf', pdf.length, sha256(pdf)],
      ['stor.bin', big.length, sha256(big)],
    ]);
    for (const row of attachmentRows) {
      const stored = await readFile(path.join(app.dataDir, 'blobs', row.blob_key));
      expect(sha256(stored)).toBe(row.sha256);
    }

    const formRows = await app.db('forms').whereIn('id', result!.formReferences.map(Number)).orderBy('position');
    expect(formRows[0].parent_form_id).toBeNull();
    expect(Number(formRows[1].parent_form_id)).toBe(Number(formRows[0].id));

    const queueRow = await app.db('download_queue_items').where({ form_task_id: Number(result!.archiveReference.slice(2)) }).first();
    expect(queueRow.purged_at).toBeNull();
    expect(new Date(queueRow.archived_at).toISOString()).toBe('2024-01-02T03:04:05.678Z');

    // The read side sees the same task.
    const queue = await listQueue(app, { serviceOwnerId: owner.serviceOwnerId, limit: 500 });
    expect(queue).toContainEqual({
      archiveReference: result!.archiveReference,
      archivedAt: new Date('2024-01-02T03:04:05.678Z'),
      reporteeId: '01017012345',
      reporteeType: 'Person',
      serviceCode: owner.serviceCode,
      serviceEditionCode: owner.serviceEditionCode,
      shipmentMetadata: [
        { key: 'Kommunenummer', value: '0301' },
        { key: 'Merknad', value: null },
      ],
    });

    const archived = await getFormTask(app, { serviceOwnerId: owner.serviceOwnerId, archiveReference: result!.archiveReference });
    expect(archived).toMatchObject({
      archiveReference: result!.archiveReference,
      reportee: '01017012345',
      reporteeType: 'Person',
      caseId: 42,
      serviceCode: owner.serviceCode,
      serviceEditionCode: owner.serviceEditionCode,
      approvers: [
        { approverId: '01017012345', approvedAt: new Date('2024-01-02T03:00:00Z'), securityLevel: 'verySensitive' },
        { approverId: '02028012345', approvedAt: new Date('2024-01-02T03:01:00Z'), securityLevel: 'lessSensitive' },
      ],
    });
    expect(archived.forms).toEqual([
      { reference: result!.formReferences[0], parentReference: null, dataFormatId: '4136', dataFormatVersion: 37000, formData: '<Hoved><Navn>Kari</Navn></Hoved>' },
      { reference: result!.formReferences[1], parentReference: result!.formReferences[0], dataFormatId: '4137', dataFormatVersion: 37001, formData: '<Under><Sum>10</Sum></Under>' },
    ]);
    expect(archived.attachments.map((a) => [a.attachmentId, a.fileName, a.attachmentType, a.attachmentTypeName, a.attachmentTypeNameLanguage, a.sizeBytes])).toEqual([
      [result!.attachmentIds[0], 'kvittering.pdf', 'application_pdf', 'Kvittering', 'nb', pdf.length],
      [result!.attachmentIds[1], 'stor.bin', 'application_octet-stream', null, null, big.length],
    ]);
  });

  it('keeps input order as queue order when no archive time is given, and reports progress', async () => {
    const own = await createOwnerWithService(app);
    const progress: string[] = [];
    const results = await archiveFormTasks(
      app,
      own.serviceOwnerId,
      Array.from({ length: 5 }, (_, index) => newTask(own, { caseId: index })),
      { onProgress: (done, total, phase) => progress.push(`${phase} ${done}/${total}`) },
    );
    const queue = await listQueue(app, { serviceOwnerId: own.serviceOwnerId, limit: 500 });
    expect(queue.map((item) => item.archiveReference)).toEqual(results.map((r) => r.archiveReference));
    const times = queue.map((item) => item.archivedAt.getTime());
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    expect(progress).toEqual([
      ...[1, 2, 3, 4, 5].map((n) => `storing-attachments ${n}/5`),
      ...[1, 2, 3, 4, 5].map((n) => `writing-rows ${n}/5`),
    ]);
  });

  it('archives without queueing when the service has no download queue', async () => {
    const own = await createOwnerWithService(app, { downloadQueue: false });
    const [result] = await archiveFormTasks(app, own.serviceOwnerId, [newTask(own)]);
    expect(result!.queued).toBe(false);
    expect(await listQueue(app, { serviceOwnerId: own.serviceOwnerId, limit: 500 })).toEqual([]);
    await expect(getFormTask(app, { serviceOwnerId: own.serviceOwnerId, archiveReference: result!.archiveReference })).resolves.toMatchObject({
      archiveReference: result!.archiveReference,
    });
  });

  describe('refuses invalid input, naming the field, and writes nothing', () => {
    let other: OwnerWithService;
    beforeAll(async () => {
      other = await createOwnerWithService(app);
    });

    const valid = (): NewFormTask => newTask(owner, { attachments: [bytesAttachment('a.txt', Buffer.from('hei'), 'text_plain')] });
    const cases: [string, () => NewFormTask, string][] = [
      ['unknown service code', () => ({ ...valid(), serviceCode: 'nope' }), 'formTasks[1].serviceCode: service nope is not a service of this service owner'],
      ['unknown edition', () => ({ ...valid(), serviceEditionCode: 99 }), 'formTasks[1].serviceEditionCode: service $CODE has no edition 99'],
      ['another owner’s service', () => ({ ...valid(), serviceCode: '$OTHER' }), 'formTasks[1].serviceCode: service $OTHER is not a service of this service owner'],
      ['malformed form data', () => ({ ...valid(), forms: [{ dataFormatId: '1', dataFormatVersion: 1, formData: '<a><b></a>' }] }), 'formTasks[1].forms[0].formData: Malformed XML'],
      [
        'form data with a DTD',
        () => ({ ...valid(), forms: [{ dataFormatId: '1', dataFormatVersion: 1, formData: '<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>' }] }),
        'formTasks[1].forms[0].formData: XML with a DOCTYPE (DTD) is not accepted',
      ],
      ['fractional data format version', () => ({ ...valid(), forms: [{ dataFormatId: '1', dataFormatVersion: 1.5, formData: '<a/>' }] }), 'formTasks[1].forms[0].dataFormatVersion: must be a whole number'],
      ['no forms', () => ({ ...valid(), forms: [] }), 'formTasks[1].forms: must hold at least one form'],
      ['unknown reportee type', () => ({ ...valid(), reporteeType: 'Company' as never }), 'formTasks[1].reporteeType: must be one of Organisation, Person, Selfregistereduser'],
      ['reportee not matching its type', () => ({ ...valid(), reporteeType: 'Person' }), 'formTasks[1].reportee: must be a national identity number (11 digits)'],
      [
        'unknown security level',
        () => ({ ...valid(), approvers: [{ approverId: '01017012345', approvedAt: new Date(), securityLevel: 'secret' as never }] }),
        'formTasks[1].approvers[0].securityLevel: must be one of selfIdentifiedUser',
      ],
      [
        'invalid approval time',
        () => ({ ...valid(), approvers: [{ approverId: '01017012345', approvedAt: new Date('nope'), securityLevel: 'sensitive' }] }),
        'formTasks[1].approvers[0].approvedAt: not a valid date-time',
      ],
      [
        'parent that comes later',
        () => ({ ...valid(), forms: [{ dataFormatId: '1', dataFormatVersion: 1, formData: '<a/>', parentIndex: 1 }, { dataFormatId: '2', dataFormatVersion: 1, formData: '<b/>' }] }),
        'formTasks[1].forms[0].parentIndex: must be the index of an earlier form',
      ],
      [
        'parent that is a sub form',
        () => ({
          ...valid(),
          forms: [
            { dataFormatId: '1', dataFormatVersion: 1, formData: '<a/>' },
            { dataFormatId: '2', dataFormatVersion: 1, formData: '<b/>', parentIndex: 0 },
            { dataFormatId: '3', dataFormatVersion: 1, formData: '<c/>', parentIndex: 1 },
          ],
        }),
        'formTasks[1].forms[2].parentIndex: form 1 is itself a sub form',
      ],
    ];

    it.each(cases)('%s', async (_name, makeBadTask, expected) => {
      const before = await countArchiveRows(app);
      const blobsBefore = await listBlobFiles(app.dataDir);
      const bad = makeBadTask();
      if (bad.serviceCode === '$OTHER') bad.serviceCode = other.serviceCode;
      const message = expected.replace('$CODE', owner.serviceCode).replace('$OTHER', other.serviceCode);

      // The bad task is second: the valid first one must not be written either.
      const error = await archiveFormTasks(app, owner.serviceOwnerId, [valid(), bad]).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ArchiveError);
      expect((error as ArchiveError).code).toBe('invalid_argument');
      expect((error as ArchiveError).message).toContain(message);
      expect(await countArchiveRows(app)).toEqual(before);
      expect(await listBlobFiles(app.dataDir)).toEqual(blobsBefore);
    });
  });

  describe('failures after blobs were written remove them', () => {
    it('an attachment that fails to read: earlier blobs of the batch are deleted', async () => {
      const before = await countArchiveRows(app);
      const blobsBefore = await listBlobFiles(app.dataDir);
      const failing = {
        fileName: 'broken.bin',
        attachmentType: 'application_octet-stream',
        open: () =>
          Readable.from(
            (async function* () {
              yield Buffer.from('first chunk');
              throw new Error('disk unplugged');
            })(),
          ),
      };
      const tasks = [
        newTask(owner, { attachments: [bytesAttachment('ok-1.txt', Buffer.from('en')), bytesAttachment('ok-2.txt', Buffer.from('to'))] }),
        newTask(owner, { attachments: [failing] }),
      ];
      await expect(archiveFormTasks(app, owner.serviceOwnerId, tasks)).rejects.toThrow(
        "formTasks[1].attachments[0]: could not read 'broken.bin': disk unplugged",
      );
      expect(await countArchiveRows(app)).toEqual(before);
      expect(await listBlobFiles(app.dataDir)).toEqual(blobsBefore);
    });

    it('a database failure inside the transaction: no rows, and the written blobs are deleted', async () => {
      const before = await countArchiveRows(app);
      const blobsBefore = await listBlobFiles(app.dataDir);
      // A trigger makes the shipment-metadata insert of the second task fail, after the first
      // task's rows and all blobs have been written.
      await app.db.raw(`CREATE FUNCTION refuse_metadata() RETURNS trigger AS $$
        BEGIN RAISE EXCEPTION 'injected failure'; END $$ LANGUAGE plpgsql`);
      await app.db.raw(`CREATE TRIGGER refuse_metadata BEFORE INSERT ON shipment_metadata
        FOR EACH ROW WHEN (NEW.key = 'explode') EXECUTE FUNCTION refuse_metadata()`);
      try {
        const tasks = [
          newTask(owner, { attachments: [bytesAttachment('a.txt', Buffer.from('a'))], shipmentMetadata: [{ key: 'fine', value: '1' }] }),
          newTask(owner, { attachments: [bytesAttachment('b.txt', Buffer.from('b'))], shipmentMetadata: [{ key: 'explode', value: '1' }] }),
        ];
        const written: string[] = [];
        const spyingBlobs: BlobStore = Object.assign(Object.create(app.blobs) as BlobStore, {
          put: async (source: Parameters<BlobStore['put']>[0]) => {
            const blob = await app.blobs.put(source);
            written.push(blob.key);
            return blob;
          },
        });
        await expect(archiveFormTasks({ db: app.db, blobs: spyingBlobs }, owner.serviceOwnerId, tasks)).rejects.toThrow('injected failure');
        expect(written).toHaveLength(2); // the failure really came after the blobs
        for (const key of written) expect(await app.blobs.stat(key)).toBeUndefined();
        expect(await countArchiveRows(app)).toEqual(before);
        expect(await listBlobFiles(app.dataDir)).toEqual(blobsBefore);
      } finally {
        await app.db.raw('DROP TRIGGER refuse_metadata ON shipment_metadata');
        await app.db.raw('DROP FUNCTION refuse_metadata()');
      }
    });
  });
});
