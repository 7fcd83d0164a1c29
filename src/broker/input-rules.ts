/**
 * The input rules of a file transfer's metadata (CONTRACT §2.1), the same whichever door it came
 * through. As Altinn's model validation does, every broken rule is reported at once, keyed by the
 * model's property name (`FileName`, `Recipients`, ...), with Altinn's messages; doors translate
 * keys to their own names where they differ. The limits are exported so that a door's schema can
 * document them; the check itself is here, once.
 */
import { BrokerError } from './errors';
import { parsePartyId, PERSON_CANNOT_BE_PARTY } from './parties';

export const LIMITS = {
  fileNameMaxLength: 255,
  sendersReferenceMaxLength: 4096,
  resourceIdMaxLength: 255,
  propertyListMaxEntries: 10,
  propertyKeyMaxLength: 50,
  propertyValueMaxLength: 3000,
} as const;

export const RESOURCE_ID_PATTERN = /^(?:urn:altinn:resource:)?[^:]{1,255}$/;
export const PARTY_ID_PATTERN = /^(?:\d{4}:\d{9}|urn:altinn:organization:identifier-no:\d{9})$/;

const SENDER_FORM = 'Organization numbers should be on the form countrycode:organizationnumber (e.g. 0192:910753614) or urn:altinn:organization:identifier-no:organizationnumber';
const RECIPIENT_FORM = 'Each recipient should be on the form countrycode:organizationnumber (e.g. 0192:910753614) or urn:altinn:organization:identifier-no:organizationnumber';

/** Broken rules, collected by property; `throwIfAny` raises them as one InvalidInput error. */
export class ValidationErrors {
  readonly errors: Record<string, string[]> = {};

  add(property: string, message: string): void {
    (this.errors[property] ??= []).push(message);
  }

  get any(): boolean {
    return Object.keys(this.errors).length > 0;
  }

  throwIfAny(): void {
    if (!this.any) return;
    const [first] = Object.entries(this.errors);
    throw new BrokerError('InvalidInput', `${first![0]}: ${first![1][0]}`, { errors: this.errors });
  }
}

function lengthMessage(property: string, max: number): string {
  return `The field ${property} must be a string with a minimum length of 1 and a maximum length of ${max}.`;
}

const required = (property: string) => `The ${property} field is required.`;

/** PostgreSQL stores no U+0000 in text: refused in every text rather than failing the INSERT. */
const NUL_MESSAGE = (property: string) => `The field ${property} must not contain the character U+0000.`;

/** A required string of 1..max characters, without U+0000 (and no control characters at all in a file name). */
export function checkText(errors: ValidationErrors, property: string, value: unknown, max: number, options: { required?: boolean } = {}): string | undefined {
  if (value === undefined || value === null || value === '') {
    if (options.required ?? true) errors.add(property, required(property));
    if (value === '') errors.add(property, lengthMessage(property, max));
    return undefined;
  }
  if (typeof value !== 'string') {
    errors.add(property, `The field ${property} must be a string.`);
    return undefined;
  }
  if (value.length > max) errors.add(property, lengthMessage(property, max));
  if (value.includes('\u0000')) errors.add(property, NUL_MESSAGE(property));
  return value;
}

export function checkFileName(errors: ValidationErrors, value: unknown, property = 'FileName'): string | undefined {
  const fileName = checkText(errors, property, value, LIMITS.fileNameMaxLength);
  // A file name reaches headers (Content-Disposition) and other systems' file systems.
  if (fileName !== undefined && /[\x00-\x1f\x7f]/.test(fileName)) errors.add(property, `The field ${property} must not contain control characters.`);
  return fileName;
}

export function checkResourceId(errors: ValidationErrors, value: unknown, property = 'ResourceId'): string | undefined {
  const resourceId = checkText(errors, property, value, LIMITS.resourceIdMaxLength);
  if (resourceId !== undefined && !RESOURCE_ID_PATTERN.test(resourceId)) errors.add(property, 'Invalid Resource identifier format');
  return resourceId;
}

/** A party id as '0192:<orgnr>'; Altinn's pattern message, or ours for a number that cannot be an organisation. */
function checkParty(errors: ValidationErrors, property: string, value: string, formMessage: string): string | undefined {
  const parsed = parsePartyId(value);
  if (!('error' in parsed)) return parsed.partyId;
  errors.add(property, PARTY_ID_PATTERN.test(value) || parsed.error === PERSON_CANNOT_BE_PARTY ? parsed.error : formMessage);
  return undefined;
}

export function checkSender(errors: ValidationErrors, value: unknown, property = 'Sender'): string | undefined {
  if (value === undefined || value === null || value === '') {
    errors.add(property, required(property));
    return undefined;
  }
  if (typeof value !== 'string') {
    errors.add(property, SENDER_FORM);
    return undefined;
  }
  return checkParty(errors, property, value, SENDER_FORM);
}

export function checkRecipients(errors: ValidationErrors, value: unknown, property = 'Recipients'): string[] | undefined {
  if (value === undefined || value === null) {
    errors.add(property, required(property));
    return undefined;
  }
  if (!Array.isArray(value) || value.length === 0) {
    errors.add(property, 'One or more recipients are required');
    return undefined;
  }
  const parties: string[] = [];
  for (const recipient of value) {
    const party = typeof recipient === 'string' ? checkParty(errors, property, recipient, RECIPIENT_FORM) : (errors.add(property, RECIPIENT_FORM), undefined);
    if (party !== undefined) parties.push(party);
  }
  // The same organisation twice is one recipient.
  return [...new Set(parties)];
}

export function checkPropertyList(errors: ValidationErrors, value: unknown, property = 'PropertyList'): Record<string, string> | undefined {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    errors.add(property, value === null ? required(property) : `The field ${property} must be an object of string values.`);
    return undefined;
  }
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length > LIMITS.propertyListMaxEntries) {
    errors.add(property, `PropertyList can contain at most ${LIMITS.propertyListMaxEntries} properties`);
    return undefined;
  }
  for (const [key, entry] of entries) {
    if (typeof entry !== 'string') {
      errors.add(property, `PropertyList values must be strings (the value of '${key.slice(0, LIMITS.propertyKeyMaxLength)}' is not)`);
      return undefined;
    }
    if (key.length > LIMITS.propertyKeyMaxLength) {
      errors.add(property, `PropertyList Key can not be longer than ${LIMITS.propertyKeyMaxLength}. Length:${key.length}, KeyValue:${key}`);
      return undefined;
    }
    if (entry.length > LIMITS.propertyValueMaxLength) {
      errors.add(property, `PropertyList Value can not be longer than ${LIMITS.propertyValueMaxLength}. Length:${entry.length}, Value:${entry}`);
      return undefined;
    }
    if (key.includes('\u0000') || entry.includes('\u0000')) {
      errors.add(property, NUL_MESSAGE(property));
      return undefined;
    }
  }
  return Object.fromEntries(entries as [string, string][]);
}

/** An MD5 given by the sender: empty means none; otherwise 32 lower-case hex characters. */
export function checkChecksum(errors: ValidationErrors, value: unknown, property = 'Checksum'): string | null {
  if (value === undefined || value === null || value === '') return null;
  if (typeof value !== 'string' || value.length !== 32) {
    errors.add(property, 'The checksum, if used, must be a MD5 hash with a length of 32 characters');
    return null;
  }
  if (value !== value.toLowerCase()) {
    errors.add(property, 'The checksum, if used, must be a MD5 hash in lower case');
    return null;
  }
  if (!/^[0-9a-f]{32}$/.test(value)) errors.add(property, 'The checksum, if used, must be a MD5 hash: 32 hexadecimal characters');
  return value;
}
