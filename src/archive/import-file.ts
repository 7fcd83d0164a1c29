/**
 * The archive import file (`altinn-gateway archive import FILE.json`):
 *
 *   { "serviceOwner": "<orgnr>",
 *     "formTasks": [ { "serviceCode", "serviceEditionCode", "reportee", "reporteeType",
 *                      "archivedAt"?, "caseId"?,
 *                      "forms": [ { "dataFormatId", "dataFormatVersion", "formData", "parentReference"? } ],
 *                      "approvers": [ { "approverId", "approvedAt", "securityLevel" } ],
 *                      "attachments": [ { "fileName", "attachmentType", "attachmentTypeName"?,
 *                                         "attachmentTypeNameLanguage"?, "path" } ],
 *                      "shipmentMetadata"?: { "key": "value" },
 *                      "soEncryptedSymmetricKey"?: { "certificateThumbprint", "encryptedKey" } } ] }
 *
 * - `parentReference` makes a form a sub form: it is the 0-based index, within the same task's
 *   `forms`, of its main form (which must come earlier and not be a sub form itself).
 * - `path` is relative to the directory of the JSON file (or absolute).
 * - Date-times are ISO 8601 with a time zone (`2024-03-05T13:05:00Z`, `...+01:00`).
 * - Codes and versions may be JSON numbers or strings of digits.
 * - `shipmentMetadata` keeps the object's key order (JavaScript puts integer-like keys first).
 * - `soEncryptedSymmetricKey` marks content the submitter already encrypted for the service owner
 *   (Altinn's scheme: `encryptedKey` is the base64 of the RSA-wrapped 32-byte key blob,
 *   `certificateThumbprint` the SHA-1 thumbprint of the owner's certificate it was wrapped under).
 *   Forms and attachments are then stored and delivered as given, attachments marked IsEncrypted.
 * - Unknown fields are refused, so a misspelt optional field does not vanish silently.
 *
 * Shape errors name the field as a path, e.g. `formTasks[2].approvers[0].approvedAt: not a valid date-time`.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { NewAttachment, NewForm, NewFormTask } from './archive-form-tasks';
import { isOrgNumber } from './add-service-owner';
import { normalizeThumbprint } from '../crypto/certificate';
import { decodeStrictBase64 } from '../encoding/base64';
import { ArchiveError } from './errors';
import {
  REPORTEE_TYPES,
  SECURITY_LEVELS,
  type Approver,
  type EncryptedSymmetricKey,
  type ReporteeType,
  type SecurityLevel,
  type ShipmentMetadataEntry,
} from './types';

export interface ImportFile {
  /** Organisation number of the service owner the tasks are archived for. */
  serviceOwner: string;
  formTasks: NewFormTask[];
}

/** An attachment read from a file named in the import file. */
export interface FileAttachment extends NewAttachment {
  /** Absolute path of the file. */
  path: string;
}

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

/** Check the shape of parsed JSON; attachment paths are resolved against `baseDir`. */
export function parseImportFile(data: unknown, baseDir: string): ImportFile {
  const root = object(data, '(import file)', ['serviceOwner', 'formTasks'], []);
  if (typeof root.serviceOwner !== 'string' || !isOrgNumber(root.serviceOwner)) {
    throw invalid('serviceOwner', 'must be an organisation number (a string of 9 digits)');
  }
  const formTasks = list(root.formTasks, 'formTasks');
  if (formTasks.length === 0) throw invalid('formTasks', 'must hold at least one form task');
  return {
    serviceOwner: root.serviceOwner,
    formTasks: formTasks.map((task, index) => parseTask(task, `formTasks[${index}]`, baseDir)),
  };
}

async function checkAttachmentFiles(importFile: ImportFile): Promise<void> {
  for (const [taskIndex, task] of importFile.formTasks.entries()) {
    for (const [index, attachment] of (task.attachments as FileAttachment[]).entries()) {
      const field = `formTasks[${taskIndex}].attachments[${index}].path`;
      let stat: fs.Stats;
      try {
        stat = await fs.promises.stat(attachment.path);
      } catch {
        throw invalid(field, `file not found: ${attachment.path}`);
      }
      if (!stat.isFile()) throw invalid(field, `not a regular file: ${attachment.path}`);
    }
  }
}

function parseTask(value: unknown, field: string, baseDir: string): NewFormTask {
  const task = object(
    value,
    field,
    ['serviceCode', 'serviceEditionCode', 'reportee', 'reporteeType', 'forms', 'approvers', 'attachments'],
    ['archivedAt', 'caseId', 'shipmentMetadata', 'soEncryptedSymmetricKey'],
  );
  const forms = list(task.forms, `${field}.forms`);
  if (forms.length === 0) throw invalid(`${field}.forms`, 'must hold at least one form');
  const parsedForms = forms.map((form, index) => parseForm(form, `${field}.forms[${index}]`, index));
  parsedForms.forEach((form, index) => {
    if (form.parentIndex != null && parsedForms[form.parentIndex]!.parentIndex != null) {
      throw invalid(`${field}.forms[${index}].parentReference`, `form ${form.parentIndex} is itself a sub form; a parent must be a main form`);
    }
  });
  return {
    serviceCode: code(task.serviceCode, `${field}.serviceCode`),
    serviceEditionCode: integer(task.serviceEditionCode, `${field}.serviceEditionCode`),
    reportee: text(task.reportee, `${field}.reportee`),
    reporteeType: oneOf<ReporteeType>(task.reporteeType, `${field}.reporteeType`, REPORTEE_TYPES),
    ...(task.archivedAt !== undefined && { archivedAt: dateTime(task.archivedAt, `${field}.archivedAt`) }),
    caseId: task.caseId === undefined || task.caseId === null ? null : integer(task.caseId, `${field}.caseId`),
    forms: parsedForms,
    approvers: list(task.approvers, `${field}.approvers`).map((approver, index) => parseApprover(approver, `${field}.approvers[${index}]`)),
    attachments: list(task.attachments, `${field}.attachments`).map((attachment, index) =>
      parseAttachment(attachment, `${field}.attachments[${index}]`, baseDir),
    ),
    ...(task.shipmentMetadata !== undefined && { shipmentMetadata: parseShipmentMetadata(task.shipmentMetadata, `${field}.shipmentMetadata`) }),
    ...(task.soEncryptedSymmetricKey !== undefined &&
      task.soEncryptedSymmetricKey !== null && {
        soEncryptedSymmetricKey: parseEncryptedSymmetricKey(task.soEncryptedSymmetricKey, `${field}.soEncryptedSymmetricKey`),
      }),
  };
}

function parseForm(value: unknown, field: string, index: number): NewForm {
  const form = object(value, field, ['dataFormatId', 'dataFormatVersion', 'formData'], ['parentReference']);
  let parentIndex: number | null = null;
  if (form.parentReference !== undefined && form.parentReference !== null) {
    parentIndex = integer(form.parentReference, `${field}.parentReference`);
    if (parentIndex >= index) {
      throw invalid(`${field}.parentReference`, `must be the 0-based index of an earlier form in this task (0 to ${index - 1})`);
    }
  }
  if (typeof form.formData !== 'string') throw invalid(`${field}.formData`, 'must be a string holding the form XML');
  return {
    dataFormatId: code(form.dataFormatId, `${field}.dataFormatId`),
    dataFormatVersion: integer(form.dataFormatVersion, `${field}.dataFormatVersion`),
    formData: form.formData,
    parentIndex,
  };
}

function parseApprover(value: unknown, field: string): Approver {
  const approver = object(value, field, ['approverId', 'approvedAt', 'securityLevel'], []);
  return {
    approverId: text(approver.approverId, `${field}.approverId`),
    approvedAt: dateTime(approver.approvedAt, `${field}.approvedAt`),
    securityLevel: oneOf<SecurityLevel>(approver.securityLevel, `${field}.securityLevel`, SECURITY_LEVELS),
  };
}

function parseAttachment(value: unknown, field: string, baseDir: string): FileAttachment {
  const attachment = object(value, field, ['fileName', 'attachmentType', 'path'], ['attachmentTypeName', 'attachmentTypeNameLanguage']);
  const filePath = path.resolve(baseDir, text(attachment.path, `${field}.path`));
  return {
    fileName: text(attachment.fileName, `${field}.fileName`),
    attachmentType: text(attachment.attachmentType, `${field}.attachmentType`),
    attachmentTypeName: optionalText(attachment.attachmentTypeName, `${field}.attachmentTypeName`),
    attachmentTypeNameLanguage: optionalText(attachment.attachmentTypeNameLanguage, `${field}.attachmentTypeNameLanguage`),
    path: filePath,
    open: () => fs.createReadStream(filePath),
  };
}

function parseShipmentMetadata(value: unknown, field: string): ShipmentMetadataEntry[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(field, 'must be an object of "key": "value" pairs');
  }
  return Object.entries(value).map(([key, entryValue]) => {
    if (entryValue !== null && typeof entryValue !== 'string') throw invalid(`${field}.${key}`, 'must be a string or null');
    return { key, value: entryValue };
  });
}

function parseEncryptedSymmetricKey(value: unknown, field: string): EncryptedSymmetricKey {
  const key = object(value, field, ['certificateThumbprint', 'encryptedKey'], []);
  const thumbprint = typeof key.certificateThumbprint === 'string' ? normalizeThumbprint(key.certificateThumbprint) : undefined;
  if (!thumbprint) throw invalid(`${field}.certificateThumbprint`, 'must be a certificate thumbprint (40 hexadecimal characters)');
  return { certificateThumbprint: thumbprint, encryptedKey: base64(key.encryptedKey, `${field}.encryptedKey`) };
}

// ---- primitive checks ----

function invalid(field: string, problem: string): ArchiveError {
  return new ArchiveError('invalid_argument', `${field}: ${problem}`);
}

function object(value: unknown, field: string, required: string[], optional: string[]): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(field, 'must be an object');
  const record = value as Record<string, unknown>;
  const prefix = field.startsWith('(') ? '' : `${field}.`;
  for (const key of required) {
    if (record[key] === undefined) throw invalid(`${prefix}${key}`, 'is required');
  }
  for (const key of Object.keys(record)) {
    if (!required.includes(key) && !optional.includes(key)) throw invalid(`${prefix}${key}`, 'unknown field');
  }
  return record;
}

function list(value: unknown, field: string): unknown[] {
  if (!Array.isArray(value)) throw invalid(field, 'must be a list');
  return value;
}

function text(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.trim() === '') throw invalid(field, 'must be a non-empty string');
  return value;
}

function optionalText(value: unknown, field: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') throw invalid(field, 'must be a string');
  return value;
}

/** Codes (service code, data format id) are strings on the wire but are often written as numbers. */
function code(value: unknown, field: string): string {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return String(value);
  return text(value, field);
}

function integer(value: unknown, field: string): number {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  if (typeof value === 'string' && /^[0-9]{1,15}$/.test(value)) return Number(value);
  throw invalid(field, 'must be a whole number');
}

function base64(value: unknown, field: string): Buffer {
  const bytes = typeof value === 'string' ? decodeStrictBase64(value) : undefined;
  if (!bytes || bytes.length === 0) throw invalid(field, 'must be base64 text');
  return bytes;
}

function oneOf<T extends string>(value: unknown, field: string, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw invalid(field, `must be one of ${allowed.join(', ')}`);
  }
  return value as T;
}

const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-](\d{2}):(\d{2}))$/;

/** ISO 8601 date-time with a time zone; calendar-checked (JavaScript would turn 30 February into 1 March). */
function dateTime(value: unknown, field: string): Date {
  const problem = 'not a valid date-time (use ISO 8601 with a time zone, e.g. 2024-03-05T13:05:00Z)';
  if (typeof value !== 'string') throw invalid(field, problem);
  const match = DATE_TIME.exec(value);
  if (!match) throw invalid(field, problem);
  const [year, month, day, hour, minute, second, offsetHours, offsetMinutes] = match.slice(1).map((part) => Number(part ?? 0));
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  const inRange =
    month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth &&
    hour <= 23 && minute <= 59 && second <= 59 && offsetHours <= 14 && offsetMinutes <= 59;
  const date = new Date(value);
  if (!inRange || Number.isNaN(date.getTime())) throw invalid(field, problem);
  return date;
}
