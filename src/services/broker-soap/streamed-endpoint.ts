/**
 * /ServiceEngineExternal/BrokerServiceExternalBasicStreamed.svc (altinn2-broker CONTRACT §4, §6):
 * the payload of an initiated transfer up (MTOM, chunked, straight from the request into the blob
 * store, checked to be a ZIP on the way) and down (an MTOM part streamed from the blob store).
 * `BrokerServiceExternalStreamedBasic.svc`, the transition documentation's misspelling, answers too.
 *
 * The download is framed as WCF frames it (root part first, the result an xop:Include, the file an
 * application/octet-stream part marked `Content-Transfer-Encoding: Binary`; see response-writer.ts
 * for why not `binary`: a file from an Altinn 3 sender need not be a ZIP and may end in CR/LF).
 */
import path from 'node:path';
import { Readable } from 'node:stream';
import type { App } from '../../app';
import { senderReceipt } from '../../broker/altinn2/receipts';
import { downloadLegacyFile } from '../../broker/altinn2/download';
import { requireLegacyFileTransfer } from '../../broker/altinn2/legacy-file-transfer';
import { isBrokerError } from '../../broker/errors';
import { loadFileTransfer } from '../../broker/file-transfer-store';
import { uploadFileTransfer } from '../../broker/upload-file-transfer';
import { contractOperations, type SoapEndpointDefinition } from '../../soap/endpoint';
import { isInboundBinary, type BinaryPart } from '../../soap/schema';
import { testOperation } from '../altinn-common';
import { actFor, fileNotFoundFault, signIn } from './acting-system-user';
import { BROKER_RESPONSE_NAMESPACES, brokerStreamedContract as contract, STREAMED_SOAP_ACTION_PREFIX } from './contract';
import { BROKER_ERROR_ID, brokerFault, mapBrokerSoapError } from './faults';
import { formatLastChanged } from './norwegian-time';

export const BROKER_STREAMED_PATH = '/ServiceEngineExternal/BrokerServiceExternalBasicStreamed.svc';
/** As Altinn's transition documentation writes it (CONTRACT §2). */
export const BROKER_STREAMED_TYPO_PATH = '/ServiceEngineExternal/BrokerServiceExternalStreamedBasic.svc';

export function brokerStreamedEndpoint(app: App, wsdlDir: string): SoapEndpointDefinition {
  const operation = contractOperations(contract, STREAMED_SOAP_ACTION_PREFIX);

  return {
    name: 'BrokerServiceExternalBasicStreamed',
    path: BROKER_STREAMED_PATH,
    aliases: [BROKER_STREAMED_TYPO_PATH],
    wsdlFile: path.join(wsdlDir, 'BrokerServiceExternalBasicStreamed.wsdl'),
    responseNamespaces: BROKER_RESPONSE_NAMESPACES,
    mapError: mapBrokerSoapError,
    operations: [
      testOperation,

      operation('UploadFileStreamedBasic', async (input, context) => {
        const user = await signIn(app, input.SystemUserName, input.SystemPassword, context);
        const caller = actFor(user, input.Reportee, 'Reportee');
        const reference = typeof input.Reference === 'string' ? input.Reference.trim() : '';
        if (!reference) throw brokerFault(BROKER_ERROR_ID.notABrokerFile, 'The Reference header is required: the reference InitiateBrokerServiceBasic returned');
        const data = isInboundBinary(input.DataStream) ? await nonEmpty(input.DataStream.open()) : undefined;
        if (!data) throw brokerFault(BROKER_ERROR_ID.noFileData, 'No file data was received (DataStream is missing or empty)');
        try {
          // Only transfers on a service with an Altinn 2 code exist for this door.
          await requireLegacyFileTransfer(app.broker, caller, reference, 'Sender');
          // The FileName header (when given) names the file, as the upload is where Altinn 2 learnt it.
          const fileName = typeof input.FileName === 'string' && input.FileName.trim() !== '' ? input.FileName.trim() : undefined;
          await uploadFileTransfer(app.broker, caller, reference, data, { requireZip: true, fileName });
        } catch (error) {
          data.destroy();
          if (isBrokerError(error, 'FileTransferNotFound')) throw await fileNotFoundFault(app, user, reference, caller, 'Sender');
          throw error;
        }
        const transfer = await loadFileTransfer(app.db, reference);
        if (!transfer) throw new Error(`transfer ${reference} vanished right after its upload`);
        // Altinn 3 has no receipts: the pseudo-receipt of the transition bridge (CONTRACT §12).
        const receipt = senderReceipt(transfer);
        return {
          LastChanged: formatLastChanged(receipt.lastChanged),
          ParentReceiptId: 0,
          ReceiptHistory: null,
          ReceiptId: 0,
          ReceiptStatusCode: receipt.status === 'Ok' ? 'OK' : receipt.status,
          ReceiptText: receipt.text,
          ReceiptTypeName: 'BrokerService',
        };
      }),

      operation('DownloadFileStreamedBasic', async (input, context) => {
        const user = await signIn(app, input.systemUserName, input.systemPassword, context);
        const caller = actFor(user, input.reportee, 'reportee');
        const reference = typeof input.fileReference === 'string' ? input.fileReference.trim() : '';
        if (!reference) throw brokerFault(BROKER_ERROR_ID.notABrokerFile, 'fileReference is required');
        let download;
        try {
          // The whole file (Range has no meaning here), with the manifest shim where the service uses it.
          download = await downloadLegacyFile(app.broker, caller, reference);
        } catch (error) {
          if (isBrokerError(error, 'FileTransferNotFound')) throw await fileNotFoundFault(app, user, reference, caller, 'Recipient');
          throw error;
        }
        const file: BinaryPart = { kind: 'binary', contentType: 'application/octet-stream', sizeBytes: download.size, open: () => download.open() };
        return { DownloadFileStreamedBasicResult: file };
      }),
    ],
  };
}

/**
 * The stream with its first chunk read ahead, or undefined when it has none: an empty upload is
 * refused (40205) before the transfer is touched. Reading ahead also finds the MTOM part (or
 * fails for a missing one) before any upload attempt starts.
 */
async function nonEmpty(stream: Readable): Promise<Readable | undefined> {
  const iterator = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const first = await iterator.next();
  if (first.done) return undefined;
  async function* rest(): AsyncGenerator<Buffer> {
    try {
      yield first.value;
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) yield next.value;
    } finally {
      await iterator.return?.();
    }
  }
  return Readable.from(rest(), { objectMode: false });
}
