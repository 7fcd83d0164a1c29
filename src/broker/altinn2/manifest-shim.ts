/**
 * The manifest shim (CONTRACT §9, facts §14): Altinn 2 broker payloads are ZIP files carrying a
 * `manifest.xml` that Altinn 2 wrote (service, sender, properties). A resource with
 * `useManifestFileShim` has its ZIP served to Altinn 2 recipients with a fresh `manifest.xml` made
 * from the transfer's metadata: every entry named `manifest.xml` or `recipients.xml` (in any folder,
 * any case) is left out, the new manifest is appended at the root, and an empty upload becomes a
 * ZIP holding only the manifest.
 *
 * Altinn reads the whole file into memory for this (.NET ZipArchive in Update mode). Here nothing
 * is decompressed or buffered: yauzl reads the central directory and the local headers through
 * ranged reads of the blob, and the output is written entry by entry, each entry's compressed data
 * copied raw from the blob, so its bytes, name, CRC and sizes stay exactly as uploaded. yazl cannot
 * add an already-compressed entry (it compresses and computes the CRC itself), so the few header
 * records are written here; their layout is APPNOTE 6.3.x §4.3 (ZIP64 where sizes or offsets need it).
 * Every size is known before the first byte, so the length of the result is too (Content-Length).
 */
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { crc32, deflateRawSync } from 'node:zlib';
import yauzl from 'yauzl';
import type { BlobStore } from '../../storage/blob-store';
import { escapeText } from '../../xml/writer';
import { BrokerError } from '../errors';
import { orgNumberOf } from '../parties';
import type { BrokerResource, FileTransfer } from '../types';
import { isZipSignature } from '../zip-signature';
import { formatNorwegianLocalTime, osloOffsetMs } from './norwegian-time';

export const MANIFEST_FILE_NAME = 'manifest.xml';
/** Entries the shim replaces (compared case-insensitively with an entry's last path segment). */
const REPLACED_ENTRY_NAMES = ['manifest.xml', 'recipients.xml'];
/** A guard on what is held per entry while the archive streams (~0.5 KB each). */
export const MANIFEST_SHIM_MAX_ENTRIES = 50_000;

export const MANIFEST_NAMESPACE = 'http://schema.altinn.no/services/ServiceEngine/Broker/2015/06';
const XSI = 'http://www.w3.org/2001/XMLSchema-instance';
const XSD = 'http://www.w3.org/2001/XMLSchema';

// ---------------------------------------------------------------------------------------------
// manifest.xml

/** What Altinn's BrokerServiceManifest holds. */
export interface BrokerServiceManifest {
  externalServiceCode: string | null;
  externalServiceEditionCode: number | null;
  sendersReference: string | null;
  /** The sender's organisation number. */
  reportee: string;
  sentDate: Date;
  fileName: string;
  properties: Record<string, string>;
}

export function manifestOf(transfer: FileTransfer, resource: BrokerResource): BrokerServiceManifest {
  return {
    externalServiceCode: resource.externalServiceCodeLegacy,
    externalServiceEditionCode: resource.externalServiceEditionCodeLegacy,
    sendersReference: transfer.sendersFileTransferReference,
    reportee: orgNumberOf(transfer.sender),
    sentDate: transfer.created,
    fileName: transfer.fileName,
    properties: transfer.propertyList,
  };
}

/** XML 1.0 cannot carry these at all (not even as character references): they become U+FFFD. */
const NOT_XML_CHARACTERS = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

function text(value: string): string {
  return escapeText(value.replace(NOT_XML_CHARACTERS, '\uFFFD'));
}

/**
 * The manifest as .NET's XmlSerializer writes it with `Indent = true, Encoding = Unicode`:
 * UTF-16 LE with a byte order mark, the `utf-16` declaration, two-space indentation, `\n` line
 * ends, no final newline; a null string left out, a null number `xsi:nil`, empty lists `<X />`.
 * The namespace declarations are in the order of Altinn 2's own manifests (xsd, xsi, default).
 */
export function manifestXml(manifest: BrokerServiceManifest): Buffer {
  const lines = [
    '<?xml version="1.0" encoding="utf-16"?>',
    `<BrokerServiceManifest xmlns:xsd="${XSD}" xmlns:xsi="${XSI}" xmlns="${MANIFEST_NAMESPACE}">`,
  ];
  const element = (indent: string, name: string, value: string) => lines.push(`${indent}<${name}>${text(value)}</${name}>`);
  if (manifest.externalServiceCode !== null) element('  ', 'ExternalServiceCode', manifest.externalServiceCode);
  if (manifest.externalServiceEditionCode !== null) element('  ', 'ExternalServiceEditionCode', String(manifest.externalServiceEditionCode));
  else lines.push('  <ExternalServiceEditionCode xsi:nil="true" />');
  if (manifest.sendersReference !== null) element('  ', 'SendersReference', manifest.sendersReference);
  element('  ', 'Reportee', manifest.reportee);
  element('  ', 'SentDate', formatNorwegianLocalTime(manifest.sentDate));
  lines.push('  <FileList>', '    <File>');
  element('      ', 'FileName', manifest.fileName);
  lines.push('    </File>', '  </FileList>');
  const properties = Object.entries(manifest.properties);
  if (properties.length === 0) {
    lines.push('  <PropertyList />');
  } else {
    lines.push('  <PropertyList>');
    for (const [key, value] of properties) {
      lines.push('    <Property>');
      element('      ', 'PropertyKey', key);
      element('      ', 'PropertyValue', value);
      lines.push('    </Property>');
    }
    lines.push('  </PropertyList>');
  }
  lines.push('</BrokerServiceManifest>');
  return Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(lines.join('\n'), 'utf16le')]);
}

// ---------------------------------------------------------------------------------------------
// ZIP records

const LOCAL_FILE_HEADER = 0x04034b50;
const CENTRAL_FILE_HEADER = 0x02014b50;
const DATA_DESCRIPTOR = 0x08074b50;
const ZIP64_END_OF_CENTRAL_DIRECTORY = 0x06064b50;
const ZIP64_END_LOCATOR = 0x07064b50;
const END_OF_CENTRAL_DIRECTORY = 0x06054b50;
const ZIP64_EXTRA = 0x0001;
const MAX_32 = 0xffffffff;
const MAX_16 = 0xffff;
const FLAG_DATA_DESCRIPTOR = 0x0008;
const ZIP64_VERSION = 45;

/** One entry of the output: the original's metadata, and where its compressed bytes are. */
interface OutputEntry {
  versionMadeBy: number;
  versionNeeded: number;
  flags: number;
  method: number;
  dosTime: number;
  dosDate: number;
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
  internalAttributes: number;
  externalAttributes: number;
  name: Buffer;
  /** Extra fields without any ZIP64 field (ours is added where needed). */
  localExtra: Buffer;
  centralExtra: Buffer;
  comment: Buffer;
  /** The compressed bytes: in the source blob, or (the manifest) in memory. */
  data: { blobStart: number } | { bytes: Buffer };
}

const needsZip64Sizes = (entry: OutputEntry) => entry.compressedSize >= MAX_32 || entry.uncompressedSize >= MAX_32;
const hasDataDescriptor = (entry: OutputEntry) => (entry.flags & FLAG_DATA_DESCRIPTOR) !== 0;

function extraField(id: number, data: Buffer): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt16LE(id, 0);
  header.writeUInt16LE(data.length, 2);
  return Buffer.concat([header, data]);
}

function uint64(...values: number[]): Buffer {
  const buffer = Buffer.alloc(8 * values.length);
  values.forEach((value, index) => buffer.writeBigUInt64LE(BigInt(value), index * 8));
  return buffer;
}

/** Every extra field except ZIP64's, bytes unchanged. */
function withoutZip64(extra: Buffer): Buffer {
  return Buffer.concat(yauzl.parseExtraFields(extra).filter((field) => field.id !== ZIP64_EXTRA).map((field) => extraField(field.id, field.data)));
}

function localHeaderExtra(entry: OutputEntry): Buffer {
  if (!needsZip64Sizes(entry)) return entry.localExtra;
  // Sizes follow in the data descriptor when there is one (then zero here, as the spec asks).
  const sizes = hasDataDescriptor(entry) ? uint64(0, 0) : uint64(entry.uncompressedSize, entry.compressedSize);
  return Buffer.concat([entry.localExtra, extraField(ZIP64_EXTRA, sizes)]);
}

function localHeader(entry: OutputEntry): Buffer {
  const extra = localHeaderExtra(entry);
  const zip64 = needsZip64Sizes(entry);
  const descriptor = hasDataDescriptor(entry);
  const header = Buffer.alloc(30);
  header.writeUInt32LE(LOCAL_FILE_HEADER, 0);
  header.writeUInt16LE(zip64 ? Math.max(entry.versionNeeded, ZIP64_VERSION) : entry.versionNeeded, 4);
  header.writeUInt16LE(entry.flags, 6);
  header.writeUInt16LE(entry.method, 8);
  header.writeUInt16LE(entry.dosTime, 10);
  header.writeUInt16LE(entry.dosDate, 12);
  header.writeUInt32LE(descriptor ? 0 : entry.crc32, 14);
  header.writeUInt32LE(zip64 ? MAX_32 : descriptor ? 0 : entry.compressedSize, 18);
  header.writeUInt32LE(zip64 ? MAX_32 : descriptor ? 0 : entry.uncompressedSize, 22);
  header.writeUInt16LE(entry.name.length, 26);
  header.writeUInt16LE(extra.length, 28);
  return Buffer.concat([header, entry.name, extra]);
}

function localHeaderLength(entry: OutputEntry): number {
  return 30 + entry.name.length + localHeaderExtra(entry).length;
}

function dataDescriptor(entry: OutputEntry): Buffer {
  if (!hasDataDescriptor(entry)) return Buffer.alloc(0);
  if (needsZip64Sizes(entry)) {
    const record = Buffer.alloc(24);
    record.writeUInt32LE(DATA_DESCRIPTOR, 0);
    record.writeUInt32LE(entry.crc32, 4);
    record.writeBigUInt64LE(BigInt(entry.compressedSize), 8);
    record.writeBigUInt64LE(BigInt(entry.uncompressedSize), 16);
    return record;
  }
  const record = Buffer.alloc(16);
  record.writeUInt32LE(DATA_DESCRIPTOR, 0);
  record.writeUInt32LE(entry.crc32, 4);
  record.writeUInt32LE(entry.compressedSize, 8);
  record.writeUInt32LE(entry.uncompressedSize, 12);
  return record;
}

function centralExtra(entry: OutputEntry, offset: number): Buffer {
  // ZIP64 holds, in this order, exactly the values the fixed fields mark with 0xFFFFFFFF.
  const values = [entry.uncompressedSize, entry.compressedSize, offset].filter((value) => value >= MAX_32);
  return values.length === 0 ? entry.centralExtra : Buffer.concat([entry.centralExtra, extraField(ZIP64_EXTRA, uint64(...values))]);
}

function centralHeader(entry: OutputEntry, offset: number): Buffer {
  const extra = centralExtra(entry, offset);
  const zip64 = extra !== entry.centralExtra;
  const header = Buffer.alloc(46);
  header.writeUInt32LE(CENTRAL_FILE_HEADER, 0);
  header.writeUInt16LE(entry.versionMadeBy, 4);
  header.writeUInt16LE(zip64 ? Math.max(entry.versionNeeded, ZIP64_VERSION) : entry.versionNeeded, 6);
  header.writeUInt16LE(entry.flags, 8);
  header.writeUInt16LE(entry.method, 10);
  header.writeUInt16LE(entry.dosTime, 12);
  header.writeUInt16LE(entry.dosDate, 14);
  header.writeUInt32LE(entry.crc32, 16);
  header.writeUInt32LE(Math.min(entry.compressedSize, MAX_32), 20);
  header.writeUInt32LE(Math.min(entry.uncompressedSize, MAX_32), 24);
  header.writeUInt16LE(entry.name.length, 28);
  header.writeUInt16LE(extra.length, 30);
  header.writeUInt16LE(entry.comment.length, 32);
  header.writeUInt16LE(0, 34); // disk number
  header.writeUInt16LE(entry.internalAttributes, 36);
  header.writeUInt32LE(entry.externalAttributes >>> 0, 38);
  header.writeUInt32LE(Math.min(offset, MAX_32), 42);
  return Buffer.concat([header, entry.name, extra, entry.comment]);
}

function centralHeaderLength(entry: OutputEntry, offset: number): number {
  return 46 + entry.name.length + centralExtra(entry, offset).length + entry.comment.length;
}

function endRecords(entryCount: number, directoryOffset: number, directorySize: number, comment: Buffer): Buffer {
  const zip64 = entryCount >= MAX_16 || directoryOffset >= MAX_32 || directorySize >= MAX_32;
  const end = Buffer.alloc(22);
  end.writeUInt32LE(END_OF_CENTRAL_DIRECTORY, 0);
  end.writeUInt16LE(0, 4);
  end.writeUInt16LE(0, 6);
  end.writeUInt16LE(Math.min(entryCount, MAX_16), 8);
  end.writeUInt16LE(Math.min(entryCount, MAX_16), 10);
  end.writeUInt32LE(Math.min(directorySize, MAX_32), 12);
  end.writeUInt32LE(Math.min(directoryOffset, MAX_32), 16);
  end.writeUInt16LE(comment.length, 20);
  if (!zip64) return Buffer.concat([end, comment]);
  const record = Buffer.alloc(56);
  record.writeUInt32LE(ZIP64_END_OF_CENTRAL_DIRECTORY, 0);
  record.writeBigUInt64LE(44n, 4); // size of the rest of this record
  record.writeUInt16LE(ZIP64_VERSION, 12); // version made by
  record.writeUInt16LE(ZIP64_VERSION, 14); // version needed
  record.writeUInt32LE(0, 16);
  record.writeUInt32LE(0, 20);
  record.writeBigUInt64LE(BigInt(entryCount), 24);
  record.writeBigUInt64LE(BigInt(entryCount), 32);
  record.writeBigUInt64LE(BigInt(directorySize), 40);
  record.writeBigUInt64LE(BigInt(directoryOffset), 48);
  const locator = Buffer.alloc(20);
  locator.writeUInt32LE(ZIP64_END_LOCATOR, 0);
  locator.writeUInt32LE(0, 4);
  locator.writeBigUInt64LE(BigInt(directoryOffset + directorySize), 8);
  locator.writeUInt32LE(1, 16); // total number of disks
  return Buffer.concat([record, locator, end, comment]);
}

/** MS-DOS date and time fields for an instant, in Norwegian local time (as .NET writes local time). */
function dosDateTime(date: Date): { dosDate: number; dosTime: number } {
  const local = new Date(date.getTime() + osloOffsetMs(date));
  return {
    dosDate: ((local.getUTCFullYear() - 1980) << 9) | ((local.getUTCMonth() + 1) << 5) | local.getUTCDate(),
    dosTime: (local.getUTCHours() << 11) | (local.getUTCMinutes() << 5) | Math.floor(local.getUTCSeconds() / 2),
  };
}

function manifestEntry(xml: Buffer, now: Date): OutputEntry {
  const compressed = deflateRawSync(xml);
  return {
    versionMadeBy: 20, // MS-DOS, spec 2.0: no Unix permissions claimed
    versionNeeded: 20,
    flags: 0,
    method: 8, // deflate, as ZipArchive.CreateEntry
    ...dosDateTime(now),
    crc32: crc32(xml),
    compressedSize: compressed.length,
    uncompressedSize: xml.length,
    internalAttributes: 0,
    externalAttributes: 0,
    name: Buffer.from(MANIFEST_FILE_NAME, 'ascii'),
    localExtra: Buffer.alloc(0),
    centralExtra: Buffer.alloc(0),
    comment: Buffer.alloc(0),
    data: { bytes: compressed },
  };
}

// ---------------------------------------------------------------------------------------------
// Reading the uploaded ZIP

/** yauzl reads the blob through ranged opens: only the central directory and local headers. */
class BlobRangeReader extends yauzl.RandomAccessReader {
  constructor(
    private readonly blobs: BlobStore,
    private readonly key: string,
  ) {
    super();
  }

  override _readStreamForRange(start: number, end: number): Readable {
    return this.blobs.open(this.key, { start, end: end - 1 });
  }
}

function notAZip(reason: string): BrokerError {
  return new BrokerError('NotAZipFile', `The file is not a valid ZIP archive (${reason}), so the manifest (manifest.xml) this service adds to it cannot be added.`);
}


function isReplaced(entry: yauzl.Entry): boolean {
  const name = yauzl.getFileNameLowLevel(entry.generalPurposeBitFlag, entry.fileNameRaw, entry.extraFields, false);
  const lastSegment = name.split('/').pop()!.toLowerCase();
  return REPLACED_ENTRY_NAMES.includes(lastSegment);
}

/** The entries to keep, in central directory order, and the archive comment. Refuses what is no ZIP. */
async function readEntries(blobs: BlobStore, key: string, size: number): Promise<{ entries: OutputEntry[]; comment: Buffer }> {
  const head = await buffer(blobs.open(key, { start: 0, end: Math.min(size, 4) - 1 }));
  if (!isZipSignature(head)) throw notAZip('it does not start with a ZIP signature');
  let zip: yauzl.ZipFile;
  try {
    // Names are not decoded (so not judged either): they are copied, not extracted.
    zip = await yauzl.fromRandomAccessReaderPromise(new BlobRangeReader(blobs, key), size, {
      lazyEntries: true,
      autoClose: false,
      decodeStrings: false,
      validateEntrySizes: false,
    });
  } catch (error) {
    throw notAZip((error as Error).message);
  }
  try {
    if (zip.entryCount > MANIFEST_SHIM_MAX_ENTRIES) throw notAZip(`it has ${zip.entryCount} entries; at most ${MANIFEST_SHIM_MAX_ENTRIES} are served`);
    const entries: OutputEntry[] = [];
    let entry: yauzl.Entry | undefined;
    for (;;) {
      try {
        entry = await nextEntry(zip);
      } catch (error) {
        throw notAZip((error as Error).message);
      }
      if (!entry) break;
      if (isReplaced(entry)) continue;
      let local: yauzl.LocalFileHeader;
      let localExtra: Buffer;
      let centralExtra: Buffer;
      try {
        local = await zip.readLocalFileHeaderPromise(entry);
        localExtra = withoutZip64(local.extraField);
        centralExtra = withoutZip64(entry.extraFieldRaw);
      } catch (error) {
        throw notAZip(`entry ${entries.length + 1}: ${(error as Error).message}`);
      }
      entries.push({
        versionMadeBy: entry.versionMadeBy,
        versionNeeded: entry.versionNeededToExtract,
        flags: entry.generalPurposeBitFlag,
        method: entry.compressionMethod,
        dosTime: entry.lastModFileTime,
        dosDate: entry.lastModFileDate,
        crc32: entry.crc32,
        compressedSize: entry.compressedSize,
        uncompressedSize: entry.uncompressedSize,
        internalAttributes: entry.internalFileAttributes,
        externalAttributes: entry.externalFileAttributes,
        // Copies: the parsed buffers are views of yauzl's per-entry read buffer.
        name: Buffer.from(entry.fileNameRaw),
        localExtra: Buffer.from(localExtra),
        centralExtra: Buffer.from(centralExtra),
        comment: Buffer.from(entry.fileCommentRaw),
        data: { blobStart: local.fileDataStart },
      });
    }
    // decodeStrings: false leaves the archive comment as its bytes.
    return { entries, comment: Buffer.from(zip.comment as unknown as Buffer) };
  } finally {
    zip.close();
  }
}

function nextEntry(zip: yauzl.ZipFile): Promise<yauzl.Entry | undefined> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      zip.off('entry', onEntry);
      zip.off('end', onEnd);
      zip.off('error', onError);
    };
    const onEntry = (entry: yauzl.Entry) => {
      cleanup();
      resolve(entry);
    };
    const onEnd = () => {
      cleanup();
      resolve(undefined);
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    zip.on('entry', onEntry);
    zip.on('end', onEnd);
    zip.on('error', onError);
    zip.readEntry();
  });
}

// ---------------------------------------------------------------------------------------------
// The shimmed archive

export interface ShimmedZip {
  /** Exact length of the archive `open()` streams. */
  size: number;
  /** Entries copied from the upload (those not replaced). */
  keptEntries: number;
  open(): Readable;
}

export interface ManifestShimSource {
  blobs: BlobStore;
  /** The upload; undefined or size 0 for an empty upload. */
  blobKey: string | undefined;
  size: number;
}

/**
 * Reads the upload's ZIP structure (NotAZipFile when it is none: before anything is sent) and
 * returns the shimmed archive's size and a way to stream it. `now` is the manifest entry's time.
 */
export async function prepareManifestShim(source: ManifestShimSource, manifest: BrokerServiceManifest, now: Date): Promise<ShimmedZip> {
  const { entries, comment } = source.size === 0 || !source.blobKey ? { entries: [], comment: Buffer.alloc(0) } : await readEntries(source.blobs, source.blobKey, source.size);
  const all = [...entries, manifestEntry(manifestXml(manifest), now)];

  const offsets: number[] = [];
  let position = 0;
  for (const [index, entry] of all.entries()) {
    offsets.push(position);
    // Adding a ZIP64 field could push an extra field past its 16-bit length: refused now, not mid-stream.
    if (localHeaderExtra(entry).length > MAX_16 || centralExtra(entry, position).length > MAX_16) {
      throw notAZip(`entry ${index + 1}: its extra fields leave no room for the ZIP64 sizes it needs`);
    }
    position += localHeaderLength(entry) + entry.compressedSize + dataDescriptor(entry).length;
  }
  const directoryOffset = position;
  const directorySize = all.reduce((total, entry, index) => total + centralHeaderLength(entry, offsets[index]!), 0);
  const size = directoryOffset + directorySize + endRecords(all.length, directoryOffset, directorySize, comment).length;

  const blobs = source.blobs;
  const blobKey = source.blobKey;
  async function* archive(): AsyncGenerator<Buffer> {
    for (const entry of all) {
      yield localHeader(entry);
      if ('bytes' in entry.data) {
        yield entry.data.bytes;
      } else if (entry.compressedSize > 0) {
        const start = entry.data.blobStart;
        let copied = 0;
        for await (const chunk of blobs.open(blobKey!, { start, end: start + entry.compressedSize - 1 })) {
          copied += (chunk as Buffer).length;
          yield chunk as Buffer;
        }
        if (copied !== entry.compressedSize) throw new Error(`the stored ZIP ended inside an entry (${copied} of ${entry.compressedSize} bytes)`);
      }
      if (hasDataDescriptor(entry)) yield dataDescriptor(entry);
    }
    let directory: Buffer[] = [];
    let buffered = 0;
    for (const [index, entry] of all.entries()) {
      const header = centralHeader(entry, offsets[index]!);
      directory.push(header);
      buffered += header.length;
      if (buffered >= 64 * 1024) {
        yield Buffer.concat(directory);
        directory = [];
        buffered = 0;
      }
    }
    yield Buffer.concat([...directory, endRecords(all.length, directoryOffset, directorySize, comment)]);
  }
  return { size, keptEntries: entries.length, open: () => Readable.from(archive(), { objectMode: false }) };
}
