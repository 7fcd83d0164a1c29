/**
 * Sensitive fields of an encrypted service: the elements of its form data that are encrypted one
 * by one (each replaced by its own XML-Enc EncryptedData) instead of the whole root element.
 *
 * A field is written as local names (no prefixes; namespaces are not compared):
 *
 * - a bare name, `Fodselsnummer`: every element with that local name, at any depth below the root;
 * - a slash path from the root, `Skjema/Innsender/Fodselsnummer`: the first name is the root
 *   element's, each next one a child of the one before (no wildcards, no leading `/`).
 *
 * The root element itself is never a field. When one matching element lies inside another, the
 * outer one is encrypted whole (with what it contains). A form in which no listed field occurs is
 * encrypted whole (its root), as for a service without sensitive fields: the list narrows
 * encryption, it never lets a form through in clear because its fields are named differently.
 */
import type { ElementPosition } from '../xml/element-spans';

export const MAX_SENSITIVE_FIELDS = 100;
const MAX_FIELD_LENGTH = 500;
// An XML NCName, approximately (letters, digits and the usual name punctuation; no ':').
const NC_NAME = /^[\p{L}_][\p{L}\p{N}\p{Mn}\p{Mc}._\u00B7\u203F\u2040-]*$/u;

export class SensitiveFieldError extends Error {
  override name = 'SensitiveFieldError';
}

/**
 * The list from a comma-separated option or a stored list: trimmed, empty entries and repeats
 * dropped, each checked; throws SensitiveFieldError naming the first bad one.
 */
export function parseSensitiveFields(input: string | readonly string[]): string[] {
  const entries = typeof input === 'string' ? input.split(',') : input;
  const fields: string[] = [];
  for (const raw of entries) {
    const field = raw.trim();
    if (field === '' || fields.includes(field)) continue;
    const problem = sensitiveFieldProblem(field);
    if (problem) throw new SensitiveFieldError(`Sensitive field '${field}': ${problem}`);
    fields.push(field);
  }
  if (fields.length > MAX_SENSITIVE_FIELDS) throw new SensitiveFieldError(`At most ${MAX_SENSITIVE_FIELDS} sensitive fields can be listed (got ${fields.length})`);
  return fields;
}

function sensitiveFieldProblem(field: string): string | undefined {
  if (field.length > MAX_FIELD_LENGTH) return `longer than ${MAX_FIELD_LENGTH} characters`;
  if (field.startsWith('/')) return "write the path without a leading '/' (its first name is the root element's)";
  const names = field.split('/');
  const bad = names.find((name) => !NC_NAME.test(name));
  if (bad !== undefined) {
    return bad === '' ? 'has an empty step' : `'${bad}' is not an element's local name (no prefixes, wildcards or predicates)`;
  }
  return undefined;
}

/** A test for whether the element at a position is one of `fields` (never the root). */
export function sensitiveFieldMatcher(fields: readonly string[]): (position: ElementPosition) => boolean {
  const paths = fields.map((field) => field.split('/'));
  return (position) =>
    position.depth > 0 &&
    paths.some((names) =>
      names.length === 1
        ? names[0] === position.local
        : names.length === position.depth + 1 && names[names.length - 1] === position.local && position.ancestors.every((ancestor, i) => names[i] === ancestor),
    );
}
