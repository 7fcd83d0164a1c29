/**
 * Interop: python3-zeep, built from Altinn's REFERENCE broker WSDLs (../shared/reference/altinn2-broker/)
 * with only the service address changed, runs the broker loop against the gateway
 * (test/interop/broker_zeep_client.py): Test on both services, Initiate, Upload (zeep cannot send
 * MTOM, so the ZIP goes inline as base64, with the five SOAP headers), Check, Get, Download (an
 * MTOM answer), Confirm, Get and Check again, and an AltinnFault for a wrong password. A file an
 * Altinn 3 sender sent, ending in CRLF, arrives byte for byte too.
 *
 * Needs Debian's python3-zeep under /usr/bin/python3, or ZEEP_PYTHON set to an interpreter with zeep.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { ORGS, SERVICE, sha256, startBrokerSoapServer, zipFile, type BrokerSoapServer } from '../services/broker-soap/support';

const PYTHON = process.env.ZEEP_PYTHON || '/usr/bin/python3';
const SCRIPT = path.join(__dirname, 'broker_zeep_client.py');

interface ZeepFile {
  ExternalServiceCode: string;
  ExternalServiceEditionCode: number;
  FileName: string;
  FileReference: string;
  FileSize: number;
  FileStatus: string;
  IsSftpDownloadOnly: boolean;
  ReceiptID: number;
  Reportee: string;
  SendersReference: string;
  SentDate: string;
}

interface ZeepSummary {
  zeepVersion: string;
  error?: string;
  traceback?: string;
  test: { basic: unknown; streamed: unknown };
  initiated: { reference: string; sendersReference: string };
  receipt: Record<string, unknown>;
  checkBefore: boolean;
  listed: ZeepFile[] | null;
  downloads: Record<string, { size: number; sha256: string }>;
  listedAfter: ZeepFile[] | null;
  listedAfterElement: { nil: string | null; children: number } | null;
  listedDownloaded: ZeepFile[] | null;
  checkAfter: boolean;
  fault: { raised: string | null; message?: string; altinnFault?: Record<string, string | null> | null };
}

function runZeep(input: unknown): Promise<{ code: number; summary: ZeepSummary; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, [SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => {
      try {
        resolve({ code: code ?? -1, summary: JSON.parse(stdout) as ZeepSummary, stderr });
      } catch {
        reject(new Error(`zeep client printed no summary (exit ${code}): ${stderr || stdout}`));
      }
    });
    child.stdin.end(JSON.stringify(input));
  });
}

let soap: BrokerSoapServer;
beforeAll(async () => {
  soap = await startBrokerSoapServer();
});
afterAll(() => soap.close());

test('zeep from the reference WSDLs runs the broker loop unchanged', async () => {
  const payload = await zipFile();
  // From an Altinn 3 sender: not a ZIP, ending in CRLF (MTOM framing must not eat it).
  const plainText = Buffer.from('line one\r\nline two\r\n', 'utf8');
  const fromAltinn3 = await soap.broker.publish(plainText, { fileName: 'notes.txt' });

  const { code, summary, stderr } = await runZeep({
    baseUrl: soap.url,
    sender: soap.users.sender,
    recipient: soap.users.recipient,
    serviceCode: SERVICE.code,
    serviceEdition: SERVICE.edition,
    payloadBase64: payload.toString('base64'),
    alsoDownload: [fromAltinn3],
  });
  expect({ error: summary.error, traceback: summary.traceback, stderr: code === 0 ? '' : stderr }).toEqual({ error: undefined, traceback: undefined, stderr: '' });
  expect(code).toBe(0);

  const reference = summary.initiated.reference;
  expect(reference).toMatch(/^[0-9a-f-]{36}$/);
  expect(summary.receipt).toEqual({
    LastChanged: '02.03.2026 09:00:00',
    ParentReceiptId: 0,
    ReceiptHistory: null,
    ReceiptId: 0,
    ReceiptStatusCode: 'OK',
    ReceiptText: `Upload of file ${reference} was successful. Recipients can now download the file.`,
    ReceiptTypeName: 'BrokerService',
  });
  expect(summary.checkBefore).toBe(true);
  const listed = summary.listed!.find((f) => f.FileReference === reference)!;
  expect(listed).toEqual({
    ExternalServiceCode: SERVICE.code,
    ExternalServiceEditionCode: SERVICE.edition,
    FileName: 'zeep.zip',
    FileReference: reference,
    FileSize: payload.length,
    FileStatus: 'Uploaded',
    IsSftpDownloadOnly: false,
    ReceiptID: 0,
    Reportee: ORGS.sender,
    SendersReference: summary.initiated.sendersReference,
    SentDate: '2026-03-02T09:00:00+01:00',
  });
  expect(summary.listed!.map((f) => f.FileReference).sort()).toEqual([reference, fromAltinn3].sort());
  expect(summary.downloads[reference]).toEqual({ size: payload.length, sha256: sha256(payload) });
  expect(summary.downloads[fromAltinn3]).toEqual({ size: plainText.length, sha256: sha256(plainText) });
  // After the confirmations: an empty element, not nil (zeep returns None for both; the wire shows which).
  expect(summary.listedAfter).toBeNull();
  expect(summary.listedAfterElement).toEqual({ nil: null, children: 0 });
  expect(summary.listedDownloaded!.map((f) => f.FileReference).sort()).toEqual([reference, fromAltinn3].sort());
  expect(summary.checkAfter).toBe(false);
  expect(summary.fault).toMatchObject({ raised: 'Fault', altinnFault: { ErrorID: '989', AltinnErrorMessage: 'Incorrect username/password' } });

  const details = await soap.broker.call('GET', `/filetransfer/${reference}/details`, { token: soap.broker.tokens.sender });
  expect(details.json).toMatchObject({ fileName: 'zeep.zip', fileTransferStatus: 'AllConfirmedDownloaded', propertyList: { client: 'zeep' } });
});
