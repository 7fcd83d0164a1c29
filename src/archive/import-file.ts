/**
 * The archive import file (`altinn-gateway archive import FILE.json`), described by the JSON Schema
 * beside this file (import-file.schema.json; an example is in examples/archive-import/):
 *
 *   { "serviceOwner": "<orgnr>",
 *     "formTasks": [ { "externalReference"?, "serviceCode", "serviceEditionCode", "reportee", "reporteeType",
 *                      "archivedAt"?, "caseId"?,
 *                      "forms": [ { "dataFormatId", "dataFormatVersion", "formData", "parentReference"? } ],
 *                      "approvers": [ { "approverId", "approvedAt", "securityLevel" } ],
 *                      "attachments": [ { "fileName", "attachmentType", "attachmentTypeName"?,
 *                                         "attachmentTypeNameLanguage"?, "path" } ],
 *                      "shipmentMetadata"?: { "key": "value" },
 *                      "soEncryptedSymmetricKey"?: { "certificateThumbprint", "encryptedKey" } } ] }
 *
 * - `externalReference` is the task's idempotency key: a task whose key the owner already has in the
 *   archive is skipped. Without one, the key is the SHA-256 of the task's entry (its JSON as parsed,
 *   attachment paths included but not the files' bytes), so running the same file again skips it too.
 * - `parentReference` makes a form a sub form: it is the 0-based index, within the same task's
 *   `forms`, of its main form (which must come earlier and not be a sub form itself).
 * - `path` is relative to the directory of the JSON file (or absolute).
 * - `shipmentMetadata` keeps the object's key order (JavaScript puts integer-like keys first).
 * - `soEncryptedSymmetricKey` marks content the submitter already encrypted for the service owner
 *   (Altinn's scheme: `encryptedKey` is the base64 of the RSA-wrapped 32-byte key blob,
 *   `certificateThumbprint` the SHA-1 thumbprint of the owner's certificate it was wrapped under).
 *
 * The whole file is checked before anything is stored, and every problem is reported, each naming
 * its field as a path (`formTasks[2].approvers[0].approvedAt: …`): first the schema (ajv, all
 * errors), then what a schema cannot say (calendar dates, parent references, duplicate keys,
 * attachment files that do not exist).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Ajv, { type ErrorObject } from 'ajv';
import type { NewAttachment, NewForm, NewFormTask } from './archive-form-tasks';
import { normalizeThumbprint } from '../crypto/certificate';
import { decodeStrictBase64 } from '../encoding/base64';
import { ArchiveError, ArchiveValidationError } from './errors';
import schema from './import-file.schema.json';
import type { Approver, EncryptedSymmetricKey, ReporteeType, SecurityLevel, ShipmentMetadataEntry } from './types';

export interface ImportFile {
  /** Organisation number of the service owner the tasks are archived for. */
  serviceOwner: string;
  formTasks: ImportTask[];
}

export interface ImportTask extends NewFormTask {
  idempotencyKey: string;
  /** As the file gave it; null when the key is the entry's hash. */
  externalReference: string | null;
}

/** An attachment read from a file named in the import file. */
export interface FileAttachment extends NewAttachment {
  /** Absolute path of the file. */
  path: string;
}

// ---- the file as the schema describes it ----

type WholeNumber = number | string;

interface RawTask {
  externalReference?: string;
  serviceCode: string | number;
  serviceEditionCode: WholeNumber;
  reportee: string;
  reporteeType: ReporteeType;
  archivedAt?: string;
  caseId?: WholeNumber | null;
  forms: { dataFormatId: string | number; dataFormatVersion: WholeNumber; formData: string; parentReference?: WholeNumber | null }[];
  approvers: { approverId: string; approvedAt: string; securityLevel: SecurityLevel }[];
  attachments: { fileName: string; attachmentType: string; attachmentTypeName?: string | null; attachmentTypeNameLanguage?: string | null; path: string }[];
  shipmentMetadata?: Record<string, string | null>;
  soEncryptedSymmetricKey?: { certificateThumbprint: string; encryptedKey: string } | null;
}

interface RawImportFile {
  serviceOwner: string;
  formTasks: RawTask[];
}

const validateShape = new Ajv({ allErrors: true, verbose: true, allowUnionTypes: true }).compile<RawImportFile>(schema);

/** Read, parse and check an import file, including that every attachment file exists. */
export async function readImportFile(filePath: string): Promise<ImportFile> {
  let text: string;
  try {
    text = await fs.promises.readFile(filePath, 'utf8');
  } catch (error) {
    throw new ArchiveError('invalid_argument', `${filePath}: cannot read the import file: ${(error as Error).message}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new ArchiveError('invalid_argument', `${filePath}: not valid JSON: ${(error as Error).message}`);
  }
  const importFile = parseImportFile(data, path.dirname(path.resolve(filePath)));
  await checkAttachmentFiles(importFile);
  return importFile;
}

/** Check parsed JSON against the schema and the rules beyond it; attachment paths are resolved against `baseDir`. */
export function parseImportFile(data: unknown, baseDir: string): ImportFile {
  if (!validateShape(data)) {
    throw new ArchiveValidationError([...new Set((validateShape.errors ?? []).map(describeSchemaError))]);
  }
  const problems: string[] = [];
  const formTasks = data.formTasks.map((task, index) => toTask(task, `formTasks[${index}]`, baseDir, problems));
  problems.push(...duplicateKeys(data.formTasks, formTasks));
  if (problems.length > 0) throw new ArchiveValidationError(problems);
  return { serviceOwner: data.serviceOwner, formTasks };
}

async function checkAttachmentFiles(importFile: ImportFile): Promise<void> {
  const problems: string[] = [];
  for (const [taskIndex, task] of importFile.formTasks.entries()) {
    for (const [index, attachment] of (task.attachments as FileAttachment[]).entries()) {
      const field = `formTasks[${taskIndex}].attachments[${index}].path`;
      const stat = await fs.promises.stat(attachment.path).catch(() => undefined);
      if (!stat) problems.push(`${field}: file not found: ${attachment.path}`);
      else if (!stat.isFile()) problems.push(`${field}: not a regular file: ${attachment.path}`);
    }
  }
  if (problems.length > 0) throw new ArchiveValidationError(problems);
}

// ---- schema errors, as `field: problem` ----

/** `/formTasks/2/approvers/0` → `formTasks[2].approvers[0]`. */
function fieldPath(pointer: string, child?: string): string {
  const segments = pointer.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (child !== undefined) segments.push(child);
  const joined = segments.map((s, i) => (/^[0-9]+$/.test(s) ? `[${s}]` : i === 0 ? s : `.${s}`)).join('');
  return joined || '(import file)';
}

function describeSchemaError(error: ErrorObject): string {
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'required':
      return `${fieldPath(error.instancePath, params.missingProperty as string)}: is required`;
    case 'additionalProperties':
      return `${fieldPath(error.instancePath, params.additionalProperty as string)}: unknown field`;
    case 'enum':
      return `${fieldPath(error.instancePath)}: must be one of ${(params.allowedValues as string[]).join(', ')}`;
  }
  // Every constrained value in the schema describes what it must be; that reads better than the keyword.
  const description = (error.parentSchema as { description?: string } | undefined)?.description;
  return `${fieldPath(error.instancePath)}: ${description ? `must be ${description}` : error.message}`;
}

// ---- the rules beyond the schema, and conversion ----

function toTask(raw: RawTask, field: string, baseDir: string, problems: string[]): ImportTask {
  const forms = raw.forms.map((form, index): NewForm => {
    const parentIndex = form.parentReference === undefined || form.parentReference === null ? null : Number(form.parentReference);
    if (parentIndex !== null && parentIndex >= index) {
      const range = index === 0 ? 'the first form has none' : `0 to ${index - 1}`;
      problems.push(`${field}.forms[${index}].parentReference: must be the 0-based index of an earlier form in this task (${range})`);
    } else if (parentIndex !== null && raw.forms[parentIndex]!.parentReference != null) {
      problems.push(`${field}.forms[${index}].parentReference: form ${parentIndex} is itself a sub form; a parent must be a main form`);
    }
    return { dataFormatId: String(form.dataFormatId), dataFormatVersion: Number(form.dataFormatVersion), formData: form.formData, parentIndex };
  });
  const approvers = raw.approvers.map(
    (approver, index): Approver => ({
      approverId: approver.approverId,
      approvedAt: dateTime(approver.approvedAt, `${field}.approvers[${index}].approvedAt`, problems),
      securityLevel: approver.securityLevel,
    }),
  );
  const attachments = raw.attachments.map((attachment): FileAttachment => {
    const filePath = path.resolve(baseDir, attachment.path);
    return {
      fileName: attachment.fileName,
      attachmentType: attachment.attachmentType,
      attachmentTypeName: attachment.attachmentTypeName ?? null,
      attachmentTypeNameLanguage: attachment.attachmentTypeNameLanguage ?? null,
      path: filePath,
      open: () => fs.createReadStream(filePath),
    };
  });
  return {
    idempotencyKey: raw.externalReference ?? `sha256:${createHash('sha256').update(JSON.stringify(raw)).digest('hex')}`,
    externalReference: raw.externalReference ?? null,
    serviceCode: String(raw.serviceCode),
    serviceEditionCode: Number(raw.serviceEditionCode),
    reportee: raw.reportee,
    reporteeType: raw.reporteeType,
    ...(raw.archivedAt !== undefined && { archivedAt: dateTime(raw.archivedAt, `${field}.archivedAt`, problems) }),
    caseId: raw.caseId === undefined || raw.caseId === null ? null : Number(raw.caseId),
    forms,
    approvers,
    attachments,
    ...(raw.shipmentMetadata !== undefined && { shipmentMetadata: shipmentMetadata(raw.shipmentMetadata) }),
    ...(raw.soEncryptedSymmetricKey && {
      soEncryptedSymmetricKey: encryptedSymmetricKey(raw.soEncryptedSymmetricKey, `${field}.soEncryptedSymmetricKey`, problems),
    }),
  };
}

/** Two tasks of one file with the same key would be one task archived, one skipped: refused instead. */
function duplicateKeys(raw: RawTask[], tasks: { idempotencyKey: string }[]): string[] {
  const first = new Map<string, number>();
  const problems: string[] = [];
  tasks.forEach((task, index) => {
    const earlier = first.get(task.idempotencyKey);
    if (earlier === undefined) {
      first.set(task.idempotencyKey, index);
    } else if (raw[index]!.externalReference !== undefined) {
      problems.push(`formTasks[${index}].externalReference: '${raw[index]!.externalReference}' is also the externalReference of formTasks[${earlier}]`);
    } else {
      problems.push(`formTasks[${index}]: the same entry as formTasks[${earlier}] (give each an externalReference to archive both)`);
    }
  });
  return problems;
}

function shipmentMetadata(value: Record<string, string | null>): ShipmentMetadataEntry[] {
  return Object.entries(value).map(([key, entryValue]) => ({ key, value: entryValue }));
}

function encryptedSymmetricKey(value: { certificateThumbprint: string; encryptedKey: string }, field: string, problems: string[]): EncryptedSymmetricKey {
  const thumbprint = normalizeThumbprint(value.certificateThumbprint);
  if (!thumbprint) problems.push(`${field}.certificateThumbprint: must be a certificate thumbprint (40 hexadecimal characters)`);
  const encryptedKey = decodeStrictBase64(value.encryptedKey);
  if (!encryptedKey || encryptedKey.length === 0) problems.push(`${field}.encryptedKey: must be base64 text`);
  return { certificateThumbprint: thumbprint ?? '', encryptedKey: encryptedKey ?? Buffer.alloc(0) };
}

const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-](\d{2}):(\d{2}))$/;

/** Calendar-checked (JavaScript would turn 30 February into 1 March); the schema has checked the form. */
function dateTime(value: string, field: string, problems: string[]): Date {
  const match = DATE_TIME.exec(value);
  const [year, month, day, hour, minute, second, offsetHours, offsetMinutes] = (match?.slice(1) ?? []).map((part) => Number(part ?? 0));
  const daysInMonth = new Date(Date.UTC(year!, month!, 0)).getUTCDate();
  const inRange =
    match !== null && month! >= 1 && month! <= 12 && day! >= 1 && day! <= daysInMonth &&
    hour! <= 23 && minute! <= 59 && second! <= 59 && offsetHours! <= 14 && offsetMinutes! <= 59;
  const date = new Date(value);
  if (!inRange || Number.isNaN(date.getTime())) {
    problems.push(`${field}: not a valid date-time (use ISO 8601 with a time zone, e.g. 2024-03-05T13:05:00Z)`);
  }
  return date;
}
