/**
 * broker-soap-1gb: one large ZIP through the Altinn 2 SOAP broker's streamed service (issue 10),
 * up and down (broker-updown.ts does the measuring), each against the plain Node limit measured in
 * the same run:
 *
 *   upload    InitiateBrokerServiceBasic on BrokerServiceExternalBasic.svc (plain SOAP, untimed),
 *             then UploadFileStreamedBasic on BrokerServiceExternalBasicStreamed.svc as the
 *             integrasjonspunkt's Metro client sends it: MTOM, chunked, the five headers in the
 *             envelope, the ZIP as the XOP part (timed).
 *   download  DownloadFileStreamedBasic: an MTOM answer whose XOP part is the file, streamed from the
 *             blob store; the client (stream-client's MTOM reader) checks the framing and hashes the part.
 *
 * The SOAP door takes only ZIP files, so the input is a real ZIP: the suite's deterministic 1 GiB
 * file stored (not deflated) in one entry, made once with yazl and cached. The resource has an
 * Altinn 2 service code and no manifest shim, so what is downloaded is what was uploaded.
 */
import { createHash, randomInt, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import yazl from 'yazl';
import { addServiceOwner } from '../../src/archive/add-service-owner';
import { addSystemUser } from '../../src/auth/system-users';
import { escapeText } from '../../src/xml/writer';
import type { BenchContext } from '../lib/context';
import { deterministicFile, type InputFile } from '../lib/input-files';
import { scenarioLogger } from '../lib/log';
import type { Scenario, ScenarioResult } from '../lib/results';
import { MIB } from '../lib/stats';
import { downloadMtomPart } from '../lib/stream-client';
import { BENCH_ORGS, call, fileMd5, setUpBroker, sizeLabelOf } from './broker-support';
import { measureUpDown, type Door } from './broker-updown';
import { PRIMED_NOTE } from '../lib/page-cache';

const log = scenarioLogger('broker-soap-1gb');
const BASIC_PATH = '/ServiceEngineExternal/BrokerServiceExternalBasic.svc';
const STREAMED_PATH = '/ServiceEngineExternal/BrokerServiceExternalBasicStreamed.svc';
const NS = {
  soap11: 'http://schemas.xmlsoap.org/soap/envelope/',
  svc: 'http://www.altinn.no/services/ServiceEngine/Broker/2015/06',
  bs: 'http://schemas.altinn.no/services/ServiceEngine/Broker/2015/06',
  xop: 'http://www.w3.org/2004/08/xop/include',
};
const ACTION = {
  basic: (op: string) => `${NS.svc}/IBrokerServiceExternalBasic/${op}`,
  streamed: (op: string) => `${NS.svc}/IBrokerServiceExternalBasicStreamed/${op}`,
};

interface SystemUser {
  userName: string;
  password: string;
  orgNumber: string;
}

export const brokerSoap1gb: Scenario = {
  name: 'broker-soap-1gb',
  title: 'One large ZIP through the Altinn 2 SOAP broker: UploadFileStreamedBasic (MTOM) and DownloadFileStreamedBasic',
  async run(context: BenchContext): Promise<ScenarioResult> {
    const sizeBytes = Number(process.env.BENCH_STREAM_MIB || (context.quick ? 64 : 1024)) * MIB;
    const warmBytes = Math.min(sizeBytes, 32 * MIB);
    const rounds = context.quick ? 2 : 5;

    const raw = await deterministicFile(context.cacheDir, 'stream', sizeBytes, 'altinn-gateway-bench', (done) => log(`  generated ${Math.round(done / MIB)} MiB`));
    const rawWarm = await deterministicFile(context.cacheDir, 'broker-warm', warmBytes, 'altinn-gateway-bench-warm');
    log('making the ZIP inputs (once; cached)');
    const input = await storedZip(context.cacheDir, raw, 'bench.bin');
    const warm = await storedZip(context.cacheDir, rawWarm, 'warm.bin');
    const md5 = await fileMd5(input.path);
    const sizeLabel = `${sizeLabelOf(sizeBytes)} ZIP`;

    const serviceCode = String(randomInt(60_000, 99_999));
    const broker = await setUpBroker(context, { externalServiceCodeLegacy: serviceCode, externalServiceEditionCodeLegacy: 1, useManifestFileShim: false });
    const [sender, recipient] = await context.withArchive(async (app) => {
      const account = async (orgNumber: string): Promise<SystemUser> => {
        const existing = await app.db('service_owners').where({ org_number: orgNumber }).first<{ id: number } | undefined>('id');
        const serviceOwnerId = existing?.id ?? (await addServiceOwner(app.db, { orgNumber, name: `Bench broker ${orgNumber}` })).serviceOwnerId;
        const user = { userName: `bench-broker-${orgNumber}-${serviceCode}`, password: `bench-${randomUUID()}`, orgNumber };
        await addSystemUser(app.db, { serviceOwnerId, userName: user.userName, password: user.password });
        return user;
      };
      return [await account(BENCH_ORGS.sender), await account(BENCH_ORGS.recipient)];
    });

    const door: Door = {
      prepareUpload: async (baseUrl) => {
        const reference = await initiate(baseUrl, sender, serviceCode);
        const upload = mtomUpload(sender, reference);
        return {
          url: `${baseUrl}${STREAMED_PATH}`,
          headers: upload.headers,
          prefix: upload.prefix,
          suffix: upload.suffix,
          chunked: true,
          transferIdOf: (answer) => {
            // The answer is the (pseudo-)receipt: ReceiptExternalStreamedBE with status OK.
            if (answer.status !== 200 || !/ReceiptStatusCode>OK</.test(answer.body)) throw new Error(`UploadFileStreamedBasic answered ${answer.status}: ${answer.body.slice(0, 600)}`);
            return reference;
          },
        };
      },
      download: (baseUrl, reference, file) => downloadMtomPart(baseUrl, downloadRequest(recipient, reference), file.sizeBytes),
    };
    const measured = await measureUpDown(context, { log, label: 'broker-soap', broker, door, input, md5, warm, rounds, sizeLabel, profile: !context.quick || context.options.profile });
    return {
      scenario: 'broker-soap-1gb',
      title: this.title,
      params: { sizeBytes: input.sizeBytes, sizeLabel, rounds, warmUpBytes: warm.sizeBytes, sha256: input.sha256, md5, manifestShim: false },
      comparisons: measured.comparisons,
      details: { rounds: measured.rounds, summary: measured.summary },
      notes: [
        PRIMED_NOTE,
        'Upload: InitiateBrokerServiceBasic first (untimed), then one UploadFileStreamedBasic as the integrasjonspunkt (Metro) sends it: MTOM multipart/related, Transfer-Encoding chunked, FileName/Reference/Reportee/SystemPassword/SystemUserName as SOAP headers, the ZIP as the XOP part streamed from the page cache in 256 KiB reads. The gateway reads the envelope, streams the part into the blob store (ZIP signature checked, MD5 and SHA-256 on the hashing worker, fsync, rename, rows) and answers the pseudo-receipt; the Altinn 3 overview then confirms Published with our MD5 and size. The plain baseline receives the ZIP alone (no envelope) and writes + fsyncs it.',
        'Download: DownloadFileStreamedBasic as the recipient\'s system user; the MTOM answer\'s XOP part is checked for framing (root part with xop:Include, one part of exactly the file\'s size, the closing delimiter) and hashed with SHA-256 against the input, as for the plain pipe serving the same blob file. MB/s is of the file; MB = 10^6 bytes.',
        `Each round uses fresh server processes (order alternating), warmed by one unmeasured transfer (a ${Math.round(warm.sizeBytes / MIB)} MiB ZIP; a full download), which also pays the system user's password check (then cached). CPU is the server process with all its threads.`,
        ...(measured.profileNote ? [measured.profileNote] : []),
      ],
    };
  },
};

/** InitiateBrokerServiceBasic as Metro writes it; returns the file reference. */
async function initiate(baseUrl: string, user: SystemUser, serviceCode: string): Promise<string> {
  const el = (name: string, value: string | number) => `<${name}>${escapeText(String(value))}</${name}>`;
  const body =
    `<ns2:InitiateBrokerServiceBasic xmlns="${NS.bs}" xmlns:ns2="${NS.svc}">` +
    `${el('ns2:systemUserName', user.userName)}${el('ns2:systemPassword', user.password)}<ns2:brokerServiceInitiation><Manifest>` +
    `${el('ExternalServiceCode', serviceCode)}${el('ExternalServiceEditionCode', 1)}<ArrayOfFile><File>${el('FileName', 'bench.zip')}</File></ArrayOfFile>` +
    `${el('Reportee', user.orgNumber)}${el('SendersReference', randomUUID())}</Manifest>` +
    `<RecipientList><Recipient>${el('PartyNumber', BENCH_ORGS.recipient)}</Recipient></RecipientList></ns2:brokerServiceInitiation></ns2:InitiateBrokerServiceBasic>`;
  const answer = await call(baseUrl, 'POST', BASIC_PATH, {
    body: Buffer.from(envelope(body)),
    contentType: 'text/xml; charset=utf-8',
    headers: { soapaction: `"${ACTION.basic('InitiateBrokerServiceBasic')}"`, accept: 'text/xml' },
  });
  const reference = /InitiateBrokerServiceBasicResult[^>]*>([^<]+)</.exec(answer.text)?.[1];
  if (answer.status !== 200 || !reference) throw new Error(`InitiateBrokerServiceBasic answered ${answer.status}: ${answer.text.slice(0, 600)}`);
  return reference;
}

function envelope(bodyXml: string, headerXml = ''): string {
  return `<?xml version="1.0" ?><S:Envelope xmlns:S="${NS.soap11}">${headerXml ? `<S:Header>${headerXml}</S:Header>` : ''}<S:Body>${bodyXml}</S:Body></S:Envelope>`;
}

/** The MTOM framing around the file for UploadFileStreamedBasic: what comes before the part's bytes and after. */
function mtomUpload(user: SystemUser, reference: string): { headers: Record<string, string>; prefix: Buffer; suffix: Buffer } {
  const boundary = `uuid:${randomUUID()}`;
  const rootId = `rootpart*${randomUUID()}@example.jaxws.sun.com`;
  const contentId = `${randomUUID()}@example.jaxws.sun.com`;
  const header = (name: string, value: string) => `<${name} xmlns="${NS.svc}">${escapeText(value)}</${name}>`;
  const headers =
    header('FileName', 'bench.zip') + header('Reference', reference) + header('Reportee', user.orgNumber) + header('SystemPassword', user.password) + header('SystemUserName', user.userName);
  const xml = envelope(`<StreamedPayloadBasicBE xmlns="${NS.svc}"><DataStream><xop:Include xmlns:xop="${NS.xop}" href="cid:${contentId}"/></DataStream></StreamedPayloadBasicBE>`, headers);
  return {
    headers: {
      'content-type': `multipart/related;start="<${rootId}>";type="application/xop+xml";boundary="${boundary}";start-info="text/xml"`,
      soapaction: `"${ACTION.streamed('UploadFileStreamedBasic')}"`,
      accept: 'text/xml, multipart/related',
    },
    prefix: Buffer.from(
      `--${boundary}\r\nContent-Id: <${rootId}>\r\nContent-Type: application/xop+xml;charset=utf-8;type="text/xml"\r\nContent-Transfer-Encoding: binary\r\n\r\n${xml}` +
        `\r\n--${boundary}\r\nContent-Type: application/octet-stream\r\nContent-ID: <${contentId}>\r\nContent-Transfer-Encoding: binary\r\n\r\n`,
    ),
    suffix: Buffer.from(`\r\n--${boundary}--`),
  };
}

/** DownloadFileStreamedBasic as a plain SOAP 1.1 request. */
function downloadRequest(user: SystemUser, reference: string) {
  const el = (name: string, value: string) => `<${name}>${escapeText(value)}</${name}>`;
  return {
    path: STREAMED_PATH,
    headers: { 'content-type': 'text/xml; charset=utf-8', soapaction: `"${ACTION.streamed('DownloadFileStreamedBasic')}"`, accept: 'text/xml, multipart/related' },
    body: envelope(
      `<DownloadFileStreamedBasic xmlns="${NS.svc}">${el('systemUserName', user.userName)}${el('systemPassword', user.password)}${el('fileReference', reference)}${el('reportee', user.orgNumber)}</DownloadFileStreamedBasic>`,
    ),
  };
}

/**
 * A ZIP holding `source` stored (not deflated) as one entry with a fixed timestamp, made once into
 * the cache: the same bytes on every machine, and the file's own bytes inside it.
 */
async function storedZip(cacheDir: string, source: InputFile, entryName: string): Promise<InputFile> {
  const file = path.join(cacheDir, `${path.basename(source.path, '.bin')}.stored.zip`);
  const sidecar = `${file}.sha256`;
  try {
    const [stat, sha256] = [fs.statSync(file), fs.readFileSync(sidecar, 'utf8').trim()];
    if (/^[0-9a-f]{64}$/.test(sha256)) return { path: file, sizeBytes: stat.size, sha256 };
  } catch {
    // not made yet
  }
  const zip = new yazl.ZipFile();
  zip.addReadStream(fs.createReadStream(source.path, { highWaterMark: 1024 * 1024 }), entryName, { compress: false, mtime: new Date('2026-01-01T00:00:00Z'), size: source.sizeBytes });
  zip.end();
  const hash = createHash('sha256');
  const tmp = `${file}.tmp-${process.pid}`;
  const out = fs.createWriteStream(tmp, { flush: true });
  zip.outputStream.on('data', (chunk: Buffer) => hash.update(chunk));
  await pipeline(zip.outputStream, out);
  const sha256 = hash.digest('hex');
  fs.renameSync(tmp, file);
  fs.writeFileSync(sidecar, `${sha256}\n`);
  return { path: file, sizeBytes: fs.statSync(file).size, sha256 };
}
