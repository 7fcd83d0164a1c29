/**
 * The blob-store sweep: removes orphan blobs, partial files and abandoned uploads older than the
 * grace period, counting files and bytes; keeps what any row points at, and anything young.
 * Through the domain function and through `altinn-gateway storage gc`.
 */
import { randomUUID } from 'node:crypto';
import { readdir, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { archiveFormTasks } from '../../src/archive/archive-form-tasks';
import { createMessage } from '../../src/messages/create-message';
import { ensureReportee } from '../../src/messages/reportees';
import { collectGarbage } from '../../src/storage/garbage-collection';
import { createOwnerWithService } from '../helpers/archive-fixtures';
import { createCliHarness } from '../helpers/cli-runner';
import { createTestApp, type TestApp } from '../helpers/database';
import { generatedAttachment } from '../helpers/fixtures';

const DAY_MS = 24 * 60 * 60 * 1000;
let app: TestApp;
beforeAll(async () => {
  app = await createTestApp();
});
afterAll(() => app?.close());

async function allFiles(): Promise<string[]> {
  const root = path.join(app.dataDir, 'blobs');
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => path.relative(root, path.join(entry.parentPath, entry.name))).sort();
}

async function ageEverything(): Promise<void> {
  const old = new Date(Date.now() - 2 * DAY_MS);
  for (const file of await allFiles()) await utimes(path.join(app.dataDir, 'blobs', file), old, old);
}

it('removes old unreferenced blobs, partials and uploads, counting them, and keeps referenced and young ones', async () => {
  // Referenced: an archived attachment and a draft message's staged attachment.
  const owner = await createOwnerWithService(app);
  const [task] = await archiveFormTasks(app, owner.serviceOwnerId, [
    {
      serviceCode: owner.serviceCode,
      serviceEditionCode: owner.serviceEditionCode,
      reportee: '910000001',
      reporteeType: 'Organisation',
      forms: [{ dataFormatId: '1', dataFormatVersion: 1, formData: '<a/>' }],
      approvers: [],
      attachments: [generatedAttachment('arkiv.bin', 3000)],
    },
  ]);
  const reportee = await ensureReportee(app.db, 'Person', '01017012345');
  const ctx = { db: app.db, blobs: app.blobs, limits: { defaultAttachmentMaxBytes: 1024 * 1024, defaultAttachmentMaxCount: 5 } };
  await createMessage(
    ctx,
    { person: '01017012345', authLevel: 4 },
    reportee,
    {
      serviceCode: owner.serviceCode,
      serviceEditionCode: owner.serviceEditionCode,
      forms: [{ type: 'MainForm', dataFormatId: '5703', dataFormatVersion: 1, formData: '<Skjema/>' }],
      attachments: [{ fileName: 'utkast.txt', attachmentType: 'Vedlegg', data: Buffer.from('utkast').toString('base64') }],
    },
    { complete: false, sign: false },
  );
  const referenced = [
    ...(await app.db('attachments').where({ form_task_id: Number(task!.archiveReference.replace(/^AR/, '')) }).pluck('blob_key')),
    ...(await app.db('message_attachments').pluck('blob_key')),
  ];
  expect(referenced).toHaveLength(2);

  // Leftovers of crashes: a blob with no row, a put that never finished, an upload no row knows.
  const orphan = await app.blobs.put(Readable.from([Buffer.alloc(1000, 1)]));
  await writeFile(path.join(app.dataDir, 'blobs', 'tmp', `${randomUUID()}.partial`), Buffer.alloc(700, 2));
  const upload = await app.blobs.createUpload();
  await writeFile(path.join(app.dataDir, 'blobs', upload), Buffer.alloc(300, 3));
  await ageEverything();
  // Young: written just now, it may be about to be referenced.
  const young = await app.blobs.put(Readable.from([Buffer.alloc(50, 4)]));
  const before = await allFiles();

  const counted = await collectGarbage(app.db, app.blobs, { graceMs: DAY_MS, dryRun: true });
  expect(counted).toEqual({
    blobs: { files: 1, bytes: 1000 },
    partials: { files: 1, bytes: 700 },
    uploads: { files: 1, bytes: 300 },
    total: { files: 3, bytes: 2000 },
    dryRun: true,
  });
  expect(await allFiles()).toEqual(before);

  const removed = await collectGarbage(app.db, app.blobs, { graceMs: DAY_MS });
  expect(removed.total).toEqual({ files: 3, bytes: 2000 });
  expect(await allFiles()).toEqual([...referenced, young.key].sort());
  expect(await allFiles()).not.toContain(orphan.key);
  // Nothing left to do.
  expect((await collectGarbage(app.db, app.blobs, { graceMs: DAY_MS })).total).toEqual({ files: 0, bytes: 0 });
});

it('altinn-gateway storage gc [--dry-run] says what it removes', async () => {
  const cli = await createCliHarness();
  try {
    expect(await cli.run(['migrate'])).toMatchObject({ code: 0 });
    const key = await cli.inspect(async (cliApp) => (await cliApp.blobs.put(Readable.from([Buffer.alloc(1234, 5)]))).key);
    const line = 'files, 1234 bytes: 1 orphan blobs (1234 bytes), 0 partial files (0 bytes), 0 abandoned uploads (0 bytes).\n';
    expect(await cli.run(['storage', 'gc', '--dry-run'])).toMatchObject({ code: 0, stdout: 'Would remove 0 files, 0 bytes: 0 orphan blobs (0 bytes), 0 partial files (0 bytes), 0 abandoned uploads (0 bytes).\n' });
    expect(await cli.run(['storage', 'gc', '--dry-run', '--grace-seconds', '0'])).toMatchObject({ code: 0, stdout: `Would remove 1 ${line}` });
    expect(await cli.run(['storage', 'gc', '--grace-seconds', '0'])).toMatchObject({ code: 0, stdout: `Removed 1 ${line}` });
    expect(await cli.inspect((cliApp) => cliApp.blobs.stat(key))).toBeUndefined();
    expect(await cli.run(['storage', 'gc', '--grace-seconds', 'soon'])).toMatchObject({ code: 2 });
  } finally {
    await cli.close();
  }
});
