/**
 * Parties of the broker are Norwegian organisations. On the wire a party id is `0192:<orgnr>` or
 * `urn:altinn:organization:identifier-no:<orgnr>` (CONTRACT §1); we store and return `0192:<orgnr>`.
 *
 * `0192` is the ISO 6523 ICD (issuing agency code) of Enhetsregisteret, the register of Norwegian
 * organisation numbers. Altinn's pattern lets any four digits through and then drops the prefix, so
 * `9908:<n>` or `0088:<n>` would silently become the Norwegian organisation `<n>`. We accept 0192
 * only: another ICD names another register, and its nine digits identify someone else. 9908 (the
 * retired code for the same register) is refused too, with a hint to write 0192.
 *
 * Organisation numbers carry a mod-11 check digit (weights 3 2 7 6 5 4 3 2 over the first eight
 * digits; remainder 0 → check digit 0, remainder 1 → no valid number has those eight digits).
 */

export const NORWEGIAN_ORGANISATION_ICD = '0192';
/** The ISO 6523 ICD formerly used for the same register; kept only to explain the refusal. */
const RETIRED_NORWEGIAN_ICD = '9908';
const ORGANISATION_URN_PREFIX = 'urn:altinn:organization:identifier-no:';

const ORG_NUMBER = /^[0-9]{9}$/;
const CHECK_DIGIT_WEIGHTS = [3, 2, 7, 6, 5, 4, 3, 2];
const NATIONAL_IDENTITY_NUMBER = /^[0-9]{11}$/;
const PERSON_URN = /^urn:altinn:person:identifier-no:[0-9]{11}$/;
/** CONTRACT §1, with the ICD and the organisation number captured. */
const PARTY_ID = /^(?:([0-9]{4}):([0-9]{9})|urn:altinn:organization:identifier-no:([0-9]{9}))$/;

/** Why `text` is not a valid organisation number, or undefined when it is one. */
export function orgNumberProblem(text: string): string | undefined {
  if (!ORG_NUMBER.test(text)) return 'an organisation number is exactly 9 digits';
  if (checkDigitOf(text.slice(0, 8)) !== Number(text[8])) return `${text} is not a valid organisation number (its check digit is wrong)`;
  return undefined;
}

export function isValidOrgNumber(text: string): boolean {
  return orgNumberProblem(text) === undefined;
}

/** The mod-11 check digit for eight digits, or undefined when no check digit fits (remainder 1). */
function checkDigitOf(firstEight: string): number | undefined {
  const sum = CHECK_DIGIT_WEIGHTS.reduce((total, weight, index) => total + weight * Number(firstEight[index]), 0);
  const remainder = sum % 11;
  if (remainder === 0) return 0;
  if (remainder === 1) return undefined;
  return 11 - remainder;
}

/** An 11-digit national identity number (fødselsnummer or D-number): never a broker party. */
export function isNationalIdentityNumber(text: string): boolean {
  return NATIONAL_IDENTITY_NUMBER.test(text);
}

export const PERSON_CANNOT_BE_PARTY = 'a national identity number cannot be a broker party: give an organisation as 0192:<organisation number>';

/** The stored form of a party: `0192:<orgnr>`. Throws on an invalid number (callers validate first). */
export function toPartyId(orgNumber: string): string {
  return `${NORWEGIAN_ORGANISATION_ICD}:${validOrgNumber(orgNumber)}`;
}

/** The organisation number of a stored party id (`0192:<orgnr>`). Throws on anything else. */
export function orgNumberOf(partyId: string): string {
  const parsed = parsePartyId(partyId);
  if ('error' in parsed || parsed.partyId !== partyId) throw new RangeError(`'${partyId}' is not a stored party id (0192:<organisation number>)`);
  return parsed.orgNumber;
}

/** `urn:altinn:organization:identifier-no:<orgnr>`, as Altinn names an organisation in events. */
export function organisationUrn(orgNumber: string): string {
  return `${ORGANISATION_URN_PREFIX}${validOrgNumber(orgNumber)}`;
}

function validOrgNumber(orgNumber: string): string {
  const problem = orgNumberProblem(orgNumber);
  if (problem) throw new RangeError(problem);
  return orgNumber;
}

export type ParsedPartyId = { orgNumber: string; partyId: string } | { error: string };

/**
 * A party id as a client sends it (CONTRACT §1 pattern, exactly: no trimming, case-sensitive
 * prefix), with a reason when it is refused. Refusals never repeat a national identity number.
 */
export function parsePartyId(text: string): ParsedPartyId {
  if (isNationalIdentityNumber(text) || PERSON_URN.test(text)) return { error: PERSON_CANNOT_BE_PARTY };
  const match = PARTY_ID.exec(text);
  if (!match) {
    const bare = ORG_NUMBER.test(text) ? `; write 0192:${text}` : '';
    return { error: `not a party id: write 0192:<organisation number> or ${ORGANISATION_URN_PREFIX}<organisation number>${bare}` };
  }
  const [, icd, digitsAfterIcd, digitsAfterUrn] = match;
  const orgNumber = (digitsAfterIcd ?? digitsAfterUrn)!;
  if (icd !== undefined && icd !== NORWEGIAN_ORGANISATION_ICD) {
    const hint = icd === RETIRED_NORWEGIAN_ICD ? `; ${RETIRED_NORWEGIAN_ICD} is the retired code of the same register: write 0192:${orgNumber}` : '';
    return { error: `'${text}' names a party in the register with ICD ${icd}: only 0192 (Norwegian organisation numbers) is accepted${hint}` };
  }
  const problem = orgNumberProblem(orgNumber);
  if (problem) return { error: problem };
  return { orgNumber, partyId: `${NORWEGIAN_ORGANISATION_ICD}:${orgNumber}` };
}
