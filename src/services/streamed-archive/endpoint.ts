/**
 * /ArchiveExternal/ServiceOwnerArchiveExternalStreamedBasic.svc: attachments too large to travel
 * inline, one per call, as a single XOP part streamed from the blob store.
 */
import path from 'node:path';
import type { App } from '../../app';
import { getAttachment } from '../../archive/get-form-task';
import { altinnFault } from '../../soap/fault';
import type { SoapEndpointDefinition } from '../../soap/endpoint';
import { authenticate, ERROR_ID, mapServiceOwnerError, testOperation } from '../altinn-common';
import { attachmentPart } from '../download-queue/archived-form-task';
import { GET_ATTACHMENT_SOAP_ACTION, streamedArchiveContract as contract } from './contract';

export const STREAMED_ARCHIVE_PATH = '/ArchiveExternal/ServiceOwnerArchiveExternalStreamedBasic.svc';

export function streamedArchiveEndpoint(app: App, wsdlDir: string): SoapEndpointDefinition {
  const xsdDir = path.join(wsdlDir, 'streamed-xsd');
  return {
    name: 'ServiceOwnerArchiveExternalStreamedBasic',
    path: STREAMED_ARCHIVE_PATH,
    wsdlFile: path.join(wsdlDir, 'ServiceOwnerArchiveExternalStreamedBasic.wsdl'),
    // The reference WSDL imports these from `?xsd=xsd0..4`; serving them lets a client generated
    // from Altinn's own WSDL resolve its types here once the host is changed.
    schemaDocuments: Object.fromEntries([0, 1, 2, 3, 4].map((n) => [`xsd${n}`, path.join(xsdDir, `xsd${n}.xsd`)])),
    mapError: mapServiceOwnerError,
    operations: [
      testOperation,
      {
        name: 'GetAttachmentDataStreamedBasic',
        soapAction: GET_ATTACHMENT_SOAP_ACTION,
        request: contract.GetAttachmentDataStreamedBasic.request,
        response: contract.GetAttachmentDataStreamedBasic.response,
        handle: async (input, context) => {
          const user = await authenticate(app.authenticator, input.systemUserName, input.systemPassword, context);
          if (typeof input.attachmentId !== 'number') throw altinnFault(ERROR_ID.generic, 'The parameter attachmentId is required');
          const attachment = await getAttachment(app, { serviceOwnerId: user.serviceOwnerId, attachmentId: input.attachmentId });
          if ((await app.blobs.stat(attachment.blobKey)) !== attachment.sizeBytes) {
            throw altinnFault(ERROR_ID.generic, `The content of attachment ${attachment.attachmentId} is not available`);
          }
          return { GetAttachmentDataStreamedBasicResult: attachmentPart(app.blobs, attachment) };
        },
      },
    ],
  };
}
