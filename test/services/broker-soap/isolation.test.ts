/**
 * Isolation on the SOAP broker: a system user of another organisation gets no file and no hint that
 * one exists (the answers for a real reference equal those for a made-up one); transfers on a
 * service without an Altinn 2 code do not exist for this door; delegations let a system user act
 * for another organisation, and only while they last.
 */
import { randomUUID } from 'node:crypto';
import { addDelegation, removeDelegation } from '../../../src/auth/system-user-delegations';
import { altinnFault, members, ORGS, startBrokerSoapServer, uploadHeadersFor, zipFile, type BrokerSoapServer, type SoapReply, type SystemUser } from './support';

let soap: BrokerSoapServer;
/** Published to ORGS.recipient. */
let published: string;
/** Initiated by ORGS.sender, nothing uploaded. */
let initiatedOnly: string;

beforeAll(async () => {
  soap = await startBrokerSoapServer();
  published = await soap.send();
  initiatedOnly = await soap.initiated();
});
afterAll(() => soap.close());

const listFor = (user: SystemUser, reportee = user.orgNumber, fileStatus = 'Uploaded') => soap.listed(user, { reportee, fileStatus });

/** The fault with the reference masked and the per-fault GUID left out: what tells one answer from another. */
function visibleFault(reply: SoapReply, reference: string) {
  const { ErrorGuid: _guid, ...rest } = altinnFault(reply);
  const masked = JSON.stringify(rest).split(reference).join('<reference>');
  return { status: reply.status, fault: JSON.parse(masked) as unknown, faultstring: members(reply.bodyElement).faultstring!.split(reference).join('<reference>') };
}

test('a system user of another organisation gets no file and no hint that it exists', async () => {
  const { stranger } = soap.users;
  const madeUp = randomUUID();
  expect(await listFor(stranger)).toEqual([]);
  expect(await listFor(stranger, stranger.orgNumber, 'Downloaded')).toEqual([]);
  const check = await soap.check(stranger);
  expect(members(check.bodyElement).CheckIfAvailableFilesBasicResult).toBe('false');

  for (const [operation, call] of [
    ['download', soap.download],
    ['confirm', soap.confirm],
  ] as const) {
    const real = visibleFault(await call(stranger, published), published);
    const unknown = visibleFault(await call(stranger, madeUp), madeUp);
    expect({ operation, ...real }).toEqual({ operation, ...unknown });
    expect(real.fault).toMatchObject({ ErrorID: 40212 });
  }
  // An upload onto another organisation's initiated transfer.
  const real = visibleFault(await soap.upload(uploadHeadersFor(stranger, initiatedOnly)), initiatedOnly);
  expect(real).toEqual(visibleFault(await soap.upload(uploadHeadersFor(stranger, madeUp)), madeUp));
  expect(real.fault).toMatchObject({ ErrorID: 40212 });

  // Nothing changed for the real parties.
  expect(await listFor(soap.users.recipient)).toContain(published);
  const overview = await soap.broker.call('GET', `/filetransfer/${initiatedOnly}`, { token: soap.broker.tokens.sender });
  expect(overview.json.fileTransferStatus).toBe('Initialized');
});

test('a transfer on a service without an Altinn 2 code does not exist for the SOAP door', async () => {
  const altinn3Only = await soap.broker.configureResource({});
  const reference = await soap.broker.publish(await zipFile(), { resourceId: altinn3Only });
  const { recipient } = soap.users;
  expect(await listFor(recipient)).not.toContain(reference);
  const unknown = visibleFault(await soap.download(recipient, randomUUID()), 'x');
  const reply = await soap.download(recipient, reference);
  expect(altinnFault(reply).ErrorID).toBe(40212);
  expect(visibleFault(reply, reference).faultstring).toBe(unknown.faultstring.replace(/'[0-9a-f-]{36}'/, "'<reference>'"));
  expect(altinnFault(await soap.confirm(recipient, reference)).ErrorID).toBe(40212);
});

test('a delegation lets a system user act for another organisation, and only while it lasts', async () => {
  // An IT provider's system user (its own organisation: recipient2) acting for the recipient.
  const provider = await soap.addSystemUser(ORGS.recipient2);
  const db = soap.broker.app.db;
  expect(altinnFault(await soap.download(provider, published, ORGS.recipient)).ErrorID).toBe(40211);

  expect(await addDelegation(db, { userName: provider.userName, orgNumber: ORGS.recipient, now: new Date() })).toBe(true);
  expect(await listFor(provider, ORGS.recipient)).toContain(published);
  // Its own organisation's list does not include the delegated organisation's files.
  expect(await listFor(provider)).not.toContain(published);
  const check = await soap.check(provider, { recipients: [ORGS.recipient2, ORGS.recipient] });
  expect(members(check.bodyElement).CheckIfAvailableFilesBasicResult).toBe('true');
  const downloaded = await soap.download(provider, published, ORGS.recipient);
  expect(downloaded.status).toBe(200);

  expect(await removeDelegation(db, { userName: provider.userName, orgNumber: ORGS.recipient })).toBe(true);
  expect(altinnFault(await soap.download(provider, published, ORGS.recipient)).ErrorID).toBe(40211);
  expect(altinnFault(await soap.confirm(provider, published, ORGS.recipient)).ErrorID).toBe(40211);
});
