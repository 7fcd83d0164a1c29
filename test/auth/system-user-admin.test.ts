/** Removing a system user whose work the archive records: its purges stay purged, unattributed. */
import { archiveFormTasks } from '../../src/archive/archive-form-tasks';
import { purgeItem } from '../../src/archive/purge-item';
import { addSystemUser, removeSystemUser, SystemUserNotFoundError } from '../../src/auth/system-users';
import { createOwnerWithService, newTask } from '../helpers/archive-fixtures';
import { createTestApp, type TestApp } from '../helpers/database';

let app: TestApp;
beforeAll(async () => {
  app = await createTestApp();
});
afterAll(() => app.close());

it('removes a user that purged queue items; the items stay purged', async () => {
  const owner = await createOwnerWithService(app);
  const { systemUserId } = await addSystemUser(app.db, { serviceOwnerId: owner.serviceOwnerId, userName: 'purger', password: 'purger-password' });
  const [task] = await archiveFormTasks(app, owner.serviceOwnerId, [newTask(owner)]);
  await purgeItem(app, { serviceOwnerId: owner.serviceOwnerId, systemUserId, archiveReference: task!.archiveReference });

  await expect(removeSystemUser(app.db, 'purger')).resolves.toEqual({ purgesUnattributed: 1 });
  expect(await app.db('system_users').where({ user_name: 'purger' }).first()).toBeUndefined();
  const item = await app.db('download_queue_items').first('purged_at', 'purged_by_system_user_id');
  expect(item).toMatchObject({ purged_at: expect.any(Date), purged_by_system_user_id: null });
  await expect(removeSystemUser(app.db, 'purger')).rejects.toBeInstanceOf(SystemUserNotFoundError);
});
