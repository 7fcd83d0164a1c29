/**
 * The search's query string (CONTRACT §2.4) as the domain takes it: enums by name in any case or
 * by number, dates with an offset, `resourceId` required; bad values are validation problems.
 */
import { BrokerError } from '../../broker/errors';
import type { SearchFileTransfersRequest } from '../../broker/search-file-transfers';
import { FILE_TRANSFER_STATUSES, RECIPIENT_STATUSES } from '../../broker/types';
import { booleanParameter, dateTimeParameter, enumParameter, queryValue, requiredParameter } from './json';

/** Role names only: Altinn's role numbers are not part of the contract, so a number is refused before this is consulted. */
const ROLES = { Sender: { number: Number.NaN }, Recipient: { number: Number.NaN }, Both: { number: Number.NaN } };

/** The search's query as the domain takes it; 'matches nothing' for a status number with no name. */
export function searchRequestOf(query: unknown): SearchFileTransfersRequest | 'matches nothing' {
  const resourceId = queryValue(query, 'resourceId');
  if (resourceId === undefined || resourceId.trim() === '') throw requiredParameter('resourceId');
  const request: SearchFileTransfersRequest = { resourceId };
  let matchesNothing = false;
  const status = queryValue(query, 'status');
  if (status !== undefined && status !== '') {
    const name = enumParameter('status', status, FILE_TRANSFER_STATUSES);
    if (name === null) matchesNothing = true;
    else request.status = name;
  }
  const recipientStatus = queryValue(query, 'recipientStatus');
  if (recipientStatus !== undefined && recipientStatus !== '') {
    const name = enumParameter('recipientStatus', recipientStatus, RECIPIENT_STATUSES);
    if (name === null) matchesNothing = true;
    else request.recipientStatus = name;
  }
  const from = queryValue(query, 'from');
  if (from !== undefined && from !== '') request.from = dateTimeParameter('from', from);
  const to = queryValue(query, 'to');
  if (to !== undefined && to !== '') request.to = dateTimeParameter('to', to);
  const orderAscending = queryValue(query, 'orderAscending');
  if (orderAscending !== undefined && orderAscending !== '') request.orderAscending = booleanParameter('orderAscending', orderAscending);
  const role = queryValue(query, 'role');
  if (role !== undefined && role !== '') {
    // Altinn's role enum is read by name only here: its numbers are not part of the contract.
    if (/^-?\d+$/.test(role.trim())) throw new BrokerError('InvalidInput', `role: ${role}`, { errors: { role: [`The value '${role}' is not valid for role.`] } });
    const name = enumParameter('role', role, ROLES);
    if (name === 'Sender' || name === 'Recipient') request.role = name;
  }
  return matchesNothing ? 'matches nothing' : request;
}
