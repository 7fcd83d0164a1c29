/**
 * `archive export` and `decrypt`, run in-process through main() against a real database: an
 * encrypted service's queued tasks exported as the XML the SOAP response carries plus still
 * encrypted attachment files and sums (checked by `sha256sum -c`), resumed after damage, and
 * decrypted by the owner's tool back to the originals.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { findServiceOwnerByOrg } from '../../src/archive/add-service-owner';
import { purgeItem } from '../../src/archive/purge-item';
import { buildServer } from '../../src/server';
import { childElements, parseXml, textContent, type XmlElement } from '../../src/xml/parser';
import { createTestCertificates, type TestCertificates } from '../helpers/certificates';
import { createCliHarness, type CliHarness } from '../helpers/cli-runner';
import { call, DQ_ACTION, DQ_PATH, operationXml } from '../helpers/soap-client';

const ORG = '914567890';
const ENCRYPTED_SERVICE = '8101';
const CLEAR_SERVICE = '8102';
const USER = 'eksport-system';
const PASSWORD = 'et-langt-passord';
const FORM_MARKER = 'EXPORT-FORM-MARKER-2b7e';

const sha256 = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex');
const originals = {
  form: (n: number) => `<?xml version="1.0"?>\n<Melding xmlns="urn:melding"><Nr>${n}</Nr><Tekst>${FORM_MARKER}</Tekst></Melding>`,
  pdf: Buffer.from('%PDF-1.4 vedlegg som slutter med linjeskift\r\n'),
  csv: Buffer.from('a;b\r\n1;2\r\n'.repeat(5000)),
};

let cli: CliHarness;
let certs: TestCertificates;
let exportDir: string;
let references: string[];

beforeAll(async () => {
  cli = await createCliHarness();
  certs = createTestCertificates();
  exportDir = path.join(cli.workDir, 'eksport');
  const steps: [string[], string?][] = [
    [['owner', 'add', '--org', ORG, '--name', 'Eksportetaten']],
    [['system-user', 'add', '--owner', ORG, '--user', USER], `${PASSWORD}\n`],
    [['certificate', 'add', '--owner', ORG, '--cert', certs.owner.certPem]],
    [['service', 'add', '--owner', ORG, '--code', ENCRYPTED_SERVICE, '--edition', '1', '--download-queue', '--encrypted']],
    [['service', 'add', '--owner', ORG, '--code', CLEAR_SERVICE, '--edition', '1', '--download-queue']],
  ];
  for (const [args, stdin] of steps) expect(await cli.run(args, { stdin })).toMatchObject({ code: 0 });

  const inputDir = path.join(cli.workDir, 'inn');
  await mkdir(inputDir);
  await writeFile(path.join(inputDir, 'vedlegg.pdf'), originals.pdf);
  await writeFile(path.join(inputDir, 'tall.csv'), originals.csv);
  const task = (serviceCode: string, n: number, attachments: object[]) => ({
    serviceCode,
    serviceEditionCode: 1,
    reportee: '910000001',
    reporteeType: 'Organisation',
    archivedAt: `2025-0${n}-01T12:00:00Z`,
    forms: [{ dataFormatId: '6001', dataFormatVersion: 1, formData: originals.form(n) }],
    approvers: [],
    attachments,
  });
  const pdf = { fileName: 'vedlegg.pdf', attachmentType: 'application_pdf', path: 'vedlegg.pdf' };
  const csv = { fileName: 'tall.csv', attachmentType: 'text_csv', path: 'tall.csv' };
  await writeFile(
    path.join(inputDir, 'tasks.json'),
    JSON.stringify({
      serviceOwner: ORG,
      formTasks: [task(ENCRYPTED_SERVICE, 1, [pdf, csv]), task(ENCRYPTED_SERVICE, 2, [pdf]), task(CLEAR_SERVICE, 3, [csv]), task(ENCRYPTED_SERVICE, 4, [])],
    }),
  );
  const imported = await cli.run(['archive', 'import', path.join(inputDir, 'tasks.json'), '--json']);
  expect(imported.code).toBe(0);
  references = imported.stdout.trim().split('\n').map((line) => JSON.parse(line).archiveReference as string);
  // A purged task has left the queue: it is not exported.
  await cli.inspect(async (app) => {
    const owner = (await findServiceOwnerByOrg(app.db, ORG))!;
    const systemUser = await app.db('system_users').where({ user_name: USER }).first('id');
    await purgeItem(app, { serviceOwnerId: owner.serviceOwnerId, systemUserId: systemUser.id, archiveReference: references[3]! });
  });
});
afterAll(async () => {
  await cli.close();
  certs.remove();
});

const responseFile = (reference: string) => path.join(exportDir, reference, 'GetArchivedFormTaskBasicDQResponse.xml');

function find(element: XmlElement, local: string): XmlElement[] {
  return childElements(element).flatMap((c) => (c.local === local ? [c, ...find(c, local)] : find(c, local)));
}

describe('archive export', () => {
  it('writes each queued task as response XML with still encrypted attachment files and sums that sha256sum -c accepts', async () => {
    const run = await cli.run(['archive', 'export', '--owner', ORG, '--out', exportDir], { stderrIsTTY: true });
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(`Exported 3 form task(s) of service owner ${ORG} to ${exportDir}: 3 written, 0 already there and verified; the folder's manifest lists 3.\n`);
    // The progress bar, rewritten in place on the terminal and cleared at the end.
    expect(run.stderr).toContain('\r\x1b[2KExporting [##########....................] 1/3 form tasks');
    expect(run.stderr).toContain('3/3 form tasks');
    expect(run.stderr.endsWith('\r\x1b[2K')).toBe(true);

    expect((await readdir(exportDir)).sort()).toEqual([...references.slice(0, 3), 'SHA256SUMS', 'manifest.json'].sort());
    expect(execFileSync('sha256sum', ['-c', '--quiet', 'SHA256SUMS'], { cwd: exportDir }).toString()).toBe('');

    const manifest = JSON.parse(await readFile(path.join(exportDir, 'manifest.json'), 'utf8'));
    expect(manifest.serviceOwner).toBe(ORG);
    expect(manifest.tasks.map((t: { archiveReference: string; certificateThumbprint: string | null }) => [t.archiveReference, t.certificateThumbprint])).toEqual([
      [references[0], certs.owner.thumbprint],
      [references[1], certs.owner.thumbprint],
      [references[2], null],
    ]);
    const first = manifest.tasks[0];
    expect(first.files.map((f: { path: string }) => f.path)).toEqual([
      `${references[0]}/GetArchivedFormTaskBasicDQResponse.xml`,
      expect.stringMatching(new RegExp(`^${references[0]}/attachments/\\d+-vedlegg\\.pdf\\.encrypted$`)),
      expect.stringMatching(new RegExp(`^${references[0]}/attachments/\\d+-tall\\.csv\\.encrypted$`)),
    ]);
    // The files are exactly the stored ciphertext: same sums as recorded when archived, no plaintext.
    const stored = await cli.inspect((app) => app.db('attachments').orderBy('id').select<{ id: number; sha256: string }[]>('id', 'sha256'));
    for (const file of first.files.slice(1)) {
      const bytes = await readFile(path.join(exportDir, file.path));
      expect(stored.find((a) => a.id === file.attachmentId)!.sha256).toBe(sha256(bytes));
      expect(bytes.includes(originals.csv.subarray(0, 20))).toBe(false);
    }
    const clearTask = manifest.tasks[2];
    expect(await readFile(path.join(exportDir, clearTask.files[1].path))).toEqual(originals.csv);
    expect(await readFile(responseFile(references[0]!), 'utf8')).not.toContain(FORM_MARKER);
  });

  it('writes the same XML as GetArchivedFormTaskBasicDQ answers (bar the Content-IDs of the parts)', async () => {
    const live = await cli.inspect(async (app) => {
      const server = buildServer(app, { logger: false });
      const url = await server.listen({ port: 0, host: '127.0.0.1' });
      try {
        return await call(url, DQ_PATH, DQ_ACTION('GetArchivedFormTaskBasicDQ'),
          operationXml('GetArchivedFormTaskBasicDQ', { systemUserName: USER, systemPassword: PASSWORD, archiveReference: references[0]! }));
      } finally {
        await server.close();
      }
    });
    const withoutCids = (xml: string) => xml.replace(/href="cid:[^"]*"/g, 'href="cid:…"');
    const exported = await readFile(responseFile(references[0]!), 'utf8');
    expect(withoutCids(exported.replace(/^<\?xml[^>]*>\n/, '').trimEnd())).toBe(withoutCids(live.rootXml));

    // In the export, each xop:Include names the attachment file beside the XML.
    const includes = find(parseXml(exported), 'Include').map((i) => decodeURIComponent(i.attributes.find((a) => a.local === 'href')!.value.replace(/^cid:/, '')));
    expect(includes).toEqual([expect.stringMatching(/^attachments\/\d+-vedlegg\.pdf\.encrypted$/), expect.stringMatching(/^attachments\/\d+-tall\.csv\.encrypted$/)]);
    for (const include of includes) await expect(readFile(path.join(exportDir, references[0]!, include))).resolves.toBeInstanceOf(Buffer);
  });

  it('resumes: keeps verified tasks, writes again what is missing or damaged, ignores a half-written task', async () => {
    const again = await cli.run(['archive', 'export', '--owner', ORG, '--out', exportDir]);
    expect(again.stdout).toContain('0 written, 3 already there and verified;');
    expect(again.stderr).toBe(''); // no progress bar when stderr is not a terminal

    const manifest = JSON.parse(await readFile(path.join(exportDir, 'manifest.json'), 'utf8'));
    await appendFile(path.join(exportDir, manifest.tasks[0].files[2].path), 'x'); // damaged
    await rm(path.join(exportDir, references[1]!), { recursive: true }); // missing
    await mkdir(path.join(exportDir, `${references[1]}.partial`)); // left by an interrupted run

    const resumed = await cli.run(['archive', 'export', '--owner', ORG, '--out', exportDir]);
    expect(resumed.stdout).toContain('2 written, 1 already there and verified;');
    expect(execFileSync('sha256sum', ['-c', '--quiet', 'SHA256SUMS'], { cwd: exportDir }).toString()).toBe('');
    expect((await readdir(exportDir)).filter((name) => name.endsWith('.partial'))).toEqual([]);
  });

  it('filters by service and archive time', async () => {
    const byService = await cli.run(['archive', 'export', '--owner', ORG, '--out', path.join(cli.workDir, 'klar'), '--service', CLEAR_SERVICE]);
    expect(byService.stdout).toContain('Exported 1 form task(s)');
    const since = await cli.run(['archive', 'export', '--owner', ORG, '--out', path.join(cli.workDir, 'nylig'), '--since', '2025-02-01T00:00:00Z']);
    expect(since.stdout).toContain('Exported 2 form task(s)');
    const badSince = await cli.run(['archive', 'export', '--owner', ORG, '--out', path.join(cli.workDir, 'x'), '--since', 'i går']);
    expect(badSince.code).toBe(2);
  });

  it('into a folder that holds earlier runs: the manifest and SHA256SUMS list every task there, not only the latest run', async () => {
    const folder = path.join(cli.workDir, 'samlet');
    const clear = await cli.run(['archive', 'export', '--owner', ORG, '--out', folder, '--service', CLEAR_SERVICE]);
    expect(clear.stdout).toContain("Exported 1 form task(s) of service owner");
    const encrypted = await cli.run(['archive', 'export', '--owner', ORG, '--out', folder, '--service', ENCRYPTED_SERVICE]);
    expect(encrypted.stdout).toContain("Exported 2 form task(s) of service owner");
    expect(encrypted.stdout).toContain("the folder's manifest lists 3.");

    const manifest = JSON.parse(await readFile(path.join(folder, 'manifest.json'), 'utf8'));
    expect(manifest.tasks.map((t: { archiveReference: string }) => t.archiveReference)).toEqual(references.slice(0, 3));
    expect(manifest.filter).toEqual({ serviceCode: ENCRYPTED_SERVICE, since: null }); // the latest run's
    const sums = await readFile(path.join(folder, 'SHA256SUMS'), 'utf8');
    for (const reference of references.slice(0, 3)) expect(sums).toContain(`  ${reference}/GetArchivedFormTaskBasicDQResponse.xml\n`);
    expect(execFileSync('sha256sum', ['-c', '--quiet', 'SHA256SUMS'], { cwd: folder }).toString()).toBe('');
    expect((await readdir(folder)).filter((name) => name.endsWith('.partial'))).toEqual([]);

    // A folder holding another owner's export is refused before anything is written.
    const other = path.join(cli.workDir, 'annen-eier');
    await mkdir(other);
    await writeFile(path.join(other, 'manifest.json'), JSON.stringify({ serviceOwner: '999999999', tasks: [] }));
    const refused = await cli.run(['archive', 'export', '--owner', ORG, '--out', other]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(`error: ${other} holds an export of service owner 999999999; export service owner ${ORG} into another folder\n`);
    expect(await readdir(other)).toEqual(['manifest.json']);
  });
});

describe('decrypt', () => {
  it("restores the original forms and attachments of an exported task with the owner's PKCS#12 bundle", async () => {
    const outDir = path.join(cli.workDir, 'dekryptert');
    const run = await cli.run(['decrypt', responseFile(references[0]!), '--key', certs.owner.p12, '--passphrase-stdin', '--out', outDir], {
      stdin: `${certs.owner.p12Passphrase}\n`,
    });
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`${references[0]}: 3 file\\(s\\) written to .* \\(key wrapped under certificate ${certs.owner.thumbprint}\\)\\.\\n$`));
    const forms = await readdir(path.join(outDir, 'forms'));
    expect(forms).toHaveLength(1);
    expect(await readFile(path.join(outDir, 'forms', forms[0]!), 'utf8')).toBe(originals.form(1));
    const attachments = await readdir(path.join(outDir, 'attachments'));
    expect(attachments).toHaveLength(2);
    const named = (suffix: string) => path.join(outDir, 'attachments', attachments.find((name) => name.endsWith(suffix))!);
    expect(sha256(await readFile(named('-tall.csv')))).toBe(sha256(originals.csv));
    expect(sha256(await readFile(named('-vedlegg.pdf')))).toBe(sha256(originals.pdf));
  });

  it('decrypts one attachment file given the EncryptedKey, and refuses a wrong key clearly', async () => {
    const exported = parseXml(await readFile(responseFile(references[1]!)));
    const encryptedKey = textContent(find(exported, 'EncryptedKey')[0]!);
    const manifest = JSON.parse(await readFile(path.join(exportDir, references[1]!, 'manifest.json'), 'utf8'));
    const attachmentFile = path.join(exportDir, manifest.files[1].path);
    const outDir = path.join(cli.workDir, 'ett-vedlegg');

    const run = await cli.run(['decrypt', attachmentFile, '--key', certs.owner.keyPem, '--encrypted-key', encryptedKey, '--out', outDir]);
    expect(run.code).toBe(0);
    const written = path.join(outDir, path.basename(attachmentFile).replace(/\.encrypted$/, ''));
    expect(run.stdout).toBe(`decrypted  ${sha256(originals.pdf)}  ${written}\n`);
    expect(await readFile(written)).toEqual(originals.pdf);

    const wrongKey = await cli.run(['decrypt', attachmentFile, '--key', certs.next.keyPem, '--encrypted-key', encryptedKey, '--out', outDir]);
    expect(wrongKey).toMatchObject({
      code: 1,
      stderr: 'error: The encrypted key cannot be decrypted with this private key (wrapped under another certificate?)\n',
    });
  });
});
