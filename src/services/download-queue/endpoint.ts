/**
 * /ArchiveExternal/DownloadQueueExternalBasic.svc: maps each SOAP operation to its archive use case
 * and the result back to the contract's shapes. Thin on purpose: rules live in src/archive.
 */
import path from 'node:path';
import type { App } from '../../app';
import { getFormTask } from '../../archive/get-form-task';
import { LRUCache } from 'lru-cache';
import { listQueueReferences, queueItemsOrFragments, storeQueueItemFragments } from '../../archive/list-queue';
import { purgeItem } from '../../archive/purge-item';
import type { ArchivedFormTask, QueueItem, StoredQueueItem } from '../../archive/types';
import { renderFormSetPdf, requirePdfLanguage, UnsupportedPdfLanguage } from '../../pdf/form-set-pdf';
import { altinnFault, SoapFault } from '../../soap/fault';
import { contractOperations, type SoapEndpointDefinition } from '../../soap/endpoint';
import type { BinaryPart } from '../../soap/schema';
import { serializedFormat, serializedXml, serializeMember, type SerializedXml } from '../../soap/serializer';
import { authenticate, ERROR_ID, mapServiceOwnerError, requireString, testOperation } from '../altinn-common';
import { archivedFormTaskValue, attachmentPart } from './archived-form-task';
import { downloadQueueContract as contract, SOAP_ACTION_PREFIX } from './contract';

export const DOWNLOAD_QUEUE_PATH = '/ArchiveExternal/DownloadQueueExternalBasic.svc';

export function downloadQueueEndpoint(app: App, wsdlDir: string): SoapEndpointDefinition {
  const operation = contractOperations(contract, SOAP_ACTION_PREFIX);
  const queueItemXml = queueItemXmlCache(app);

  return {
    name: 'DownloadQueueExternalBasic',
    path: DOWNLOAD_QUEUE_PATH,
    wsdlFile: path.join(wsdlDir, 'DownloadQueueExternalBasic.wsdl'),
    mapError: mapServiceOwnerError,
    operations: [
      testOperation,

      operation('GetDownloadQueueItems', async (input, context) => {
        const user = await authenticate(app.authenticator, input.systemUserName, input.systemPassword, context);
        const references = await listQueueReferences(app, {
          serviceOwnerId: user.serviceOwnerId,
          serviceCode: input.serviceCode as string | null,
          limit: app.config.queuePageSize,
        });
        return { GetDownloadQueueItemsResult: { DownloadQueueItemBE: await queueItemXml(references) } };
      }),

      operation('PurgeItem', async (input, context) => {
        const user = await authenticate(app.authenticator, input.systemUserName, input.systemPassword, context);
        const archiveReference = requireString(input, 'archiveReference');
        await purgeItem(app, { serviceOwnerId: user.serviceOwnerId, systemUserId: user.systemUserId, archiveReference });
        // A known client compares the result with "OK".
        return { PurgeItemResult: 'OK' };
      }),

      operation('GetArchivedFormTaskBasicDQ', async (input, context) => {
        const user = await authenticate(app.authenticator, input.systemUserName, input.systemPassword, context);
        const archiveReference = requireString(input, 'archiveReference');
        const task = await getFormTask(app, { serviceOwnerId: user.serviceOwnerId, archiveReference });
        return { GetArchivedFormTaskBasicDQResult: await toArchivedFormTask(app, task, input.includeXmlNamespace === true) };
      }),

      operation('GetFormSetPdfBasic', async (input, context) => {
        const user = await authenticate(app.authenticator, input.systemName, input.systemPassword, context);
        const archiveReference = requireString(input, 'archiveReference');
        try {
          requirePdfLanguage(input.languageId as number);
        } catch (error) {
          // The contract names no ErrorID for this; 0 is what the other request errors answer.
          if (error instanceof UnsupportedPdfLanguage) throw altinnFault(ERROR_ID.generic, error.message);
          throw error;
        }
        const task = await getFormTask(app, { serviceOwnerId: user.serviceOwnerId, archiveReference });
        if (task.encryptedSymmetricKey) {
          // Never a PDF of ciphertext: only the service owner's key can read this content.
          throw altinnFault(
            ERROR_ID.generic,
            `The content of ${task.archiveReference} is encrypted for the service owner (certificate ${task.encryptedSymmetricKey.certificateThumbprint}); ` +
              'no PDF can be made of it. Fetch it with GetArchivedFormTaskBasicDQ and decrypt it with the service owner\'s private key.',
          );
        }
        const { dataFormatId, dataFormatVersion } = input as { dataFormatId: string | null; dataFormatVersion: number | null };
        const forms = task.forms.filter(
          (f) => (!dataFormatId || f.dataFormatId === dataFormatId) && (dataFormatVersion === null || f.dataFormatVersion === dataFormatVersion),
        );
        if (forms.length === 0) {
          throw altinnFault(ERROR_ID.generic, `${archiveReference} has no form with dataFormatId '${dataFormatId}'` +
            (dataFormatVersion === null ? '' : ` and dataFormatVersion ${dataFormatVersion}`));
        }
        const pdf: BinaryPart = {
          kind: 'binary',
          contentType: 'application/octet-stream',
          open: () => renderFormSetPdf({ ...task, languageId: input.languageId as number, forms }),
        };
        return { GetFormSetPdfBasicResult: pdf };
      }),
    ],
  };
}

/**
 * Each queue item's DownloadQueueItemBE element is written once: an archived item never changes
 * (purging only takes it off the queue, which the listing query decides), and a listing is up to
 * 500 of them, so rebuilding that XML per call was most of its CPU. The XML is this door's, so the
 * door makes it; the archive keeps it opaquely beside the item (for every gateway process and
 * after restarts), and its `format` changes with the contract's item descriptor or the writer,
 * older ones being rebuilt. This process also keeps the bytes of recently listed items, so that a
 * steady listing reads only the queue's references from the database.
 */
const queueItemMember = contract.GetDownloadQueueItems.response.type.fields[0]!;
const queueItemField = (queueItemMember.type as Exclude<typeof queueItemMember.type, string>).fields[0]!;
const QUEUE_ITEM_FORMAT = serializedFormat(queueItemField);
/** ~70,000 items of ~450 bytes: every pending item of the busiest owners. */
const QUEUE_ITEM_CACHE_BYTES = 32 * 2 ** 20;

/** The DownloadQueueItemBE elements of these items, in order. Per app: ids are only unique within one database. */
function queueItemXmlCache(app: App): (archiveReferences: string[]) => Promise<SerializedXml[]> {
  const cache = new LRUCache<string, Buffer>({ maxSize: QUEUE_ITEM_CACHE_BYTES, sizeCalculation: (xml) => xml.length });
  return async (archiveReferences) => {
    const kept = archiveReferences.map((r) => cache.get(r));
    const fetched = new Map<string, Buffer>();
    const missing = archiveReferences.filter((_, i) => kept[i] === undefined);
    if (missing.length > 0) {
      const made: StoredQueueItem[] = [];
      for (const item of await queueItemsOrFragments(app, missing, QUEUE_ITEM_FORMAT)) {
        let fragment: string;
        if ('fragment' in item) {
          fragment = item.fragment;
        } else {
          fragment = serializeMember(queueItemField, toQueueItem(item));
          made.push({ archiveReference: item.archiveReference, fragment });
        }
        const xml = Buffer.from(fragment, 'utf8');
        fetched.set(item.archiveReference, xml);
        cache.set(item.archiveReference, xml);
      }
      if (made.length > 0) await storeQueueItemFragments(app, QUEUE_ITEM_FORMAT, made);
    }
    return archiveReferences.map((r, i) => serializedXml(kept[i] ?? fetched.get(r)!));
  };
}

function toQueueItem(item: QueueItem): Record<string, unknown> {
  return {
    ArchiveReference: item.archiveReference,
    ArchivedDate: item.archivedAt,
    ReporteeID: item.reporteeId,
    ReporteeType: item.reporteeType,
    ServiceCode: item.serviceCode,
    ServiceEditionCode: item.serviceEditionCode,
    ShipmentMetadataList: item.shipmentMetadata && { ArchivedShipmentMetadata: item.shipmentMetadata.map((m) => ({ Key: m.key, Value: m.value })) },
  };
}

async function toArchivedFormTask(app: App, task: ArchivedFormTask, includeXmlNamespace: boolean): Promise<Record<string, unknown>> {
  const inline = task.attachments.filter((a) => a.sizeBytes <= app.config.inlineAttachmentMaxBytes);
  // Check the bytes are there before answering: a missing blob is a server fault, not a truncated
  // response. All at once: one after the other, each stat's round trip added to the response time.
  const sizes = await Promise.all(inline.map((attachment) => app.blobs.stat(attachment.blobKey)));
  for (const [i, attachment] of inline.entries()) {
    if (sizes[i] !== attachment.sizeBytes) {
      throw new SoapFault('Server', `The content of attachment ${attachment.attachmentId} is missing or damaged in the archive`, {
        errorId: ERROR_ID.generic,
        message: `The content of attachment ${attachment.attachmentId} is not available`,
      });
    }
  }
  return archivedFormTaskValue(task, {
    includeXmlNamespace,
    // Over the inline limit: nil here, fetched with GetAttachmentDataStreamedBasic by AttachmentId.
    attachmentData: (a) => (inline.includes(a) ? attachmentPart(app.blobs, a) : null),
  });
}
