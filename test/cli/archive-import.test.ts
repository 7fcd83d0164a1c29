/**
 * `archive import` as a user re-running and correcting a file meets it (issue 11): the same file
 * twice archives each task once and says what it skipped; every problem of a file is reported in
 * one run (schema, the rules beyond it, attachment files, what the archive refuses) and nothing is
 * imported; the shipped example file validates against the shipped schema and imports as the
 * README says.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import Ajv from 'ajv';
import { countArchiveRows, listBlobFiles } from '../helpers/archive-fixtures';
import { createCliHarness, type CliHarness } from '../helpers/cli-runner';

const ORG = '915678901';
const REPO = path.resolve(__dirname, '../..');

let cli: CliHarness;
let importDir: string;

beforeAll(async () => {
  cli = await createCliHarness();
  importDir = path.join(cli.workDir, 'inn');
  await mkdir(importDir);
  await writeFile(path.join(importDir, 'vedlegg.txt'), 'Vedlegg med æøå\r\n');
  const steps = [
    ['owner', 'add', '--org', ORG, '--name', 'Importetaten'],
    ['service', 'add', '--owner', ORG, '--code', '7101', '--edition', '1', '--download-queue'],
  ];
  for (const args of steps) expect(await cli.run(args)).toMatchObject({ code: 0 });
});
afterAll(async () => {
  await cli?.close();
});

const task = (overrides: Record<string, unknown> = {}) => ({
  serviceCode: '7101',
  serviceEditionCode: 1,
  reportee: '987654321',
  reporteeType: 'Organisation',
  forms: [{ dataFormatId: '5703', dataFormatVersion: 1, formData: '<Skjema><Navn>Fjordlys AS</Navn></Skjema>' }],
  approvers: [{ approverId: '01017012345', approvedAt: '2024-03-05T13:05:00Z', securityLevel: 'sensitive' }],
  attachments: [{ fileName: 'vedlegg.txt', attachmentType: 'text_plain', path: 'vedlegg.txt' }],
  ...overrides,
});

async function importFile(name: string, content: unknown, ...flags: string[]) {
  const file = path.join(importDir, name);
  await writeFile(file, JSON.stringify(content, null, 2));
  return cli.run(['archive', 'import', file, ...flags]);
}

const rows = () => cli.inspect(countArchiveRows);

describe('a second run of the same file', () => {
  it('skips every task already archived, says so, and archives only what is new', async () => {
    const formTasks = [task({ externalReference: 'sak-1' }), task({ reportee: '01017012345', reporteeType: 'Person' })];
    const first = await importFile('tasks.json', { serviceOwner: ORG, formTasks });
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const references = first.stdout.split('\n').slice(0, 2).map((line) => /^(AR\d+) {2}1 attachment$/.exec(line)![1]!);
    expect(first.stdout.split('\n')[2]).toBe(`Imported 2 form task(s) for service owner ${ORG} (Importetaten), 2 on the download queue; skipped 0 already archived.`);
    const afterFirst = await rows();

    const again = await importFile('tasks.json', { serviceOwner: ORG, formTasks });
    expect(again.code).toBe(0);
    expect(again.stdout).toBe(
      `${references[0]}  skipped: formTasks[0] (externalReference sak-1) is already archived\n` +
        `${references[1]}  skipped: formTasks[1] is already archived\n` +
        `Imported 0 form task(s) for service owner ${ORG} (Importetaten), 0 on the download queue; skipped 2 already archived.\n`,
    );
    expect(await rows()).toEqual(afterFirst);

    // The same tasks with a new one, reformatted and as --json: the new one archived, the others skipped.
    const file = path.join(importDir, 'tasks.json');
    await writeFile(file, JSON.stringify({ serviceOwner: ORG, formTasks: [...formTasks, task({ externalReference: 'sak-3' })] }));
    const more = await cli.run(['archive', 'import', file, '--json']);
    expect(more.code).toBe(0);
    const lines = more.stdout.trimEnd().split('\n').map((line) => JSON.parse(line));
    expect(lines.slice(0, 2)).toEqual([
      { archiveReference: references[0], skipped: 'already archived', externalReference: 'sak-1' },
      { archiveReference: references[1], skipped: 'already archived', externalReference: null },
    ]);
    expect(lines[2]).toEqual({ archiveReference: expect.stringMatching(/^AR\d+$/), attachmentIds: [expect.any(Number)] });
    expect((await rows()).form_tasks).toBe(afterFirst.form_tasks! + 1);
  });

  it('refuses two tasks with one key in the same file', async () => {
    const run = await importFile('same-key.json', {
      serviceOwner: ORG,
      formTasks: [task({ externalReference: 'dobbel' }), task({ externalReference: 'dobbel', caseId: 2 }), task({ caseId: 5 }), task({ caseId: 5 })],
    });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("error: formTasks[1].externalReference: 'dobbel' is also the externalReference of formTasks[0]\n");
    expect(run.stderr).toContain('error: formTasks[3]: the same entry as formTasks[2] (give each an externalReference to archive both)\n');
  });
});

describe('a file with several mistakes', () => {
  async function expectRefused(run: { code: number; stdout: string; stderr: string }, problems: string[], file: string) {
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe([...problems, `${problems.length} problem(s) in ${path.join(importDir, file)}; nothing was imported`].map((p) => `error: ${p}\n`).join(''));
  }

  it('reports every schema error in one run, each with its field, and imports nothing', async () => {
    const before = await rows();
    const blobsBefore = await listBlobFiles(cli.env.DATA_DIR!);
    const run = await importFile('shape.json', {
      serviceOwner: '12345',
      formTasks: [
        task({ caseID: 3 }),
        task({ reporteeType: 'Firma', approvers: [{ approverId: '01017012345', approvedAt: 'i går', securityLevel: 'sensitive' }] }),
        task({ forms: [], attachments: [{ fileName: 'x', attachmentType: 'text_plain' }], serviceEditionCode: 'en' }),
        task({ shipmentMetadata: { Kommune: 4601 } }),
      ],
    });
    await expectRefused(
      run,
      [
        'serviceOwner: must be an organisation number (a string of 9 digits)',
        'formTasks[0].caseID: unknown field',
        'formTasks[1].reporteeType: must be one of Organisation, Person, Selfregistereduser',
        'formTasks[1].approvers[0].approvedAt: must be an ISO 8601 date-time with a time zone, e.g. 2024-03-05T13:05:00Z',
        'formTasks[2].serviceEditionCode: must be a whole number (a JSON number or a string of at most 15 digits)',
        'formTasks[2].forms: must be a list of at least one form',
        'formTasks[2].attachments[0].path: is required',
        'formTasks[3].shipmentMetadata.Kommune: must be a string or null',
      ],
      'shape.json',
    );
    expect(await rows()).toEqual(before);
    expect(await listBlobFiles(cli.env.DATA_DIR!)).toEqual(blobsBefore);
  });

  it('reports every problem beyond the schema in one run: dates, parent references, attachment files', async () => {
    const run = await importFile('rules.json', {
      serviceOwner: ORG,
      formTasks: [
        task({ archivedAt: '2024-02-30T10:00:00Z' }),
        task({ forms: [{ dataFormatId: '1', dataFormatVersion: 1, formData: '<a/>', parentReference: 1 }] }),
        task({ attachments: [{ fileName: 'x.pdf', attachmentType: 'application_pdf', path: 'mangler.pdf' }] }),
      ],
    });
    // Attachment files are looked at once the file itself is sound.
    await expectRefused(
      run,
      [
        'formTasks[0].archivedAt: not a valid date-time (use ISO 8601 with a time zone, e.g. 2024-03-05T13:05:00Z)',
        'formTasks[1].forms[0].parentReference: must be the 0-based index of an earlier form in this task (the first form has none)',
      ],
      'rules.json',
    );
    const files = await importFile('files.json', {
      serviceOwner: ORG,
      formTasks: [
        task({ attachments: [{ fileName: 'x.pdf', attachmentType: 'application_pdf', path: 'mangler.pdf' }], caseId: 1 }),
        task({ attachments: [{ fileName: 'y.pdf', attachmentType: 'application_pdf', path: '.' }], caseId: 2 }),
      ],
    });
    await expectRefused(
      files,
      [`formTasks[0].attachments[0].path: file not found: ${path.join(importDir, 'mangler.pdf')}`, `formTasks[1].attachments[0].path: not a regular file: ${importDir}`],
      'files.json',
    );
  });

  it('reports every task the archive refuses in one run (unknown service, malformed XML, reportee format)', async () => {
    const before = await rows();
    const run = await importFile('archive.json', {
      serviceOwner: ORG,
      formTasks: [
        task({ serviceCode: '9999' }),
        task({ caseId: 1 }),
        task({ forms: [{ dataFormatId: '1', dataFormatVersion: 1, formData: '<Skjema>' }] }),
        task({ reporteeType: 'Person' }),
      ],
    });
    expect(run.code).toBe(1);
    const lines = run.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[0]).toBe('error: formTasks[0].serviceCode: service 9999 is not a service of this service owner');
    expect(lines[1]).toMatch(/^error: formTasks\[2\]\.forms\[0\]\.formData: Malformed XML/);
    expect(lines[2]).toBe('error: formTasks[3].reportee: must be a national identity number (11 digits) for reporteeType Person');
    expect(lines[3]).toBe(`error: 3 problem(s) in ${path.join(importDir, 'archive.json')}; nothing was imported`);
    expect(await rows()).toEqual(before);
  });
});

describe('the shipped schema and example', () => {
  it('the example validates against the schema, and imports after the README commands', async () => {
    const schema = JSON.parse(await readFile(path.join(REPO, 'src/archive/import-file.schema.json'), 'utf8'));
    const example = JSON.parse(await readFile(path.join(REPO, 'examples/archive-import/tasks.json'), 'utf8'));
    const validate = new Ajv({ allErrors: true, allowUnionTypes: true }).compile(schema);
    expect(validate(example) ? [] : validate.errors).toEqual([]);
    const readme = await readFile(path.join(REPO, 'README.md'), 'utf8');
    expect(readme).toContain('altinn-gateway archive import examples/archive-import/tasks.json');

    for (const args of [
      ['owner', 'add', '--org', '910000001', '--name', 'Etaten'],
      ['service', 'add', '--owner', '910000001', '--code', '4711', '--edition', '1', '--download-queue'],
    ]) {
      expect(await cli.run(args)).toMatchObject({ code: 0 });
    }
    const file = path.join(REPO, 'examples/archive-import/tasks.json');
    const first = await cli.run(['archive', 'import', file]);
    expect(first.stderr).toBe('');
    expect(first.stdout).toMatch(/^AR\d+ {2}2 attachments\nAR\d+ {2}0 attachments\nImported 2 form task\(s\) for service owner 910000001 \(Etaten\), 2 on the download queue; skipped 0 already archived\.\n$/);
    const again = await cli.run(['archive', 'import', file]);
    expect(again.stdout).toContain('skipped 2 already archived.');
  });
});
