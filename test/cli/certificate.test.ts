/**
 * `certificate add|list|retire` and the encryption switches of `service`, run in-process through
 * main() against a real database.
 */
import { createTestCertificates, type TestCertificates } from '../helpers/certificates';
import { createCliHarness, type CliHarness } from '../helpers/cli-runner';

const ORG = '913456789';
const OTHER_ORG = '913456790';

let cli: CliHarness;
let certs: TestCertificates;
beforeAll(async () => {
  cli = await createCliHarness();
  certs = createTestCertificates();
  for (const org of [ORG, OTHER_ORG]) expect((await cli.run(['owner', 'add', '--org', org, '--name', `Etat ${org}`])).code).toBe(0);
});
afterAll(async () => {
  await cli.close();
  certs.remove();
});

const list = async (org = ORG) => (await cli.run(['certificate', 'list', '--owner', org, '--json'])).stdout.trim().split('\n').filter(Boolean).map((line) => JSON.parse(line));

describe('certificate', () => {
  it('add: registers PEM, then a PKCS#12 bundle (passphrase on stdin) that becomes current; list shows both', async () => {
    expect((await cli.run(['certificate', 'list', '--owner', ORG])).stdout).toBe(
      `Service owner ${ORG} has no certificates (add one with: altinn-gateway certificate add --owner ${ORG} --cert FILE).\n`,
    );
    const first = await cli.run(['certificate', 'add', '--owner', ORG, '--cert', certs.owner.certPem]);
    expect(first).toMatchObject({ code: 0, stderr: '' });
    expect(first.stdout).toMatch(
      new RegExp(`^Added certificate ${certs.owner.thumbprint} \\(O=Testetat, CN=owner; 2048-bit RSA; valid until \\S+\\) for service owner ${ORG}; it is now the current certificate.\\n$`),
    );

    const second = await cli.run(['certificate', 'add', '--owner', ORG, '--cert', certs.next.p12, '--passphrase-stdin'], { stdin: `${certs.next.p12Passphrase}\n` });
    expect(second.code).toBe(0);
    expect(second.stdout).toContain(`Added certificate ${certs.next.thumbprint}`);
    expect((await list()).map((c) => [c.thumbprint, c.current, c.retiredAt])).toEqual([
      [certs.next.thumbprint, true, null],
      [certs.owner.thumbprint, false, null],
    ]);

    const table = (await cli.run(['certificate', 'list', '--owner', ORG])).stdout.split('\n');
    expect(table[0]).toMatch(/^THUMBPRINT\s+STATE\s+VALID UNTIL\s+SUBJECT$/);
    expect(table[1]).toMatch(new RegExp(`^${certs.next.thumbprint}  current `));
    expect(table[2]).toMatch(new RegExp(`^${certs.owner.thumbprint}  older `));
  });

  it('add: refuses bad certificates and files with a clear message (exit 1), registering nothing', async () => {
    const before = await list(OTHER_ORG);
    const cases: [string[], string | RegExp, string?][] = [
      [['--cert', certs.expiredCert], /cannot be used: it expired on \d{4}-/],
      [['--cert', certs.notYetValidCert], /cannot be used: it is not valid until \d{4}-/],
      [['--cert', certs.shortCert], /cannot be used: its RSA key is 1024 bits; at least 2048 are required/],
      [['--cert', certs.ecCert], /cannot be used: its key is EC, not RSA/],
      [['--cert', certs.owner.p12, '--passphrase-stdin'], 'error: Could not open the PKCS#12 bundle: wrong passphrase (give it with --passphrase-stdin)\n', 'wrong\n'],
      [['--cert', `${certs.dir}/missing.pem`], `error: Cannot read the certificate file ${certs.dir}/missing.pem: ENOENT\n`],
    ];
    for (const [args, message, stdin] of cases) {
      const run = await cli.run(['certificate', 'add', '--owner', OTHER_ORG, ...args], { stdin });
      expect(run.code).toBe(1);
      expect(run.stdout).toBe('');
      if (typeof message === 'string') expect(run.stderr).toBe(message);
      else expect(run.stderr).toMatch(message);
    }
    expect(await list(OTHER_ORG)).toEqual(before);
  });

  it('retire: takes a certificate out of use for good; warns when no current one is left', async () => {
    const retired = await cli.run(['certificate', 'retire', '--owner', ORG, '--thumbprint', certs.next.thumbprint.toLowerCase()]);
    expect(retired).toEqual({
      code: 0,
      stdout: `Retired certificate ${certs.next.thumbprint} of service owner ${ORG}.\n`,
      stderr: `Note: service owner ${ORG} has no current certificate now: archiving for its encrypted services fails until one is added.\n`,
    });
    const again = await cli.run(['certificate', 'add', '--owner', ORG, '--cert', certs.next.certDer]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(new RegExp(`^error: Certificate ${certs.next.thumbprint} was retired on \\S+ and cannot become current again\\n$`));

    // An older certificate that was never retired can be made current again.
    const older = await cli.run(['certificate', 'add', '--owner', ORG, '--cert', certs.owner.certDer]);
    expect(older.stdout).toMatch(new RegExp(`^Already registered: certificate ${certs.owner.thumbprint} .*it is now the current certificate.\\n$`));
    expect((await list()).map((c) => [c.thumbprint, c.current, c.retiredAt !== null])).toEqual([
      [certs.next.thumbprint, false, true],
      [certs.owner.thumbprint, true, false],
    ]);

    const unknown = await cli.run(['certificate', 'retire', '--owner', ORG, '--thumbprint', 'AB'.repeat(20)]);
    expect(unknown).toMatchObject({ code: 1, stderr: `error: Certificate ${'AB'.repeat(20)} is not registered for this service owner\n` });
    const malformed = await cli.run(['certificate', 'retire', '--owner', ORG, '--thumbprint', 'xyz']);
    expect(malformed).toMatchObject({ code: 1, stderr: "error: 'xyz' is not a thumbprint (40 hexadecimal characters)\n" });
  });
});

describe('service encryption', () => {
  it('service add --encrypted and service encryption on|off set the switch; a missing certificate is pointed out', async () => {
    const added = await cli.run(['service', 'add', '--owner', ORG, '--code', '7001', '--edition', '1', '--download-queue', '--encrypted']);
    expect(added).toEqual({ code: 0, stdout: `Added service 7001 edition 1 for service owner ${ORG} (download queue on, encrypted).\n`, stderr: '' });

    const withoutCertificate = await cli.run(['service', 'add', '--owner', OTHER_ORG, '--code', '7002', '--edition', '1', '--download-queue', '--encrypted']);
    expect(withoutCertificate.code).toBe(0);
    expect(withoutCertificate.stderr).toBe(
      `Note: service owner ${OTHER_ORG} has no current certificate, so archiving for this service fails until one is added: ` +
        `altinn-gateway certificate add --owner ${OTHER_ORG} --cert FILE\n`,
    );

    expect((await cli.run(['service', 'encryption', 'off', '--owner', ORG, '--code', '7001', '--edition', '1'])).stdout).toBe(
      'Encryption of service 7001 edition 1 is now off (form tasks archived before keep their form).\n',
    );
    const encrypted = () => cli.inspect(async (app) => (await app.db('services').where({ service_code: '7001' }).first('encrypted')).encrypted as boolean);
    expect(await encrypted()).toBe(false);
    expect((await cli.run(['service', 'encryption', 'on', '--owner', ORG, '--code', '7001', '--edition', '1'])).code).toBe(0);
    expect(await encrypted()).toBe(true);
    expect((await cli.run(['service', 'encryption', 'on', '--owner', ORG, '--code', '9999', '--edition', '1'])).stderr).toBe(
      'error: Service 9999 edition 1 was not found for this service owner\n',
    );
  });

  it('--sensitive-fields on service add and service encryption on sets the list; bad paths and a clear service are refused', async () => {
    const fields = async (code: string) =>
      cli.inspect(async (app) => {
        const row = await app.db('services').where({ service_code: code }).first('sensitive_fields');
        return (typeof row.sensitive_fields === 'string' ? JSON.parse(row.sensitive_fields) : row.sensitive_fields) as string[];
      });
    const key = ['--owner', ORG, '--code', '7003', '--edition', '1'];
    const added = await cli.run(['service', 'add', ...key, '--encrypted', '--sensitive-fields', 'Skjema/Innsender/Fodselsnummer, Kontonummer']);
    expect(added).toEqual({
      code: 0,
      stdout: `Added service 7003 edition 1 for service owner ${ORG} (download queue off, encrypted, sensitive fields Skjema/Innsender/Fodselsnummer, Kontonummer).\n`,
      stderr: expect.stringContaining('Note: its archived form tasks will not be listed'),
    });
    expect(await fields('7003')).toEqual(['Skjema/Innsender/Fodselsnummer', 'Kontonummer']);

    // off keeps the list (inert), on without the option keeps it, on with it replaces it, '' clears it.
    expect((await cli.run(['service', 'encryption', 'off', ...key])).code).toBe(0);
    expect((await cli.run(['service', 'encryption', 'on', ...key])).stdout).toBe('Encryption of service 7003 edition 1 is now on (form tasks archived before keep their form).\n');
    expect(await fields('7003')).toEqual(['Skjema/Innsender/Fodselsnummer', 'Kontonummer']);
    expect((await cli.run(['service', 'encryption', 'on', ...key, '--sensitive-fields', 'Iban'])).stdout).toBe(
      'Encryption of service 7003 edition 1 is now on, sensitive fields Iban (form tasks archived before keep their form).\n',
    );
    expect(await fields('7003')).toEqual(['Iban']);
    expect((await cli.run(['service', 'encryption', 'on', ...key, '--sensitive-fields', ''])).stdout).toBe(
      'Encryption of service 7003 edition 1 is now on, whole form data (form tasks archived before keep their form).\n',
    );
    expect(await fields('7003')).toEqual([]);

    const badPath = await cli.run(['service', 'encryption', 'on', ...key, '--sensitive-fields', 'Skjema/p:Felt']);
    expect(badPath.code).toBe(2);
    expect(badPath.stderr).toContain("Sensitive field 'Skjema/p:Felt': 'p:Felt' is not an element's local name");
    expect(await cli.run(['service', 'encryption', 'off', ...key, '--sensitive-fields', 'Iban'])).toEqual({
      code: 1,
      stdout: '',
      stderr: 'error: Sensitive fields can only be set for an encrypted service\n',
    });
    expect(await cli.run(['service', 'add', '--owner', ORG, '--code', '7004', '--edition', '1', '--sensitive-fields', 'Iban'])).toEqual({
      code: 1,
      stdout: '',
      stderr: 'error: Sensitive fields can only be set for an encrypted service\n',
    });
    expect(await fields('7003')).toEqual([]);
  });
});
