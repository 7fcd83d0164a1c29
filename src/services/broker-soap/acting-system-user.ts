/**
 * Who a broker SOAP call acts for: the system user signs in with its name and password (the
 * DownloadQueue's authenticator, lock-out included), and each reportee it names must be its own
 * organisation or one delegated to it (src/auth/system-user-delegations.ts). The reportee becomes
 * the broker caller (`0192:<orgnr>`), so the domain's isolation applies unchanged.
 */
import type { App } from '../../app';
import { actingOrganisations, mayActFor, type ActingOrganisations } from '../../auth/system-user-delegations';
import { AuthenticationError } from '../../auth/system-users';
import { legacyView } from '../../broker/altinn2/legacy-file-transfer';
import { loadFileTransfer } from '../../broker/file-transfer-store';
import { findResource } from '../../broker/resources';
import { isBrokerError } from '../../broker/errors';
import type { BrokerCaller, BrokerResource, FileTransfer } from '../../broker/types';
import { isNationalIdentityNumber, orgNumberOf, orgNumberProblem, toPartyId } from '../../broker/parties';
import type { OperationContext } from '../../soap/endpoint';
import type { SoapFault } from '../../soap/fault';
import { BROKER_ERROR_ID, brokerFault } from './faults';

export interface ActingSystemUser {
  userName: string;
  organisations: ActingOrganisations;
}

export async function signIn(app: App, userName: unknown, password: unknown, context: OperationContext): Promise<ActingSystemUser> {
  const user = await app.authenticator.authenticate(
    typeof userName === 'string' ? userName : null,
    typeof password === 'string' ? password : null,
    context.clientAddress,
  );
  const organisations = await actingOrganisations(app.db, user.systemUserId);
  // Removed between the two reads: the same answer as a wrong name.
  if (!organisations) throw new AuthenticationError('invalid_credentials', 'Invalid system user name or password');
  return { userName: user.userName, organisations };
}

/** The broker caller for a reportee the system user names; 40214 when it is not an organisation number, 40211 when not allowed. */
export function actFor(user: ActingSystemUser, reportee: unknown, member: string): BrokerCaller {
  const orgNumber = typeof reportee === 'string' ? reportee.trim() : '';
  if (!orgNumber) throw brokerFault(BROKER_ERROR_ID.invalidReportee, `${member} is required: the organisation number acted for`);
  if (isNationalIdentityNumber(orgNumber)) {
    throw brokerFault(BROKER_ERROR_ID.invalidReportee, `${member}: a national identity number cannot use the broker; only organisations can`);
  }
  const problem = orgNumberProblem(orgNumber);
  if (problem) throw brokerFault(BROKER_ERROR_ID.invalidReportee, `${member}: '${orgNumber.slice(0, 20)}' is not a valid organisation number (${problem})`);
  if (!mayActFor(user.organisations, orgNumber)) {
    throw brokerFault(BROKER_ERROR_ID.notAuthorisedForReportee, `The system user '${user.userName}' is not authorised to act for ${orgNumber}`);
  }
  return { partyId: toPartyId(orgNumber), orgNumber };
}

/**
 * The fault for a reference the domain did not find for this reportee in this role. Whether the
 * file exists is said only when the system user acts for one of its parties (then: wrong reportee,
 * 40213/40215); otherwise it answers exactly like a reference that does not exist (40212).
 */
export async function fileNotFoundFault(app: App, user: ActingSystemUser, reference: string, caller: BrokerCaller, role: 'Sender' | 'Recipient'): Promise<SoapFault> {
  const transfer = await loadFileTransfer(app.db, reference);
  const resource = transfer && (await findResource(app.db, transfer.resourceId));
  const parties = transfer && resource && reachable(transfer, resource) ? [transfer.sender, ...transfer.recipients.map((r) => r.recipient)] : [];
  if (!parties.some((party) => mayActFor(user.organisations, orgNumberOf(party)))) {
    return brokerFault(BROKER_ERROR_ID.notABrokerFile, `No broker file has the reference '${reference.slice(0, 100)}'`);
  }
  return role === 'Sender'
    ? brokerFault(BROKER_ERROR_ID.reporteeNotSender, `The reportee ${caller.orgNumber} is not the sender of file ${reference}`)
    : brokerFault(BROKER_ERROR_ID.reporteeNotRecipient, `The reportee ${caller.orgNumber} is not a recipient of file ${reference}`);
}

/** A transfer on a service without an Altinn 2 code does not exist for this door at all (legacyView's rule). */
function reachable(transfer: FileTransfer, resource: BrokerResource): boolean {
  try {
    legacyView(transfer, resource);
    return true;
  } catch (error) {
    if (isBrokerError(error, 'FileTransferNotFound')) return false;
    throw error;
  }
}
