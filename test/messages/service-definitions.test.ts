/** What a service accepts: reading definitions, and checking forms and attachments against them. */
import {
  archiveAttachmentType,
  checkAttachment,
  checkForm,
  mimeTypeFromArchive,
  mimeTypeOf,
  parseServiceDefinition,
  ServiceDefinitionError,
  type ServiceDefinition,
} from '../../src/messages/service-definitions';
import { decodeBase64, limitBytes } from '../../src/messages/content';
import { MessageError } from '../../src/messages/errors';

const definition: ServiceDefinition = parseServiceDefinition({
  mainForm: { dataFormatId: '5703', dataFormatVersions: [34114, 34115] },
  subForms: [{ dataFormatId: '5704', dataFormatVersions: [1] }],
  attachmentRules: [{ attachmentTypeName: 'Vedlegg', allowedMimeTypes: ['application/pdf'], maxFileSizeBytes: 1000, maxAttachmentCount: 2 }],
});
const limits = { defaultAttachmentMaxBytes: 500, defaultAttachmentMaxCount: 2 };
const fields = { fileName: 'FileName', attachmentType: 'AttachmentType' };

function refusal(work: () => unknown): { code: string; message: string } {
  try {
    work();
  } catch (error) {
    if (error instanceof MessageError) return { code: error.errorCode, message: error.message };
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('parseServiceDefinition', () => {
  it('names the member that is wrong', () => {
    expect(() => parseServiceDefinition([], 'svc.json')).toThrow(new ServiceDefinitionError('svc.json: must be a JSON object'));
    expect(() => parseServiceDefinition({ mainForms: {} })).toThrow('definition.mainForms: is not a known member');
    expect(() => parseServiceDefinition({ mainForm: { dataFormatId: '1', dataFormatVersions: [] } })).toThrow('definition.mainForm.dataFormatVersions: must be a non-empty list');
    expect(() => parseServiceDefinition({ subForms: [{ dataFormatId: '', dataFormatVersions: [1] }] })).toThrow('definition.subForms[0].dataFormatId: must be a non-empty string');
    expect(() =>
      parseServiceDefinition({ attachmentRules: [{ attachmentTypeName: 'A', allowedMimeTypes: ['pdf'], maxFileSizeBytes: 1, maxAttachmentCount: 1 }] }),
    ).toThrow('definition.attachmentRules[0].allowedMimeTypes[0]: must be a MIME type');
    expect(() =>
      parseServiceDefinition({ attachmentRules: [{ attachmentTypeName: 'A', maxFileSizeBytes: 0, maxAttachmentCount: 1 }] }),
    ).toThrow('definition.attachmentRules[0].maxFileSizeBytes: must be a whole number of bytes, at least 1');
    const rule = { attachmentTypeName: 'A', maxFileSizeBytes: 1, maxAttachmentCount: 1 };
    expect(() => parseServiceDefinition({ attachmentRules: [rule, rule] })).toThrow("definition.attachmentRules[1].attachmentTypeName: 'A' is defined twice");
    expect(() => parseServiceDefinition({ attachmentRules: [{ ...rule, size: 1 }] })).toThrow('definition.attachmentRules[0].size: is not a known member');
  });

  it('defaults allowed MIME types to any', () => {
    expect(parseServiceDefinition({ attachmentRules: [{ attachmentTypeName: 'A', maxFileSizeBytes: 1, maxAttachmentCount: 1 }] }).attachmentRules![0]!.allowedMimeTypes).toEqual(['*']);
  });
});

describe('checkForm', () => {
  it('accepts allowed data formats with well-formed XML', () => {
    checkForm(definition, { type: 'MainForm', dataFormatId: '5703', dataFormatVersion: 34115, formData: '<a/>' }, 'f');
    checkForm(definition, { type: 'SubForm', dataFormatId: '5704', dataFormatVersion: 1, formData: '<b>x</b>' }, 'f');
    checkForm(undefined, { type: 'SubForm', dataFormatId: 'any', dataFormatVersion: 9, formData: '<b/>' }, 'f');
  });

  it('refuses other formats and malformed XML, naming the field', () => {
    expect(refusal(() => checkForm(definition, { type: 'MainForm', dataFormatId: '5703', dataFormatVersion: 1, formData: '<a/>' }, 'f'))).toEqual({
      code: 'DataFormatNotAllowed',
      message: 'f.DataFormatVersion: 1 is not an allowed version of data format 5703 (allowed: 5703 (versions 34114, 34115))',
    });
    expect(refusal(() => checkForm(definition, { type: 'SubForm', dataFormatId: '5703', dataFormatVersion: 34114, formData: '<a/>' }, 'f')).code).toBe('DataFormatNotAllowed');
    expect(refusal(() => checkForm({ subForms: [] }, { type: 'SubForm', dataFormatId: '1', dataFormatVersion: 1, formData: '<a/>' }, 'f'))).toEqual({
      code: 'DataFormatNotAllowed',
      message: 'f.Type: this service has no sub forms',
    });
    expect(refusal(() => checkForm(undefined, { type: 'MainForm', dataFormatId: '1', dataFormatVersion: 1, formData: '<a><b></a>' }, 'f')).message).toMatch(
      /^f\.FormData: is not well-formed XML: /,
    );
    expect(refusal(() => checkForm(undefined, { type: 'MainForm', dataFormatId: '1', dataFormatVersion: 1, formData: '' }, 'f')).code).toBe('FormDataNotWellFormed');
  });
});

describe('checkAttachment', () => {
  it('applies the rule of the attachment type: file type, count, size', () => {
    expect(checkAttachment(definition, limits, { fileName: 'a.PDF', attachmentType: 'Vedlegg' }, [], fields)).toEqual({
      fileName: 'a.PDF',
      attachmentType: 'Vedlegg',
      mimeType: 'application/pdf',
      maxBytes: 1000,
    });
    expect(refusal(() => checkAttachment(definition, limits, { fileName: 'a.pdf', attachmentType: 'Vedlegg' }, ['Vedlegg', 'Vedlegg'], fields))).toEqual({
      code: 'TooManyAttachments',
      message: "AttachmentType: at most 2 attachment(s) of type 'Vedlegg' are allowed",
    });
    expect(refusal(() => checkAttachment(definition, limits, { fileName: 'a.png', attachmentType: 'Vedlegg' }, [], fields)).code).toBe('FileTypeNotAllowed');
    expect(refusal(() => checkAttachment(definition, limits, { fileName: 'a.pdf', attachmentType: 'Annet' }, [], fields)).code).toBe('AttachmentTypeNotAllowed');
    expect(refusal(() => checkAttachment({ attachmentRules: [] }, limits, { fileName: 'a.pdf', attachmentType: 'Vedlegg' }, [], fields))).toEqual({
      code: 'AttachmentTypeNotAllowed',
      message: 'AttachmentType: this service accepts no attachments',
    });
    expect(refusal(() => checkAttachment(definition, limits, { fileName: '../etc/passwd.pdf', attachmentType: 'Vedlegg' }, [], fields)).code).toBe('InvalidFileName');
  });

  it('without rules: any type, within the default limits', () => {
    expect(checkAttachment(undefined, limits, { fileName: 'x.exe', attachmentType: 'Hva som helst' }, [], fields)).toMatchObject({ mimeType: 'application/octet-stream', maxBytes: 500 });
    expect(refusal(() => checkAttachment(undefined, limits, { fileName: 'x', attachmentType: 'y' }, ['a', 'b'], fields)).code).toBe('TooManyAttachments');
  });
});

describe('bytes', () => {
  it('MIME types from file names, and the archive spelling', () => {
    expect(mimeTypeOf('Rapport.Final.DOCX')).toBe('application/vnd.openxmlformats-officedocument.wordprocessingml.document');
    expect(mimeTypeOf('noext')).toBe('application/octet-stream');
    expect(archiveAttachmentType('application/pdf')).toBe('application_pdf');
    expect(mimeTypeFromArchive('application_octet-stream')).toBe('application/octet-stream');
  });

  it('strict base64', () => {
    expect(decodeBase64('aGVp\r\nc2Fu', 'Data').toString()).toBe('heisan');
    expect(() => decodeBase64('aGVp!', 'Data')).toThrow('Data: is not valid base64');
    expect(() => decodeBase64('aGV', 'Data')).toThrow('Data: is not valid base64');
  });

  it('limitBytes stops at the first byte too many', async () => {
    let pulled = 0;
    async function* source() {
      for (let i = 0; i < 10; i++) {
        pulled += 1;
        yield Buffer.alloc(10);
      }
    }
    const seen: number[] = [];
    await expect(
      (async () => {
        for await (const chunk of limitBytes(source(), 25, () => new MessageError('invalid', 'AttachmentTooLarge', 'too large'))) seen.push(chunk.length);
      })(),
    ).rejects.toThrow('too large');
    expect(seen).toEqual([10, 10]);
    expect(pulled).toBe(3);
  });
});
