/**
 * The addresses the gateway writes (WSDL soap:address, the SOAP help page, REST HAL links and
 * Location) come from PUBLIC_URL when set, else from the request: X-Forwarded-Proto/Host only with
 * TRUST_PROXY, and a Host that is no host name is refused (it was reflected unescaped into HTML).
 */
import http from 'node:http';
import { createRestFixture, messageBody, type RestFixture } from '../messages/rest-helpers';
import { DQ_PATH } from '../helpers/soap-client';

interface Answer {
  status: number;
  body: string;
}

/** A GET with exactly these headers (fetch will not send a Host of our choosing). */
function get(baseUrl: string, path: string, headers: Record<string, string>): Promise<Answer> {
  const url = new URL(path, baseUrl);
  return new Promise((resolve, reject) => {
    const request = http.request({ host: url.hostname, port: url.port, path: url.pathname + url.search, headers, setHost: !('host' in headers) }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode!, body: Buffer.concat(chunks).toString('utf8') }));
    });
    request.on('error', reject);
    request.end();
  });
}

const soapAddress = (wsdl: string) => /<soap:address location="([^"]*)"/.exec(wsdl)?.[1];
const FORWARDED = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'gw.example.no' };

async function createdMessage(fixture: RestFixture, headers: Record<string, string>) {
  const created = await fixture.call('POST', '/api/my/messages?complete=false', { body: messageBody(fixture.owner), headers });
  expect(created.status).toBe(201);
  return { location: created.headers.get('location'), self: (created.json as { _links: { self: { href: string } } })._links.self.href };
}

describe('without PUBLIC_URL or TRUST_PROXY', () => {
  let fixture: RestFixture;
  beforeAll(async () => {
    fixture = await createRestFixture();
  });
  afterAll(() => fixture.close());

  it('addresses follow the Host the client called; X-Forwarded-* are ignored', async () => {
    const wsdl = await get(fixture.server.url, `${DQ_PATH}?wsdl`, { host: 'archive.example.no:8443', ...FORWARDED });
    expect(wsdl.status).toBe(200);
    expect(soapAddress(wsdl.body)).toBe(`http://archive.example.no:8443${DQ_PATH}`);
    const { location, self } = await createdMessage(fixture, FORWARDED);
    expect(location).toMatch(new RegExp(`^${fixture.server.url}/api/my/messages/a\\d+$`));
    expect(self).toBe(location);
  });

  it.each([
    ['markup', 'x"><script>alert(1)</script>'],
    ['a path', 'evil.example/phish?'],
    ['userinfo', 'user@evil.example'],
    ['a list', 'a.example, b.example'],
  ])('a Host with %s is refused with 400 by every door, never reflected', async (_kind, host) => {
    for (const path of [DQ_PATH, `${DQ_PATH}?wsdl`, '/api/my/messages']) {
      const answer = await get(fixture.server.url, path, { host });
      expect({ path, status: answer.status }).toEqual({ path, status: 400 });
      expect(answer.body).not.toContain(host);
    }
  });

  it('the help page links the WSDL on the called host, IPv6 literals included', async () => {
    const page = await get(fixture.server.url, DQ_PATH, { host: '[::1]:8080' });
    expect(page.status).toBe(200);
    expect(page.body).toContain(`<a href="http://[::1]:8080${DQ_PATH}?wsdl">`);
  });
});

describe('TRUST_PROXY=true (behind a TLS-terminating proxy)', () => {
  let fixture: RestFixture;
  beforeAll(async () => {
    fixture = await createRestFixture({ trustProxy: true });
  });
  afterAll(() => fixture.close());

  it('WSDL, help page and REST links use X-Forwarded-Proto and X-Forwarded-Host', async () => {
    const wsdl = await get(fixture.server.url, `${DQ_PATH}?wsdl`, FORWARDED);
    expect(soapAddress(wsdl.body)).toBe(`https://gw.example.no${DQ_PATH}`);
    const page = await get(fixture.server.url, DQ_PATH, FORWARDED);
    expect(page.body).toContain(`<a href="https://gw.example.no${DQ_PATH}?wsdl">`);
    const { location, self } = await createdMessage(fixture, FORWARDED);
    expect(location).toMatch(/^https:\/\/gw\.example\.no\/api\/my\/messages\/a\d+$/);
    expect(self).toBe(location);
  });

  it('a forwarded host or scheme that is not one is refused', async () => {
    expect((await get(fixture.server.url, `${DQ_PATH}?wsdl`, { 'x-forwarded-host': '"><x' })).status).toBe(400);
    expect((await get(fixture.server.url, `${DQ_PATH}?wsdl`, { 'x-forwarded-proto': 'javascript' })).status).toBe(400);
  });
});

describe('PUBLIC_URL set', () => {
  let fixture: RestFixture;
  const publicUrl = 'https://gw.example.no/altinn';
  beforeAll(async () => {
    fixture = await createRestFixture({ publicUrl, trustProxy: true });
  });
  afterAll(() => fixture.close());

  it('every address starts with it, whatever Host or X-Forwarded-* say', async () => {
    const headers = { host: 'other.example', 'x-forwarded-proto': 'http', 'x-forwarded-host': 'proxy.example' };
    const wsdl = await get(fixture.server.url, `${DQ_PATH}?wsdl`, headers);
    expect(soapAddress(wsdl.body)).toBe(`${publicUrl}${DQ_PATH}`);
    const page = await get(fixture.server.url, DQ_PATH, headers);
    expect(page.body).toContain(`<a href="${publicUrl}${DQ_PATH}?wsdl">`);
    const { location, self } = await createdMessage(fixture, { 'x-forwarded-proto': 'http', 'x-forwarded-host': 'proxy.example' });
    expect(location).toMatch(new RegExp(`^${publicUrl}/api/my/messages/a\\d+$`));
    expect(self).toBe(location);
  });
});
