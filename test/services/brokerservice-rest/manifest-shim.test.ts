/**
 * The manifest shim through the Altinn 2 REST door (CONTRACT §9, facts §14), on a resource with
 * `useManifestFileShim`: the inbox download is the sent ZIP with a fresh UTF-16 manifest.xml (read
 * back as XML) and every other entry unchanged (raw compressed bytes and CRCs compared), while the
 * Altinn 3 door serves the bytes as sent; a non-ZIP is refused at the outbox before anything is
 * stored, an empty upload downloads as a ZIP with only the manifest; a ZIP of hundreds of MiB goes
 * up and comes down through the shim in flat memory.
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { crc32, inflateRawSync } from 'node:zlib';
import yauzl from 'yauzl';
import yazl from 'yazl';
import { childElements, parseXml, textContent } from '../../../src/xml/parser';
import { ORGS, party, rawRequest } from '../../helpers/broker';
import { description, RECIPIENT_PERSON, SENDER_PERSON, SERVICE_CODE, startAltinn2Fixture, type Altinn2Fixture } from './helpers';

const MiB = 1024 * 1024;
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

let fixture: Altinn2Fixture;
let dir: string;
beforeAll(async () => {
  fixture = await startAltinn2Fixture({ useManifestFileShim: true });
  dir = await mkdtemp(path.join(tmpdir(), 'agw-a2-shim-'));
});
afterAll(async () => {
  await fixture?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const inbox = `/${ORGS.recipient}/brokerservice/inbox`;
const asRecipient = { person: RECIPIENT_PERSON };

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function entriesOf(zip: Buffer) {
  const archive = await yauzl.fromBufferPromise(zip, { lazyEntries: true, decodeStrings: false });
  const entries: { name: string; crc32: number; method: number; raw: Buffer }[] = [];
  for await (const entry of archive.eachEntry()) {
    const raw = await collect(await archive.openReadStreamPromise(entry, { decodeFileData: false }));
    entries.push({ name: entry.fileNameRaw.toString('utf8'), crc32: entry.crc32, method: entry.compressionMethod, raw });
  }
  return entries;
}

function manifestFields(xmlBytes: Buffer): Record<string, unknown> {
  expect([...xmlBytes.subarray(0, 2)]).toEqual([0xff, 0xfe]);
  const xml = xmlBytes.subarray(2).toString('utf16le');
  expect(xml.startsWith('<?xml version="1.0" encoding="utf-16"?>\n<BrokerServiceManifest ')).toBe(true);
  const root = parseXml(xml);
  expect(root.ns).toBe('http://schema.altinn.no/services/ServiceEngine/Broker/2015/06');
  const child = (element: typeof root, name: string) => childElements(element).find((candidate) => candidate.local === name)!;
  return {
    order: childElements(root).map((element) => element.local),
    ExternalServiceCode: textContent(child(root, 'ExternalServiceCode')),
    ExternalServiceEditionCode: textContent(child(root, 'ExternalServiceEditionCode')),
    SendersReference: textContent(child(root, 'SendersReference')),
    Reportee: textContent(child(root, 'Reportee')),
    SentDate: textContent(child(root, 'SentDate')),
    FileNames: childElements(child(root, 'FileList')).map((file) => textContent(child(file, 'FileName'))),
    Properties: childElements(child(root, 'PropertyList')).map((property) => [textContent(child(property, 'PropertyKey')), textContent(child(property, 'PropertyValue'))]),
  };
}

function yazlZip(build: (zip: yazl.ZipFile) => void): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  build(zip);
  zip.end();
  return collect(zip.outputStream as unknown as Readable);
}

it('an Altinn 2 recipient downloads the ZIP with a fresh manifest.xml and the other entries unchanged; Altinn 3 gets the bytes as sent', async () => {
  const { broker, a2 } = fixture;
  const input = await yazlZip((zip) => {
    zip.addBuffer(Buffer.from('<Melding><Tekst>Hei</Tekst></Melding>'.repeat(200)), 'data/melding.xml');
    zip.addBuffer(randomBytes(50_000), 'vedlegg.pdf', { compress: false });
    zip.addBuffer(Buffer.from('<manifest>old</manifest>'), 'manifest.xml');
    zip.addBuffer(Buffer.from('<recipients/>'), 'recipients.xml');
  });
  const sent = await fixture.send(input, { SendersReference: 'shim-ref', Properties: { kommune: 'Bø', år: '2026' } }, { fileName: 'melding.zip' });
  expect(sent.status).toBe(201);
  const id = sent.json.FileReference as string;

  const download = await a2('GET', `${inbox}/${id}/download`, asRecipient);
  expect(download.status).toBe(200);
  expect(download.headers.get('content-length')).toBe(String(download.bytes.length));
  expect(download.headers.get('content-disposition')).toBe("attachment; filename=melding.zip; filename*=UTF-8''melding.zip");
  const before = await entriesOf(input);
  const after = await entriesOf(download.bytes);
  expect(after.map((entry) => entry.name)).toEqual(['data/melding.xml', 'vedlegg.pdf', 'manifest.xml']);
  for (const index of [0, 1]) {
    expect(after[index]!.crc32).toBe(before[index]!.crc32);
    expect(after[index]!.method).toBe(before[index]!.method);
    expect(after[index]!.raw.equals(before[index]!.raw)).toBe(true);
  }
  const manifest = inflateRawSync(after[2]!.raw);
  expect(crc32(manifest)).toBe(after[2]!.crc32);
  expect(manifestFields(manifest)).toEqual({
    order: ['ExternalServiceCode', 'ExternalServiceEditionCode', 'SendersReference', 'Reportee', 'SentDate', 'FileList', 'PropertyList'],
    ExternalServiceCode: SERVICE_CODE,
    ExternalServiceEditionCode: '1',
    SendersReference: 'shim-ref',
    Reportee: ORGS.sender,
    SentDate: sent.json.SentDate,
    FileNames: ['melding.zip'],
    Properties: [
      ['kommune', 'Bø'],
      ['år', '2026'],
    ],
  });
  // unzip checks every CRC, the manifest's included.
  const file = path.join(dir, 'shimmed.zip');
  await pipeline(Readable.from([download.bytes]), createWriteStream(file));
  expect(spawnSync('unzip', ['-tq', file], { encoding: 'utf8' }).stdout).toMatch(/No errors detected/);

  // The download counts once, as a download; the Altinn 3 door serves the stored bytes, unshimmed.
  expect(await broker.app.db('broker_recipient_statuses').where({ file_transfer_id: id, recipient: party(ORGS.recipient) }).pluck('status')).toEqual(['Initialized', 'DownloadStarted']);
  const altinn3 = await broker.call('GET', `/filetransfer/${id}/download`, { token: broker.tokens.recipient });
  expect(sha256(altinn3.bytes)).toBe(sha256(input));
});

it('refuses a non-ZIP at the outbox before anything is stored (400 NotAZipFile)', async () => {
  for (const body of [Buffer.from('%PDF-1.7 not a zip'), Buffer.from('PK')]) {
    const before = await fixture.snapshot();
    const sent = await fixture.send(body);
    expect(sent.status).toBe(400);
    expect(sent.json).toEqual({ ErrorCode: 'NotAZipFile', ErrorMessage: expect.stringMatching(/^The file is not a ZIP file: .*takes only ZIP archives/) });
    expect(await fixture.snapshot()).toEqual(before);
  }
});

it('makes an empty upload a ZIP holding only the manifest', async () => {
  const sent = await fixture.send(Buffer.alloc(0), { Properties: {} });
  expect(sent.status).toBe(201);
  expect(sent.json.FileSize).toBe(0);
  const download = await fixture.a2('GET', `${inbox}/${sent.json.FileReference}/download`, asRecipient);
  expect(download.status).toBe(200);
  const entries = await entriesOf(download.bytes);
  expect(entries.map((entry) => entry.name)).toEqual(['manifest.xml']);
  expect(manifestFields(inflateRawSync(entries[0]!.raw))).toMatchObject({ Reportee: ORGS.sender, Properties: [] });
});

it('refuses (409) to serve a non-ZIP that came in through the Altinn 3 door, and does not count it as a download', async () => {
  const { broker, a2 } = fixture;
  const id = await broker.publish(Buffer.from('plain text through Altinn 3'));
  const download = await a2('GET', `${inbox}/${id}/download`, asRecipient);
  expect(download.status).toBe(409);
  expect(download.json).toEqual({ ErrorCode: 'NotAZipFile', ErrorMessage: expect.stringContaining('not a valid ZIP archive') });
  expect(await broker.app.db('broker_recipient_statuses').where({ file_transfer_id: id }).pluck('status')).toEqual(['Initialized']);
});

it('sends and downloads a 300 MiB ZIP through the shim in flat memory', async () => {
  const entrySize = 300 * MiB;
  const block = randomBytes(MiB);
  const zip = new yazl.ZipFile();
  zip.addBuffer(Buffer.from('<manifest/>'), 'manifest.xml', { compress: false });
  zip.addReadStreamLazy('stor.bin', { compress: false, size: entrySize }, (callback) => {
    async function* data(): AsyncGenerator<Buffer> {
      for (let sent = 0; sent < entrySize; sent += MiB) yield block;
    }
    callback(null, Readable.from(data(), { objectMode: false }));
  });
  const totalSize = await new Promise<number>((resolve) => zip.end(undefined, ((size: number) => resolve(size)) as () => void));
  expect(totalSize).toBeGreaterThan(entrySize);
  const recipientToken = await fixture.token(RECIPIENT_PERSON);

  // node:http on both ends, as fetch (undici) copies every chunk of a streamed body and leaves the
  // copies to the collector, which would blur what the server holds.
  const token = await fixture.token(SENDER_PERSON);
  const query = new URLSearchParams({ fileName: 'stor.zip', brokerServiceDescription: JSON.stringify(description()) });
  const baseline = process.memoryUsage.rss();
  let peak = baseline;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 20);
  const file = path.join(dir, 'big-shimmed.zip');
  try {
    const sent = await rawRequest(fixture.broker.url, {
      method: 'POST',
      path: `/api/${ORGS.sender}/brokerservice/outbox?${query}`,
      headers: { apikey: fixture.apiKey, authorization: `Bearer ${token}`, 'content-type': 'application/zip', 'content-length': totalSize },
      body: zip.outputStream as unknown as Readable,
    });
    expect(sent.status).toBe(201);
    const created = JSON.parse(sent.body.toString('utf8'));
    expect(created.FileSize).toBe(totalSize);

    const downloaded = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const target = new URL(`${fixture.broker.url}/api${inbox}/${created.FileReference}/download`);
      http.get(target, { headers: { apikey: fixture.apiKey, authorization: `Bearer ${recipientToken}` } }, resolve).on('error', reject);
    });
    expect(downloaded.statusCode).toBe(200);
    expect(Number(downloaded.headers['content-length'])).toBeGreaterThan(entrySize);
    await pipeline(downloaded, createWriteStream(file));
  } finally {
    clearInterval(sampler);
  }
  // Flat: the process holds buffers, never the file (300 MiB).
  expect(peak - baseline).toBeLessThan(96 * MiB);

  const archive = await yauzl.openPromise(file, { lazyEntries: true });
  const names: string[] = [];
  for await (const entry of archive.eachEntry()) {
    names.push(entry.fileName);
    if (entry.fileName === 'stor.bin') expect(entry.uncompressedSize).toBe(entrySize);
  }
  expect(names).toEqual(['stor.bin', 'manifest.xml']);
  expect(spawnSync('unzip', ['-tq', file], { encoding: 'utf8' }).stdout).toMatch(/No errors detected/);
});
