/** Attachment files for the demo data, generated in memory: a PDF, a PNG and a Windows-style text file. */
import { Readable } from 'node:stream';
import PDFDocument from 'pdfkit';
import type { NewAttachment } from '../archive/archive-form-tasks';
import { encodePng, type Rgb } from './png';

export function attachmentFromBytes(
  bytes: Buffer,
  fileName: string,
  attachmentType: string,
  attachmentTypeName: string | null = null,
): NewAttachment {
  return { fileName, attachmentType, attachmentTypeName, open: () => Readable.from([bytes]) };
}

/** A one-page PDF with a title and some lines of text. */
export async function makePdf(title: string, lines: string[]): Promise<Buffer> {
  const doc = new PDFDocument({ size: 'A4', margin: 56, info: { Title: title, Creator: 'altinn-gateway demo' } });
  const chunks: Buffer[] = [];
  doc.on('data', (chunk: Buffer) => chunks.push(chunk));
  const done = new Promise<void>((resolve, reject) => {
    doc.on('end', resolve);
    doc.on('error', reject);
  });
  doc.font('Helvetica-Bold').fontSize(18).text(title).moveDown();
  doc.font('Helvetica').fontSize(11);
  for (const line of lines) doc.text(line);
  doc.end();
  await done;
  return Buffer.concat(chunks);
}

const FLAG_RED: Rgb = [0xba, 0x0c, 0x2f];
const FLAG_WHITE: Rgb = [0xff, 0xff, 0xff];
const FLAG_BLUE: Rgb = [0x00, 0x20, 0x5b];

/** The Norwegian flag (proportions 22:16), `scale` pixels per unit. */
export function makeFlagPng(scale = 4): Buffer {
  const band = (unit: number): 'blue' | 'white' | 'red' => (unit >= 7 && unit < 9 ? 'blue' : unit >= 6 && unit < 10 ? 'white' : 'red');
  return encodePng(22 * scale, 16 * scale, (x, y) => {
    const column = band(Math.floor(x / scale));
    const row = band(Math.floor(y / scale));
    if (column === 'blue' || row === 'blue') return FLAG_BLUE;
    if (column === 'white' || row === 'white') return FLAG_WHITE;
    return FLAG_RED;
  });
}

/** UTF-8 text with CRLF line endings, ending in CRLF (bytes a careless transport would change). */
export function makeTextFile(lines: string[]): Buffer {
  return Buffer.from(lines.map((line) => `${line}\r\n`).join(''), 'utf8');
}
