/**
 * `decrypt`: the service owner's tool. Decrypts a saved GetArchivedFormTaskBasicDQ response (raw
 * MTOM body or XML; also a task folder written by `archive export`), or one attachment fetched
 * with GetAttachmentDataStreamedBasic together with its task's EncryptedKey, into a folder.
 * Needs no database: it runs wherever the owner keeps the private key.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { decryptAttachmentFile, decryptFormTaskResponse, type WrittenFile } from '../crypto/decrypt-delivery';
import { readPrivateKey } from '../crypto/private-key';
import { readInputFile } from './input-file';
import { writeLine, type CliIo } from './io';
import { readFirstLine } from './read-password';

interface DecryptOptions {
  key: string;
  out: string;
  passphraseStdin?: boolean;
  contentType?: string;
  encryptedKey?: string;
}

export function registerDecryptCommand(program: Command, io: CliIo): void {
  program
    .command('decrypt')
    .description(
      'decrypt a saved GetArchivedFormTaskBasicDQ response (MTOM or XML), or a streamed attachment with --encrypted-key, ' +
        "with the service owner's private key; writes forms/ and attachments/ under --out",
    )
    .argument('<file>', 'the saved response body, or the attachment (raw bytes or saved MTOM response)')
    .requiredOption('--key <file>', "the service owner's private key: PEM/DER (PKCS#1 or PKCS#8) or a PKCS#12 bundle")
    .requiredOption('--out <dir>', 'folder to write the decrypted files to')
    .option('--passphrase-stdin', 'read the passphrase of the key (or bundle) from the first line of standard input')
    .option('--content-type <type>', "the response's Content-Type header (default: read the MIME boundary from the file's first line)")
    .option('--encrypted-key <base64>', "the task's SOEncryptedSymmetricKey/EncryptedKey: FILE is then one attachment")
    .action(async (file: string, options: DecryptOptions) => {
      const passphrase = options.passphraseStdin ? await readFirstLine(io.stdin) : undefined;
      const privateKey = readPrivateKey(await readInputFile(options.key, 'key'), { passphrase });
      await fs.promises.access(file, fs.constants.R_OK).catch((error: NodeJS.ErrnoException) => {
        throw new Error(`Cannot read ${file}: ${error.code ?? error.message}`);
      });
      if (options.encryptedKey !== undefined) {
        const encryptedKey = Buffer.from(options.encryptedKey.replace(/\s+/g, ''), 'base64');
        const outFile = path.join(options.out, path.basename(file).replace(/\.encrypted$/, ''));
        const written = await decryptAttachmentFile(file, { privateKey, encryptedKey, outFile, contentType: options.contentType });
        writeLine(io.stdout, describe(written));
        return;
      }
      const result = await decryptFormTaskResponse(file, { privateKey, outDir: options.out, contentType: options.contentType });
      for (const written of result.files) writeLine(io.stdout, describe(written));
      for (const skipped of result.skipped) {
        writeLine(io.stderr, `Attachment ${skipped.attachmentId} (${skipped.fileName}) is ${skipped.reason}`);
      }
      const key = result.certificateThumbprint ? `key wrapped under certificate ${result.certificateThumbprint}` : 'not encrypted';
      writeLine(io.stdout, `${result.archiveReference ?? 'The form task'}: ${result.files.length} file(s) written to ${path.resolve(options.out)} (${key}).`);
    });
}

function describe(file: WrittenFile): string {
  return `${file.decrypted ? 'decrypted' : 'copied   '}  ${file.sha256}  ${file.path}`;
}
