/**
 * ServiceOwnerArchiveExternalStreamedBasic as schema descriptors. The reference WSDL imports its
 * types from remote schemas that are not public; the shapes follow client code (CONTRACT.md) and
 * our wsdl/ files: everything in the `so` namespace.
 */
import { ALTINN } from '../../soap/namespaces';
import { field, type ElementDescriptor } from '../../soap/schema';

const { so } = ALTINN;

export const GET_ATTACHMENT_SOAP_ACTION =
  'http://www.altinn.no/services/Archive/ServiceOwnerArchive/2013/06/IServiceOwnerArchiveExternalStreamedBasic/GetAttachmentDataStreamedBasic';

export const streamedArchiveContract = {
  GetAttachmentDataStreamedBasic: {
    request: {
      name: 'GetAttachmentDataStreamedBasic',
      ns: so,
      type: {
        name: 'so:GetAttachmentDataStreamedBasic',
        fields: [
          field('systemUserName', so, 'string', { nillable: true }),
          field('systemPassword', so, 'string', { nillable: true }),
          field('attachmentId', so, 'int'),
        ],
      },
    } satisfies ElementDescriptor,
    response: {
      name: 'GetAttachmentDataStreamedBasicResponse',
      ns: so,
      type: {
        name: 'so:GetAttachmentDataStreamedBasicResponse',
        fields: [field('GetAttachmentDataStreamedBasicResult', so, 'base64Binary', { nillable: true })],
      },
    } satisfies ElementDescriptor,
  },
};
