/**
 * Broker parties: organisation numbers with the mod-11 check digit, party ids as clients send them
 * (CONTRACT §1) and as we store them (`0192:<orgnr>`).
 */
import {
  isNationalIdentityNumber,
  isValidOrgNumber,
  organisationUrn,
  orgNumberOf,
  orgNumberProblem,
  parsePartyId,
  PERSON_CANNOT_BE_PARTY,
  toPartyId,
} from '../../src/broker/parties';

describe('organisation numbers (mod 11, weights 3 2 7 6 5 4 3 2)', () => {
  it.each([
    ['991825827', 'Digitaliseringsdirektoratet'],
    ['974760673', 'Registerenheten i Brønnøysund'],
    ['889640782', 'NAV'],
    ['983887457', 'Helsedirektoratet'],
    ['971526920', 'a check digit of 0 (remainder 0)'],
    ['314240979', 'a synthetic test organisation (Tenor)'],
  ])('%s is valid (%s)', (orgNumber) => {
    expect(isValidOrgNumber(orgNumber)).toBe(true);
    expect(orgNumberProblem(orgNumber)).toBeUndefined();
  });

  it.each([
    ['910000001', 'the check digit should be 4'],
    ['991825828', 'one off in the last digit'],
    ['971526921', 'remainder 0 wants check digit 0'],
    ['912345678', 'remainder 1: no check digit fits these first eight digits'],
    ['910000080', 'remainder 1 again'],
  ])('%s is refused (%s)', (orgNumber) => {
    expect(isValidOrgNumber(orgNumber)).toBe(false);
    expect(orgNumberProblem(orgNumber)).toBe(`${orgNumber} is not a valid organisation number (its check digit is wrong)`);
  });

  it.each(['99182582', '9918258270', '99182582a', ' 991825827', '991825827\n', '', '９９１８２５８２７'])('%j is not 9 digits', (text) => {
    expect(isValidOrgNumber(text)).toBe(false);
    expect(orgNumberProblem(text)).toBe('an organisation number is exactly 9 digits');
  });
});

describe('party ids', () => {
  it('accepts 0192:<orgnr> and the organisation URN, and stores 0192:<orgnr>', () => {
    expect(parsePartyId('0192:991825827')).toEqual({ orgNumber: '991825827', partyId: '0192:991825827' });
    expect(parsePartyId('urn:altinn:organization:identifier-no:974760673')).toEqual({ orgNumber: '974760673', partyId: '0192:974760673' });
  });

  it('refuses other ISO 6523 registers, with a hint for the retired 9908', () => {
    expect(parsePartyId('9908:991825827')).toEqual({
      error:
        "'9908:991825827' names a party in the register with ICD 9908: only 0192 (Norwegian organisation numbers) is accepted; " +
        '9908 is the retired code of the same register: write 0192:991825827',
    });
    expect(parsePartyId('0088:991825827')).toEqual({
      error: "'0088:991825827' names a party in the register with ICD 0088: only 0192 (Norwegian organisation numbers) is accepted",
    });
  });

  it('refuses a bad check digit in either form', () => {
    const error = '912345678 is not a valid organisation number (its check digit is wrong)';
    expect(parsePartyId('0192:912345678')).toEqual({ error });
    expect(parsePartyId('urn:altinn:organization:identifier-no:912345678')).toEqual({ error });
  });

  it('refuses a person, without repeating the national identity number', () => {
    for (const text of ['01017012345', 'urn:altinn:person:identifier-no:01017012345']) {
      const parsed = parsePartyId(text);
      expect(parsed).toEqual({ error: PERSON_CANNOT_BE_PARTY });
      expect(JSON.stringify(parsed)).not.toContain('01017012345');
    }
    expect(PERSON_CANNOT_BE_PARTY).toBe('a national identity number cannot be a broker party: give an organisation as 0192:<organisation number>');
    expect(isNationalIdentityNumber('01017012345')).toBe(true);
    expect(isNationalIdentityNumber('991825827')).toBe(false);
  });

  it('follows the contract pattern exactly: no bare number, no spaces, no other case, no extra digits', () => {
    expect(parsePartyId('991825827')).toEqual({
      error: 'not a party id: write 0192:<organisation number> or urn:altinn:organization:identifier-no:<organisation number>; write 0192:991825827',
    });
    for (const text of [' 0192:991825827', '0192:991825827 ', '0192: 991825827', '192:991825827', '0192:0991825827', 'URN:altinn:organization:identifier-no:991825827', 'urn:altinn:organization:identifier-no:0192:991825827', '']) {
      expect(parsePartyId(text)).toEqual({ error: 'not a party id: write 0192:<organisation number> or urn:altinn:organization:identifier-no:<organisation number>' });
    }
  });

  it('toPartyId, orgNumberOf and organisationUrn convert between the forms and refuse what is not valid', () => {
    expect(toPartyId('991825827')).toBe('0192:991825827');
    expect(orgNumberOf('0192:991825827')).toBe('991825827');
    expect(organisationUrn('991825827')).toBe('urn:altinn:organization:identifier-no:991825827');
    expect(() => toPartyId('912345678')).toThrow(new RangeError('912345678 is not a valid organisation number (its check digit is wrong)'));
    expect(() => organisationUrn('12')).toThrow(new RangeError('an organisation number is exactly 9 digits'));
    // orgNumberOf reads stored ids only: the URN form and foreign registers are not stored ids.
    for (const text of ['urn:altinn:organization:identifier-no:991825827', '9908:991825827', '0192:912345678', '991825827']) {
      expect(() => orgNumberOf(text)).toThrow(new RangeError(`'${text}' is not a stored party id (0192:<organisation number>)`));
    }
  });
});
