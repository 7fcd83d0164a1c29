/**
 * The metadata rules of a file transfer (CONTRACT §2.1, Altinn's model validation): every broken
 * rule reported at once, keyed by the C# property, with Altinn's messages.
 */
import { BrokerError } from '../../src/broker/errors';
import { checkChecksum, checkFileName, checkPropertyList, checkRecipients, checkResourceId, checkSender, checkText, ValidationErrors } from '../../src/broker/input-rules';

function collect(run: (errors: ValidationErrors) => unknown): { value: unknown; errors: Record<string, string[]> } {
  const errors = new ValidationErrors();
  const value = run(errors);
  return { value, errors: errors.errors };
}

describe('text members', () => {
  it('reports a missing and an empty required text as ASP.NET does', () => {
    expect(collect((e) => checkText(e, 'SendersFileTransferReference', undefined, 4096)).errors).toEqual({
      SendersFileTransferReference: ['The SendersFileTransferReference field is required.'],
    });
    expect(collect((e) => checkFileName(e, '')).errors).toEqual({
      FileName: ['The FileName field is required.', 'The field FileName must be a string with a minimum length of 1 and a maximum length of 255.'],
    });
    expect(collect((e) => checkFileName(e, 'x'.repeat(256))).errors.FileName).toEqual(['The field FileName must be a string with a minimum length of 1 and a maximum length of 255.']);
    expect(collect((e) => checkFileName(e, 'x'.repeat(255))).value).toBe('x'.repeat(255));
    expect(collect((e) => checkFileName(e, 'a\nb')).errors.FileName).toEqual(['The field FileName must not contain control characters.']);
  });

  it('checks the resource id pattern', () => {
    expect(collect((e) => checkResourceId(e, 'urn:altinn:resource:my-resource')).errors).toEqual({});
    expect(collect((e) => checkResourceId(e, 'a:b')).errors).toEqual({ ResourceId: ['Invalid Resource identifier format'] });
  });
});

describe('parties', () => {
  it('stores parties as 0192:<orgnr>, from either wire form', () => {
    expect(collect((e) => checkSender(e, 'urn:altinn:organization:identifier-no:974760673')).value).toBe('0192:974760673');
    expect(collect((e) => checkRecipients(e, ['0192:889640782', 'urn:altinn:organization:identifier-no:889640782'])).value).toEqual(['0192:889640782']);
  });

  it('refuses malformed parties with Altinn\'s texts and bad check digits with ours', () => {
    expect(collect((e) => checkSender(e, 'someone')).errors.Sender![0]).toMatch(/^Organization numbers should be on the form countrycode:organizationnumber/);
    expect(collect((e) => checkRecipients(e, ['0192:912345678'])).errors.Recipients![0]).toMatch(/check digit/);
    expect(collect((e) => checkRecipients(e, [])).errors).toEqual({ Recipients: ['One or more recipients are required'] });
    expect(collect((e) => checkRecipients(e, undefined)).errors).toEqual({ Recipients: ['The Recipients field is required.'] });
  });
});

describe('property list and checksum', () => {
  it('limits the property list as Altinn does', () => {
    const eleven = Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`k${i}`, 'v']));
    expect(collect((e) => checkPropertyList(e, eleven)).errors).toEqual({ PropertyList: ['PropertyList can contain at most 10 properties'] });
    const longKey = 'k'.repeat(51);
    expect(collect((e) => checkPropertyList(e, { [longKey]: 'v' })).errors).toEqual({ PropertyList: [`PropertyList Key can not be longer than 50. Length:51, KeyValue:${longKey}`] });
    expect(collect((e) => checkPropertyList(e, { k: 'v'.repeat(3001) })).errors.PropertyList![0]).toMatch(/^PropertyList Value can not be longer than 3000. Length:3001, Value:/);
    expect(collect((e) => checkPropertyList(e, null)).errors).toEqual({ PropertyList: ['The PropertyList field is required.'] });
    expect(collect((e) => checkPropertyList(e, undefined)).value).toEqual({});
  });

  it('accepts an empty checksum and 32 lower-case hex characters only', () => {
    expect(collect((e) => checkChecksum(e, '')).value).toBeNull();
    expect(collect((e) => checkChecksum(e, 'a'.repeat(32))).value).toBe('a'.repeat(32));
    expect(collect((e) => checkChecksum(e, 'a'.repeat(31))).errors).toEqual({ Checksum: ['The checksum, if used, must be a MD5 hash with a length of 32 characters'] });
    expect(collect((e) => checkChecksum(e, 'A'.repeat(32))).errors).toEqual({ Checksum: ['The checksum, if used, must be a MD5 hash in lower case'] });
  });
});

it('raises every broken rule at once as one InvalidInput error', () => {
  const errors = new ValidationErrors();
  checkFileName(errors, undefined);
  checkRecipients(errors, []);
  let thrown: unknown;
  try {
    errors.throwIfAny();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(BrokerError);
  expect((thrown as BrokerError).name).toBe('InvalidInput');
  expect((thrown as BrokerError).details.errors).toEqual({ FileName: ['The FileName field is required.'], Recipients: ['One or more recipients are required'] });
});
