/**
 * The routes of /api/{who}/messages. Each handler resolves the reportee (`{who}`), calls one use
 * case in src/messages/ and maps the result to HAL. Schemas (schemas.ts) validate the request and
 * document the operation in /api/openapi.json.
 */
import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { addAttachment, addStreamedAttachment } from '../../messages/add-attachment';
import { addForm } from '../../messages/add-form';
import type { IncomingAttachment, IncomingForm } from '../../messages/content';
import { createMessage } from '../../messages/create-message';
import { deleteAttachment } from '../../messages/delete-attachment';
import { deleteForm } from '../../messages/delete-form';
import { MessageError, messageNotFound } from '../../messages/errors';
import { getAttachment, listAttachments, openAttachmentData } from '../../messages/get-attachment';
import { getForm, listForms } from '../../messages/get-form';
import { getMessage } from '../../messages/get-message';
import { listMessages, MAX_PAGE_SIZE } from '../../messages/list-messages';
import { replaceForm } from '../../messages/replace-form';
import { replaceMessage } from '../../messages/replace-message';
import { resolveReportee } from '../../messages/reportees';
import { parseMessageId, parseNumericId, type FormType, type MessageContext, type Reportee } from '../../messages/types';
import { endUserOf } from './auth';
import { attachmentHal, attachmentUrl, formHal, formUrl, halList, linksFor, mediaTypeFor, messageHal, messageUrl, type Links } from './hal';
import {
  attachmentBody,
  attachmentListSchema,
  attachmentParams,
  attachmentSchema,
  createMessageBody,
  formBody,
  formListSchema,
  formParams,
  formSchema,
  jsonContent,
  languageQuery,
  listQuery,
  locationHeader,
  messageListSchema,
  messageParams,
  messageSchema,
  replaceMessageBody,
  responses,
  streamedFileBody,
  streamedQuery,
  submitQuery,
  whoParams,
} from './schemas';

interface FormJson {
  Type?: FormType;
  DataFormatId: string;
  DataFormatVersion: number;
  FormData: string;
}

interface AttachmentJson {
  FileName: string;
  AttachmentType: string;
  Data: string;
}

interface MessageJson {
  Type?: 'FormTask';
  ServiceCode?: string;
  ServiceEdition?: number;
  _embedded?: { forms?: FormJson[]; attachments?: AttachmentJson[] };
}

interface SubmitQuery {
  complete: boolean;
  sign: boolean;
  language?: number;
}

type Params = { who: string; messageId: string; formId: string; attachmentId: string };

export function registerMessageRoutes(api: FastifyInstance, ctx: MessageContext, maxJsonBytes: number): void {
  /** The caller, whom they act for, URL builders, and the message id (when the route has one). */
  async function scope(request: FastifyRequest) {
    const params = request.params as Partial<Params>;
    const actor = endUserOf(request);
    const reportee: Reportee = await resolveReportee(ctx.db, actor, params.who!);
    const links = linksFor(request, params.who!);
    let messageId = 0;
    if (params.messageId !== undefined) {
      const parsed = parseMessageId(params.messageId);
      if (parsed === undefined) throw messageNotFound(params.messageId);
      messageId = parsed;
    }
    return { actor, reportee, links, messageId };
  }

  const send = (request: FastifyRequest, reply: FastifyReply, status: number, body: unknown) =>
    reply.code(status).type(mediaTypeFor(request)).send(body);

  const created = (request: FastifyRequest, reply: FastifyReply, location: string, body: unknown) =>
    send(request, reply.header('location', location), 201, body);

  const messageBody = async (links: Links, reportee: Reportee, messageId: number) => messageHal(links, await getMessage(ctx, reportee, messageId));

  // ---- messages ----

  api.get('/:who/messages', {
    schema: {
      tags: ['messages'],
      summary: "List the reportee's messages (form tasks), newest first",
      description: `At most ${MAX_PAGE_SIZE} per page; header X-Warning-LimitReached when the list was cut at that limit.`,
      params: whoParams,
      querystring: listQuery,
      response: responses({ 200: { description: 'A page of messages', schema: messageListSchema } }),
    },
  }, async (request, reply) => {
    const { reportee, links } = await scope(request);
    const query = request.query as { $top?: number; $skip: number };
    const page = await listMessages(ctx, reportee, { top: query.$top, skip: query.$skip });
    const size = Math.min(query.$top ?? MAX_PAGE_SIZE, MAX_PAGE_SIZE);
    if (page.limitReached) reply.header('x-warning-limitreached', String(MAX_PAGE_SIZE));
    const next: Record<string, { href: string }> = page.hasMore ? { next: { href: `${links.messages}?$top=${size}&$skip=${query.$skip + size}` } } : {};
    return send(request, reply, 200, halList(links.messages, 'messages', page.messages.map((m) => messageHal(links, m)), next));
  });

  api.post('/:who/messages', {
    bodyLimit: maxJsonBytes,
    schema: {
      tags: ['messages'],
      summary: 'Create a form task: instantiate, and by default sign and archive it',
      description:
        'complete=false leaves it "Utfylling", sign=false "Signering" (sign later with PUT). Base64 attachments may come along; ' +
        'large ones are added afterwards with .../attachments/streamedattachment. Refused requests store nothing.',
      params: whoParams,
      querystring: submitQuery,
      body: jsonContent(createMessageBody),
      response: responses({ 201: { description: 'Created; Location holds its URL', schema: messageSchema, headers: locationHeader } }),
    },
  }, async (request, reply) => {
    const { actor, reportee, links } = await scope(request);
    const body = request.body as MessageJson;
    const query = request.query as SubmitQuery;
    const { messageId } = await createMessage(
      ctx,
      actor,
      reportee,
      {
        serviceCode: body.ServiceCode!,
        serviceEditionCode: body.ServiceEdition!,
        forms: toForms(body._embedded?.forms ?? []),
        attachments: toAttachments(body._embedded?.attachments ?? []),
        language: query.language === undefined ? null : String(query.language),
      },
      query,
    );
    return created(request, reply, messageUrl(links, messageId), await messageBody(links, reportee, messageId));
  });

  api.get('/:who/messages/:messageId', {
    schema: {
      tags: ['messages'],
      summary: 'Get a message with its forms and attachments (no form data or bytes)',
      params: messageParams,
      response: responses({ 200: { description: 'The message', schema: messageSchema } }),
    },
  }, async (request, reply) => {
    const { reportee, links, messageId } = await scope(request);
    return send(request, reply, 200, await messageBody(links, reportee, messageId));
  });

  api.put('/:who/messages/:messageId', {
    bodyLimit: maxJsonBytes,
    schema: {
      tags: ['messages'],
      summary: 'Replace forms and attachments, then fill in further, await signing, or sign and archive',
      description:
        'Defaults complete=true and sign=true: the message is signed by the caller (security level from the login) and archived ' +
        '("Sendt og arkivert"), onto the service owner\'s DownloadQueue. `_embedded.forms` / `_embedded.attachments` each replace ' +
        'the whole collection when present and keep it when left out. An archived message cannot change (409).',
      params: messageParams,
      querystring: submitQuery,
      body: jsonContent(replaceMessageBody),
      response: responses({ 200: { description: 'The message as it is now', schema: messageSchema } }),
    },
  }, async (request, reply) => {
    const { actor, reportee, links, messageId } = await scope(request);
    const body = (request.body ?? {}) as MessageJson;
    const query = request.query as SubmitQuery;
    await replaceMessage(
      ctx,
      actor,
      reportee,
      messageId,
      {
        serviceCode: body.ServiceCode,
        serviceEditionCode: body.ServiceEdition,
        forms: body._embedded?.forms && toForms(body._embedded.forms),
        attachments: body._embedded?.attachments && toAttachments(body._embedded.attachments),
        language: query.language === undefined ? null : String(query.language),
      },
      query,
    );
    return send(request, reply, 200, await messageBody(links, reportee, messageId));
  });

  // ---- forms ----

  api.get('/:who/messages/:messageId/forms', {
    schema: {
      tags: ['forms'],
      summary: "The message's forms (without form data)",
      params: messageParams,
      response: responses({ 200: { description: 'The forms, main form first', schema: formListSchema } }),
    },
  }, async (request, reply) => {
    const { reportee, links, messageId } = await scope(request);
    const forms = await listForms(ctx, reportee, messageId);
    return send(request, reply, 200, halList(`${messageUrl(links, messageId)}/forms`, 'forms', forms.map((f) => formHal(links, messageId, f))));
  });

  api.post('/:who/messages/:messageId/forms', {
    bodyLimit: maxJsonBytes,
    schema: {
      tags: ['forms'],
      summary: 'Add a sub form',
      params: messageParams,
      body: jsonContent(formBody),
      response: responses({ 201: { description: 'Added; Location holds its URL', schema: formSchema, headers: locationHeader } }),
    },
  }, async (request, reply) => {
    const { actor, reportee, links, messageId } = await scope(request);
    const form = toForm(request.body as FormJson, 'SubForm');
    const { formId } = await addForm(ctx, actor, reportee, messageId, form);
    return created(request, reply, formUrl(links, messageId, formId), formHal(links, messageId, await getForm(ctx, reportee, messageId, formId)));
  });

  api.get('/:who/messages/:messageId/forms/:formId', {
    schema: {
      tags: ['forms'],
      summary: 'One form, with its form data',
      params: formParams,
      response: responses({ 200: { description: 'The form', schema: formSchema } }),
    },
  }, async (request, reply) => {
    const { reportee, links, messageId } = await scope(request);
    const formId = numericId((request.params as Params).formId, 'form');
    return send(request, reply, 200, formHal(links, messageId, await getForm(ctx, reportee, messageId, formId)));
  });

  api.get('/:who/messages/:messageId/forms/:formId/formdata', {
    schema: {
      tags: ['forms'],
      summary: "One form's data, as XML",
      params: formParams,
      response: responses({ 200: { description: 'The form data', content: { 'application/xml': { schema: { type: 'string' } } } } }),
    },
  }, async (request, reply) => {
    const { reportee, messageId } = await scope(request);
    const formId = numericId((request.params as Params).formId, 'form');
    const form = await getForm(ctx, reportee, messageId, formId);
    return reply.code(200).type('application/xml; charset=utf-8').send(form.formData);
  });

  api.put('/:who/messages/:messageId/forms/:formId', {
    bodyLimit: maxJsonBytes,
    schema: {
      tags: ['forms'],
      summary: "Replace a form's data format and data (it keeps its Type)",
      params: formParams,
      body: jsonContent(formBody),
      response: responses({ 200: { description: 'The form as it is now', schema: formSchema } }),
    },
  }, async (request, reply) => {
    const { actor, reportee, links, messageId } = await scope(request);
    const formId = numericId((request.params as Params).formId, 'form');
    const json = request.body as FormJson;
    await replaceForm(ctx, actor, reportee, messageId, formId, { ...toForm(json, 'SubForm'), type: json.Type });
    reply.header('location', formUrl(links, messageId, formId));
    return send(request, reply, 200, formHal(links, messageId, await getForm(ctx, reportee, messageId, formId)));
  });

  api.delete('/:who/messages/:messageId/forms/:formId', {
    schema: {
      tags: ['forms'],
      summary: 'Remove a sub form',
      params: formParams,
      response: responses({ 204: { description: 'Removed' } }),
    },
  }, async (request, reply) => {
    const { actor, reportee, messageId } = await scope(request);
    await deleteForm(ctx, actor, reportee, messageId, numericId((request.params as Params).formId, 'form'));
    return reply.code(204).send();
  });

  // ---- attachments ----

  api.get('/:who/messages/:messageId/attachments', {
    schema: {
      tags: ['attachments'],
      summary: "The message's attachments",
      params: messageParams,
      response: responses({ 200: { description: 'The attachments', schema: attachmentListSchema } }),
    },
  }, async (request, reply) => {
    const { reportee, links, messageId } = await scope(request);
    const attachments = await listAttachments(ctx, reportee, messageId);
    return send(
      request,
      reply,
      200,
      halList(`${messageUrl(links, messageId)}/attachments`, 'attachments', attachments.map((a) => attachmentHal(links, messageId, a))),
    );
  });

  api.post('/:who/messages/:messageId/attachments', {
    bodyLimit: maxJsonBytes,
    schema: {
      tags: ['attachments'],
      summary: 'Add an attachment sent as base64 in JSON',
      description: 'For large files use POST .../attachments/streamedattachment.',
      params: messageParams,
      querystring: languageQuery,
      body: jsonContent(attachmentBody),
      response: responses({ 201: { description: 'Added; Location holds its URL', schema: attachmentSchema, headers: locationHeader } }),
    },
  }, async (request, reply) => {
    const { actor, reportee, links, messageId } = await scope(request);
    const json = request.body as AttachmentJson;
    const language = (request.query as { language?: number }).language;
    const { attachmentId } = await addAttachment(ctx, actor, reportee, messageId, {
      fileName: json.FileName,
      attachmentType: json.AttachmentType,
      data: json.Data,
      language: language === undefined ? null : String(language),
    });
    const attachment = await getAttachment(ctx, reportee, messageId, attachmentId);
    return created(request, reply, attachmentUrl(links, messageId, attachmentId), attachmentHal(links, messageId, attachment));
  });

  api.post('/:who/messages/:messageId/attachments/streamedattachment', {
    config: { streamedBody: true },
    schema: {
      tags: ['attachments'],
      summary: 'Add an attachment: the request body is the file (application/octet-stream), streamed to storage',
      description:
        "fileName and attachmentType are URL-encoded query parameters. The service's size limit is enforced as the bytes arrive: " +
        'a larger body is refused (400 AttachmentTooLarge) and nothing is kept; so is a body the client stops sending halfway.',
      params: messageParams,
      querystring: streamedQuery,
      body: streamedFileBody,
      response: responses({ 201: { description: 'Added; Location holds its URL', schema: attachmentSchema, headers: locationHeader } }),
    },
  }, async (request, reply) => {
    const { actor, reportee, links, messageId } = await scope(request);
    const query = request.query as { fileName: string; attachmentType: string; language?: number };
    const body = request.body as Readable | undefined;
    if (!body || typeof (body as Readable).iterator !== 'function') {
      throw new MessageError('invalid', 'InvalidRequest', 'body: send the file as the request body with Content-Type: application/octet-stream');
    }
    const length = request.headers['content-length'];
    const { attachmentId } = await addStreamedAttachment(
      ctx,
      actor,
      reportee,
      messageId,
      { fileName: query.fileName, attachmentType: query.attachmentType, language: query.language === undefined ? null : String(query.language) },
      {
        // Not destroyed when the upload is refused halfway: the refusal still has to be answered on this connection.
        source: body.iterator({ destroyOnReturn: false }) as AsyncIterable<Uint8Array>,
        declaredLength: length !== undefined && /^\d+$/.test(length) ? Number(length) : undefined,
      },
    );
    const attachment = await getAttachment(ctx, reportee, messageId, attachmentId);
    return created(request, reply, attachmentUrl(links, messageId, attachmentId), attachmentHal(links, messageId, attachment));
  });

  api.get('/:who/messages/:messageId/attachments/:attachmentId', {
    schema: {
      tags: ['attachments'],
      summary: "One attachment's description",
      params: attachmentParams,
      response: responses({ 200: { description: 'The attachment', schema: attachmentSchema } }),
    },
  }, async (request, reply) => {
    const { reportee, links, messageId } = await scope(request);
    const attachmentId = numericId((request.params as Params).attachmentId, 'attachment');
    return send(request, reply, 200, attachmentHal(links, messageId, await getAttachment(ctx, reportee, messageId, attachmentId)));
  });

  api.get('/:who/messages/:messageId/attachments/:attachmentId/attachmentdata', {
    schema: {
      tags: ['attachments'],
      summary: "One attachment's bytes",
      params: attachmentParams,
      response: responses({ 200: { description: 'The file', content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } } }),
    },
  }, async (request, reply) => {
    const { reportee, messageId } = await scope(request);
    const attachmentId = numericId((request.params as Params).attachmentId, 'attachment');
    const { attachment, open } = await openAttachmentData(ctx, reportee, messageId, attachmentId);
    return reply
      .code(200)
      .type(attachment.mimeType)
      .header('content-length', String(attachment.sizeBytes))
      .header('content-disposition', `attachment; filename*=UTF-8''${encodeURIComponent(attachment.fileName)}`)
      .send(open());
  });

  api.delete('/:who/messages/:messageId/attachments/:attachmentId', {
    schema: {
      tags: ['attachments'],
      summary: 'Remove an attachment',
      params: attachmentParams,
      response: responses({ 204: { description: 'Removed' } }),
    },
  }, async (request, reply) => {
    const { actor, reportee, messageId } = await scope(request);
    await deleteAttachment(ctx, actor, reportee, messageId, numericId((request.params as Params).attachmentId, 'attachment'));
    return reply.code(204).send();
  });
}

function numericId(text: string, what: 'form' | 'attachment'): number {
  const id = parseNumericId(text);
  if (id === undefined) throw new MessageError('not_found', 'NotFound', `No ${what} '${text}'`);
  return id;
}

/** Forms of a whole message: without Type, the first is the main form and the rest sub forms. */
function toForms(forms: FormJson[]): IncomingForm[] {
  return forms.map((form, index) => toForm(form, index === 0 ? 'MainForm' : 'SubForm'));
}

function toForm(form: FormJson, defaultType: FormType): IncomingForm {
  return { type: form.Type ?? defaultType, dataFormatId: form.DataFormatId, dataFormatVersion: form.DataFormatVersion, formData: form.FormData };
}

function toAttachments(attachments: AttachmentJson[]): IncomingAttachment[] {
  return attachments.map((a) => ({ fileName: a.FileName, attachmentType: a.AttachmentType, data: a.Data }));
}
