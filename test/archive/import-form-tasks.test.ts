/**
 * importFormTasks: the idempotency key per task. Tasks already archived under their key are skipped
 * (per service owner: another owner's key does not count), and two imports of the same tasks at
 * the same moment archive them once: the unique index refuses the second, which stores nothing.
 */
import { ArchiveError } from '../../src/archive/errors';
import { importFormTasks } from '../../src/archive/import-form-tasks';
import { bytesAttachment, countArchiveRows, createOwnerWithService, listBlobFiles, newTask, type OwnerWithService } from '../helpers/archive-fixtures';
import { createTestApp, type TestApp } from '../helpers/database';

let app: TestApp;
let owner: OwnerWithService;

beforeAll(async () => {
  app = await createTestApp();
  owner = await createOwnerWithService(app);
});
afterAll(() => app.close());

const keyed = (service: OwnerWithService, key: string) => ({
  ...newTask(service, { attachments: [bytesAttachment('vedlegg.txt', Buffer.from(`vedlegg ${key}`))] }),
  idempotencyKey: key,
});

it('skips tasks whose key the owner already has, and only those', async () => {
  const first = await importFormTasks(app, owner.serviceOwnerId, [keyed(owner, 'a'), keyed(owner, 'b')]);
  expect(first.skipped).toEqual([]);
  expect(first.imported.map((task) => task.index)).toEqual([0, 1]);

  const second = await importFormTasks(app, owner.serviceOwnerId, [keyed(owner, 'b'), keyed(owner, 'c'), keyed(owner, 'a')]);
  expect(second.skipped).toEqual([
    { index: 0, idempotencyKey: 'b', archiveReference: first.imported[1]!.archiveReference },
    { index: 2, idempotencyKey: 'a', archiveReference: first.imported[0]!.archiveReference },
  ]);
  expect(second.imported.map((task) => task.index)).toEqual([1]);

  // The same key under another owner is another task.
  const other = await createOwnerWithService(app);
  const theirs = await importFormTasks(app, other.serviceOwnerId, [keyed(other, 'a')]);
  expect(theirs).toMatchObject({ imported: [{ index: 0 }], skipped: [] });
});

it('archives a task once when two imports of it run at the same moment', async () => {
  const tasks = () => [keyed(owner, 'samtidig-1'), keyed(owner, 'samtidig-2')];
  const before = await countArchiveRows(app);
  const outcomes = await Promise.allSettled([importFormTasks(app, owner.serviceOwnerId, tasks()), importFormTasks(app, owner.serviceOwnerId, tasks())]);

  const fulfilled = outcomes.filter((o) => o.status === 'fulfilled');
  const rejected = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
  const after = await countArchiveRows(app);
  // Both read the keys before either wrote (the reads come first): the unique index let one commit, the other stored nothing.
  expect(fulfilled).toHaveLength(1);
  expect(rejected).toHaveLength(1);
  expect(rejected[0]!.reason).toBeInstanceOf(ArchiveError);
  expect(rejected[0]!.reason).toMatchObject({ code: 'conflict', message: expect.stringContaining('Run it again to skip them') });
  expect(after.form_tasks).toBe(before.form_tasks! + 2);
  // No blob of the refused import is left behind.
  const blobKeys = await app.db('attachments').pluck('blob_key');
  expect(await listBlobFiles(app.dataDir)).toEqual([...blobKeys].sort());
});
