/**
 * encrypt-1gb (issue 3): a large attachment of a service-owner-encrypted service, encrypted while
 * it is archived and then served.
 *
 * 1. Encrypting: the attachment is archived for an encrypted service through the real write path
 *    (archiveFormTasks in this process, before any gateway runs: fresh key blob, AES-128-CBC while
 *    streaming into the blob store with its SHA-256 and fsync, key RSA-wrapped under the owner's
 *    certificate, rows in one transaction), against `openssl enc -aes-128-cbc` on the same input
 *    file in the same run, with the key and IV of the first archived task: openssl's output must be
 *    byte for byte the stored ciphertext (compared by SHA-256). The order alternates per round.
 * 2. Serving: GetAttachmentDataStreamedBasic through the gateway child process, against the plain
 *    Node pipe serving the same ciphertext blob file. The client takes the task's EncryptedKey from
 *    GetArchivedFormTaskBasicDQ, unwraps it with `openssl pkeyutl` (PKCS#1 v1.5) and the owner's
 *    private key, decrypts every transfer on the fly (node:crypto) and checks the plaintext's
 *    SHA-256 against the input file. RSS growth of the server: peak during the transfer − before.
 */
import { execFile, execFileSync } from 'node:child_process';
import { createCipheriv, createDecipheriv, createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { archiveFormTasks } from '../../src/archive/archive-form-tasks';
import { addCertificate } from '../../src/archive/certificates';
import { readCertificate } from '../../src/crypto/certificate';
import { FileBlobStore } from '../../src/storage/blob-store';
import type { BenchContext } from '../lib/context';
import { createOwner, type BenchOwner } from '../lib/fixtures';
import { deterministicFile, type InputFile } from '../lib/input-files';
import { scenarioLogger } from '../lib/log';
import type { ChildServer } from '../lib/processes';
import type { Scenario, ScenarioResult } from '../lib/results';
import { RssSampler, type RssSummary } from '../lib/rss';
import { boundaryOf, expectOk, getArchivedFormTask, getAttachmentStreamed, keepAliveAgent, send, splitMultipart, type HttpResult } from '../lib/soap';
import { downloadMtomPart, downloadRaw, type DecryptWith, type Download } from '../lib/stream-client';
import { MB, MIB, median, round } from '../lib/stats';

const log = scenarioLogger('encrypt-1gb');
const execFileAsync = promisify(execFile);

/** One archiving of the input file for the encrypted service (ours). */
interface EncryptRound {
  round: number;
  seconds: number;
  mbPerSecond: number;
  archiveReference: string;
  attachmentId: number;
  ciphertextSha256: string;
  /** RSS of this (the archiving) process: peak while archiving − before. */
  rss: RssSummary;
}

/** One `openssl enc` of the input file with the first task's key and IV. */
interface OpensslRound {
  round: number;
  /** `-out FILE` in the work dir: the process's wall time. */
  fileSeconds: number;
  /** fsync of that file afterwards (the write path fsyncs its blobs). */
  fsyncSeconds: number;
  /** `-out /dev/null`: the cipher and the read alone. */
  devNullSeconds: number;
}

interface ServeRound {
  system: 'gateway' | 'plain-pipe';
  mbPerSecond: number;
  seconds: number;
  ttfbMs: number;
  rss: RssSummary;
}

interface OwnerKeys {
  keyPem: string;
  certPem: string;
}

export const encrypt1gb: Scenario = {
  name: 'encrypt-1gb',
  title: 'A large attachment of an encrypted service: encrypted while archived, then served',
  async run(context: BenchContext): Promise<ScenarioResult> {
    const sizeBytes = Number(process.env.BENCH_STREAM_MIB || (context.quick ? 64 : 1024)) * MIB;
    const encryptRounds = context.quick ? 2 : 3;
    const serveRounds = context.quick ? 2 : 3;
    const sizeLabel = sizeBytes >= 1024 * MIB ? `${sizeBytes / (1024 * MIB)} GiB` : `${sizeBytes / MIB} MiB`;
    // AES-CBC with PKCS#7 always adds 1-16 bytes of padding.
    const ciphertextBytes = (Math.floor(sizeBytes / 16) + 1) * 16;
    const dir = path.join(context.workDir, 'encrypt-1gb');
    fs.mkdirSync(dir, { recursive: true });

    log(`input: the deterministic ${sizeLabel} file of stream-1gb (made once; cached in ${context.cacheDir})`);
    const input = await deterministicFile(context.cacheDir, 'stream', sizeBytes, 'altinn-gateway-bench', (done) =>
      log(`  generated ${Math.round(done / MIB)} MiB`),
    );
    const keys = ownerKeys(dir);
    log(`service owner key and certificate (RSA 2048, openssl req) in ${dir}`);
    // Both contenders then read the input from the page cache, not the first one from disk.
    const warmSeconds = await readThrough(input.path);
    log(`input read once to warm the page cache (${round(sizeBytes / MB / warmSeconds, 0)} MB/s)`);

    // ---- 1. encrypting: ours (archiveFormTasks) vs openssl enc, alternating ----
    const opensslOut = path.join(dir, 'openssl-enc.out');
    const archived = await context.withArchive(async (app) => {
      const owner = await createOwner(app, '910000601', 'encrypt', { encrypted: true });
      const { certificate } = await addCertificate(app.db, {
        serviceOwnerId: owner.serviceOwnerId,
        certificate: readCertificate(fs.readFileSync(keys.certPem)),
      });
      const blobs = app.blobs as FileBlobStore;
      const ours: EncryptRound[] = [];
      const openssl: OpensslRound[] = [];
      let first: { blob: DecryptWith; blobPath: string } | undefined;

      const runOurs = async (r: number): Promise<void> => {
        const sampler = RssSampler.start(process.pid);
        const started = process.hrtime.bigint();
        const [result] = await archiveFormTasks(app, owner.serviceOwnerId, [
          {
            serviceCode: owner.serviceCode,
            serviceEditionCode: owner.serviceEditionCode,
            reportee: '910000601',
            reporteeType: 'Organisation',
            forms: [{ dataFormatId: 'BENCH', dataFormatVersion: 1, formData: `<Skjema><Felt>encrypt ${r}</Felt></Skjema>` }],
            approvers: [],
            attachments: [{ fileName: 'large.bin', attachmentType: 'application_octet-stream', open: () => fs.createReadStream(input.path) }],
          },
        ]);
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        const rss = await sampler.stop();
        const attachmentId = result!.attachmentIds[0]!;
        const row = await app.db('attachments as a')
          .join('form_tasks as t', 't.id', 'a.form_task_id')
          .where('a.id', attachmentId)
          .first<{ blob_key: string; sha256: string; size_bytes: number | string; is_encrypted: boolean; certificate_thumbprint: string | null; encrypted_key: Uint8Array | null }>(
            'a.blob_key', 'a.sha256', 'a.size_bytes', 'a.is_encrypted', 't.certificate_thumbprint', 't.encrypted_key',
          );
        if (!row || !row.is_encrypted || Number(row.size_bytes) !== ciphertextBytes || row.sha256 === input.sha256) {
          throw new Error(`round ${r}: the archived attachment is not the expected ciphertext (${JSON.stringify({ ...row, encrypted_key: undefined })})`);
        }
        if (row.certificate_thumbprint !== certificate.thumbprint || !row.encrypted_key) {
          throw new Error(`round ${r}: the task is not wrapped under the owner's certificate ${certificate.thumbprint}`);
        }
        first ??= { blob: opensslUnwrap(Buffer.from(row.encrypted_key), keys.keyPem), blobPath: blobs.pathOf(row.blob_key) };
        ours.push({ round: r, seconds, mbPerSecond: sizeBytes / MB / seconds, archiveReference: result!.archiveReference, attachmentId, ciphertextSha256: row.sha256, rss });
        log(
          `round ${r}/${encryptRounds} ours       ${(sizeBytes / MB / seconds).toFixed(0).padStart(5)} MB/s (${seconds.toFixed(2)} s: ` +
            `encrypt, SHA-256, write, fsync, rows), archiving process RSS growth ${mib(rss.growthBytes)} MiB`,
        );
      };

      const runOpenssl = async (r: number): Promise<void> => {
        const { key, iv } = first!.blob;
        const args = ['enc', '-aes-128-cbc', '-K', key.toString('hex'), '-iv', iv.toString('hex'), '-in', input.path, '-out'];
        fs.rmSync(opensslOut, { force: true });
        const fileSeconds = await timed(() => execFileAsync('openssl', [...args, opensslOut]));
        const fsyncSeconds = await timed(() => fsyncFile(opensslOut));
        const devNullSeconds = await timed(() => execFileAsync('openssl', [...args, '/dev/null']));
        // Same key and IV as the first archived task: the same ciphertext, byte for byte.
        const sha256 = await sha256Of(opensslOut);
        fs.rmSync(opensslOut, { force: true });
        if (sha256 !== ours[0]!.ciphertextSha256) {
          throw new Error(`openssl enc with the first task's key and IV gave other bytes than the archive stored (${sha256} ≠ ${ours[0]!.ciphertextSha256})`);
        }
        openssl.push({ round: r, fileSeconds, fsyncSeconds, devNullSeconds });
        log(
          `round ${r}/${encryptRounds} openssl    ${(sizeBytes / MB / fileSeconds).toFixed(0).padStart(5)} MB/s to a file ` +
            `(${(sizeBytes / MB / (fileSeconds + fsyncSeconds)).toFixed(0)} MB/s with fsync; ${(sizeBytes / MB / devNullSeconds).toFixed(0)} MB/s to /dev/null), ` +
            'output identical to the stored ciphertext',
        );
      };

      for (let r = 1; r <= encryptRounds; r++) {
        // Ours first in odd rounds (the first round's key is what openssl encrypts with).
        if (r % 2 === 1) {
          await runOurs(r);
          await runOpenssl(r);
        } else {
          await runOpenssl(r);
          await runOurs(r);
        }
      }
      return { owner, certificate, ours, openssl, first: first! };
    });

    const componentSeconds = await nodeComponents(input.path, archived.first.blobPath, archived.first.blob);
    const rate = (seconds: number) => round(sizeBytes / MB / seconds, 0);
    const components: Components = {
      aes: rate(componentSeconds.aes),
      sha256: rate(componentSeconds.sha256),
      aesThenSha256: rate(componentSeconds.aesThenSha256),
      decryptThenSha256: rate(componentSeconds.decryptThenSha256),
    };
    log(
      `node:crypto in this process over the same file, MB/s: AES-128-CBC alone ${components.aes}, SHA-256 alone ${components.sha256}, ` +
        `AES-128-CBC then SHA-256 (the write path's CPU work) ${components.aesThenSha256}; decrypt then SHA-256 (the client's) ${components.decryptThenSha256}`,
    );

    // ---- 2. serving the first task's ciphertext: gateway vs plain pipe, decrypted by the client ----
    const served = archived.ours[0]!;
    const owner: BenchOwner = archived.owner;
    const soapTask = getArchivedFormTask(owner.credentials, served.archiveReference);
    const soapAttachment = getAttachmentStreamed(owner.credentials, served.attachmentId);
    let decrypt: DecryptWith | undefined;
    const rounds: ServeRound[] = [];
    for (let r = 1; r <= serveRounds; r++) {
      // Gateway first in odd rounds: its GetArchivedFormTaskBasicDQ gives the key the client decrypts with.
      const order = r % 2 === 1 ? (['gateway', 'plain-pipe'] as const) : (['plain-pipe', 'gateway'] as const);
      for (const system of order) {
        const server: ChildServer =
          system === 'gateway'
            ? await context.startGateway(`encrypt-1gb-${r}`)
            : await context.startBaseline('plain-pipe', 'plain-pipe-server.js', [archived.first.blobPath]);
        try {
          if (system === 'gateway') {
            // Also pays the password KDF (then cached) outside the measured transfer.
            const agent = keepAliveAgent();
            const response = expectOk(await send(server.baseUrl, soapTask, agent), 'GetArchivedFormTaskBasicDQ');
            agent.destroy();
            const delivered = deliveredKey(response);
            if (delivered.thumbprint !== archived.certificate.thumbprint) {
              throw new Error(`GetArchivedFormTaskBasicDQ: CertificateThumbprint ${delivered.thumbprint} ≠ ${archived.certificate.thumbprint}`);
            }
            if (!delivered.attachmentEncrypted) throw new Error('GetArchivedFormTaskBasicDQ: the attachment is not marked IsEncrypted=true');
            const unwrapped = opensslUnwrap(delivered.encryptedKey, keys.keyPem);
            if (!unwrapped.key.equals(archived.first.blob.key) || !unwrapped.iv.equals(archived.first.blob.iv)) {
              throw new Error('GetArchivedFormTaskBasicDQ: the delivered EncryptedKey unwraps to another key than the stored one');
            }
            decrypt ??= unwrapped;
          }
          const options = { decrypt: decrypt! };
          const fetchOnce = () =>
            system === 'gateway' ? downloadMtomPart(server.baseUrl, soapAttachment, ciphertextBytes, options) : downloadRaw(`${server.baseUrl}/blob`, options);
          // One unmeasured transfer warms the page cache and the process's code paths.
          check(await fetchOnce(), input, ciphertextBytes, `${system} (warm-up)`);
          const sampler = RssSampler.start(server.pid);
          const download = await fetchOnce();
          const rss = await sampler.stop();
          check(download, input, ciphertextBytes, system);
          rounds.push({ system, mbPerSecond: download.mbPerSecond, seconds: download.seconds, ttfbMs: round(download.ttfbMs, 2), rss });
          log(
            `serve round ${r}/${serveRounds} ${system.padEnd(10)} ${download.mbPerSecond.toFixed(0).padStart(5)} MB/s, ` +
              `RSS ${mib(rss.beforeBytes)} → peak ${mib(rss.peakBytes)} MiB (growth ${mib(rss.growthBytes)} MiB), decrypted by the client, sha256 ok`,
          );
        } finally {
          if (system === 'gateway') await context.stopGateway();
          else await server.stop();
        }
      }
    }

    // ---- figures ----
    const oursMbps = median(archived.ours.map((x) => x.mbPerSecond));
    const mbps = (seconds: number) => sizeBytes / MB / seconds;
    const opensslFileMbps = median(archived.openssl.map((x) => mbps(x.fileSeconds)));
    const opensslFsyncMbps = median(archived.openssl.map((x) => mbps(x.fileSeconds + x.fsyncSeconds)));
    const opensslNullMbps = median(archived.openssl.map((x) => mbps(x.devNullSeconds)));
    const writeGrowth = Math.max(...archived.ours.map((x) => x.rss.growthBytes));
    const of = (system: ServeRound['system']) => rounds.filter((x) => x.system === system);
    const gatewayMbps = median(of('gateway').map((x) => x.mbPerSecond));
    const pipeMbps = median(of('plain-pipe').map((x) => x.mbPerSecond));
    const gatewayGrowth = Math.max(...of('gateway').map((x) => x.rss.growthBytes));
    const pipeGrowth = Math.max(...of('plain-pipe').map((x) => x.rss.growthBytes));

    return {
      scenario: 'encrypt-1gb',
      title: this.title,
      params: { sizeBytes, sizeLabel, ciphertextBytes, encryptRounds, serveRounds, sha256: input.sha256, rsaKeyBits: 2048, cipher: 'aes-128-cbc' },
      comparisons: [
        {
          measure: `encrypt + store MB/s, ${sizeLabel} attachment (archiveFormTasks; median of ${encryptRounds})`,
          ours: round(oursMbps, 0),
          unit: 'MB/s',
          baseline: { name: 'openssl enc -aes-128-cbc → file', value: round(opensslFileMbps, 0) },
          ratio: round(oursMbps / opensslFileMbps, 2),
          ratioMeaning: 'ours ÷ openssl',
        },
        {
          measure: 'encrypt + store MB/s, against openssl with the same durability (fsync of its output)',
          ours: round(oursMbps, 0),
          unit: 'MB/s',
          baseline: { name: 'openssl enc → file, then fsync', value: round(opensslFsyncMbps, 0) },
          ratio: round(oursMbps / opensslFsyncMbps, 2),
          ratioMeaning: 'ours ÷ openssl',
        },
        {
          measure: `archiving process RSS growth while encrypting + storing (worst of ${encryptRounds})`,
          ours: round(writeGrowth / MIB, 1),
          unit: 'MiB',
          target: '< 64 MiB',
          met: writeGrowth < 64 * MIB,
        },
        {
          measure: `serving MB/s: GetAttachmentDataStreamedBasic of the ciphertext, client decrypting (median of ${serveRounds})`,
          ours: round(gatewayMbps, 0),
          unit: 'MB/s',
          baseline: { name: 'plain Node pipe', value: round(pipeMbps, 0) },
          ratio: round(gatewayMbps / pipeMbps, 2),
          ratioMeaning: 'ours ÷ plain pipe',
        },
        {
          measure: `server RSS growth while serving (worst of ${serveRounds})`,
          ours: round(gatewayGrowth / MIB, 1),
          unit: 'MiB',
          baseline: { name: 'plain Node pipe', value: round(pipeGrowth / MIB, 1) },
          target: '< 64 MiB',
          met: gatewayGrowth < 64 * MIB,
        },
      ],
      details: {
        encryptRounds: archived.ours.map((x) => ({ ...x, seconds: round(x.seconds, 3), mbPerSecond: round(x.mbPerSecond, 1) })),
        opensslRounds: archived.openssl.map((x) => ({
          ...x,
          fileSeconds: round(x.fileSeconds, 3),
          fsyncSeconds: round(x.fsyncSeconds, 3),
          devNullSeconds: round(x.devNullSeconds, 3),
        })),
        opensslDevNullMbPerSecond: round(opensslNullMbps, 0),
        nodeCryptoMbPerSecond: components,
        serveRounds: rounds.map((x) => ({ ...x, seconds: round(x.seconds, 3), mbPerSecond: round(x.mbPerSecond, 1) })),
        certificateThumbprint: archived.certificate.thumbprint,
        ciphertextSha256: served.ciphertextSha256,
      },
      notes: [
        `Ours: one form task per round archived for an encrypted service through archiveFormTasks in the benchmark process (a fresh 32-byte key blob, the attachment read with fs.createReadStream, AES-128-CBC with node:crypto as it streams into the blob store, which hashes it with SHA-256, writes and fsyncs it; the blob RSA-wrapped under the owner's RSA 2048 certificate; rows in one transaction), timed end to end. The input is read once beforehand so both read it from the page cache.`,
        `Baseline: \`openssl enc -aes-128-cbc -K … -iv … -in FILE -out FILE2\` (FILE2 in the same work dir; wall time of the process, spawn included), with the first archived task's key and IV (unwrapped with \`openssl pkeyutl\`): its output is checked to be byte for byte the stored ciphertext every round. The second row adds an fsync of openssl's output, as the write path fsyncs; \`-out /dev/null\` (cipher and read alone): ${round(opensslNullMbps, 0)} MB/s. Order alternates per round.`,
        `Where ours goes: node:crypto over the same file in this process, AES-128-CBC alone ${components.aes} MB/s, SHA-256 alone ${components.sha256} MB/s, both on one thread (encrypt, then hash the ciphertext, as the write path does: the SHA-256 of the stored bytes is what delivery checks) ${components.aesThenSha256} MB/s; the write path adds the write, the fsync and the rows. openssl only encrypts and writes.`,
        'Serving: the ciphertext blob through GetAttachmentDataStreamedBasic (MTOM, one XOP part streamed from the blob store), against the plain Node pipe serving the same blob file; fresh server processes per round, each warmed by one unmeasured transfer. The client (the same for both) takes EncryptedKey from GetArchivedFormTaskBasicDQ, unwraps it with `openssl pkeyutl -decrypt -pkeyopt rsa_padding_mode:pkcs1` and the owner\'s private key, decrypts every transfer on the fly with node:crypto and checks the plaintext\'s SHA-256 against the input file; MB/s is of the ciphertext received, MB = 10^6 bytes. ' +
          `The client's own ceiling (decrypt, then SHA-256, in one thread, from the page cache): ${components.decryptThenSha256} MB/s; a figure near it means the client, not the server, set the pace.`,
      ],
    };
  },
};

/** RSA 2048 key and self-signed certificate of the service owner, made with the OpenSSL command line. */
function ownerKeys(dir: string): OwnerKeys {
  const keyPem = path.join(dir, 'owner-key.pem');
  const certPem = path.join(dir, 'owner-cert.pem');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyPem, '-out', certPem, '-days', '2', '-subj', '/O=Bench/CN=encrypt-1gb'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return { keyPem, certPem };
}

/** EncryptedKey → the 32-byte blob (AES-128 key, IV) with `openssl pkeyutl` (PKCS#1 v1.5), independent of src/. */
function opensslUnwrap(encryptedKey: Buffer, keyPem: string): DecryptWith {
  const blob = execFileSync('openssl', ['pkeyutl', '-decrypt', '-inkey', keyPem, '-pkeyopt', 'rsa_padding_mode:pkcs1'], {
    input: encryptedKey,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  if (blob.length !== 32) throw new Error(`The unwrapped key blob is ${blob.length} bytes, not 32`);
  return { key: blob.subarray(0, 16), iv: blob.subarray(16, 32) };
}

/** SOEncryptedSymmetricKey and the attachment's IsEncrypted from a GetArchivedFormTaskBasicDQ response (XML or MTOM). */
function deliveredKey(response: HttpResult): { thumbprint: string; encryptedKey: Buffer; attachmentEncrypted: boolean } {
  const contentType = String(response.headers['content-type'] ?? '');
  const xml = contentType.startsWith('multipart/related')
    ? splitMultipart(response.body, boundaryOf(contentType))[0]!.content.toString('utf8')
    : response.body.toString('utf8');
  const element = (name: string, within: string) => new RegExp(`<(?:[\\w.-]+:)?${name}(?:\\s[^>]*)?>([^<]*)</(?:[\\w.-]+:)?${name}>`).exec(within)?.[1];
  const soKey = /<(?:[\w.-]+:)?SOEncryptedSymmetricKey[\s>][\s\S]*?<\/(?:[\w.-]+:)?SOEncryptedSymmetricKey>/.exec(xml)?.[0];
  const thumbprint = soKey && element('CertificateThumbprint', soKey);
  const encryptedKey = soKey && element('EncryptedKey', soKey);
  if (!thumbprint || !encryptedKey) throw new Error(`GetArchivedFormTaskBasicDQ: no SOEncryptedSymmetricKey in the response: ${xml.slice(0, 600)}`);
  return { thumbprint, encryptedKey: Buffer.from(encryptedKey, 'base64'), attachmentEncrypted: element('IsEncrypted', xml) === 'true' };
}

function check(download: Download, input: InputFile, ciphertextBytes: number, what: string): void {
  if (download.bytes !== ciphertextBytes) throw new Error(`${what}: received ${download.bytes} bytes, expected ${ciphertextBytes}`);
  if (download.sha256 !== input.sha256) throw new Error(`${what}: sha256 of the decrypted attachment ${download.sha256} ≠ the input file's ${input.sha256}`);
}

async function timed(work: () => Promise<unknown>): Promise<number> {
  const started = process.hrtime.bigint();
  await work();
  return Number(process.hrtime.bigint() - started) / 1e9;
}

async function fsyncFile(file: string): Promise<void> {
  const handle = await fs.promises.open(file, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of fs.createReadStream(file, { highWaterMark: MIB })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Read a file once, discarding the bytes (seconds taken). */
async function readThrough(file: string): Promise<number> {
  return timed(async () => {
    for await (const chunk of fs.createReadStream(file, { highWaterMark: MIB })) void chunk;
  });
}

/** Seconds (from nodeComponents) or MB/s (in the report) for each kind of work. */
interface Components {
  /** AES-128-CBC encryption alone. */
  aes: number;
  /** SHA-256 alone. */
  sha256: number;
  /** Encrypt, then hash the ciphertext, on one thread: the write path's CPU work without the write, fsync and rows. */
  aesThenSha256: number;
  /** Decrypt, then hash the plaintext: what the serving client does with every byte. */
  decryptThenSha256: number;
}

/**
 * node:crypto over the same file in this process, read the same way as the write path reads it
 * (fs.createReadStream, 64 KiB chunks): seconds for each kind of work, to show where the time goes.
 */
async function nodeComponents(file: string, ciphertextFile: string, blob: DecryptWith): Promise<Components> {
  const pass = (source: string, work: (chunk: Buffer) => void, end: () => void) =>
    timed(async () => {
      for await (const chunk of fs.createReadStream(source)) work(chunk as Buffer);
      end();
    });
  const cipher = () => createCipheriv('aes-128-cbc', blob.key, blob.iv);
  const aes = cipher();
  const hash = createHash('sha256');
  const both = { cipher: cipher(), hash: createHash('sha256') };
  const client = { decipher: createDecipheriv('aes-128-cbc', blob.key, blob.iv), hash: createHash('sha256') };
  return {
    aes: await pass(file, (c) => aes.update(c), () => aes.final()),
    sha256: await pass(file, (c) => hash.update(c), () => hash.digest()),
    aesThenSha256: await pass(file, (c) => both.hash.update(both.cipher.update(c)), () => both.hash.update(both.cipher.final()).digest()),
    decryptThenSha256: await pass(
      ciphertextFile,
      (c) => client.hash.update(client.decipher.update(c)),
      () => client.hash.update(client.decipher.final()).digest(),
    ),
  };
}

function mib(bytes: number): string {
  return (bytes / MIB).toFixed(1);
}
