/** Domain values → the API's HAL representations (links are absolute, on the gateway's public address). */
import type { FastifyRequest } from 'fastify';
import {
  formatMessageId,
  STATUS,
  type MessageAttachment,
  type MessageDetails,
  type MessageForm,
  type MessageFormInfo,
  type MessageSummary,
} from '../../messages/types';
import { HAL_JSON, PLAIN_JSON } from './schemas';

export interface Links {
  /** `https://host/api/{who}/messages` as the client wrote {who}. */
  messages: string;
}

export function linksFor(request: FastifyRequest, who: string): Links {
  return { messages: `${request.publicBaseUrl}/api/${encodeURIComponent(who)}/messages` };
}

export function messageUrl(links: Links, messageId: number): string {
  return `${links.messages}/${formatMessageId(messageId)}`;
}

export function formUrl(links: Links, messageId: number, formId: number): string {
  return `${messageUrl(links, messageId)}/forms/${formId}`;
}

export function attachmentUrl(links: Links, messageId: number, attachmentId: number): string {
  return `${messageUrl(links, messageId)}/attachments/${attachmentId}`;
}

export function messageHal(links: Links, message: MessageSummary | MessageDetails): Record<string, unknown> {
  const self = messageUrl(links, message.messageId);
  const editable = message.status !== STATUS.archived;
  return {
    MessageId: formatMessageId(message.messageId),
    Type: 'FormTask',
    Subject: message.serviceName,
    Status: message.status,
    ServiceOwner: message.serviceOwnerName,
    ServiceCode: message.serviceCode,
    ServiceEdition: message.serviceEditionCode,
    CreatedDate: message.createdAt.toISOString(),
    CreatedBy: message.createdBy,
    LastChangedDateTime: message.lastChangedAt.toISOString(),
    LastChangedBy: message.lastChangedBy,
    ArchiveReference: message.archiveReference,
    ArchivedDate: message.archivedAt?.toISOString() ?? null,
    _links: {
      self: { href: self },
      forms: { href: `${self}/forms` },
      attachments: { href: `${self}/attachments` },
      ...(editable && {
        sign: { href: `${self}?complete=true&sign=true` },
        streamedattachment: { href: `${self}/attachments/streamedattachment` },
      }),
    },
    ...('forms' in message && {
      _embedded: {
        forms: message.forms.map((form) => formHal(links, message.messageId, form)),
        attachments: message.attachments.map((attachment) => attachmentHal(links, message.messageId, attachment)),
      },
    }),
  };
}

export function formHal(links: Links, messageId: number, form: MessageFormInfo | MessageForm): Record<string, unknown> {
  const self = formUrl(links, messageId, form.formId);
  return {
    FormId: form.formId,
    Type: form.type,
    DataFormatId: form.dataFormatId,
    DataFormatVersion: form.dataFormatVersion,
    ...('formData' in form && form.formData !== undefined && { FormData: form.formData }),
    _links: { self: { href: self }, formdata: { href: `${self}/formdata` }, message: { href: messageUrl(links, messageId) } },
  };
}

export function attachmentHal(links: Links, messageId: number, attachment: MessageAttachment): Record<string, unknown> {
  const self = attachmentUrl(links, messageId, attachment.attachmentId);
  return {
    AttachmentId: attachment.attachmentId,
    FileName: attachment.fileName,
    AttachmentType: attachment.attachmentType,
    MimeType: attachment.mimeType,
    FileSize: attachment.sizeBytes,
    Language: attachment.language,
    Sha256: attachment.sha256,
    IsEncrypted: attachment.isEncrypted,
    _links: { self: { href: self }, attachmentdata: { href: `${self}/attachmentdata` }, message: { href: messageUrl(links, messageId) } },
  };
}

export function halList(self: string, member: string, items: unknown[], extraLinks: Record<string, { href: string }> = {}): Record<string, unknown> {
  return { _links: { self: { href: self }, ...extraLinks }, _embedded: { [member]: items } };
}

/** application/hal+json unless the client asks for plain application/json only. */
export function mediaTypeFor(request: FastifyRequest): string {
  const accept = (request.headers.accept ?? '').toLowerCase();
  if (accept.includes(HAL_JSON)) return `${HAL_JSON}; charset=utf-8`;
  if (accept.includes(PLAIN_JSON)) return `${PLAIN_JSON}; charset=utf-8`;
  return `${HAL_JSON}; charset=utf-8`;
}
