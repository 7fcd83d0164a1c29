/**
 * The PDF of an archived form set, as GetFormSetPdfBasic returns it.
 *
 * Deliberately plain: a header (archive reference, service, reportee, time), the signatures, the
 * attachments, then every form's fields as "path: value" rows. The text is set in DejaVu Sans,
 * embedded (pdfkit subsets it) from assets/fonts/: pdfkit's built-in Helvetica is WinAnsi-only and
 * cannot show Sami letters (Ŋ Č Đ Ŧ).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import PDFDocument from 'pdfkit';
import type { SecurityLevel } from '../archive/types';
import { parseXml, childElements, textContent, type XmlElement } from '../xml/parser';

export interface FormSetPdfForm {
  dataFormatId: string;
  dataFormatVersion: number;
  reference: string;
  parentReference: string | null;
  /** XML text. */
  formData: string;
}

export interface FormSetPdfInput {
  archiveReference: string;
  serviceCode: string;
  serviceEditionCode: number;
  serviceName?: string | null;
  reportee: string;
  archivedAt: Date;
  /** One of PDF_LANGUAGE_IDS; any other is refused (UnsupportedPdfLanguage). */
  languageId: number;
  /** securityLevel: an Altinn level name (`verySensitive`), printed as its number and text. */
  approvers: { approverId: string; approvedAt: Date; securityLevel: string }[];
  attachments?: { fileName: string; attachmentType: string; attachmentTypeName?: string | null; sizeBytes: number }[];
  forms: FormSetPdfForm[];
}

/** The form-set PDF has no texts in this language. */
export class UnsupportedPdfLanguage extends Error {
  constructor(readonly languageId: number) {
    super(
      `languageId ${languageId} is not supported; use one of ${Object.entries(LANGUAGES)
        .map(([id, labels]) => `${id} (${labels.name})`)
        .join(', ')}`,
    );
    this.name = 'UnsupportedPdfLanguage';
  }
}

// ---- language ----

interface Labels {
  name: string; // the language, for the refusal of an unknown languageId
  locale: string; // for Intl date formatting
  lang: string; // the PDF's /Lang
  title: string;
  archiveReference: string;
  serviceCode: string;
  serviceEdition: string;
  serviceName: string;
  reportee: string;
  archived: string;
  signatures: string;
  noSignatures: string;
  signed: string;
  securityLevel: string;
  form: string;
  subForm: string;
  reference: string;
  parentForm: string;
  noFields: string;
  unreadable: string;
  attachments: string;
  noAttachments: string;
  bytes: string;
  page: string;
  of: string;
  /** Altinn's security levels (ApproverSecurityLevel), each as "number (meaning)". */
  securityLevels: Record<SecurityLevel, string>;
}

const EN: Labels = {
  name: 'English',
  locale: 'en-GB',
  lang: 'en',
  title: 'Archived form set',
  archiveReference: 'Archive reference',
  serviceCode: 'Service code',
  serviceEdition: 'Service edition',
  serviceName: 'Service',
  reportee: 'Reportee',
  archived: 'Archived',
  signatures: 'Signatures',
  noSignatures: 'No signatures',
  signed: 'Signed',
  securityLevel: 'Security level',
  form: 'Form',
  subForm: 'Sub form',
  reference: 'Reference',
  parentForm: 'Parent form',
  noFields: 'No fields',
  unreadable: 'The form data could not be read as XML; its raw text follows.',
  attachments: 'Attachments',
  noAttachments: 'No attachments',
  bytes: 'bytes',
  page: 'Page',
  of: 'of',
  securityLevels: {
    selfIdentifiedUser: '0 (self-identified user)',
    notSensitive: '1 (not sensitive)',
    lessSensitive: '2 (less sensitive)',
    sensitive: '3 (sensitive)',
    verySensitive: '4 (very sensitive)',
  },
};

const NB: Labels = {
  name: 'Norwegian Bokmål',
  locale: 'nb-NO',
  lang: 'nb',
  title: 'Arkivert skjemasett',
  archiveReference: 'Arkivreferanse',
  serviceCode: 'Tjenestekode',
  serviceEdition: 'Tjenesteutgave',
  serviceName: 'Tjeneste',
  reportee: 'Avgiver',
  archived: 'Arkivert',
  signatures: 'Signaturer',
  noSignatures: 'Ingen signaturer',
  signed: 'Signert',
  securityLevel: 'Sikkerhetsnivå',
  form: 'Skjema',
  subForm: 'Underskjema',
  reference: 'Referanse',
  parentForm: 'Hovedskjema',
  noFields: 'Ingen felt',
  unreadable: 'Skjemadataene kunne ikke leses som XML; råteksten følger.',
  attachments: 'Vedlegg',
  noAttachments: 'Ingen vedlegg',
  bytes: 'byte',
  page: 'Side',
  of: 'av',
  securityLevels: {
    selfIdentifiedUser: '0 (selvidentifisert bruker)',
    notSensitive: '1 (ikke sensitivt)',
    lessSensitive: '2 (mindre sensitivt)',
    sensitive: '3 (sensitivt)',
    verySensitive: '4 (svært sensitivt)',
  },
};

const NN: Labels = {
  ...NB,
  name: 'Norwegian Nynorsk',
  locale: 'nn-NO',
  lang: 'nn',
  serviceCode: 'Tenestekode',
  serviceEdition: 'Tenesteutgåve',
  serviceName: 'Teneste',
  reportee: 'Avgjevar',
  signatures: 'Signaturar',
  noSignatures: 'Ingen signaturar',
  securityLevel: 'Tryggingsnivå',
  parentForm: 'Hovudskjema',
  unreadable: 'Skjemadataa kunne ikkje lesast som XML; råteksten følgjer.',
  securityLevels: {
    selfIdentifiedUser: '0 (sjølvidentifisert brukar)',
    notSensitive: '1 (ikkje sensitivt)',
    lessSensitive: '2 (mindre sensitivt)',
    sensitive: '3 (sensitivt)',
    verySensitive: '4 (svært sensitivt)',
  },
};

/** Northern Sami (davvisámegiella). */
const SE: Labels = {
  name: 'Northern Sami',
  locale: 'se-NO',
  lang: 'se',
  title: 'Arkiverejuvvon skovit',
  archiveReference: 'Arkiivareferánsa',
  serviceCode: 'Bálvaluskoda',
  serviceEdition: 'Bálvalusveršuvdna',
  serviceName: 'Bálvalus',
  reportee: 'Raporteaddji',
  archived: 'Arkiverejuvvon',
  signatures: 'Vuolláičállosat',
  noSignatures: 'Eai vuolláičállosat',
  signed: 'Vuolláičállojuvvon',
  securityLevel: 'Sihkkarvuođadássi',
  form: 'Skovvi',
  subForm: 'Vuolitskovvi',
  reference: 'Referánsa',
  parentForm: 'Váldoskovvi',
  noFields: 'Eai gieddit',
  unreadable: 'Skovi dieđuid ii sáhttán lohkat XML:an; álgoteaksta čuovvu.',
  attachments: 'Mielddusat',
  noAttachments: 'Eai mielddusat',
  bytes: 'byte',
  page: 'Siidu',
  of: '/',
  securityLevels: {
    selfIdentifiedUser: '0 (iešidentifiserejuvvon geavaheaddji)',
    notSensitive: '1 (ii hearki)',
    lessSensitive: '2 (unnit hearki)',
    sensitive: '3 (hearki)',
    verySensitive: '4 (hui hearki)',
  },
};

/** By Altinn language id (LCID). */
const LANGUAGES: Record<number, Labels> = { 1033: EN, 1044: NB, 2068: NN, 1083: SE };

export const PDF_LANGUAGE_IDS: readonly number[] = Object.keys(LANGUAGES).map(Number);

/** Throws UnsupportedPdfLanguage unless there are texts for this language: checked before any work is done. */
export function requirePdfLanguage(languageId: number): void {
  labelsFor(languageId);
}

function labelsFor(languageId: number): Labels {
  const labels = LANGUAGES[languageId];
  if (!labels) throw new UnsupportedPdfLanguage(languageId);
  return labels;
}

function securityLevelText(level: string, labels: Labels): string {
  return (labels.securityLevels as Record<string, string>)[level] ?? level;
}

/** Local Norwegian time with its zone name ("5. mars 2024 kl. 14:07:09 CET"): what a reader expects. */
function formatTime(date: Date, labels: Labels): string {
  if (Number.isNaN(date.getTime())) return '-'; // Intl throws on an invalid date; the PDF must not
  return new Intl.DateTimeFormat(labels.locale, { dateStyle: 'long', timeStyle: 'long', timeZone: 'Europe/Oslo' }).format(date);
}

// ---- text safety ----

/**
 * Text as it is drawn: accents composed (NFC, so a decomposed "å" is one glyph), odd spaces as
 * spaces, control and format characters dropped (they have no glyph and would only confuse the
 * layout). A letter the font lacks shows as its empty box; it never garbles the rest of the line.
 */
function printable(text: string): string {
  return text
    .normalize('NFC')
    .replace(/\r\n?/g, '\n')
    .replace(/[^\S\n]/gu, ' ')
    .replace(/[\p{Cc}\p{Cf}\p{Co}\p{Cs}\p{Cn}]/gu, (c) => (c === '\n' ? c : ''));
}

// ---- form data ----

interface Field {
  path: string;
  value: string;
}

/** Every leaf element as "Root / Child / Leaf" and its trimmed text. Attributes are not shown. */
function fieldsOf(root: XmlElement): Field[] {
  const fields: Field[] = [];
  const walk = (element: XmlElement, path: string): void => {
    const children = childElements(element);
    // Text beside child elements (mixed content) does not occur in form data; only leaves are shown.
    if (children.length === 0) fields.push({ path, value: textContent(element).trim() });
    for (const child of children) walk(child, `${path} / ${child.local}`);
  };
  walk(root, root.local);
  // A bare empty root (<Skjema/>) is a form without fields, not a field.
  if (fields.length === 1 && fields[0]!.path === root.local && fields[0]!.value === '') return [];
  return fields;
}

/** Main forms in input order, each followed by its sub forms (recursively). */
function orderForms(forms: FormSetPdfForm[]): { form: FormSetPdfForm; depth: number }[] {
  const references = new Set(forms.map((f) => f.reference));
  const children = new Map<string, FormSetPdfForm[]>();
  const roots: FormSetPdfForm[] = [];
  for (const form of forms) {
    const parent = form.parentReference;
    if (parent !== null && parent !== form.reference && references.has(parent)) {
      children.set(parent, [...(children.get(parent) ?? []), form]);
    } else {
      roots.push(form); // main form, or a sub form whose parent is missing: still shown
    }
  }
  const out: { form: FormSetPdfForm; depth: number }[] = [];
  const seen = new Set<FormSetPdfForm>();
  const visit = (form: FormSetPdfForm, depth: number): void => {
    if (seen.has(form)) return;
    seen.add(form);
    out.push({ form, depth });
    for (const child of children.get(form.reference) ?? []) visit(child, depth + 1);
  };
  for (const form of roots) visit(form, 0);
  for (const form of forms) visit(form, 1); // forms in a parent cycle have no root; show them anyway
  return out;
}

// ---- drawing ----

const REGULAR = 'DejaVuSans';
const BOLD = 'DejaVuSans-Bold';
const OBLIQUE = 'DejaVuSans-Oblique';
const MONO = 'DejaVuSansMono';
/** assets/fonts/ of the package, from src/pdf/ or dist/src/pdf/. */
const FONT_DIR = path.resolve(__dirname, __dirname.includes(`${path.sep}dist${path.sep}`) ? '../../../assets/fonts' : '../../assets/fonts');
let fontFiles: Map<string, Buffer> | undefined;

/** The font files, read once (2.4 MB) and shared by every document. */
function registerFonts(doc: Doc): void {
  fontFiles ??= new Map([REGULAR, BOLD, OBLIQUE, MONO].map((name) => [name, readFileSync(path.join(FONT_DIR, `${name}.ttf`))]));
  for (const [name, bytes] of fontFiles) doc.registerFont(name, bytes);
}
const INK = '#1a1a1a';
const MUTED = '#5a5a5a';
const RULE = '#b0b0b0';
const MARGIN = 50;

type Doc = PDFKit.PDFDocument;

function rule(doc: Doc): void {
  const y = doc.y + 2;
  doc.moveTo(MARGIN, y).lineTo(doc.page.width - MARGIN, y).lineWidth(0.5).strokeColor(RULE).stroke();
  doc.y = y + 6;
}

function heading(doc: Doc, text: string, size: number): void {
  // Keep a heading with at least a couple of lines of what follows it.
  if (doc.y + size * 4 > doc.page.height - doc.page.margins.bottom) doc.addPage();
  doc.moveDown(0.6).font(BOLD).fontSize(size).fillColor(INK).text(printable(text), MARGIN);
  rule(doc);
}

/** A "label: value" row; long values wrap, and pdfkit starts a new page when the row needs one. */
function row(doc: Doc, label: string, value: string): void {
  const text = printable(value);
  doc.font(BOLD).fontSize(9).fillColor(MUTED);
  doc.text(`${printable(label)}: `, MARGIN, doc.y, { continued: text !== '', paragraphGap: 2 });
  if (text !== '') doc.font(REGULAR).fillColor(INK).text(text);
}

function note(doc: Doc, text: string): void {
  doc.font(OBLIQUE).fontSize(9).fillColor(MUTED).text(printable(text), MARGIN);
}

function drawHeader(doc: Doc, input: FormSetPdfInput, labels: Labels): void {
  doc.font(BOLD).fontSize(18).fillColor(INK).text(printable(labels.title), MARGIN, MARGIN);
  rule(doc);
  doc.moveDown(0.3);
  row(doc, labels.archiveReference, input.archiveReference);
  if (input.serviceName) row(doc, labels.serviceName, input.serviceName);
  row(doc, labels.serviceCode, input.serviceCode);
  row(doc, labels.serviceEdition, String(input.serviceEditionCode));
  row(doc, labels.reportee, input.reportee);
  row(doc, labels.archived, formatTime(input.archivedAt, labels));

  heading(doc, labels.signatures, 13);
  if (input.approvers.length === 0) note(doc, labels.noSignatures);
  for (const a of input.approvers) {
    row(doc, a.approverId, `${labels.signed} ${formatTime(a.approvedAt, labels)}, ${labels.securityLevel.toLowerCase()} ${securityLevelText(a.securityLevel, labels)}`);
  }

  heading(doc, labels.attachments, 13);
  const attachments = input.attachments ?? [];
  if (attachments.length === 0) note(doc, labels.noAttachments);
  for (const a of attachments) {
    const type = a.attachmentTypeName ? `${a.attachmentTypeName}, ${a.attachmentType}` : a.attachmentType;
    row(doc, a.fileName, `${type}, ${new Intl.NumberFormat(labels.locale).format(a.sizeBytes)} ${labels.bytes}`);
  }
}

function drawForm(doc: Doc, form: FormSetPdfForm, depth: number, labels: Labels): void {
  const kind = form.parentReference === null ? labels.form : labels.subForm;
  heading(doc, `${kind}: ${form.dataFormatId} (${form.dataFormatVersion})`, depth === 0 ? 13 : 11.5);
  row(doc, labels.reference, form.reference);
  if (form.parentReference !== null) row(doc, labels.parentForm, form.parentReference);
  doc.moveDown(0.4);

  let root: XmlElement | undefined;
  try {
    root = form.formData.trim() === '' ? undefined : parseXml(form.formData);
  } catch {
    // Stored forms were validated on the way in; if one still does not parse, show it as text.
    note(doc, labels.unreadable);
    doc.moveDown(0.3).font(MONO).fontSize(8).fillColor(INK).text(printable(form.formData.replace(/\t/g, '  ')), MARGIN);
    return;
  }
  const fields = root ? fieldsOf(root) : [];
  if (fields.length === 0) note(doc, labels.noFields);
  for (const f of fields) row(doc, f.path, f.value);
}

/** Page numbers and the archive reference at the foot of every page, once the page count is known. */
function drawFooters(doc: Doc, input: FormSetPdfInput, labels: Labels): void {
  const { start, count } = doc.bufferedPageRange();
  for (let i = start; i < start + count; i++) {
    doc.switchToPage(i);
    // Writing below the bottom margin would make pdfkit add a page; lift the margin while we write.
    const bottom = doc.page.margins.bottom;
    doc.page.margins.bottom = 0;
    const y = doc.page.height - MARGIN + 15;
    const width = doc.page.width - 2 * MARGIN;
    doc.font(REGULAR).fontSize(8).fillColor(MUTED);
    doc.text(printable(input.archiveReference), MARGIN, y, { width, lineBreak: false });
    doc.text(`${labels.page} ${i - start + 1} ${labels.of} ${count}`, MARGIN, y, { width, align: 'right', lineBreak: false });
    doc.page.margins.bottom = bottom;
  }
}

/**
 * Render the form set. The document is built synchronously and ended; the returned stream holds
 * the PDF bytes until read.
 */
export function renderFormSetPdf(input: FormSetPdfInput): NodeJS.ReadableStream {
  const labels = labelsFor(input.languageId);
  const doc = new PDFDocument({
    font: null as unknown as string, // no built-in Helvetica: the embedded fonts only
    size: 'A4',
    margin: MARGIN,
    bufferPages: true, // footers need the final page count
    lang: labels.lang,
    info: { Title: `${labels.title} ${input.archiveReference}`, Creator: 'altinn-gateway' },
  });
  registerFonts(doc);
  drawHeader(doc, input, labels);
  for (const { form, depth } of orderForms(input.forms)) drawForm(doc, form, depth, labels);
  drawFooters(doc, input, labels);
  doc.end();
  return doc as unknown as NodeJS.ReadableStream;
}

export async function renderFormSetPdfToBuffer(input: FormSetPdfInput): Promise<Buffer> {
  const stream = renderFormSetPdf(input);
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  return Buffer.concat(chunks);
}
