/**
 * The form-set PDF, checked as a real PDF: its text is extracted with poppler's pdftotext and its
 * page count read with pdfinfo (Debian package poppler-utils; CI must install it).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PDF_LANGUAGE_IDS, renderFormSetPdf, renderFormSetPdfToBuffer, UnsupportedPdfLanguage, type FormSetPdfInput } from '../../src/pdf/form-set-pdf';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'formset-pdf-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function poppler(tool: 'pdftotext' | 'pdfinfo', pdf: Buffer): string {
  const file = join(dir, `doc-${n++}.pdf`);
  writeFileSync(file, pdf);
  const args = tool === 'pdftotext' ? ['-enc', 'UTF-8', file, '-'] : [file];
  return execFileSync(tool, args, { encoding: 'utf8' });
}
const textOf = (pdf: Buffer): string => poppler('pdftotext', pdf);
const pagesOf = (pdf: Buffer): number => Number(/^Pages:\s+(\d+)/m.exec(poppler('pdfinfo', pdf))![1]);

const MAIN_XML = `<?xml version="1.0" encoding="utf-8"?>
<Skjema xmlns="http://example.org/rf1234" skjemanummer="1234">
  <Innsender>
    <Navn>Ærlige Øystein Ås</Navn>
    <Adresse>Blåbærstien 7, 9999 Småby</Adresse>
  </Innsender>
  <Opplysninger><Beskrivelse>${'Denne beskrivelsen er lang og må brytes over flere linjer. '.repeat(8)}</Beskrivelse></Opplysninger>
</Skjema>`;

function input(overrides: Partial<FormSetPdfInput> = {}): FormSetPdfInput {
  return {
    archiveReference: 'AR987654321',
    serviceCode: '4711',
    serviceEditionCode: 2,
    serviceName: 'Søknad om støtte',
    reportee: '910000001',
    archivedAt: new Date('2024-03-05T13:07:09Z'),
    languageId: 1044,
    approvers: [{ approverId: '01017012345', approvedAt: new Date('2024-03-05T13:05:00Z'), securityLevel: 'verySensitive' }],
    attachments: [
      { fileName: 'kvittering.pdf', attachmentType: 'application_pdf', attachmentTypeName: 'Kvittering', sizeBytes: 123456 },
      { fileName: 'data.bin', attachmentType: 'application_octet-stream', sizeBytes: 7 },
    ],
    forms: [
      // Sub form listed first on purpose: it must still be printed after its parent.
      { dataFormatId: '5678', dataFormatVersion: 11, reference: 'sub-1', parentReference: 'main-1', formData: '<Vedlegg><Tekst>Underskjemaets felt</Tekst></Vedlegg>' },
      { dataFormatId: '1234', dataFormatVersion: 10, reference: 'main-1', parentReference: null, formData: MAIN_XML },
    ],
    ...overrides,
  };
}

/** pdftotext may break a long line; compare with whitespace collapsed. */
const flat = (s: string): string => s.replace(/\s+/g, ' ');

describe('renderFormSetPdf', () => {
  it('produces a complete PDF file', async () => {
    const pdf = await renderFormSetPdfToBuffer(input());
    expect(pdf.subarray(0, 5).toString('latin1')).toBe('%PDF-');
    expect(pdf.toString('latin1').trimEnd().endsWith('%%EOF')).toBe(true);
  });

  it('returns a readable stream of the same document', async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of renderFormSetPdf(input())) chunks.push(chunk as Buffer);
    const pdf = Buffer.concat(chunks);
    expect(pdf.subarray(0, 5).toString('latin1')).toBe('%PDF-');
    expect(textOf(pdf)).toContain('AR987654321');
  });

  it('shows the header, signatures and fields with Norwegian letters intact (Bokmål)', async () => {
    const text = flat(textOf(await renderFormSetPdfToBuffer(input())));
    for (const expected of [
      'Arkivreferanse: AR987654321',
      'Tjeneste: Søknad om støtte',
      'Tjenestekode: 4711',
      'Tjenesteutgave: 2',
      'Avgiver: 910000001',
      'Arkivert: 5. mars 2024 kl. 14:07:09 CET',
      'Signaturer',
      '01017012345: Signert 5. mars 2024 kl. 14:05:00 CET, sikkerhetsnivå 4 (svært sensitivt)',
      'Vedlegg',
      'kvittering.pdf: Kvittering, application_pdf, 123 456 byte',
      'data.bin: application_octet-stream, 7 byte',
      'Skjema: 1234 (10)',
      'Referanse: main-1',
      'Skjema / Innsender / Navn: Ærlige Øystein Ås',
      'Skjema / Innsender / Adresse: Blåbærstien 7, 9999 Småby',
      'Underskjema: 5678 (11)',
      'Hovedskjema: main-1',
      'Vedlegg / Tekst: Underskjemaets felt',
    ]) {
      expect(text).toContain(expected);
    }
    // The long value wrapped rather than running off the page, and nothing of it was lost.
    expect(text).toContain(`Skjema / Opplysninger / Beskrivelse: ${'Denne beskrivelsen er lang og må brytes over flere linjer. '.repeat(8).trim()}`);
    // Main form before its sub form, even though the sub form came first in the input.
    expect(text.indexOf('Skjema: 1234')).toBeLessThan(text.indexOf('Underskjema: 5678'));
    expect(text).toContain('Side 1 av 1');
  });

  it.each([
    [1033, ['Archive reference: AR987654321', 'Reportee: 910000001', 'Archived: 5 March 2024 at 14:07:09 CET', 'Signatures', 'security level 4 (very sensitive)', 'Attachments', 'kvittering.pdf: Kvittering, application_pdf, 123,456 bytes', 'Form: 1234 (10)', 'Sub form: 5678 (11)', 'No fields']],
    [1044, ['Arkivreferanse: AR987654321', 'Avgiver: 910000001', 'Arkivert:', 'Signaturer', 'sikkerhetsnivå 4 (svært sensitivt)', 'Vedlegg', 'Skjema: 1234 (10)', 'Ingen felt']],
    [2068, ['Arkivreferanse: AR987654321', 'Avgjevar: 910000001', 'Arkivert:', 'Signaturar', 'Skjema: 1234 (10)', 'tryggingsnivå 4 (svært sensitivt)', 'Ingen felt']],
    [1083, ['Arkiverejuvvon skovit', 'Arkiivareferánsa: AR987654321', 'Raporteaddji: 910000001', 'Vuolláičállosat', 'sihkkarvuođadássi 4 (hui hearki)', 'Mielddusat', 'Skovvi: 1234 (10)', 'Vuolitskovvi: 5678 (11)', 'Eai gieddit', 'Siidu 1 / 1']],
  ])('uses the headings of language %i', async (languageId, expected) => {
    const forms = [
      { dataFormatId: '1234', dataFormatVersion: 10, reference: 'main-1', parentReference: null, formData: '<Skjema/>' },
      { dataFormatId: '5678', dataFormatVersion: 11, reference: 'sub-1', parentReference: 'main-1', formData: '<Vedlegg><Tekst>x</Tekst></Vedlegg>' },
    ];
    const text = flat(textOf(await renderFormSetPdfToBuffer(input({ languageId, forms }))));
    for (const e of expected) expect(text).toContain(e);
  });

  it('refuses a language it has no texts for instead of falling back to Bokmål', () => {
    expect(PDF_LANGUAGE_IDS).toEqual([1033, 1044, 1083, 2068]);
    expect(() => renderFormSetPdf(input({ languageId: 9999 }))).toThrow(UnsupportedPdfLanguage);
    expect(() => renderFormSetPdf(input({ languageId: 9999 }))).toThrow('languageId 9999 is not supported; use one of 1033 (English), 1044 (Norwegian Bokmål), 1083 (Northern Sami), 2068 (Norwegian Nynorsk)');
  });

  it('prints Sami letters as written (an embedded Unicode font, not WinAnsi Helvetica)', async () => {
    const sami = 'ŊČĐŦŠŽ ŋčđŧšž Áá Ŋuorra Čáhcesuolu Đ';
    const pdf = await renderFormSetPdfToBuffer(
      input({
        languageId: 1083,
        serviceName: 'Ohcan – Sámediggi',
        attachments: [{ fileName: 'Čállosat ŊŦ.pdf', attachmentType: 'application_pdf', sizeBytes: 10 }],
        forms: [{ dataFormatId: '1', dataFormatVersion: 1, reference: 'se', parentReference: null, formData: `<Skovvi><Namma>${sami}</Namma></Skovvi>` }],
      }),
    );
    const text = flat(textOf(pdf));
    expect(text).toContain(`Skovvi / Namma: ${sami}`);
    expect(text).toContain('Bálvalus: Ohcan – Sámediggi');
    expect(text).toContain('Čállosat ŊŦ.pdf: application_pdf, 10 byte');
    expect(text).not.toContain('?');
    // The fonts are embedded (subset), so the reader needs none of its own.
    const fonts = execFileSync('pdffonts', [join(dir, `doc-${n - 1}.pdf`)], { encoding: 'utf8' });
    expect(fonts).toMatch(/DejaVuSans\s/);
    expect(fonts).not.toMatch(/Helvetica/);
    for (const line of fonts.split('\n').slice(2).filter(Boolean)) expect(line).toMatch(/\s+yes\s+yes\s+yes\s+/); // emb sub uni
  });

  it('flows a form with 500 fields onto several pages', async () => {
    const fields = Array.from({ length: 500 }, (_, i) => `<Felt${i}>Verdi nummer ${i} med æøå</Felt${i}>`).join('');
    const pdf = await renderFormSetPdfToBuffer(
      input({ forms: [{ dataFormatId: '1', dataFormatVersion: 1, reference: 'big', parentReference: null, formData: `<Skjema>${fields}</Skjema>` }] }),
    );
    const pages = pagesOf(pdf);
    expect(pages).toBeGreaterThan(1);
    const text = flat(textOf(pdf));
    expect(text).toContain('Skjema / Felt0: Verdi nummer 0 med æøå');
    expect(text).toContain('Skjema / Felt499: Verdi nummer 499 med æøå');
    expect(text).toContain(`Side ${pages} av ${pages}`);
  });

  it('prints the raw text of form data that does not parse instead of failing', async () => {
    const pdf = await renderFormSetPdfToBuffer(
      input({ languageId: 1033, forms: [{ dataFormatId: '1', dataFormatVersion: 1, reference: 'bad', parentReference: null, formData: '<Skjema><Navn>Åse</Skjema>' }] }),
    );
    const text = flat(textOf(pdf));
    expect(text).toContain('could not be read as XML');
    expect(text).toContain('<Skjema><Navn>Åse</Skjema>');
  });

  it('says so for empty forms and when there are no signatures', async () => {
    const text = flat(
      textOf(
        await renderFormSetPdfToBuffer(
          input({ approvers: [], forms: [{ dataFormatId: '1', dataFormatVersion: 1, reference: 'empty', parentReference: null, formData: '' }] }),
        ),
      ),
    );
    expect(text).toContain('Ingen signaturer');
    expect(text).toContain('Ingen felt');
  });

  it('keeps Greek and punctuation, drops control characters, and never garbles the rest of the line', async () => {
    const xml = '<Skjema><Navn>Ωmega Åsen\u202Fslutt\u200B “sitat” – €5</Navn><Etter>ærlig</Etter></Skjema>';
    const text = flat(
      textOf(await renderFormSetPdfToBuffer(input({ forms: [{ dataFormatId: '1', dataFormatVersion: 1, reference: 'u', parentReference: null, formData: xml }] }))),
    );
    expect(text).toContain('Skjema / Navn: Ωmega Åsen slutt “sitat” – €5');
    expect(text).toContain('Skjema / Etter: ærlig');
  });

  it('survives odd input: invalid dates, a missing parent, a parent cycle, a long unbroken value', async () => {
    const pdf = await renderFormSetPdfToBuffer(
      input({
        archivedAt: new Date('nonsense'),
        forms: [
          { dataFormatId: 'A', dataFormatVersion: 1, reference: 'a', parentReference: 'b', formData: '<A><F>in a cycle</F></A>' },
          { dataFormatId: 'B', dataFormatVersion: 1, reference: 'b', parentReference: 'a', formData: '<B/>' },
          { dataFormatId: 'C', dataFormatVersion: 1, reference: 'c', parentReference: 'gone', formData: `<C><Blob>${'x'.repeat(3000)}</Blob></C>` },
        ],
      }),
    );
    const text = textOf(pdf);
    expect(flat(text)).toContain('Arkivert: -');
    expect(flat(text)).toContain('A / F: in a cycle');
    expect(flat(text)).toContain('Underskjema: B (1)');
    expect(text.replace(/\s+/g, '')).toContain('x'.repeat(3000));
  });
});
