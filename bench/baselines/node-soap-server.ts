/**
 * Baseline for list-500 and formtask-10x1mb: what a Node team would write instead, a node-soap
 * server built from our WSDL (wsdl/DownloadQueueExternalBasic.wsdl) that serves the same data
 * from memory: the 500 queue items, and the form task with its attachments inline as base64
 * (node-soap cannot send MTOM). Credentials are compared in memory (no KDF: the gateway's
 * verified-credentials cache makes steady-state calls KDF-free too).
 *
 *   node node-soap-server.js <port> <fixture.json>
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import * as soap from 'soap';

export interface NodeSoapFixture {
  credentials: { userName: string; password: string };
  /** DownloadQueueItemBE values, as node-soap takes them. */
  queueItems: Record<string, unknown>[];
  formTask?: {
    archiveReference: string;
    /** GetArchivedFormTaskBasicDQResult without the attachment bytes. */
    result: { Attachments: { ArchivedAttachmentDQBE: Record<string, unknown>[] } } & Record<string, unknown>;
    /** Blob file of each attachment, in order; read into memory at start. */
    attachmentFiles: string[];
  };
}

const [portArg, fixtureFile] = process.argv.slice(2);
if (!portArg || !fixtureFile) {
  process.stderr.write('usage: node-soap-server <port> <fixture.json>\n');
  process.exit(2);
}
const fixture = JSON.parse(fs.readFileSync(fixtureFile, 'utf8')) as NodeSoapFixture;
const attachmentBytes = (fixture.formTask?.attachmentFiles ?? []).map((file) => fs.readFileSync(file));
const wsdl = fs.readFileSync(path.resolve(__dirname, '../../../wsdl/DownloadQueueExternalBasic.wsdl'), 'utf8');

function checkCredentials(args: Record<string, unknown>): void {
  if (args.systemUserName !== fixture.credentials.userName || args.systemPassword !== fixture.credentials.password) {
    throw { Fault: { faultcode: 's:Client', faultstring: 'Invalid system user name or password' } };
  }
}

const services = {
  DownloadQueueExternalBasic: {
    BasicHttpBinding_IDownloadQueueExternalBasic: {
      GetDownloadQueueItems(args: Record<string, unknown>) {
        checkCredentials(args);
        return { GetDownloadQueueItemsResult: { DownloadQueueItemBE: fixture.queueItems } };
      },
      GetArchivedFormTaskBasicDQ(args: Record<string, unknown>) {
        checkCredentials(args);
        const task = fixture.formTask;
        if (!task || args.archiveReference !== task.archiveReference) {
          throw { Fault: { faultcode: 's:Client', faultstring: 'Not found' } };
        }
        // The bytes travel inline: base64 of each attachment, encoded per call.
        const attachments = task.result.Attachments.ArchivedAttachmentDQBE.map((a, i) => ({
          ...a,
          AttachmentData: attachmentBytes[i]!.toString('base64'),
        }));
        return { GetArchivedFormTaskBasicDQResult: { ...task.result, Attachments: { ArchivedAttachmentDQBE: attachments } } };
      },
    },
  },
};

let ready = false;
const server = http.createServer((request, response) => {
  if (request.url === '/ready') {
    response.statusCode = ready ? 200 : 503;
    response.end();
    return;
  }
  response.statusCode = 404;
  response.end();
});
server.keepAliveTimeout = 60_000;
server.listen(Number(portArg), '127.0.0.1', () => {
  soap.listen(server, {
    path: '/ArchiveExternal/DownloadQueueExternalBasic.svc',
    services,
    xml: wsdl,
    callback: (error: unknown) => {
      if (error) {
        process.stderr.write(`node-soap could not load the WSDL: ${String(error)}\n`);
        process.exit(1);
      }
      ready = true;
    },
  });
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
