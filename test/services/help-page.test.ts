/**
 * The Swagger UI the start-up banner links to (/api/help): reached without the trailing slash it
 * redirects to it, and every asset the page names, and the document it loads, answer 200.
 */
import { startTestServer, type TestServer } from '../helpers/server';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.close());

test('/api/help redirects to /api/help/ with a relative Location, keeping the query', async () => {
  const response = await fetch(`${server.url}/api/help?x=1`, { redirect: 'manual' });
  expect(response.status).toBe(301);
  expect(new URL(response.headers.get('location')!, `${server.url}/api/help?x=1`).toString()).toBe(`${server.url}/api/help/?x=1`);
  expect(response.headers.get('location')).not.toMatch(/^\//); // relative: right behind a path-mounting proxy too
});

test.each(['/api/help', '/api/help/'])('%s ends on a page whose assets and document all load', async (start) => {
  const page = await fetch(`${server.url}${start}`);
  expect(page.status).toBe(200);
  expect(page.url).toBe(`${server.url}/api/help/`);
  const html = await page.text();
  const assets = [...html.matchAll(/(?:href|src)="([^"]+)"/g)].map((match) => new URL(match[1], page.url));
  expect(assets.length).toBeGreaterThan(3);
  for (const asset of assets) {
    const response = await fetch(asset);
    expect({ asset: asset.pathname, status: response.status }).toEqual({ asset: asset.pathname, status: 200 });
    await response.arrayBuffer();
  }
  // swagger-initializer.js loads the document from './json' relative to the page.
  const document = await fetch(new URL('./json', page.url));
  expect(document.status).toBe(200);
  expect(((await document.json()) as { openapi: string }).openapi).toBe('3.0.3');
});
