/**
 * The manifest shim (CONTRACT §9, facts §14): the uploaded ZIP's entries come out byte for byte
 * (compressed data, names, CRCs, sizes, flags), manifest.xml/recipients.xml in any folder and any
 * case are left out, a fresh UTF-16 manifest.xml is appended; an empty upload is a ZIP holding
 * only the manifest; what is no ZIP is refused before anything is streamed. Inputs are made by
 * yazl and outputs read by yauzl and by Python's zipfile (which checks every CRC), so neither side
 * is checked only by the code under test. A ZIP64 archive over 4 GiB goes through in flat memory.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { crc32, inflateRawSync } from 'node:zlib';
import yauzl from 'yauzl';
import yazl from 'yazl';
import { manifestXml, prepareManifestShim, type BrokerServiceManifest } from '../../../src/broker/altinn2/manifest-shim';
import { BrokerError } from '../../../src/broker/errors';
import { FileBlobStore, type BlobStore, type ByteRange } from '../../../src/storage/blob-store';
import { childElements, parseXml, textContent, XSI_NS } from '../../../src/xml/parser';

const NS = 'http://schema.altinn.no/services/ServiceEngine/Broker/2015/06';
const PYTHON = '/usr/bin/python3';

const MANIFEST: BrokerServiceManifest = {
  externalServiceCode: '4747',
  externalServiceEditionCode: 1,
  sendersReference: 'ref <1> & "2"',
  reportee: '974760673',
  // Summer time: 13:17:33.911 in Oslo.
  sentDate: new Date('2024-04-26T11:17:33.911Z'),
  fileName: 'rapport æøå.zip',
  properties: { kommune: 'Bø i Telemark', 'tom verdi': '' },
};
const NOW = new Date('2026-01-15T09:30:12Z');

let dir: string;
let blobs: FileBlobStore;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'agw-manifest-shim-'));
  blobs = new FileBlobStore(path.join(dir, 'blobs'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** A ZIP made by yazl. */
function yazlZip(build: (zip: yazl.ZipFile) => void, endOptions: Partial<yazl.EndOptions> = {}): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  build(zip);
  zip.end(endOptions as yazl.EndOptions);
  return collect(zip.outputStream as unknown as Readable);
}

async function shim(bytes: Buffer, manifest = MANIFEST) {
  const stored = await blobs.put(Readable.from(bytes.length > 0 ? [bytes] : []));
  const shimmed = await prepareManifestShim({ blobs, blobKey: stored.key, size: stored.sizeBytes }, manifest, NOW);
  const output = await collect(shimmed.open());
  expect(output.length).toBe(shimmed.size);
  return { output, shimmed };
}

interface RawEntry {
  name: Buffer;
  fileName: string;
  flags: number;
  method: number;
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
  time: number;
  date: number;
  comment: Buffer;
  externalAttributes: number;
  /** The entry's data as stored (compressed), not decoded. */
  raw: Buffer;
}

async function readZip(bytes: Buffer): Promise<{ entries: RawEntry[]; comment: Buffer }> {
  const zip = await yauzl.fromBufferPromise(bytes, { lazyEntries: true, decodeStrings: false });
  const entries: RawEntry[] = [];
  for await (const entry of zip.eachEntry()) {
    entries.push({
      name: entry.fileNameRaw,
      fileName: entry.fileNameRaw.toString('utf8'),
      flags: entry.generalPurposeBitFlag,
      method: entry.compressionMethod,
      crc32: entry.crc32,
      compressedSize: entry.compressedSize,
      uncompressedSize: entry.uncompressedSize,
      time: entry.lastModFileTime,
      date: entry.lastModFileDate,
      comment: entry.fileCommentRaw,
      externalAttributes: entry.externalFileAttributes,
      raw: await collect(await zip.openReadStreamPromise(entry, { decodeFileData: false })),
    });
  }
  return { entries, comment: zip.comment as unknown as Buffer };
}

/** Python's zipfile as an independent reader: every entry's name, size, and CRC checked on read (testzip). */
async function python(bytes: Buffer): Promise<{ names: string[]; sizes: number[]; bad: string | null; comment: string }> {
  const file = path.join(dir, `check-${Math.random().toString(16).slice(2)}.zip`);
  await writeFile(file, bytes);
  const script = [
    'import json, sys, zipfile',
    'z = zipfile.ZipFile(sys.argv[1])',
    'print(json.dumps({"names": z.namelist(), "sizes": [i.file_size for i in z.infolist()], "bad": z.testzip(), "comment": z.comment.decode("utf-8")}))',
  ].join('\n');
  const run = spawnSync(PYTHON, ['-c', script, file], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`python zipfile failed: ${run.stderr}`);
  return JSON.parse(run.stdout);
}

function parseManifest(bytes: Buffer) {
  expect([...bytes.subarray(0, 2)]).toEqual([0xff, 0xfe]);
  const xml = bytes.subarray(2).toString('utf16le');
  const root = parseXml(xml);
  const byName = (element: typeof root, name: string) => childElements(element).filter((child) => child.local === name);
  return { xml, root, byName };
}

describe('manifest.xml', () => {
  it('is UTF-16 LE with a BOM, the utf-16 declaration, two-space indentation and Altinn\'s element order', () => {
    const bytes = manifestXml(MANIFEST);
    expect([...bytes.subarray(0, 2)]).toEqual([0xff, 0xfe]);
    expect(bytes.subarray(2).toString('utf16le')).toBe(
      [
        '<?xml version="1.0" encoding="utf-16"?>',
        `<BrokerServiceManifest xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns="${NS}">`,
        '  <ExternalServiceCode>4747</ExternalServiceCode>',
        '  <ExternalServiceEditionCode>1</ExternalServiceEditionCode>',
        '  <SendersReference>ref &lt;1&gt; &amp; "2"</SendersReference>',
        '  <Reportee>974760673</Reportee>',
        '  <SentDate>2024-04-26T13:17:33.911</SentDate>',
        '  <FileList>',
        '    <File>',
        '      <FileName>rapport æøå.zip</FileName>',
        '    </File>',
        '  </FileList>',
        '  <PropertyList>',
        '    <Property>',
        '      <PropertyKey>kommune</PropertyKey>',
        '      <PropertyValue>Bø i Telemark</PropertyValue>',
        '    </Property>',
        '    <Property>',
        '      <PropertyKey>tom verdi</PropertyKey>',
        '      <PropertyValue></PropertyValue>',
        '    </Property>',
        '  </PropertyList>',
        '</BrokerServiceManifest>',
      ].join('\n'),
    );
  });

  it('leaves out a null reference, writes a null edition as xsi:nil and no properties as an empty PropertyList; winter time is UTC+1', () => {
    const { xml, root, byName } = parseManifest(
      manifestXml({ ...MANIFEST, sendersReference: null, externalServiceEditionCode: null, properties: {}, sentDate: new Date('2024-01-15T23:30:00Z') }),
    );
    expect(xml).toContain('  <ExternalServiceEditionCode xsi:nil="true" />\n');
    expect(xml).toContain('  <PropertyList />\n');
    expect(byName(root, 'SendersReference')).toEqual([]);
    expect(textContent(byName(root, 'SentDate')[0]!)).toBe('2024-01-16T00:30:00');
    const edition = byName(root, 'ExternalServiceEditionCode')[0]!;
    expect(edition.attributes.find((a) => a.ns === XSI_NS && a.local === 'nil')?.value).toBe('true');
  });

  it('keeps values that XML 1.0 cannot hold well-formed (U+FFFD), and carriage returns as character references', () => {
    const { root, byName } = parseManifest(manifestXml({ ...MANIFEST, properties: { k: 'a\u0001b\r\nc\uD800' } }));
    const value = byName(byName(byName(root, 'PropertyList')[0]!, 'Property')[0]!, 'PropertyValue')[0]!;
    expect(textContent(value)).toBe('a\uFFFDb\r\nc\uFFFD');
  });
});

describe('the shimmed ZIP', () => {
  it('copies every other entry byte for byte, drops manifest.xml/recipients.xml anywhere, and appends the new manifest', async () => {
    const mtime = new Date('2023-06-01T12:00:00Z');
    const input = await yazlZip(
      (zip) => {
        zip.addBuffer(Buffer.from('deflated '.repeat(500)), 'a.txt', { mtime, fileComment: 'a comment' } as Partial<yazl.Options>);
        zip.addBuffer(Buffer.from('old manifest'), 'manifest.xml', { mtime });
        zip.addBuffer(Buffer.from([0, 1, 2, 3, 250, 251, 252]), 'b.bin', { mtime, compress: false });
        zip.addBuffer(Buffer.from('nested old manifest'), 'sub/folder/MANIFEST.XML', { mtime });
        zip.addEmptyDirectory('docs/', { mtime });
        zip.addBuffer(Buffer.from('<recipients/>'), 'Recipients.Xml', { mtime });
        // A streamed entry: general purpose bit 3, CRC and sizes in a data descriptor.
        zip.addReadStream(Readable.from([Buffer.from('streamed æøå ÆØÅ '.repeat(100))]), 'dir/ætt.txt', { mtime });
        zip.addBuffer(Buffer.from('not a manifest'), 'manifest.xml.bak', { mtime });
      },
      { comment: 'archive comment' },
    );
    const { output, shimmed } = await shim(input);
    expect(shimmed.keptEntries).toBe(5);

    const before = await readZip(input);
    const after = await readZip(output);
    const kept = before.entries.filter((entry) => !['manifest.xml', 'sub/folder/MANIFEST.XML', 'Recipients.Xml'].includes(entry.fileName));
    expect(after.entries.map((entry) => entry.fileName)).toEqual(['a.txt', 'b.bin', 'docs/', 'dir/ætt.txt', 'manifest.xml.bak', 'manifest.xml']);
    for (const [index, original] of kept.entries()) {
      const copy = after.entries[index]!;
      expect(copy.name.equals(original.name)).toBe(true);
      expect(copy.raw.equals(original.raw)).toBe(true);
      expect({ ...copy, name: undefined, raw: undefined }).toEqual({ ...original, name: undefined, raw: undefined });
    }
    expect(after.entries[3]!.flags & 0x0008).toBe(0x0008);
    expect(after.comment.toString()).toBe('archive comment');

    const manifest = after.entries[5]!;
    expect(manifest.method).toBe(8);
    const xml = inflateRawSync(manifest.raw);
    expect(crc32(xml)).toBe(manifest.crc32);
    expect(xml.equals(manifestXml(MANIFEST))).toBe(true);
    const { root, byName } = parseManifest(xml);
    expect(root.ns).toBe(NS);
    expect(root.local).toBe('BrokerServiceManifest');
    expect(childElements(root).map((element) => element.local)).toEqual([
      'ExternalServiceCode',
      'ExternalServiceEditionCode',
      'SendersReference',
      'Reportee',
      'SentDate',
      'FileList',
      'PropertyList',
    ]);
    expect(textContent(byName(root, 'Reportee')[0]!)).toBe('974760673');
    expect(textContent(byName(byName(byName(root, 'FileList')[0]!, 'File')[0]!, 'FileName')[0]!)).toBe('rapport æøå.zip');

    const checked = await python(output);
    expect(checked.bad).toBeNull();
    expect(checked.names).toEqual(['a.txt', 'b.bin', 'docs/', 'dir/ætt.txt', 'manifest.xml.bak', 'manifest.xml']);
    expect(checked.comment).toBe('archive comment');
  });

  it('reads ZIP64 records in the upload and writes plain ones where the sizes allow', async () => {
    const input = await yazlZip(
      (zip) => {
        zip.addBuffer(Buffer.from('zip64 entry '.repeat(300)), 'z.txt', { forceZip64Format: true });
        zip.addReadStream(Readable.from([Buffer.from('streamed zip64')]), 's.txt', { forceZip64Format: true });
      },
      { forceZip64Format: true },
    );
    const { output } = await shim(input);
    const before = await readZip(input);
    const after = await readZip(output);
    expect(after.entries.map((entry) => entry.fileName)).toEqual(['z.txt', 's.txt', 'manifest.xml']);
    for (const index of [0, 1]) {
      expect(after.entries[index]!.raw.equals(before.entries[index]!.raw)).toBe(true);
      expect(after.entries[index]!.crc32).toBe(before.entries[index]!.crc32);
    }
    expect((await python(output)).bad).toBeNull();
  });

  it('makes an empty upload a ZIP holding only the manifest', async () => {
    const { output } = await shim(Buffer.alloc(0));
    const { entries } = await readZip(output);
    expect(entries.map((entry) => entry.fileName)).toEqual(['manifest.xml']);
    expect(inflateRawSync(entries[0]!.raw).equals(manifestXml(MANIFEST))).toBe(true);
    expect(await python(output)).toMatchObject({ names: ['manifest.xml'], bad: null });
  });

  it('keeps an empty archive empty but for the manifest', async () => {
    const { output } = await shim(await yazlZip(() => undefined));
    expect((await python(output)).names).toEqual(['manifest.xml']);
  });

  it.each([
    ['plain text', Buffer.from('this is no zip file at all')],
    ['a ZIP signature and nothing after it', Buffer.from('PK\x03\x04 and then garbage, no central directory', 'latin1')],
    ['one byte', Buffer.from([0x50])],
  ])('refuses %s before anything is streamed', async (_what, bytes) => {
    const stored = await blobs.put(Readable.from([bytes]));
    const attempt = prepareManifestShim({ blobs, blobKey: stored.key, size: stored.sizeBytes }, MANIFEST, NOW);
    await expect(attempt).rejects.toBeInstanceOf(BrokerError);
    await expect(attempt).rejects.toMatchObject({ name: 'NotAZipFile', message: expect.stringContaining('not a valid ZIP archive') });
  });

  it('refuses a ZIP whose central directory points outside the file', async () => {
    const good = await yazlZip((zip) => zip.addBuffer(Buffer.from('x'.repeat(100)), 'x.txt', { compress: false }));
    // Cut the entry's data short while keeping the end records: the central directory still points past it.
    const eocd = good.lastIndexOf(Buffer.from('PK\x05\x06', 'latin1'));
    const directoryOffset = good.readUInt32LE(eocd + 16);
    const truncated = Buffer.concat([good.subarray(0, 40), good.subarray(directoryOffset)]);
    truncated.writeUInt32LE(40, truncated.length - 22 + 16);
    const stored = await blobs.put(Readable.from([truncated]));
    await expect(prepareManifestShim({ blobs, blobKey: stored.key, size: stored.sizeBytes }, MANIFEST, NOW)).rejects.toMatchObject({ name: 'NotAZipFile' });
  });
});

// ---------------------------------------------------------------------------------------------
// Over 4 GiB, without storing it: the archive is zeros but for its records, so it is kept as the
// records written (with their offsets) and read back as zeros elsewhere.

const GiB = 1024 ** 3;
const CHUNK = 1024 * 1024;
const ZEROS = Buffer.alloc(CHUNK);

class SparseFile {
  readonly regions: { offset: number; bytes: Buffer }[] = [];
  size = 0;

  /** Records a chunk, keeping it only when it is not all zeros. */
  write(chunk: Buffer): void {
    for (let at = 0; at < chunk.length; at += CHUNK) {
      const part = chunk.subarray(at, at + CHUNK);
      if (!part.equals(ZEROS.subarray(0, part.length))) this.regions.push({ offset: this.size + at, bytes: Buffer.from(part) });
    }
    this.size += chunk.length;
  }

  read(start: number, endInclusive: number): Readable {
    const regions = this.regions;
    async function* bytes(): AsyncGenerator<Buffer> {
      for (let at = start; at <= endInclusive; at += CHUNK) {
        const length = Math.min(CHUNK, endInclusive + 1 - at);
        const overlapping = regions.filter((region) => region.offset < at + length && region.offset + region.bytes.length > at);
        // Nothing but zeros here: the shared zero buffer (nobody writes to what they are given).
        if (overlapping.length === 0) {
          yield ZEROS.subarray(0, length);
          continue;
        }
        const chunk = Buffer.alloc(length);
        for (const region of overlapping) {
          const from = Math.max(at, region.offset);
          const to = Math.min(at + length, region.offset + region.bytes.length);
          region.bytes.copy(chunk, from - at, from - region.offset, to - region.offset);
        }
        yield chunk;
      }
    }
    return Readable.from(bytes(), { objectMode: false });
  }
}

function sparseBlobs(file: SparseFile): BlobStore {
  return { open: (_key: string, range?: ByteRange) => file.read(range?.start ?? 0, range?.end ?? file.size - 1) } as unknown as BlobStore;
}

class SparseReader extends yauzl.RandomAccessReader {
  constructor(private readonly file: SparseFile) {
    super();
  }
  override _readStreamForRange(start: number, end: number): Readable {
    return this.file.read(start, end - 1);
  }
}

/**
 * `first.txt` (stored), `big.bin` (stored zeros, streamed style: general purpose bit 3 with a ZIP64
 * data descriptor), `Old/Manifest.xml`, with ZIP64 central directory fields and end records, as a
 * streaming ZIP64 writer lays them out. Written here, not by yazl, whose CRC-32 in JavaScript takes
 * half a minute for 4 GiB; yauzl reads it back below, so the layout is checked independently.
 */
async function sparseZip64(bigSize: number): Promise<SparseFile> {
  const file = new SparseFile();
  const u16 = (value: number) => { const b = Buffer.alloc(2); b.writeUInt16LE(value); return b; };
  const u32 = (value: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(value); return b; };
  const u64 = (value: number) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(value)); return b; };
  const zip64Extra = (...values: number[]) => Buffer.concat([u16(1), u16(8 * values.length), ...values.map(u64)]);
  let bigCrc = 0;
  for (let done = 0; done < bigSize; done += CHUNK) bigCrc = crc32(ZEROS.subarray(0, Math.min(CHUNK, bigSize - done)), bigCrc);
  const entries = [
    { name: 'first.txt', data: Buffer.from('first entry'), flags: 0 },
    { name: 'big.bin', size: bigSize, crc: bigCrc, flags: 0x0008 },
    { name: 'Old/Manifest.xml', data: Buffer.from('old manifest'), flags: 0 },
  ];
  const central: Buffer[] = [];
  for (const entry of entries) {
    const offset = file.size;
    const size = entry.data?.length ?? entry.size!;
    const crc = entry.data ? crc32(entry.data) : entry.crc!;
    const name = Buffer.from(entry.name);
    const big = size >= 0xffffffff;
    const localExtra = big ? zip64Extra(0, 0) : Buffer.alloc(0);
    const descriptor = (entry.flags & 8) !== 0;
    file.write(Buffer.concat([
      u32(0x04034b50), u16(big ? 45 : 20), u16(entry.flags), u16(0), u16(0x6000), u16(0x5a21),
      u32(descriptor ? 0 : crc), u32(big ? 0xffffffff : descriptor ? 0 : size), u32(big ? 0xffffffff : descriptor ? 0 : size),
      u16(name.length), u16(localExtra.length), name, localExtra,
    ]));
    if (entry.data) file.write(entry.data);
    else for (let done = 0; done < size; done += CHUNK) file.write(ZEROS.subarray(0, Math.min(CHUNK, size - done)));
    if (descriptor) file.write(Buffer.concat([u32(0x08074b50), u32(crc), big ? u64(size) : u32(size), big ? u64(size) : u32(size)]));
    const zip64Values = [...(big ? [size, size] : []), ...(offset >= 0xffffffff ? [offset] : [])];
    const centralExtra = zip64Values.length > 0 ? zip64Extra(...zip64Values) : Buffer.alloc(0);
    central.push(Buffer.concat([
      u32(0x02014b50), u16(0x0314), u16(zip64Values.length > 0 ? 45 : 20), u16(entry.flags), u16(0), u16(0x6000), u16(0x5a21), u32(crc),
      u32(big ? 0xffffffff : size), u32(big ? 0xffffffff : size), u16(name.length), u16(centralExtra.length), u16(0), u16(0), u16(0),
      u32(0o100644 * 0x10000), u32(offset >= 0xffffffff ? 0xffffffff : offset), name, centralExtra,
    ]));
  }
  const directoryOffset = file.size;
  const directory = Buffer.concat(central);
  file.write(directory);
  const zip64End = file.size;
  file.write(Buffer.concat([
    u32(0x06064b50), u64(44), u16(45), u16(45), u32(0), u32(0), u64(entries.length), u64(entries.length), u64(directory.length), u64(directoryOffset),
    u32(0x07064b50), u32(0), u64(zip64End), u32(1),
    u32(0x06054b50), u16(0), u16(0), u16(entries.length), u16(entries.length), u32(directory.length), u32(0xffffffff), u16(0),
  ]));
  return file;
}

it('streams a ZIP64 archive of more than 4 GiB in flat memory, its big entry unchanged and its manifest at an offset past 4 GiB', async () => {
  const bigSize = 4 * GiB + 3 * CHUNK + 17;
  const input = await sparseZip64(bigSize);
  const rssBefore = process.memoryUsage.rss();
  const shimmed = await prepareManifestShim({ blobs: sparseBlobs(input), blobKey: 'sparse', size: input.size }, MANIFEST, NOW);
  const output = new SparseFile();
  let peakRss = rssBefore;
  let chunks = 0;
  for await (const chunk of shimmed.open()) {
    output.write(chunk as Buffer);
    if (++chunks % 256 === 0) peakRss = Math.max(peakRss, process.memoryUsage.rss());
  }
  expect(output.size).toBe(shimmed.size);
  // Flat: what is held is a few chunks, never the archive (4 GiB).
  expect(peakRss - rssBefore).toBeLessThan(96 * 1024 * 1024);

  const read = async (file: SparseFile) => {
    const archive = await yauzl.fromRandomAccessReaderPromise(new SparseReader(file), file.size, { lazyEntries: true, decodeStrings: false });
    const entries: { name: string; crc32: number; compressedSize: number; uncompressedSize: number; offset: number; raw?: Buffer }[] = [];
    for await (const entry of archive.eachEntry()) {
      const raw = entry.compressedSize < CHUNK ? await collect(await archive.openReadStreamPromise(entry, { decodeFileData: false })) : undefined;
      entries.push({
        name: entry.fileNameRaw.toString(),
        crc32: entry.crc32,
        compressedSize: entry.compressedSize,
        uncompressedSize: entry.uncompressedSize,
        offset: entry.relativeOffsetOfLocalHeader,
        raw,
      });
    }
    return entries;
  };
  const before = await read(input);
  const after = await read(output);
  expect(after.map((entry) => entry.name)).toEqual(['first.txt', 'big.bin', 'manifest.xml']);
  expect(after[1]).toMatchObject({ crc32: before[1]!.crc32, compressedSize: bigSize, uncompressedSize: bigSize });
  expect(after[0]!.raw!.equals(before[0]!.raw!)).toBe(true);
  expect(after[2]!.offset).toBeGreaterThan(4 * GiB);
  expect(inflateRawSync(after[2]!.raw!).equals(manifestXml(MANIFEST))).toBe(true);
  // The big entry's data in the output is all zeros (no region recorded inside it), as in the input.
  const bigStart = after[1]!.offset;
  expect(output.regions.some((region) => region.offset > bigStart + CHUNK && region.offset < bigStart + bigSize - CHUNK)).toBe(false);
});

it('fails the stream, not silently, when the stored bytes end inside an entry', async () => {
  const input = await yazlZip((zip) => zip.addBuffer(Buffer.from('y'.repeat(5000)), 'y.txt', { compress: false }));
  const file = new SparseFile();
  file.write(input);
  const blobsCut = {
    open: (_key: string, range?: ByteRange) => {
      const start = range?.start ?? 0;
      const end = range?.end ?? file.size - 1;
      // The entry's data comes back short (a blob that lost its tail while being read).
      return end - start + 1 === 5000 ? file.read(start, start + 999) : file.read(start, end);
    },
  } as unknown as BlobStore;
  const shimmed = await prepareManifestShim({ blobs: blobsCut, blobKey: 'cut', size: file.size }, MANIFEST, NOW);
  await expect(collect(shimmed.open())).rejects.toThrow(/ended inside an entry/);
});
