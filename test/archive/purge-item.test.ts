/** The DownloadQueue read and purge use cases over a real database: ordering, cap, filter, isolation, exactly-once purge. */
import { addService } from '../../src/archive/add-service';
import { archiveFormTasks } from '../../src/archive/archive-form-tasks';
import { ArchiveError } from '../../src/archive/errors';
import { listQueue } from '../../src/archive/list-queue';
import { purgeItem } from '../../src/archive/purge-item';
import { addSystemUser } from '../../src/auth/system-users';
import { createOwnerWithService, newTask, type OwnerWithService } from '../helpers/archive-fixtures';
import { createTestApp, type TestApp } from '../helpers/database';

let app: TestApp;
beforeAll(async () => {
  app = await createTestApp();
});
afterAll(() => app.close());

let nextUser = 0;
async function ownerWithUser(): Promise<OwnerWithService & { systemUserId: number }> {
  const owner = await createOwnerWithService(app);
  nextUser += 1;
  const { systemUserId } = await addSystemUser(app.db, { serviceOwnerId: owner.serviceOwnerId, userName: `purger${nextUser}`, password: 'a-long-password' });
  return { ...owner, systemUserId };
}

async function archiveOne(owner: OwnerWithService, archivedAt?: Date): Promise<string> {
  const [result] = await archiveFormTasks(app, owner.serviceOwnerId, [newTask(owner, archivedAt ? { archivedAt } : {})]);
  return result!.archiveReference;
}

async function rejection(promise: Promise<unknown>): Promise<ArchiveError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ArchiveError);
  return error as ArchiveError;
}

describe('purgeItem', () => {
  it('takes the item out of the queue and records who purged it', async () => {
    const owner = await ownerWithUser();
    const kept = await archiveOne(owner);
    const purged = await archiveOne(owner);

    await purgeItem(app, { serviceOwnerId: owner.serviceOwnerId, systemUserId: owner.systemUserId, archiveReference: purged });

    const queue = await listQueue(app, { serviceOwnerId: owner.serviceOwnerId, limit: 500 });
    expect(queue.map((item) => item.archiveReference)).toEqual([kept]);
    const row = await app.db('download_queue_items').where({ form_task_id: Number(purged.slice(2)) }).first();
    expect(row.purged_at).not.toBeNull();
    expect(row.purged_by_system_user_id).toBe(owner.systemUserId);
  });

  it('a second purge answers already_purged', async () => {
    const owner = await ownerWithUser();
    const reference = await archiveOne(owner);
    const request = { serviceOwnerId: owner.serviceOwnerId, systemUserId: owner.systemUserId, archiveReference: reference };
    await purgeItem(app, request);
    const error = await rejection(purgeItem(app, request));
    expect(error.code).toBe('already_purged');
    expect(error.message).toBe(`Archive reference '${reference}' has already been purged from the download queue`);
  });

  it("another owner's item answers exactly like one that does not exist, and stays queued", async () => {
    const owner = await ownerWithUser();
    const stranger = await ownerWithUser();
    const theirs = await archiveOne(stranger);
    const mine = await archiveOne(owner);
    const missing = `AR${Number(mine.slice(2)) + 1_000_000}`;

    const purge = (archiveReference: string) =>
      rejection(purgeItem(app, { serviceOwnerId: owner.serviceOwnerId, systemUserId: owner.systemUserId, archiveReference }));
    const [foreign, nonexistent, malformed] = await Promise.all([purge(theirs), purge(missing), purge('not-a-reference')]);

    expect(foreign.code).toBe('not_found');
    expect(nonexistent.code).toBe('not_found');
    expect(foreign.message.replace(theirs, '<ref>')).toBe(nonexistent.message.replace(missing, '<ref>'));
    expect(malformed.code).toBe('not_found');
    const strangerQueue = await listQueue(app, { serviceOwnerId: stranger.serviceOwnerId, limit: 500 });
    expect(strangerQueue.map((item) => item.archiveReference)).toEqual([theirs]);
  });

  it('two concurrent purges of one item: exactly one succeeds', async () => {
    const owner = await ownerWithUser();
    const reference = await archiveOne(owner);
    const request = { serviceOwnerId: owner.serviceOwnerId, systemUserId: owner.systemUserId, archiveReference: reference };
    const outcomes = await Promise.allSettled([purgeItem(app, request), purgeItem(app, request), purgeItem(app, request)]);

    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    const failures = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
    expect(failures.map((f) => (f.reason as ArchiveError).code)).toEqual(['already_purged', 'already_purged']);
  });
});

describe('listQueue', () => {
  it('lists oldest first, whatever the order of archiving', async () => {
    const owner = await ownerWithUser();
    const times = ['2024-05-03T10:00:00Z', '2024-05-01T10:00:00Z', '2024-05-02T10:00:00Z'].map((t) => new Date(t));
    const references = [];
    for (const time of times) references.push(await archiveOne(owner, time));

    const queue = await listQueue(app, { serviceOwnerId: owner.serviceOwnerId, limit: 500 });
    expect(queue.map((item) => item.archiveReference)).toEqual([references[1], references[2], references[0]]);
    expect(queue.map((item) => item.archivedAt.toISOString())).toEqual(['2024-05-01T10:00:00.000Z', '2024-05-02T10:00:00.000Z', '2024-05-03T10:00:00.000Z']);
  });

  it('returns at most `limit` items, the oldest ones, and only unpurged ones', async () => {
    const owner = await ownerWithUser();
    const references: string[] = [];
    for (let day = 1; day <= 7; day++) references.push(await archiveOne(owner, new Date(Date.UTC(2024, 5, day))));

    const firstPage = await listQueue(app, { serviceOwnerId: owner.serviceOwnerId, limit: 5 });
    expect(firstPage.map((item) => item.archiveReference)).toEqual(references.slice(0, 5));

    // Purging the two oldest brings the next ones into the page.
    for (const reference of references.slice(0, 2)) {
      await purgeItem(app, { serviceOwnerId: owner.serviceOwnerId, systemUserId: owner.systemUserId, archiveReference: reference });
    }
    const nextPage = await listQueue(app, { serviceOwnerId: owner.serviceOwnerId, limit: 5 });
    expect(nextPage.map((item) => item.archiveReference)).toEqual(references.slice(2, 7));
  });

  it('filters on a service code (all its editions), capped the same way, never showing other owners', async () => {
    const owner = await ownerWithUser();
    const stranger = await ownerWithUser();
    const filtered = `${owner.serviceCode}-filtered`;
    await addService(app.db, { serviceOwnerId: owner.serviceOwnerId, serviceCode: filtered, serviceEditionCode: 1, downloadQueue: true });
    await addService(app.db, { serviceOwnerId: owner.serviceOwnerId, serviceCode: filtered, serviceEditionCode: 2, downloadQueue: true });

    const expected: string[] = [];
    for (let day = 1; day <= 6; day++) {
      const at = new Date(Date.UTC(2024, 6, day));
      // Alternate services and editions so the filter has something to leave out.
      await archiveFormTasks(app, owner.serviceOwnerId, [newTask(owner, { archivedAt: at })]);
      const [result] = await archiveFormTasks(app, owner.serviceOwnerId, [
        newTask({ serviceCode: filtered, serviceEditionCode: (day % 2) + 1 }, { archivedAt: new Date(at.getTime() + 1000) }),
      ]);
      expected.push(result!.archiveReference);
    }
    await archiveOne(stranger, new Date(Date.UTC(2024, 0, 1)));

    const all = await listQueue(app, { serviceOwnerId: owner.serviceOwnerId, serviceCode: filtered, limit: 500 });
    expect(all.map((item) => item.archiveReference)).toEqual(expected);
    expect(new Set(all.map((item) => item.serviceEditionCode))).toEqual(new Set([1, 2]));

    const capped = await listQueue(app, { serviceOwnerId: owner.serviceOwnerId, serviceCode: filtered, limit: 4 });
    expect(capped.map((item) => item.archiveReference)).toEqual(expected.slice(0, 4));

    const unfiltered = await listQueue(app, { serviceOwnerId: owner.serviceOwnerId, limit: 500 });
    expect(unfiltered).toHaveLength(12);
    expect(unfiltered.every((item) => [owner.serviceCode, filtered].includes(item.serviceCode))).toBe(true);

    expect(await listQueue(app, { serviceOwnerId: owner.serviceOwnerId, serviceCode: stranger.serviceCode, limit: 500 })).toEqual([]);
  });
});
