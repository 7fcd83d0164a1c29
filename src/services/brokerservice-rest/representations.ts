/**
 * What the Altinn 2 REST brokerservice API writes (CONTRACT §9): the file object
 * (`BrokerServiceAvailableFile`) and the pseudo-receipt, PascalCase, members in Altinn's order,
 * times as Norwegian local time without an offset. The values come from src/broker/altinn2/
 * (status, receipts); this file only lays them out. With `Accept: application/hal+json` a file
 * object ends with `_links` (plain URL strings, as Altinn 2's draft had them).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { formatNorwegianLocalTime } from '../../broker/altinn2/norwegian-time';
import type { LegacyFileStatus } from '../../broker/altinn2/file-status';
import type { LegacyFileTransfer } from '../../broker/altinn2/legacy-file-transfer';
import type { PseudoReceipt } from '../../broker/altinn2/receipts';
import { orgNumberOf } from '../../broker/parties';

export const HAL_JSON = 'application/hal+json';
export const PLAIN_JSON = 'application/json';

/** HAL when the client asks for it; plain JSON otherwise (Altinn 2 broker clients send `accept: application/json`). */
export function wantsHal(request: FastifyRequest): boolean {
  return (request.headers.accept ?? '').toLowerCase().includes(HAL_JSON);
}

export function jsonType(request: FastifyRequest): string {
  return `${wantsHal(request) ? HAL_JSON : PLAIN_JSON}; charset=utf-8`;
}

/** JSON as given: members in the order they were put in, nulls written. */
export function sendJson(request: FastifyRequest, reply: FastifyReply, status: number, body: unknown): FastifyReply {
  return reply.code(status).type(jsonType(request)).send(JSON.stringify(body));
}

/** `https://host/api/{who}/brokerservice` as the client wrote {who}. */
export function serviceUrl(request: FastifyRequest, who: string): string {
  return `${request.publicBaseUrl}/api/${encodeURIComponent(who)}/brokerservice`;
}

export type Box = 'outbox' | 'inbox';

export function fileUrl(request: FastifyRequest, who: string, box: Box, fileReference: string): string {
  return `${serviceUrl(request, who)}/${box}/${fileReference}`;
}

export function fileObject(file: Pick<LegacyFileTransfer, 'transfer' | 'serviceCode' | 'serviceEditionCode'>, status: LegacyFileStatus, links?: { request: FastifyRequest; who: string; box: Box }): Record<string, unknown> {
  const { transfer } = file;
  const body: Record<string, unknown> = {
    ServiceCode: file.serviceCode,
    ServiceEditionCode: file.serviceEditionCode,
    FileName: transfer.fileName,
    FileReference: transfer.fileTransferId,
    FileSize: transfer.fileTransferSize,
    FileStatus: status,
    ReceiptID: 0,
    Sender: orgNumberOf(transfer.sender),
    SentDate: formatNorwegianLocalTime(transfer.created),
    SendersReference: transfer.sendersFileTransferReference,
  };
  if (links && wantsHal(links.request)) {
    const self = fileUrl(links.request, links.who, links.box, transfer.fileTransferId);
    body._links = { self, receipt: `${self}/receipt`, ...(links.box === 'inbox' && { download: `${self}/download` }) };
  }
  return body;
}

/** The ten members of a receipt, always all of them; Altinn 3 has no receipts, so the ids are 0 and the rest null. */
export function receiptJson(receipt: PseudoReceipt): Record<string, unknown> {
  return {
    ReceiptID: 0,
    ParentReceiptID: null,
    LastChanged: formatNorwegianLocalTime(receipt.lastChanged),
    Status: receipt.status,
    Text: receipt.text,
    SendersReference: null,
    ServiceOwnerPartyReference: null,
    PartyReference: receipt.partyReference,
    ReceiptHistory: null,
    SubReceipts: receipt.subReceipts === null ? null : receipt.subReceipts.map(receiptJson),
  };
}
