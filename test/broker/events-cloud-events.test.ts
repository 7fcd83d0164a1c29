/**
 * Events as CloudEvents (CONTRACT §6, facts §3): Altinn's member order and values, the `source`
 * from the public URL, the time format, and the deterministic `published` id.
 */
import { eventSource, formatEventTime, toCloudEvent, type StoredEvent } from '../../src/broker/cloud-events';
import { publishedEventId } from '../../src/broker/events';
import { loadConfig } from '../../src/config';

describe('publishedEventId', () => {
  it("matches Altinn's worked example (SHA-256 prefix read as a .NET Guid)", () => {
    expect(publishedEventId('11111111-2222-3333-4444-555555555555', 'Recipient', '0192:991825827')).toBe('b8b72d93-e3e3-ae8c-196d-07808cbf8184');
  });

  it('depends on the role and the party', () => {
    const ids = new Set([
      publishedEventId('11111111-2222-3333-4444-555555555555', 'Recipient', '0192:991825827'),
      publishedEventId('11111111-2222-3333-4444-555555555555', 'Sender', '0192:991825827'),
      publishedEventId('11111111-2222-3333-4444-555555555555', 'Recipient', '0192:974760673'),
    ]);
    expect(ids.size).toBe(3);
  });
});

describe('toCloudEvent', () => {
  const event: StoredEvent = {
    seq: 7,
    id: 'b8b72d93-e3e3-ae8c-196d-07808cbf8184',
    type: 'published',
    fileTransferId: '11111111-2222-3333-4444-555555555555',
    resourceId: 'my-resource',
    subject: '991825827',
    role: 'Recipient',
    time: new Date('2026-08-18T11:40:51.120Z'),
  };

  it("writes Altinn's members in Altinn's order", () => {
    const json = JSON.stringify(toCloudEvent(event, 'https://gw.example/broker/api/v1/filetransfer'));
    expect(json).toBe(
      '{"specversion":"1.0","id":"b8b72d93-e3e3-ae8c-196d-07808cbf8184","type":"no.altinn.broker.published","time":"2026-08-18T11:40:51.12+00:00",' +
        '"resource":"urn:altinn:resource:my-resource","resourceinstance":"11111111-2222-3333-4444-555555555555",' +
        '"subject":"urn:altinn:organization:identifier-no:991825827","source":"https://gw.example/broker/api/v1/filetransfer","data":{"Role":"Recipient"}}',
    );
  });

  it.each([
    ['2026-08-18T11:40:51.000Z', '2026-08-18T11:40:51+00:00'],
    ['2026-08-18T11:40:51.100Z', '2026-08-18T11:40:51.1+00:00'],
    ['2026-08-18T11:40:51.123Z', '2026-08-18T11:40:51.123+00:00'],
  ])('formats %s as %s', (iso, expected) => {
    expect(formatEventTime(new Date(iso))).toBe(expected);
  });
});

describe('eventSource', () => {
  it.each([
    [{}, 'http://localhost:8080/broker/api/v1/filetransfer'],
    [{ PORT: '9000' }, 'http://localhost:9000/broker/api/v1/filetransfer'],
    [{ PUBLIC_URL: 'https://platform.example.no' }, 'https://platform.example.no/broker/api/v1/filetransfer'],
    [{ PUBLIC_URL: 'https://platform.example.no/' }, 'https://platform.example.no/broker/api/v1/filetransfer'],
    [{ PUBLIC_URL: 'https://example.no/gateway/' }, 'https://example.no/gateway/broker/api/v1/filetransfer'],
  ])('for %p is %s', (env, expected) => {
    const config = loadConfig(env);
    expect(eventSource(config.publicUrl, config.port)).toBe(expected);
  });
});
