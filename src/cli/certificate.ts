/**
 * `certificate add|list|retire`: the certificates a service owner's encrypted content is wrapped
 * under. The newest added is current; older ones stay listed for the tasks wrapped under them.
 */
import type { Command } from 'commander';
import { addCertificate, listCertificates, retireCertificate, type RegisteredCertificate } from '../archive/certificates';
import { readCertificate } from '../crypto/certificate';
import { orgNumberArgument } from './arguments';
import { readInputFile } from './input-file';
import { writeLine, type CliIo } from './io';
import { requireServiceOwner } from './owner';
import { readFirstLine } from './read-password';
import { withApp } from './with-app';

export function registerCertificateCommands(program: Command, io: CliIo): void {
  const certificate = program.command('certificate').description("manage service owners' encryption certificates");

  certificate
    .command('add')
    .description('register a certificate (PEM, DER or PKCS#12) and make it the current one for encrypted services')
    .requiredOption('--owner <orgnr>', 'organisation number of the service owner', orgNumberArgument)
    .requiredOption('--cert <file>', 'the certificate: PEM, DER, or a PKCS#12 bundle (.p12/.pfx) holding it')
    .option('--passphrase-stdin', "read the PKCS#12 bundle's passphrase from the first line of standard input")
    .action(async (options: { owner: string; cert: string; passphraseStdin?: boolean }) => {
      // Read and checked before the database is opened: a bad file fails fast.
      const passphrase = options.passphraseStdin ? await readFirstLine(io.stdin) : undefined;
      const info = readCertificate(await readInputFile(options.cert, 'certificate'), { passphrase });
      await withApp(io, async (app) => {
        const owner = await requireServiceOwner(app, options.owner);
        const { certificate: added, added: isNew } = await addCertificate(app.db, { serviceOwnerId: owner.serviceOwnerId, certificate: info });
        writeLine(
          io.stdout,
          `${isNew ? 'Added' : 'Already registered:'} certificate ${added.thumbprint} (${added.subject}; ${added.keyBits}-bit RSA; valid until ${added.notAfter.toISOString()}) ` +
            `for service owner ${owner.orgNumber}; it is now the current certificate.`,
        );
      });
    });

  certificate
    .command('list')
    .description("list a service owner's certificates, newest first")
    .requiredOption('--owner <orgnr>', 'organisation number of the service owner', orgNumberArgument)
    .option('--json', 'one JSON object per certificate')
    .action(async (options: { owner: string; json?: boolean }) => {
      await withApp(io, async (app) => {
        const owner = await requireServiceOwner(app, options.owner);
        const certificates = await listCertificates(app.db, owner.serviceOwnerId);
        if (options.json) {
          for (const c of certificates) writeLine(io.stdout, JSON.stringify(c));
          return;
        }
        if (certificates.length === 0) {
          writeLine(io.stdout, `Service owner ${owner.orgNumber} has no certificates (add one with: altinn-gateway certificate add --owner ${owner.orgNumber} --cert FILE).`);
          return;
        }
        writeLine(io.stdout, ['THUMBPRINT'.padEnd(40), 'STATE'.padEnd(8), 'VALID UNTIL'.padEnd(24), 'SUBJECT'].join('  '));
        for (const c of certificates) writeLine(io.stdout, [c.thumbprint, stateOf(c).padEnd(8), c.notAfter.toISOString().padEnd(24), c.subject].join('  '));
      });
    });

  certificate
    .command('retire')
    .description('take a certificate out of use (tasks wrapped under it keep its thumbprint)')
    .requiredOption('--owner <orgnr>', 'organisation number of the service owner', orgNumberArgument)
    .requiredOption('--thumbprint <sha1>', 'thumbprint of the certificate (40 hex characters, as `certificate list` shows)')
    .action(async (options: { owner: string; thumbprint: string }) => {
      await withApp(io, async (app) => {
        const owner = await requireServiceOwner(app, options.owner);
        const retired = await retireCertificate(app.db, { serviceOwnerId: owner.serviceOwnerId, thumbprint: options.thumbprint });
        writeLine(io.stdout, `Retired certificate ${retired.thumbprint} of service owner ${owner.orgNumber}.`);
        const current = (await listCertificates(app.db, owner.serviceOwnerId)).find((c) => c.current);
        if (!current) {
          writeLine(io.stderr, `Note: service owner ${owner.orgNumber} has no current certificate now: archiving for its encrypted services fails until one is added.`);
        }
      });
    });
}

function stateOf(certificate: RegisteredCertificate): string {
  if (certificate.retiredAt) return 'retired';
  if (certificate.current) return 'current';
  if (certificate.notAfter.getTime() < Date.now()) return 'expired';
  return 'older';
}

