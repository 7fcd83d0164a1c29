/**
 * Interop with the client the SOAP broker exists for: JAX-WS RI (Metro), as in eFormidling's
 * integrasjonspunkt. wsimport generates the classes from the REFERENCE WSDLs
 * (../shared/reference/altinn2-broker/: the Basic WSDL, and the integrasjonspunkt's copy of the
 * streamed one with -XadditionalHeaders), javac compiles them with test/interop/metro/BrokerLoop.java
 * (a client written like the integrasjonspunkt's), once per run into a temporary directory, and
 * the client runs the loop against the gateway: Initiate (ArrayOfFile), a 16 MiB ZIP up as chunked
 * MTOM, Check, Get, Download (the file as an MTOM part, bytes equal), Confirm, Get/Check again, and
 * an AltinnFault for a wrong password, read the way the integrasjonspunkt reads it.
 *
 * Needs Debian's default-jdk-headless (javac) and libjaxws-java (/usr/share/java/jaxws-*.jar, Metro
 * 2.3); set METRO_JAVA_HOME / METRO_JARS to use others.
 */
import { execFile } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { createHash, randomBytes } from 'node:crypto';
import yazl from 'yazl';
import { ORGS, SERVICE, sha256, startBrokerSoapServer, type BrokerSoapServer } from '../services/broker-soap/support';

const run = promisify(execFile);
const JAVA_HOME = process.env.METRO_JAVA_HOME;
const JAVA = JAVA_HOME ? path.join(JAVA_HOME, 'bin', 'java') : 'java';
const JAVAC = JAVA_HOME ? path.join(JAVA_HOME, 'bin', 'javac') : 'javac';
const JARS = process.env.METRO_JARS || '/usr/share/java';
const REFERENCE_DIR = path.resolve(__dirname, '../../../shared/reference/altinn2-broker');
const CLIENT_SOURCE = path.join(__dirname, 'metro', 'BrokerLoop.java');
/** Metro 2.3's runtime (Debian's libjaxws-java and what it depends on). */
const RUNTIME_JARS = [
  'jaxws-rt', 'jaxb-impl', 'jaxb-core', 'jaxb-runtime', 'jaxb-api', 'jaxws-api', 'javax.activation', 'saaj-impl', 'stax-ex',
  'streambuffer', 'mimepull', 'metro-policy', 'gmbal', 'glassfish-management-api', 'FastInfoset', 'stax2-api',
];
const TOOL_JARS = ['jaxws-tools', 'jaxb-xjc', ...RUNTIME_JARS];
const classpath = (jars: string[]) => jars.map((jar) => path.join(JARS, `${jar}.jar`)).join(path.delimiter);

let soap: BrokerSoapServer;
let workDir: string;
let classesDir: string;

beforeAll(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), 'agw-metro-'));
  const generated = path.join(workDir, 'generated');
  classesDir = path.join(workDir, 'classes');
  await mkdir(generated);
  await mkdir(classesDir);
  const wsimport = (pkg: string, wsdl: string, extra: string[] = []) =>
    run(JAVA, ['-cp', classpath(TOOL_JARS), 'com.sun.tools.ws.WsImport', '-keep', '-Xnocompile', '-quiet', ...extra, '-d', generated, '-p', pkg, wsdl]);
  await wsimport('brokerbasic', path.join(REFERENCE_DIR, 'BrokerServiceExternalBasic.wsdl'));
  await wsimport('brokerstreamed', path.join(REFERENCE_DIR, 'efm-integrasjonspunkt', 'BrokerServiceExternalBasicStreamed.wsdl'), ['-XadditionalHeaders']);
  const sources = [];
  for (const pkg of ['brokerbasic', 'brokerstreamed']) {
    for (const file of await readdir(path.join(generated, pkg))) if (file.endsWith('.java')) sources.push(path.join(generated, pkg, file));
  }
  await run(JAVAC, ['--release', '17', '-nowarn', '-cp', classpath(RUNTIME_JARS), '-d', classesDir, ...sources, CLIENT_SOURCE], { maxBuffer: 16 * 1024 * 1024 });
  soap = await startBrokerSoapServer();
});

afterAll(async () => {
  await soap?.close();
  await rm(workDir, { recursive: true, force: true });
});

/** A ZIP holding `size` random bytes, stored (not compressed), written to `file`; its sha256. */
async function writeZip(file: string, size: number): Promise<string> {
  const zip = new yazl.ZipFile();
  const entry = randomBytes(size);
  zip.addBuffer(entry, 'asic.zip', { compress: false });
  zip.addBuffer(Buffer.from('{"standardBusinessDocument":{}}'), 'sbd.json');
  zip.end();
  const hash = createHash('sha256');
  zip.outputStream.on('data', (chunk: Buffer) => hash.update(chunk));
  await pipeline(zip.outputStream, createWriteStream(file));
  return hash.digest('hex');
}

test('a Metro client generated from the reference WSDLs runs the integrasjonspunkt\'s loop', async () => {
  const payload = path.join(workDir, 'payload.zip');
  const payloadSha256 = await writeZip(payload, 16 * 1024 * 1024);
  const payloadSize = (await stat(payload)).size;
  // Also waiting for the recipient: a file from an Altinn 3 sender that ends in CRLF.
  const crlf = Buffer.from('not a zip\r\n', 'utf8');
  const fromAltinn3 = await soap.broker.publish(crlf, { fileName: 'notes.txt' });
  const outDir = path.join(workDir, 'out');
  await mkdir(outDir);

  const { sender, recipient } = soap.users;
  const { stdout } = await run(
    JAVA,
    [
      '-cp', [classesDir, classpath(RUNTIME_JARS)].join(path.delimiter), 'BrokerLoop',
      soap.url, sender.userName, sender.password, sender.orgNumber, recipient.userName, recipient.password, recipient.orgNumber,
      SERVICE.code, String(SERVICE.edition), payload, outDir,
    ],
    { maxBuffer: 16 * 1024 * 1024 },
  );
  const lines = stdout.trim().split('\n').map((line) => line.split('\t') as [string, string]);
  const one = (key: string) => lines.filter(([k]) => k === key).map(([, v]) => v);
  const reference = one('reference')[0]!;

  expect(one('done')).toEqual(['true']);
  expect(one('receipt.ReceiptId')).toEqual(['0']);
  expect(one('receipt.ReceiptStatusCode')).toEqual(['OK']);
  expect(one('receipt.ReceiptText')).toEqual([`Upload of file ${reference} was successful. Recipients can now download the file.`]);
  expect(one('receipt.LastChanged')).toEqual(['02.03.2026 09:00:00']);
  expect(one('check')).toEqual(['true']);
  expect(one('listed')).toEqual(['2']);
  expect(one('file').sort()).toEqual(
    [
      `${reference} receiptId=0 sendersReference=${one('sendersReference')[0]} size=${payloadSize} name=sbd.zip reportee=${ORGS.sender} sent=2026-03-02T09:00:00+01:00`,
      `${fromAltinn3} receiptId=0 sendersReference=ref-1 size=${crlf.length} name=notes.txt reportee=${ORGS.sender} sent=2026-03-02T09:00:00+01:00`,
    ].sort(),
  );
  expect(one('downloaded').sort()).toEqual(
    [`${reference} ${payloadSize} ${payloadSha256}`, `${fromAltinn3} ${crlf.length} ${sha256(crlf)}`].sort(),
  );
  expect(one('confirmed').sort()).toEqual([reference, fromAltinn3].sort());
  expect(one('listedAfter')).toEqual(['0']);
  expect(one('checkAfter')).toEqual(['false']);
  expect(one('fault.ErrorID')).toEqual(['989']);
  expect(one('fault.AltinnErrorMessage')).toEqual(['Incorrect username/password']);
  expect(one('fault.AltinnLocalizedErrorMessage')).toEqual(['Incorrect username/password']);
  expect(one('fault.UserId')).toEqual(['null']);

  const details = await soap.broker.call('GET', `/filetransfer/${reference}/details`, { token: soap.broker.tokens.sender });
  expect(details.json).toMatchObject({ fileName: 'sbd.zip', fileTransferStatus: 'AllConfirmedDownloaded', checksum: expect.stringMatching(/^[0-9a-f]{32}$/) });
});
