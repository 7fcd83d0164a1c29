/**
 * What a service accepts through the REST API, set by the service owner (`service add` options,
 * a definition file, or `service define`):
 *
 *   {
 *     "mainForm":  { "dataFormatId": "5703", "dataFormatVersions": [34114] },
 *     "subForms":  [ { "dataFormatId": "5704", "dataFormatVersions": [34115, 34116] } ],
 *     "attachmentRules": [
 *       { "attachmentTypeName": "Vedlegg", "allowedMimeTypes": ["application/pdf", "image/png"],
 *         "maxFileSizeBytes": 10485760, "maxAttachmentCount": 5 }
 *     ]
 *   }
 *
 * A member left out means "unrestricted": any main form data format, any sub forms, any
 * attachment (within the gateway's default size and count limits). An empty list means "none":
 * `"subForms": []` allows no sub forms, `"attachmentRules": []` no attachments. A MIME type
 * `"*"` allows any file type. A file's MIME type is taken from its name's extension.
 */
import path from 'node:path';
import type { Db } from '../storage/db';
import { parseXml, XmlRejectedError } from '../xml/parser';
import { invalidField, type MessageError } from './errors';
import type { FormType } from './types';

export interface FormRule {
  dataFormatId: string;
  dataFormatVersions: number[];
}

export interface AttachmentRule {
  /** The functional type, which requests name as `AttachmentType`. */
  attachmentTypeName: string;
  /** MIME types, or `*` for any. */
  allowedMimeTypes: string[];
  maxFileSizeBytes: number;
  maxAttachmentCount: number;
}

export interface ServiceDefinition {
  mainForm?: FormRule;
  subForms?: FormRule[];
  attachmentRules?: AttachmentRule[];
}

export class ServiceDefinitionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ServiceDefinitionError';
  }
}

// ---- reading a definition (file, CLI, database) ----

const INT32_MAX = 2_147_483_647;
const MIME_TYPE = /^(\*|[a-z0-9][\w.+-]*\/[\w.+-]+)$/i;

/** A definition from untrusted JSON; the error names the offending member. */
export function parseServiceDefinition(value: unknown, where = 'definition'): ServiceDefinition {
  const fail = (field: string, problem: string): never => {
    throw new ServiceDefinitionError(`${where}${field}: ${problem}`);
  };
  if (!isObject(value)) fail('', 'must be a JSON object');
  const input = value as Record<string, unknown>;
  for (const key of Object.keys(input)) {
    if (!['mainForm', 'subForms', 'attachmentRules'].includes(key)) fail(`.${key}`, 'is not a known member (mainForm, subForms, attachmentRules)');
  }
  const definition: ServiceDefinition = {};
  if (input.mainForm !== undefined) definition.mainForm = parseFormRule(input.mainForm, '.mainForm', fail);
  if (input.subForms !== undefined) {
    if (!Array.isArray(input.subForms)) fail('.subForms', 'must be a list');
    definition.subForms = (input.subForms as unknown[]).map((rule, i) => parseFormRule(rule, `.subForms[${i}]`, fail));
  }
  if (input.attachmentRules !== undefined) {
    if (!Array.isArray(input.attachmentRules)) fail('.attachmentRules', 'must be a list');
    const names = new Set<string>();
    definition.attachmentRules = (input.attachmentRules as unknown[]).map((rule, i) => {
      const parsed = parseAttachmentRule(rule, `.attachmentRules[${i}]`, fail);
      if (names.has(parsed.attachmentTypeName)) fail(`.attachmentRules[${i}].attachmentTypeName`, `'${parsed.attachmentTypeName}' is defined twice`);
      names.add(parsed.attachmentTypeName);
      return parsed;
    });
  }
  return definition;
}

type Fail = (field: string, problem: string) => never;

function parseFormRule(value: unknown, field: string, fail: Fail): FormRule {
  if (!isObject(value)) fail(field, 'must be an object with dataFormatId and dataFormatVersions');
  const rule = value as Record<string, unknown>;
  const dataFormatId = rule.dataFormatId;
  if (typeof dataFormatId !== 'string' || dataFormatId.trim() === '') fail(`${field}.dataFormatId`, 'must be a non-empty string');
  const versions = rule.dataFormatVersions;
  if (!Array.isArray(versions) || versions.length === 0) fail(`${field}.dataFormatVersions`, 'must be a non-empty list of whole numbers');
  for (const [i, version] of (versions as unknown[]).entries()) {
    if (!isInt(version, 0)) fail(`${field}.dataFormatVersions[${i}]`, `must be a whole number from 0 to ${INT32_MAX}`);
  }
  return { dataFormatId: dataFormatId as string, dataFormatVersions: [...new Set(versions as number[])] };
}

function parseAttachmentRule(value: unknown, field: string, fail: Fail): AttachmentRule {
  if (!isObject(value)) fail(field, 'must be an object');
  const rule = value as Record<string, unknown>;
  const name = rule.attachmentTypeName;
  if (typeof name !== 'string' || name.trim() === '') fail(`${field}.attachmentTypeName`, 'must be a non-empty string');
  const mimeTypes = rule.allowedMimeTypes ?? ['*'];
  if (!Array.isArray(mimeTypes) || mimeTypes.length === 0) fail(`${field}.allowedMimeTypes`, 'must be a non-empty list of MIME types (or "*")');
  for (const [i, mime] of (mimeTypes as unknown[]).entries()) {
    if (typeof mime !== 'string' || !MIME_TYPE.test(mime)) fail(`${field}.allowedMimeTypes[${i}]`, 'must be a MIME type such as application/pdf, or "*"');
  }
  const maxFileSizeBytes = rule.maxFileSizeBytes;
  if (!isInt(maxFileSizeBytes, 1, Number.MAX_SAFE_INTEGER)) fail(`${field}.maxFileSizeBytes`, 'must be a whole number of bytes, at least 1');
  const maxAttachmentCount = rule.maxAttachmentCount;
  if (!isInt(maxAttachmentCount, 1)) fail(`${field}.maxAttachmentCount`, 'must be a whole number, at least 1');
  for (const key of Object.keys(rule)) {
    if (!['attachmentTypeName', 'allowedMimeTypes', 'maxFileSizeBytes', 'maxAttachmentCount'].includes(key)) {
      fail(`${field}.${key}`, 'is not a known member (attachmentTypeName, allowedMimeTypes, maxFileSizeBytes, maxAttachmentCount)');
    }
  }
  return {
    attachmentTypeName: (name as string).trim(),
    allowedMimeTypes: (mimeTypes as string[]).map((m) => m.toLowerCase()),
    maxFileSizeBytes: maxFileSizeBytes as number,
    maxAttachmentCount: maxAttachmentCount as number,
  };
}

function isObject(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isInt(value: unknown, min: number, max = INT32_MAX): boolean {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}

// ---- storage ----

export async function getServiceDefinition(db: Db, serviceId: number): Promise<ServiceDefinition | undefined> {
  const row = await db('service_definitions').where({ service_id: serviceId }).first<{ definition: unknown } | undefined>('definition');
  if (!row) return undefined;
  return parseServiceDefinition(typeof row.definition === 'string' ? JSON.parse(row.definition) : row.definition);
}

/** Sets (replaces) the service's definition; `null` removes it (everything accepted again). */
export async function setServiceDefinition(db: Db, serviceId: number, definition: ServiceDefinition | null): Promise<void> {
  if (definition === null) {
    await db('service_definitions').where({ service_id: serviceId }).delete();
    return;
  }
  const json = JSON.stringify(parseServiceDefinition(definition));
  await db('service_definitions')
    .insert({ service_id: serviceId, definition: json })
    .onConflict('service_id')
    .merge({ definition: json, updated_at: db.fn.now() });
}

// ---- checking requests against a definition ----

export interface AttachmentLimits {
  defaultAttachmentMaxBytes: number;
  defaultAttachmentMaxCount: number;
}

/** A form as a request gives it (field: where it is in the request, for messages). */
export interface FormCandidate {
  type: FormType;
  dataFormatId: string;
  dataFormatVersion: number;
  formData: string;
}

export function checkForm(definition: ServiceDefinition | undefined, form: FormCandidate, field: string): void {
  try {
    // Same hardened parser (and limits) as the SOAP side: what is stored can be presented again.
    parseXml(form.formData);
  } catch (error) {
    const reason = error instanceof XmlRejectedError ? error.message : (error as Error).message;
    throw invalidField(`${field}.FormData`, `is not well-formed XML: ${reason}`, 'FormDataNotWellFormed');
  }
  if (form.type === 'MainForm') {
    const rule = definition?.mainForm;
    if (rule) checkFormat(form, [rule], field, 'the main form');
  } else {
    const rules = definition?.subForms;
    if (rules) {
      if (rules.length === 0) throw invalidField(`${field}.Type`, 'this service has no sub forms', 'DataFormatNotAllowed');
      checkFormat(form, rules, field, 'a sub form');
    }
  }
}

function checkFormat(form: FormCandidate, rules: FormRule[], field: string, what: string): void {
  const allowed = rules.map((r) => `${r.dataFormatId} (versions ${r.dataFormatVersions.join(', ')})`).join('; ');
  const sameId = rules.filter((r) => r.dataFormatId === form.dataFormatId);
  if (sameId.length === 0) {
    throw invalidField(`${field}.DataFormatId`, `'${form.dataFormatId}' is not allowed for ${what} of this service (allowed: ${allowed})`, 'DataFormatNotAllowed');
  }
  if (!sameId.some((r) => r.dataFormatVersions.includes(form.dataFormatVersion))) {
    throw invalidField(
      `${field}.DataFormatVersion`,
      `${form.dataFormatVersion} is not an allowed version of data format ${form.dataFormatId} (allowed: ${allowed})`,
      'DataFormatNotAllowed',
    );
  }
}

/** An attachment as a request gives it, before its bytes are read. */
export interface AttachmentCandidate {
  fileName: string;
  attachmentType: string;
}

export interface AcceptedAttachment {
  fileName: string;
  attachmentType: string;
  mimeType: string;
  /** The most bytes it may have. */
  maxBytes: number;
}

export interface AttachmentFields {
  fileName: string;
  attachmentType: string;
}

/**
 * Whether one more attachment like this is accepted, given the attachments the message already
 * has (their functional types); and how large it may be.
 */
export function checkAttachment(
  definition: ServiceDefinition | undefined,
  limits: AttachmentLimits,
  candidate: AttachmentCandidate,
  existingTypes: string[],
  fields: AttachmentFields,
): AcceptedAttachment {
  const fileName = candidate.fileName;
  if (fileName.trim() === '' || fileName.length > 255 || /[\\/\u0000-\u001f\u007f]/.test(fileName)) {
    throw invalidField(fields.fileName, 'must be a file name of 1-255 characters without path separators or control characters', 'InvalidFileName');
  }
  const attachmentType = candidate.attachmentType.trim();
  if (attachmentType === '' || attachmentType.length > 255) throw invalidField(fields.attachmentType, 'must be a non-empty attachment type name');
  const mimeType = mimeTypeOf(fileName);

  const rules = definition?.attachmentRules;
  if (!rules) {
    if (existingTypes.length + 1 > limits.defaultAttachmentMaxCount) {
      throw invalidField(fields.attachmentType, `a message of this service holds at most ${limits.defaultAttachmentMaxCount} attachments`, 'TooManyAttachments');
    }
    return { fileName, attachmentType, mimeType, maxBytes: limits.defaultAttachmentMaxBytes };
  }
  if (rules.length === 0) throw invalidField(fields.attachmentType, 'this service accepts no attachments', 'AttachmentTypeNotAllowed');
  const rule = rules.find((r) => r.attachmentTypeName === attachmentType);
  if (!rule) {
    throw invalidField(
      fields.attachmentType,
      `'${attachmentType}' is not an attachment type of this service (allowed: ${rules.map((r) => r.attachmentTypeName).join(', ')})`,
      'AttachmentTypeNotAllowed',
    );
  }
  if (!rule.allowedMimeTypes.includes('*') && !rule.allowedMimeTypes.includes(mimeType)) {
    throw invalidField(
      fields.fileName,
      `files of type ${mimeType} ('${path.extname(fileName) || 'no extension'}') are not allowed for attachment type '${rule.attachmentTypeName}' (allowed: ${rule.allowedMimeTypes.join(', ')})`,
      'FileTypeNotAllowed',
    );
  }
  const sameType = existingTypes.filter((t) => t === rule.attachmentTypeName).length;
  if (sameType + 1 > rule.maxAttachmentCount) {
    throw invalidField(
      fields.attachmentType,
      `at most ${rule.maxAttachmentCount} attachment(s) of type '${rule.attachmentTypeName}' are allowed`,
      'TooManyAttachments',
    );
  }
  return { fileName, attachmentType: rule.attachmentTypeName, mimeType, maxBytes: rule.maxFileSizeBytes };
}

export function tooLarge(field: string, attachment: AcceptedAttachment, sizeBytes?: number): MessageError {
  const size = sizeBytes === undefined ? 'is larger than' : `is ${sizeBytes} bytes; more than`;
  return invalidField(field, `the attachment ${size} the ${attachment.maxBytes} bytes allowed for attachment type '${attachment.attachmentType}'`, 'AttachmentTooLarge');
}

// ---- MIME types ----

const MIME_BY_EXTENSION: Record<string, string> = {
  '.pdf': 'application/pdf',
  '.xml': 'application/xml',
  '.txt': 'text/plain',
  '.csv': 'text/csv',
  '.htm': 'text/html',
  '.html': 'text/html',
  '.json': 'application/json',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.tif': 'image/tiff',
  '.tiff': 'image/tiff',
  '.bmp': 'image/bmp',
  '.svg': 'image/svg+xml',
  '.doc': 'application/msword',
  '.docx': 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  '.xls': 'application/vnd.ms-excel',
  '.xlsx': 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  '.ppt': 'application/vnd.ms-powerpoint',
  '.pptx': 'application/vnd.openxmlformats-officedocument.presentationml.presentation',
  '.odt': 'application/vnd.oasis.opendocument.text',
  '.ods': 'application/vnd.oasis.opendocument.spreadsheet',
  '.rtf': 'application/rtf',
  '.zip': 'application/zip',
  '.gz': 'application/gzip',
  '.msg': 'application/vnd.ms-outlook',
  '.eml': 'message/rfc822',
};

/** MIME type from the file name's extension; application/octet-stream when unknown. */
export function mimeTypeOf(fileName: string): string {
  return MIME_BY_EXTENSION[path.extname(fileName).toLowerCase()] ?? 'application/octet-stream';
}

/** The archive writes MIME types with '_' for '/', e.g. application_pdf. */
export function archiveAttachmentType(mimeType: string): string {
  return mimeType.replace('/', '_');
}

export function mimeTypeFromArchive(attachmentType: string): string {
  return attachmentType.includes('/') ? attachmentType : attachmentType.replace('_', '/');
}
