/**
 * Migration 002 (encryption) on a real database: its constraints hold (one current certificate per
 * owner, a retired one never current, a task's key and thumbprint null together), and it rolls
 * back and forward again cleanly.
 */
import { migrateLatest, migrateRollbackAll } from '../../src/storage/migrate';
import { createOwnerWithService } from '../helpers/archive-fixtures';
import { createTestApp, type TestApp } from '../helpers/database';

let app: TestApp;
beforeAll(async () => {
  app = await createTestApp();
});
afterAll(() => app.close());

const certificateRow = (serviceOwnerId: number, thumbprint: string, extra: Record<string, unknown> = {}) => ({
  service_owner_id: serviceOwnerId,
  thumbprint,
  der: Buffer.from('not parsed here'),
  subject: 'CN=x',
  issuer: 'CN=x',
  serial_number: '01',
  not_before: new Date('2024-01-01T00:00:00Z'),
  not_after: new Date('2030-01-01T00:00:00Z'),
  key_bits: 2048,
  ...extra,
});

it('allows one current certificate per owner and never a retired current one', async () => {
  const { serviceOwnerId } = await createOwnerWithService(app);
  await app.db('certificates').insert(certificateRow(serviceOwnerId, 'A'.repeat(40), { is_current: true }));
  await expect(app.db('certificates').insert(certificateRow(serviceOwnerId, 'B'.repeat(40), { is_current: true }))).rejects.toThrow(
    /certificates_one_current_per_owner/,
  );
  await expect(
    app.db('certificates').insert(certificateRow(serviceOwnerId, 'C'.repeat(40), { is_current: true, retired_at: new Date() })),
  ).rejects.toThrow(/certificates_retired_not_current|certificates_one_current_per_owner/);
  await expect(app.db('certificates').insert(certificateRow(serviceOwnerId, 'A'.repeat(40)))).rejects.toThrow(/unique/i);
});

it('keeps a form task\'s wrapped key and thumbprint null together', async () => {
  const { serviceOwnerId, serviceId } = await createOwnerWithService(app);
  const task = { service_id: serviceId, service_owner_id: serviceOwnerId, reportee: '910000001', reportee_type: 'Organisation', archived_at: new Date() };
  await expect(app.db('form_tasks').insert({ ...task, certificate_thumbprint: 'A'.repeat(40) })).rejects.toThrow(/form_tasks_encryption_complete/);
  await expect(app.db('form_tasks').insert({ ...task, certificate_thumbprint: 'A'.repeat(40), encrypted_key: Buffer.alloc(256, 1) })).resolves.toBeDefined();
});

it('rolls back and migrates forward again', async () => {
  await migrateRollbackAll(app.db);
  expect(await app.db.schema.hasTable('certificates')).toBe(false);
  expect(await migrateLatest(app.db)).toEqual(expect.arrayContaining(['001_archive', '002_encryption']));
  expect(await app.db.schema.hasColumn('services', 'encrypted')).toBe(true);
  expect(await app.db.schema.hasColumn('form_tasks', 'encrypted_key')).toBe(true);
});
