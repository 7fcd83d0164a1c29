/**
 * Archiving the tasks of an import file, idempotently: a task whose idempotency key the owner
 * already has in the archive is skipped (and reported as such), the others are archived all or
 * nothing through archiveFormTasks. Running the same file twice archives each task once.
 *
 * Two imports of the same task at the same moment: both see it missing, and the unique index on
 * (service_owner_id, idempotency_key) lets only one commit; the other fails whole, and running it
 * again skips what the first archived.
 */
import { archiveFormTasks, type ArchiveFormTasksOptions, type ArchivedTaskResult, type NewFormTask } from './archive-form-tasks';
import { formatArchiveReference } from './archive-reference';
import { ArchiveError } from './errors';
import type { ArchiveContext } from './types';

export interface SkippedTask {
  /** Index in the input. */
  index: number;
  idempotencyKey: string;
  /** The task archived earlier under the same key. */
  archiveReference: string;
}

export interface ImportResult {
  /** In input order, of the tasks archived now. */
  imported: (ArchivedTaskResult & { index: number })[];
  skipped: SkippedTask[];
}

/** Postgres' unique_violation, on the index that holds the keys (migrations/008_stable_keys.ts). */
const DUPLICATE_KEY = { code: '23505', constraint: 'form_tasks_idempotency_key' };

export async function importFormTasks(
  ctx: ArchiveContext,
  serviceOwnerId: number,
  tasks: (NewFormTask & { idempotencyKey: string })[],
  options: ArchiveFormTasksOptions = {},
): Promise<ImportResult> {
  const archived = await archivedKeys(ctx, serviceOwnerId, tasks.map((task) => task.idempotencyKey));
  const skipped: SkippedTask[] = [];
  const pending: { task: NewFormTask; index: number }[] = [];
  tasks.forEach((task, index) => {
    const formTaskId = archived.get(task.idempotencyKey);
    if (formTaskId === undefined) pending.push({ task, index });
    else skipped.push({ index, idempotencyKey: task.idempotencyKey, archiveReference: formatArchiveReference(formTaskId) });
  });
  if (pending.length === 0) return { imported: [], skipped };

  let results: ArchivedTaskResult[];
  try {
    results = await archiveFormTasks(ctx, serviceOwnerId, pending.map(({ task }) => task), options);
  } catch (error) {
    const { code, constraint, message } = error as { code?: string; constraint?: string; message?: string };
    if (code === DUPLICATE_KEY.code && (constraint ?? message ?? '').includes(DUPLICATE_KEY.constraint)) {
      throw new ArchiveError('conflict', 'Another import archived some of these tasks meanwhile; nothing was imported by this run. Run it again to skip them.');
    }
    throw error;
  }
  return { imported: results.map((result, i) => ({ ...result, index: pending[i]!.index })), skipped };
}

/** Key → form task id, of the keys the owner already has. */
async function archivedKeys(ctx: ArchiveContext, serviceOwnerId: number, keys: string[]): Promise<Map<string, number>> {
  const found = new Map<string, number>();
  // In slices: one statement's parameters are limited (and a file may hold many thousands of tasks).
  for (let start = 0; start < keys.length; start += 1000) {
    const rows = await ctx.db('form_tasks')
      .where({ service_owner_id: serviceOwnerId })
      .whereIn('idempotency_key', keys.slice(start, start + 1000))
      .select<{ id: number; idempotency_key: string }[]>('id', 'idempotency_key');
    for (const row of rows) found.set(row.idempotency_key, row.id);
  }
  return found;
}
