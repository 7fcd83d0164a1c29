/**
 * The DownloadQueueExternalBasic contract as schema descriptors, transcribed from the reference
 * WSDL: element names, sequence order, nillability and, for every element, the namespace of the
 * schema that declares it (CONTRACT.md, "Namespaces").
 */
import { ALTINN } from '../../soap/namespaces';
import { field, listOf, type ComplexType, type ElementDescriptor } from '../../soap/schema';

const { svc, dq, sm, ra } = ALTINN;

const archivedShipmentMetadata: ComplexType = {
  name: 'sm:ArchivedShipmentMetadata',
  fields: [field('Key', sm, 'string', { nillable: true }), field('Value', sm, 'string', { nillable: true })],
};

const downloadQueueItem: ComplexType = {
  name: 'dq:DownloadQueueItemBE',
  fields: [
    field('ArchiveReference', dq, 'string', { nillable: true }),
    field('ArchivedDate', dq, 'dateTime'),
    field('ReporteeID', dq, 'string', { nillable: true }),
    field('ReporteeType', dq, 'string'),
    field('ServiceCode', dq, 'string', { nillable: true }),
    field('ServiceEditionCode', dq, 'int'),
    field('ShipmentMetadataList', dq, listOf('sm:ArchivedShipmentMetadataList', 'ArchivedShipmentMetadata', sm, archivedShipmentMetadata), {
      nillable: true,
    }),
  ],
};

const approver: ComplexType = {
  name: 'ra:ApproverDQBE',
  fields: [
    field('ApprovedTimeStamp', ra, 'dateTime'),
    field('ApproverID', ra, 'string', { nillable: true }),
    field('SecurityLevel', ra, 'string'),
  ],
};

const attachment: ComplexType = {
  name: 'ra:ArchivedAttachmentDQBE',
  fields: [
    field('ArchiveReference', ra, 'string', { nillable: true }),
    field('AttachmentData', ra, 'base64Binary', { nillable: true }),
    field('AttachmentType', ra, 'string', { nillable: true }),
    field('FileName', ra, 'string', { nillable: true }),
    field('IsEncrypted', ra, 'boolean'),
    field('AttachmentId', ra, 'int'),
    field('AttachmentTypeName', ra, 'string', { nillable: true }),
    field('AttachmentTypeNameLanguage', ra, 'string', { nillable: true }),
  ],
};

const form: ComplexType = {
  name: 'ra:ArchivedFormDQBE',
  fields: [
    field('DataFormatID', ra, 'string', { nillable: true }),
    field('DataFormatVersionID', ra, 'int'),
    field('FormData', ra, 'string', { nillable: true }),
    field('ParentReference', ra, 'string', { nillable: true }),
    field('Reference', ra, 'string', { nillable: true }),
  ],
};

/** The element is declared in ra; its children in dq (the type's schema). */
const soEncryptedSymmetricKey: ComplexType = {
  name: 'dq:SOEncryptedSymmetricKeyExternalDQBE',
  fields: [field('CertificateThumbprint', dq, 'string', { nillable: true }), field('EncryptedKey', dq, 'base64Binary', { nillable: true })],
};

const archivedFormTask: ComplexType = {
  name: 'ra:ArchivedFormTaskDQBE',
  fields: [
    field('Approvers', ra, listOf('ra:ApproverListDQBE', 'ApproverDQBE', ra, approver), { nillable: true }),
    field('ArchiveReference', ra, 'string', { nillable: true }),
    field('ArchiveTimeStamp', ra, 'dateTime'),
    field('Attachments', ra, listOf('ra:ArchivedAttachmentExternalListDQBE', 'ArchivedAttachmentDQBE', ra, attachment), { nillable: true }),
    field('AttachmentsInResponse', ra, 'int'),
    field('CaseID', ra, 'int'),
    field('CorrelationReference', ra, 'long'),
    field('Forms', ra, listOf('ra:ArchivedFormListDQBE', 'ArchivedFormDQBE', ra, form), { nillable: true }),
    field('FormsInResponse', ra, 'int'),
    field('Reportee', ra, 'string', { nillable: true }),
    field('SOEncryptedSymmetricKey', ra, soEncryptedSymmetricKey, { nillable: true }),
    field('ServiceCode', ra, 'string', { nillable: true }),
    field('ServiceEditionCode', ra, 'string', { nillable: true }),
  ],
};

/** An operation's request or response wrapper element (declared in the WSDL's own namespace). */
function wrapper(name: string, fields: ComplexType['fields']): ElementDescriptor {
  return { name, ns: svc, type: { name: `svc:${name}`, fields } };
}

const credentials = [field('systemUserName', svc, 'string', { nillable: true }), field('systemPassword', svc, 'string', { nillable: true })];

export const SOAP_ACTION_PREFIX = 'http://www.altinn.no/services/Archive/DownloadQueue/2012/08/IDownloadQueueExternalBasic/';

export const downloadQueueContract = {
  GetDownloadQueueItems: {
    request: wrapper('GetDownloadQueueItems', [...credentials, field('serviceCode', svc, 'string', { nillable: true })]),
    response: wrapper('GetDownloadQueueItemsResponse', [
      field('GetDownloadQueueItemsResult', svc, listOf('dq:DownloadQueueItemBEList', 'DownloadQueueItemBE', dq, downloadQueueItem), {
        nillable: true,
      }),
    ]),
  },
  PurgeItem: {
    request: wrapper('PurgeItem', [...credentials, field('archiveReference', svc, 'string', { nillable: true })]),
    response: wrapper('PurgeItemResponse', [field('PurgeItemResult', svc, 'string', { nillable: true })]),
  },
  GetArchivedFormTaskBasicDQ: {
    request: wrapper('GetArchivedFormTaskBasicDQ', [
      ...credentials,
      field('archiveReference', svc, 'string', { nillable: true }),
      field('languageID', svc, 'int', { nillable: true }),
      field('includeXmlNamespace', svc, 'boolean'),
    ]),
    response: wrapper('GetArchivedFormTaskBasicDQResponse', [
      field('GetArchivedFormTaskBasicDQResult', svc, archivedFormTask, { nillable: true }),
    ]),
  },
  GetFormSetPdfBasic: {
    request: wrapper('GetFormSetPdfBasic', [
      field('systemName', svc, 'string', { required: true }),
      field('systemPassword', svc, 'string', { required: true }),
      field('archiveReference', svc, 'string', { required: true }),
      field('languageId', svc, 'int', { required: true }),
      field('dataFormatId', svc, 'string', { nillable: true }),
      field('dataFormatVersion', svc, 'int', { nillable: true }),
    ]),
    response: wrapper('GetFormSetPdfBasicResponse', [field('GetFormSetPdfBasicResult', svc, 'base64Binary', { nillable: true })]),
  },
} as const;
