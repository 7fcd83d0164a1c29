/**
 * The admin CLI, run in-process through main() with its own stdin/stdout/stderr and environment:
 * a temporary DATA_DIR with the embedded database (or a fresh database on DATABASE_URL's server).
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { openApp, type App } from '../../src/app';
import { getFormTask } from '../../src/archive/get-form-task';
import { listQueue } from '../../src/archive/list-queue';
import { findServiceOwnerByOrg } from '../../src/archive/add-service-owner';
import { main } from '../../src/cli/main';
import { loadConfig } from '../../src/config';
import { countArchiveRows, listBlobFiles } from '../helpers/archive-fixtures';
import { createTestDatabase, type TestDatabase } from '../helpers/database';

class CapturedOutput extends Writable {
  text = '';
  override _write(chunk: Buffer | string, _encoding: BufferEncoding, callback: () => void): void {
    this.text += chunk.toString();
    callback();
  }
}

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

let workDir: string;
let database: TestDatabase;
let env: NodeJS.ProcessEnv;

async function cli(args: string[], stdin = ''): Promise<CliRun> {
  const stdout = new CapturedOutput();
  const stderr = new CapturedOutput();
  const code = await main(args, { stdin: Readable.from(stdin ? [Buffer.from(stdin)] : []), stdout, stderr, env });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

/** Look at the data the CLI wrote, through the app (closed again before the next CLI run). */
async function inspect<T>(work: (app: App) => Promise<T>): Promise<T> {
  const app = await openApp(loadConfig(env));
  try {
    return await work(app);
  } finally {
    await app.close();
  }
}

const ORG = '912345678';

beforeAll(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), 'agw-cli-'));
  database = await createTestDatabase();
  env = { DATA_DIR: path.join(workDir, 'data'), LOG_LEVEL: 'silent', ...(database.databaseUrl && { DATABASE_URL: database.databaseUrl }) };
});
afterAll(async () => {
  await database.drop();
  await rm(workDir, { recursive: true, force: true });
});

describe('altinn-gateway CLI', () => {
  it('owner add: adds, refuses a duplicate (exit 1) and a malformed org number (exit 2)', async () => {
    expect(await cli(['owner', 'add', '--org', ORG, '--name', 'Statens testetat'])).toEqual({
      code: 0,
      stdout: `Added service owner ${ORG} (Statens testetat).\n`,
      stderr: '',
    });
    expect(await cli(['owner', 'add', '--org', ORG, '--name', 'Igjen'])).toEqual({
      code: 1,
      stdout: '',
      stderr: `error: A service owner with organisation number ${ORG} already exists\n`,
    });
    const malformed = await cli(['owner', 'add', '--org', '12345', '--name', 'Kort']);
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toContain("option '--org <orgnr>' argument '12345' is invalid");
    await expect(inspect((app) => findServiceOwnerByOrg(app.db, ORG))).resolves.toMatchObject({ orgNumber: ORG, name: 'Statens testetat' });
  });

  it('system-user add: reads the password from the first line of stdin; refuses an empty one', async () => {
    const added = await cli(['system-user', 'add', '--owner', ORG, '--user', 'arkivsystem'], 'et-hemmelig-passord\nneste linje ignoreres\n');
    expect(added).toEqual({ code: 0, stdout: `Added system user 'arkivsystem' for service owner ${ORG} (Statens testetat).\n`, stderr: '' });
    await expect(inspect((app) => app.authenticator.authenticate('arkivsystem', 'et-hemmelig-passord', '127.0.0.1'))).resolves.toMatchObject({
      userName: 'arkivsystem',
    });

    const empty = await cli(['system-user', 'add', '--owner', ORG, '--user', 'tom'], '\n');
    expect(empty.code).toBe(1);
    expect(empty.stderr).toMatch(/^error: No password given/);
    expect(empty.stderr.trimEnd().split('\n')).toHaveLength(1);

    const unknownOwner = await cli(['system-user', 'add', '--owner', '999999999', '--user', 'x'], 'et-passord-til\n');
    expect(unknownOwner.code).toBe(1);
    expect(unknownOwner.stderr).toContain('No service owner with organisation number 999999999');
  });

  it('service add: download queue off unless --download-queue', async () => {
    const withQueue = await cli(['service', 'add', '--owner', ORG, '--code', '5801', '--edition', '1', '--download-queue', '--name', 'Søknad']);
    expect(withQueue).toEqual({ code: 0, stdout: `Added service 5801 edition 1 for service owner ${ORG} (download queue on).\n`, stderr: '' });
    const withoutQueue = await cli(['service', 'add', '--owner', ORG, '--code', '5802', '--edition', '3']);
    expect(withoutQueue.code).toBe(0);
    expect(withoutQueue.stdout).toContain('(download queue off)');
    expect(withoutQueue.stderr).toContain('service download-queue on');

    const duplicate = await cli(['service', 'add', '--owner', ORG, '--code', '5801', '--edition', '1']);
    expect(duplicate).toMatchObject({ code: 1, stderr: 'error: Service 5801 edition 1 already exists\n' });

    const services = await inspect((app) => app.db('services').orderBy('service_code').select('service_code', 'service_edition_code', 'name', 'download_queue'));
    expect(services).toEqual([
      { service_code: '5801', service_edition_code: 1, name: 'Søknad', download_queue: true },
      { service_code: '5802', service_edition_code: 3, name: null, download_queue: false },
    ]);
  });

  describe('archive import', () => {
    let importDir: string;
    const pdf = Buffer.from('%PDF-1.4\n% vedlegg\n%%EOF\r\n');
    const text = Buffer.from('Merknad med æøå\r\n');

    beforeAll(async () => {
      importDir = path.join(workDir, 'import');
      await mkdir(path.join(importDir, 'vedlegg'), { recursive: true });
      await writeFile(path.join(importDir, 'vedlegg', 'regnskap.pdf'), pdf);
      await writeFile(path.join(importDir, 'vedlegg', 'merknad.txt'), text);
    });

    const task = (overrides: Record<string, unknown> = {}) => ({
      serviceCode: '5801',
      serviceEditionCode: 1,
      reportee: '987654321',
      reporteeType: 'Organisation',
      forms: [
        { dataFormatId: '5703', dataFormatVersion: 34114, formData: '<Skjema><Navn>Fjordlys AS</Navn></Skjema>' },
        { dataFormatId: '5704', dataFormatVersion: 34115, formData: '<Budsjett><Sum>100</Sum></Budsjett>', parentReference: 0 },
      ],
      approvers: [{ approverId: '01017012345', approvedAt: '2024-03-05T13:05:00+01:00', securityLevel: 'sensitive' }],
      attachments: [
        { fileName: 'Regnskap.pdf', attachmentType: 'application_pdf', attachmentTypeName: 'Regnskap', path: 'vedlegg/regnskap.pdf' },
        { fileName: 'merknad.txt', attachmentType: 'text_plain', path: 'vedlegg/merknad.txt' },
      ],
      shipmentMetadata: { Kommunenummer: '4601' },
      ...overrides,
    });

    async function writeImportFile(name: string, content: unknown): Promise<string> {
      const file = path.join(importDir, name);
      await writeFile(file, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
      return file;
    }

    it('--json prints one object per archived task, and the archive holds what the file described', async () => {
      const file = await writeImportFile('ok.json', {
        serviceOwner: ORG,
        formTasks: [task({ archivedAt: '2024-03-05T13:10:00Z', caseId: 17 }), task({ reportee: '01017012345', reporteeType: 'Person', attachments: [] })],
      });
      const run = await cli(['archive', 'import', file, '--json']);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      const lines = run.stdout.trimEnd().split('\n').map((line) => JSON.parse(line) as { archiveReference: string; attachmentIds: number[] });
      expect(lines).toHaveLength(2);
      expect(Object.keys(lines[0]!)).toEqual(['archiveReference', 'attachmentIds']);
      expect(lines[0]!.archiveReference).toMatch(/^AR\d+$/);
      expect(lines[0]!.attachmentIds).toHaveLength(2);
      expect(lines[1]!.attachmentIds).toEqual([]);

      await inspect(async (app) => {
        const owner = (await findServiceOwnerByOrg(app.db, ORG))!;
        const archived = await getFormTask(app, { serviceOwnerId: owner.serviceOwnerId, archiveReference: lines[0]!.archiveReference });
        expect(archived).toMatchObject({ caseId: 17, archivedAt: new Date('2024-03-05T13:10:00Z'), reportee: '987654321' });
        expect(archived.forms[1]!.parentReference).toBe(archived.forms[0]!.reference);
        expect(archived.approvers).toEqual([{ approverId: '01017012345', approvedAt: new Date('2024-03-05T12:05:00Z'), securityLevel: 'sensitive' }]);
        const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
        expect(archived.attachments.map((a) => [a.attachmentId, a.fileName, a.attachmentTypeName, a.sizeBytes, a.sha256])).toEqual([
          [lines[0]!.attachmentIds[0], 'Regnskap.pdf', 'Regnskap', pdf.length, sha256(pdf)],
          [lines[0]!.attachmentIds[1], 'merknad.txt', null, text.length, sha256(text)],
        ]);
        const queue = await listQueue(app, { serviceOwnerId: owner.serviceOwnerId, limit: 500 });
        expect(queue.map((item) => item.archiveReference)).toEqual(lines.map((line) => line.archiveReference));
        expect(queue[0]!.shipmentMetadata).toEqual([{ key: 'Kommunenummer', value: '4601' }]);
      });
    });

    it('without --json prints a line per task and a summary', async () => {
      const file = await writeImportFile('human.json', { serviceOwner: ORG, formTasks: [task(), task({ serviceCode: '5802', serviceEditionCode: 3 })] });
      const run = await cli(['archive', 'import', file]);
      expect(run.code).toBe(0);
      const lines = run.stdout.trimEnd().split('\n');
      expect(lines).toHaveLength(3);
      expect(lines[0]).toMatch(/^AR\d+ {2}2 attachments$/);
      expect(lines[1]).toMatch(/^AR\d+ {2}2 attachments {2}\(not queued: the service has no download queue\)$/);
      expect(lines[2]).toBe(`Imported 2 form task(s) for service owner ${ORG} (Statens testetat), 1 on the download queue; skipped 0 already archived.`);
    });

    const badFiles: [string, () => unknown, string | RegExp][] = [
      [
        'an invalid approval time',
        () => ({ serviceOwner: ORG, formTasks: [task(), task({ approvers: [{ approverId: '01017012345', approvedAt: '2024-02-30T10:00:00Z', securityLevel: 'sensitive' }] })] }),
        'formTasks[1].approvers[0].approvedAt: not a valid date-time',
      ],
      [
        'a missing attachment file',
        () => ({ serviceOwner: ORG, formTasks: [task({ attachments: [{ fileName: 'x.pdf', attachmentType: 'application_pdf', path: 'vedlegg/mangler.pdf' }] })] }),
        /formTasks\[0\]\.attachments\[0\]\.path: file not found: \/\S+\/import\/vedlegg\/mangler\.pdf\n/,
      ],
      ['a misspelt field', () => ({ serviceOwner: ORG, formTasks: [task({ caseID: 3 })] }), 'formTasks[0].caseID: unknown field'],
      [
        'a parent reference to a later form',
        () => ({ serviceOwner: ORG, formTasks: [task({ forms: [{ dataFormatId: '1', dataFormatVersion: 1, formData: '<a/>', parentReference: 1 }] })] }),
        'formTasks[0].forms[0].parentReference: must be the 0-based index of an earlier form',
      ],
      [
        'malformed form XML (found by the archive, after the shape check)',
        () => ({ serviceOwner: ORG, formTasks: [task({ caseId: 1 }), task({ caseId: 2 }), task({ forms: [{ dataFormatId: '1', dataFormatVersion: 1, formData: '<Skjema>' }] })] }),
        'formTasks[2].forms[0].formData: Malformed XML',
      ],
      ['an unknown service', () => ({ serviceOwner: ORG, formTasks: [task({ serviceCode: '9999' })] }), 'formTasks[0].serviceCode: service 9999 is not a service of this service owner'],
      ['an unknown service owner', () => ({ serviceOwner: '999999999', formTasks: [task()] }), 'serviceOwner: no service owner with organisation number 999999999'],
      ['not JSON at all', () => '{ "serviceOwner": ', 'not valid JSON'],
    ];

    it.each(badFiles)('refuses %s: exit 1, a line naming the field, nothing imported', async (_name, content, expected) => {
      const before = await inspect(countArchiveRows);
      const blobsBefore = await listBlobFiles(env.DATA_DIR!);
      const file = await writeImportFile('bad.json', content());

      const run = await cli(['archive', 'import', file, '--json']);
      expect(run.code).toBe(1);
      expect(run.stdout).toBe('');
      expect(run.stderr).toMatch(/^(error: .+\n)+$/);
      expect(run.stderr).toMatch(expected);
      expect(await inspect(countArchiveRows)).toEqual(before);
      expect(await listBlobFiles(env.DATA_DIR!)).toEqual(blobsBefore);
    });

    it('a missing import file is a failure, a missing argument a usage error', async () => {
      const missing = await cli(['archive', 'import', path.join(importDir, 'finnes-ikke.json')]);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toContain('cannot read the import file');
      const usage = await cli(['archive', 'import']);
      expect(usage.code).toBe(2);
      expect(usage.stderr).toContain("missing required argument 'file'");
    });
  });

  it('demo: refuses a database that has owners, seeds with --force and prints how to call it', async () => {
    await cli(['owner', 'add', '--org', '913000000', '--name', 'Enda en etat']);
    const refused = await cli(['demo']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('The database already has service owners');

    const seeded = await cli(['demo', '--force']);
    expect(seeded.code).toBe(0);
    expect(seeded.stdout).toContain('http://localhost:8080/ArchiveExternal/DownloadQueueExternalBasic.svc?wsdl');
    expect(seeded.stdout).toContain('systemPassword  demo-password-123');
    expect(seeded.stdout).toMatch(/5 archived form tasks \(AR\d+, AR\d+, AR\d+, AR\d+, AR\d+\)/);
    const key = /^KEY='(agw_[\w-]+)'$/m.exec(seeded.stdout)![1]!;
    const clients = await cli(['apikey', 'list']);
    expect(clients.stdout).toContain('Demo-fagsystem');
    expect(clients.stdout).not.toContain(key);
    expect(seeded.stdout).toContain(`TOKEN=$(DATA_DIR='${env.DATA_DIR!}' npx altinn-gateway token --person 01017012345 --level 4)`);
    expect(seeded.stdout).toContain('http://localhost:8080/api/my/messages');
  });
});
