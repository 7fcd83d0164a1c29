/**
 * /ArchiveExternal/DownloadQueueExternalBasic.svc: maps each SOAP operation to its archive use case
 * and the result back to the contract's shapes. Thin on purpose: rules live in src/archive.
 */
import path from 'node:path';
import type { App } from '../../app';
import { getFormTask } from '../../archive/get-form-task';
import { listQueue } from '../../archive/list-queue';
import { purgeItem } from '../../archive/purge-item';
import { presentFormData } from '../../archive/form-data';
import type { ArchivedAttachment, ArchivedFormTask, QueueItem } from '../../archive/types';
import { renderFormSetPdf } from '../../pdf/form-set-pdf';
import { altinnFault, SoapFault } from '../../soap/fault';
import type { SoapEndpointDefinition, SoapOperation } from '../../soap/endpoint';
import type { BinaryPart } from '../../soap/schema';
import { authenticate, ERROR_ID, mapServiceOwnerError, requireString, testOperation } from '../altinn-common';
import { downloadQueueContract as contract, SOAP_ACTION_PREFIX } from './contract';

export const DOWNLOAD_QUEUE_PATH = '/ArchiveExternal/DownloadQueueExternalBasic.svc';

export function downloadQueueEndpoint(app: App, wsdlDir: string): SoapEndpointDefinition {
  const operation = (name: keyof typeof contract, handle: SoapOperation['handle']): SoapOperation => ({
    name,
    soapAction: SOAP_ACTION_PREFIX + name,
    request: contract[name].request,
    response: contract[name].response,
    handle,
  });

  return {
    name: 'DownloadQueueExternalBasic',
    path: DOWNLOAD_QUEUE_PATH,
    wsdlFile: path.join(wsdlDir, 'DownloadQueueExternalBasic.wsdl'),
    mapError: mapServiceOwnerError,
    operations: [
      testOperation,

      operation('GetDownloadQueueItems', async (input) => {
        const user = await authenticate(app.authenticator, input.systemUserName, input.systemPassword);
        const items = await listQueue(app, {
          serviceOwnerId: user.serviceOwnerId,
          serviceCode: input.serviceCode as string | null,
          limit: app.config.queuePageSize,
        });
        return { GetDownloadQueueItemsResult: { DownloadQueueItemBE: items.map(toQueueItem) } };
      }),

      operation('PurgeItem', async (input) => {
        const user = await authenticate(app.authenticator, input.systemUserName, input.systemPassword);
        const archiveReference = requireString(input, 'archiveReference');
        await purgeItem(app, { serviceOwnerId: user.serviceOwnerId, systemUserId: user.systemUserId, archiveReference });
        // A known client compares the result with "OK".
        return { PurgeItemResult: 'OK' };
      }),

      operation('GetArchivedFormTaskBasicDQ', async (input) => {
        const user = await authenticate(app.authenticator, input.systemUserName, input.systemPassword);
        const archiveReference = requireString(input, 'archiveReference');
        const task = await getFormTask(app, { serviceOwnerId: user.serviceOwnerId, archiveReference });
        return { GetArchivedFormTaskBasicDQResult: await toArchivedFormTask(app, task, input.includeXmlNamespace === true) };
      }),

      operation('GetFormSetPdfBasic', async (input) => {
        const user = await authenticate(app.authenticator, input.systemName, input.systemPassword);
        const archiveReference = requireString(input, 'archiveReference');
        const task = await getFormTask(app, { serviceOwnerId: user.serviceOwnerId, archiveReference });
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
  const inline = (a: ArchivedAttachment) => a.sizeBytes <= app.config.inlineAttachmentMaxBytes;
  // Check the bytes are there before answering: a missing blob is a server fault, not a truncated response.
  for (const attachment of task.attachments.filter(inline)) {
    if ((await app.blobs.stat(attachment.blobKey)) !== attachment.sizeBytes) {
      throw new SoapFault('Server', `The content of attachment ${attachment.attachmentId} is missing or damaged in the archive`, {
        errorId: ERROR_ID.generic,
        message: `The content of attachment ${attachment.attachmentId} is not available`,
      });
    }
  }
  const attachments = task.attachments.map((a) => ({
    ArchiveReference: a.archiveReference,
    // Over the inline limit: nil here, fetched with GetAttachmentDataStreamedBasic by AttachmentId.
    AttachmentData: inline(a) ? attachmentPart(app, a) : null,
    AttachmentType: a.attachmentType,
    FileName: a.fileName,
    IsEncrypted: a.isEncrypted,
    AttachmentId: a.attachmentId,
    AttachmentTypeName: a.attachmentTypeName,
    AttachmentTypeNameLanguage: a.attachmentTypeNameLanguage,
  }));
  return {
    Approvers: { ApproverDQBE: task.approvers.map((a) => ({ ApprovedTimeStamp: a.approvedAt, ApproverID: a.approverId, SecurityLevel: a.securityLevel })) },
    ArchiveReference: task.archiveReference,
    ArchiveTimeStamp: task.archivedAt,
    Attachments: { ArchivedAttachmentDQBE: attachments },
    AttachmentsInResponse: task.attachments.filter(inline).length,
    CaseID: task.caseId ?? 0,
    CorrelationReference: task.correlationReference ?? 0,
    Forms: {
      ArchivedFormDQBE: task.forms.map((f) => ({
        DataFormatID: f.dataFormatId,
        DataFormatVersionID: f.dataFormatVersion,
        FormData: presentFormData(f.formData, includeXmlNamespace),
        ParentReference: f.parentReference,
        Reference: f.reference,
      })),
    },
    FormsInResponse: task.forms.length,
    Reportee: task.reportee,
    SOEncryptedSymmetricKey: task.encryptedSymmetricKey && {
      CertificateThumbprint: task.encryptedSymmetricKey.certificateThumbprint,
      EncryptedKey: task.encryptedSymmetricKey.encryptedKey,
    },
    ServiceCode: task.serviceCode,
    ServiceEditionCode: String(task.serviceEditionCode),
  };
}

/** An attachment's bytes as an MTOM part, streamed from the blob store when the response is written. */
export function attachmentPart(app: App, attachment: ArchivedAttachment): BinaryPart {
  return {
    kind: 'binary',
    contentType: 'application/octet-stream',
    sizeBytes: attachment.sizeBytes,
    open: () => app.blobs.open(attachment.blobKey),
  };
}
