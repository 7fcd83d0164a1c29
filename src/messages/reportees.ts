/**
 * `{who}` in `/api/{who}/messages`: `my` (the person themself), an organisation number the person
 * has a role for, or `r<reporteeId>` naming either. Anything else is refused (403) without saying
 * whether the reportee exists.
 */
import { isOrgNumber } from '../archive/add-service-owner';
import { hasRole } from '../auth/roles';
import type { Db } from '../storage/db';
import { MessageError } from './errors';
import type { Actor, Reportee } from './types';

export async function resolveReportee(db: Db, actor: Actor, who: string): Promise<Reportee> {
  if (who.toLowerCase() === 'my') return ensureReportee(db, 'Person', actor.person);
  if (isOrgNumber(who)) {
    if (!(await hasRole(db, actor.person, who))) throw notAllowed(who);
    return ensureReportee(db, 'Organisation', who);
  }
  const match = /^r([1-9][0-9]{0,9})$/i.exec(who);
  if (match) {
    const row = await db('reportees').where({ id: Number(match[1]) }).first<ReporteeRow | undefined>('id', 'reportee_type', 'identifier');
    if (row) {
      const reportee = toReportee(row);
      if (reportee.type === 'Person' && reportee.identifier === actor.person) return reportee;
      if (reportee.type === 'Organisation' && (await hasRole(db, actor.person, reportee.identifier))) return reportee;
    }
    throw notAllowed(who);
  }
  throw new MessageError('forbidden', 'Forbidden', `'${who}' is not a reportee: use 'my', an organisation number or r<reporteeId>`);
}

function notAllowed(who: string): MessageError {
  return new MessageError('forbidden', 'Forbidden', `The authenticated user may not act for reportee '${who}'`);
}

/** The reportee row for a person or organisation, made on first use. */
export async function ensureReportee(db: Db, type: Reportee['type'], identifier: string): Promise<Reportee> {
  await db('reportees').insert({ reportee_type: type, identifier }).onConflict('identifier').ignore();
  const row = await db('reportees').where({ identifier }).first<ReporteeRow>('id', 'reportee_type', 'identifier');
  return toReportee(row);
}

interface ReporteeRow {
  id: number;
  reportee_type: Reportee['type'];
  identifier: string;
}

function toReportee(row: ReporteeRow): Reportee {
  return { reporteeId: row.id, type: row.reportee_type, identifier: row.identifier };
}
