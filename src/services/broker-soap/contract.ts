/**
 * BrokerServiceExternalBasic and BrokerServiceExternalBasicStreamed as schema descriptors,
 * transcribed from the reference WSDLs (altinn2-broker CONTRACT §3-5): element names, sequence
 * order, nillability and, for every element, the namespace of the schema that declares it.
 *
 * Request members the WSDL marks minOccurs="1" are not `required` here: a missing one gets the
 * contract's AltinnFault from the operation (e.g. missing credentials → "Incorrect
 * username/password") rather than a bare protocol fault.
 */
import { ALTINN, BROKER, XOP } from '../../soap/namespaces';
import { field, listOf, type ComplexType, type ElementDescriptor, type FieldDescriptor } from '../../soap/schema';

const { svc, bs, p20, arr } = BROKER;

const file: ComplexType = {
  name: 'bs:File',
  fields: [field('CheckSum', bs, 'string', { nillable: true }), field('FileName', bs, 'string', { nillable: true })],
};
const arrayOfFile = listOf('bs:ArrayOfFile', 'File', bs, file);

const property: ComplexType = {
  name: 'bs:Property',
  fields: [field('PropertyKey', bs, 'string', { nillable: true }), field('PropertyValue', bs, 'string', { nillable: true })],
};

const recipient: ComplexType = { name: 'bs:Recipient', fields: [field('PartyNumber', bs, 'string', { nillable: true })] };

const manifest: ComplexType = {
  name: 'bs:Manifest',
  fields: [
    field('ExternalServiceCode', bs, 'string', { nillable: true }),
    field('ExternalServiceEditionCode', bs, 'int'),
    field('FileList', bs, arrayOfFile, { nillable: true }),
    // Not in the schema: the integrasjonspunkt sends its file list under this name (a wrong
    // ObjectFactory call, CONTRACT §11), and Altinn took it. Read like FileList.
    field('ArrayOfFile', bs, arrayOfFile, { nillable: true }),
    field('PropertyList', bs, listOf('bs:ArrayOfProperty', 'Property', bs, property), { nillable: true }),
    field('Reportee', bs, 'string', { nillable: true }),
    field('SendersReference', bs, 'string', { nillable: true }),
  ],
};

const brokerServiceInitiation: ComplexType = {
  name: 'bs:BrokerServiceInitiation',
  fields: [field('Manifest', bs, manifest, { nillable: true }), field('RecipientList', bs, listOf('bs:ArrayOfRecipient', 'Recipient', bs, recipient), { nillable: true })],
};

/** Min/MaxSentDateTime are read as text: without a zone they are Norwegian local time, which xs:dateTime parsing would not know. */
const brokerServiceSearch: ComplexType = {
  name: 'bs:BrokerServiceSearch',
  fields: [
    field('ExternalServiceCode', bs, 'string', { nillable: true }),
    field('ExternalServiceEditionCode', bs, 'int'),
    field('FileStatus', bs, 'string'),
    field('MaxSentDateTime', bs, 'string'),
    field('MinSentDateTime', bs, 'string'),
    field('Reportee', bs, 'string', { nillable: true }),
  ],
};

const availableFile: ComplexType = {
  name: 'bs:BrokerServiceAvailableFile',
  fields: [
    field('ExternalServiceCode', bs, 'string', { nillable: true }),
    field('ExternalServiceEditionCode', bs, 'int'),
    field('FileName', bs, 'string', { nillable: true }),
    field('FileReference', bs, 'string'),
    field('FileSize', bs, 'long'),
    field('FileStatus', bs, 'string'),
    field('IsSftpDownloadOnly', bs, 'boolean'),
    field('ReceiptID', bs, 'int'),
    field('Reportee', bs, 'string', { nillable: true }),
    field('SendersReference', bs, 'string', { nillable: true }),
    field('SentDate', bs, 'dateTime'),
  ],
};

const arrayOfString: ComplexType = { name: 'arr:ArrayOfstring', fields: [field('string', arr, 'string', { nillable: true, repeated: true })] };

const brokerServicePoll: ComplexType = {
  name: 'p20:BrokerServicePoll',
  fields: [
    field('ExternalServiceCode', p20, 'string', { nillable: true }),
    field('ExternalServiceEditionCode', p20, 'int'),
    field('Recipients', p20, arrayOfString, { nillable: true }),
  ],
};

/** An operation's wrapper element, declared in the WSDL's own namespace. */
function wrapper(name: string, fields: FieldDescriptor[]): ElementDescriptor {
  return { name, ns: svc, type: { name: `svc:${name}`, fields } };
}

const credentials = [field('systemUserName', svc, 'string'), field('systemPassword', svc, 'string')];

export const BASIC_SOAP_ACTION_PREFIX = 'http://www.altinn.no/services/ServiceEngine/Broker/2015/06/IBrokerServiceExternalBasic/';
export const STREAMED_SOAP_ACTION_PREFIX = 'http://www.altinn.no/services/ServiceEngine/Broker/2015/06/IBrokerServiceExternalBasicStreamed/';

export const brokerBasicContract = {
  InitiateBrokerServiceBasic: {
    request: wrapper('InitiateBrokerServiceBasic', [...credentials, field('brokerServiceInitiation', svc, brokerServiceInitiation)]),
    response: wrapper('InitiateBrokerServiceBasicResponse', [field('InitiateBrokerServiceBasicResult', svc, 'string', { nillable: true })]),
  },
  GetAvailableFilesBasic: {
    request: wrapper('GetAvailableFilesBasic', [...credentials, field('searchParameters', svc, brokerServiceSearch)]),
    response: wrapper('GetAvailableFilesBasicResponse', [
      field('GetAvailableFilesBasicResult', svc, listOf('bs:BrokerServiceAvailableFileList', 'BrokerServiceAvailableFile', bs, availableFile), {
        nillable: true,
      }),
    ]),
  },
  CheckIfAvailableFilesBasic: {
    request: wrapper('CheckIfAvailableFilesBasic', [...credentials, field('pollParameters', svc, brokerServicePoll)]),
    response: wrapper('CheckIfAvailableFilesBasicResponse', [field('CheckIfAvailableFilesBasicResult', svc, 'boolean')]),
  },
  ConfirmDownloadedBasic: {
    request: wrapper('ConfirmDownloadedBasic', [...credentials, field('fileReference', svc, 'string'), field('reportee', svc, 'string')]),
    response: wrapper('ConfirmDownloadedBasicResponse', []),
  },
} as const;

/** UploadFileStreamedBasic is "bare": the body is the payload element, the rest are SOAP headers. */
export const brokerStreamedContract = {
  UploadFileStreamedBasic: {
    request: { name: 'StreamedPayloadBasicBE', ns: svc, type: { name: 'svc:StreamedPayloadBasicBE', fields: [field('DataStream', svc, 'base64Binary', { streamed: true })] } },
    headers: [
      field('FileName', svc, 'string', { nillable: true }),
      field('Reference', svc, 'string', { nillable: true }),
      field('Reportee', svc, 'string', { nillable: true }),
      field('SystemPassword', svc, 'string', { nillable: true }),
      field('SystemUserName', svc, 'string', { nillable: true }),
    ],
    response: {
      name: 'ReceiptExternalStreamedBE',
      ns: svc,
      type: {
        name: 'svc:ReceiptExternalStreamedBE',
        fields: [
          field('LastChanged', svc, 'string', { nillable: true }),
          field('ParentReceiptId', svc, 'int'),
          field('ReceiptHistory', svc, 'string', { nillable: true }),
          field('ReceiptId', svc, 'int'),
          field('ReceiptStatusCode', svc, 'string', { nillable: true }),
          field('ReceiptText', svc, 'string', { nillable: true }),
          field('ReceiptTypeName', svc, 'string', { nillable: true }),
        ],
      },
    },
  },
  DownloadFileStreamedBasic: {
    request: wrapper('DownloadFileStreamedBasic', [...credentials, field('fileReference', svc, 'string'), field('reportee', svc, 'string')]),
    response: wrapper('DownloadFileStreamedBasicResponse', [field('DownloadFileStreamedBasicResult', svc, 'base64Binary')]),
  },
} satisfies Record<string, { request: ElementDescriptor; response: ElementDescriptor; headers?: FieldDescriptor[] }>;

/** What the broker's response Envelopes declare (the fault's namespace and xsi are added by the engine). */
export const BROKER_RESPONSE_NAMESPACES = [svc, bs, ALTINN.base, ALTINN.fault, XOP];
