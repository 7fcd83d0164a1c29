/**
 * The Altinn 3 door's wire conventions as pure functions: Range parsing, Content-Disposition,
 * timestamps, GUID/enum/date binding, the search query, and the overview/details JSON shapes.
 */
import { BrokerError } from '../../../src/broker/errors';
import type { FileTransfer } from '../../../src/broker/types';
import { contentDisposition, parseRangeHeader } from '../../../src/services/broker-api/downloads';
import { detailsJson, overviewJson } from '../../../src/services/broker-api/representations';
import { searchRequestOf } from '../../../src/services/broker-api/search-query';
import { booleanParameter, dateTimeParameter, enumParameter, formatTimestamp, parseGuid } from '../../../src/services/broker-api/json';
import { FILE_TRANSFER_STATUSES } from '../../../src/broker/types';

function invalidInputOf(run: () => unknown): Record<string, string[]> | undefined {
  try {
    run();
  } catch (error) {
    if (error instanceof BrokerError && error.name === 'InvalidInput') return error.details.errors;
    throw error;
  }
  return undefined;
}

describe('parseRangeHeader', () => {
  it.each([
    ['bytes=0-9', { start: 0, end: 9 }],
    ['bytes=10-', { start: 10 }],
    ['bytes=-5', { suffixLength: 5 }],
    ['bytes=-0', { suffixLength: 0 }],
    ['bytes=5-3', { start: 5, end: 3 }],
    ['Bytes = 1 - 2', { start: 1, end: 2 }],
    ['bytes=0-9,', { start: 0, end: 9 }],
  ])('reads %s', (header, expected) => {
    expect(parseRangeHeader(header)).toEqual(expected);
  });

  it.each([undefined, '', 'bytes=', 'bytes=-', 'bytes=0-1,3-4', 'items=0-1', 'bytes 0-1', 'bytes=a-b', 'bytes=1-2-3', 'bytes=99999999999999999999-', 'bytes=0-99999999999999999999'])(
    'ignores %p',
    (header) => {
      expect(parseRangeHeader(header)).toBeUndefined();
    },
  );
});

describe('contentDisposition', () => {
  it.each([
    ['report.zip', "attachment; filename=report.zip; filename*=UTF-8''report.zip"],
    ['my file.txt', `attachment; filename="my file.txt"; filename*=UTF-8''my%20file.txt`],
    ['æ.txt', "attachment; filename=_.txt; filename*=UTF-8''%C3%A6.txt"],
    ['a"b.txt', `attachment; filename="a\\"b.txt"; filename*=UTF-8''a%22b.txt`],
    ['100%.txt', "attachment; filename=100%.txt; filename*=UTF-8''100%25.txt"],
    ['😀.txt', "attachment; filename=__.txt; filename*=UTF-8''%F0%9F%98%80.txt"],
    ["o'neil;x.txt", `attachment; filename="o'neil;x.txt"; filename*=UTF-8''o%27neil%3Bx.txt`],
  ])('writes %s as ASP.NET does', (fileName, expected) => {
    expect(contentDisposition(fileName)).toBe(expected);
  });
});

describe('formatTimestamp', () => {
  it.each([
    ['2026-08-18T11:40:51.123Z', '2026-08-18T11:40:51.123+00:00'],
    ['2026-08-18T11:40:51.120Z', '2026-08-18T11:40:51.12+00:00'],
    ['2026-08-18T11:40:51.100Z', '2026-08-18T11:40:51.1+00:00'],
    ['2026-08-18T11:40:51.000Z', '2026-08-18T11:40:51+00:00'],
    ['2026-08-18T13:40:51.5+02:00', '2026-08-18T11:40:51.5+00:00'],
  ])('%s → %s', (iso, expected) => {
    expect(formatTimestamp(new Date(iso))).toBe(expected);
  });
});

describe('binding path and query values', () => {
  const id = '0b7e6a32-1c2d-4e5f-8a9b-0c1d2e3f4a5b';
  it('reads GUIDs in .NET\'s D, N, B and P forms, any case', () => {
    for (const form of [id, id.toUpperCase(), id.replace(/-/g, ''), `{${id}}`, `(${id})`, ` ${id} `]) expect(parseGuid(form)).toBe(id);
    for (const bad of ['', 'x', id.slice(1), `${id}0`, `{${id}`, id.replace(/-/g, '').slice(1)]) expect(parseGuid(bad)).toBeUndefined();
  });

  it('reads enums by name in any case or by number; a number without a name matches nothing', () => {
    expect(enumParameter('status', 'published', FILE_TRANSFER_STATUSES)).toBe('Published');
    expect(enumParameter('status', 'ALLCONFIRMEDDOWNLOADED', FILE_TRANSFER_STATUSES)).toBe('AllConfirmedDownloaded');
    expect(enumParameter('status', '7', FILE_TRANSFER_STATUSES)).toBe('Failed');
    expect(enumParameter('status', '42', FILE_TRANSFER_STATUSES)).toBeNull();
    expect(invalidInputOf(() => enumParameter('status', 'Done', FILE_TRANSFER_STATUSES))).toEqual({ status: ["The value 'Done' is not valid for status."] });
  });

  it('reads booleans and DateTimeOffsets as .NET does', () => {
    expect(booleanParameter('x', 'TRUE')).toBe(true);
    expect(booleanParameter('x', ' false ')).toBe(false);
    expect(invalidInputOf(() => booleanParameter('x', '1'))).toEqual({ x: ["The value '1' is not valid for x."] });
    expect(dateTimeParameter('from', '2026-03-02T11:00:00+02:00').toISOString()).toBe('2026-03-02T09:00:00.000Z');
    expect(dateTimeParameter('from', '2026-03-02T11:00:00 02:00').toISOString()).toBe('2026-03-02T09:00:00.000Z');
    expect(dateTimeParameter('from', '2026-03-02T11:00:00.1234567Z').toISOString()).toBe('2026-03-02T11:00:00.123Z');
    expect(dateTimeParameter('from', '2026-03-02T11:00').toISOString()).toBe('2026-03-02T11:00:00.000Z');
    expect(dateTimeParameter('from', '2026-03-02').toISOString()).toBe('2026-03-02T00:00:00.000Z');
    expect(dateTimeParameter('from', '2026-03-02T11:00:00-0130').toISOString()).toBe('2026-03-02T12:30:00.000Z');
    for (const bad of ['2026-13-01', '2026-02-29', 'tomorrow', '2026-03-02T25:00:00Z', '02.03.2026']) {
      expect(invalidInputOf(() => dateTimeParameter('from', bad))).toEqual({ from: [`The value '${bad}' is not valid for from.`] });
    }
  });
});

describe('searchRequestOf', () => {
  it('binds the query, names in any case', () => {
    expect(searchRequestOf({ ResourceId: 'r', STATUS: 'published', recipientstatus: '0', from: '2026-01-01T00:00:00Z', orderAscending: 'true', role: 'sender' })).toEqual({
      resourceId: 'r',
      status: 'Published',
      recipientStatus: 'Initialized',
      from: new Date('2026-01-01T00:00:00Z'),
      orderAscending: true,
      role: 'Sender',
    });
    expect(searchRequestOf({ resourceId: 'r', role: 'Both' })).toEqual({ resourceId: 'r' });
    expect(searchRequestOf({ resourceId: 'r', status: '12' })).toBe('matches nothing');
    expect(invalidInputOf(() => searchRequestOf({}))).toEqual({ resourceId: ['The resourceId field is required.'] });
    expect(invalidInputOf(() => searchRequestOf({ resourceId: 'r', role: '1' }))).toEqual({ role: ["The value '1' is not valid for role."] });
  });
});

describe('overview and details JSON', () => {
  const changed = new Date('2026-01-02T03:04:05.600Z');
  const transfer: FileTransfer = {
    fileTransferId: 'f1',
    resourceId: 'r',
    fileName: 'a.txt',
    sendersFileTransferReference: 'ref',
    checksum: null,
    checksumGiven: false,
    useVirusScan: false,
    fileTransferSize: 0,
    sha256: null,
    blobKey: null,
    status: { status: 'Initialized', text: 'Ready for upload', changedAt: changed },
    created: changed,
    expirationTime: changed,
    sender: '0192:974760673',
    recipients: [{ recipient: '0192:889640782', status: 'Initialized', text: 'Initialized', changedAt: changed }],
    propertyList: {},
    published: null,
  };

  it('writes checksum "" while none is known, and published null until published', () => {
    const json = overviewJson(transfer);
    expect(json.checksum).toBe('');
    expect(json.published).toBeNull();
    expect(JSON.stringify(json)).not.toMatch(/sha256|blobKey|checksumGiven/);
    expect(overviewJson({ ...transfer, published: changed }).published).toBe('2026-01-02T03:04:05.6+00:00');
  });

  it('puts the histories first in details and leaves out published', () => {
    const json = detailsJson({ ...transfer, published: changed, fileTransferStatusHistory: [], recipientFileTransferStatusHistory: [] });
    expect(Object.keys(json).slice(0, 3)).toEqual(['fileTransferStatusHistory', 'recipientFileTransferStatusHistory', 'fileTransferId']);
    expect('published' in json).toBe(false);
  });
});
