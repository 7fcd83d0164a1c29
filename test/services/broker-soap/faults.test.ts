/**
 * Every way the SOAP broker refuses a call (altinn2-broker CONTRACT §7, §13), over real HTTP with
 * Metro-shaped requests: the AltinnFault with its ErrorID and all seven members, HTTP 500. Refused
 * uploads leave the transfer ready for another attempt.
 *
 * 40209 (stopped by the virus scan), 40216 (security level) and the end-user IDs 0/989 for persons
 * have no path here: uploads are scanned after the answer (a file that fails shows up only by its
 * absence, CONTRACT §12), and only system users call these services.
 */
import { addDelegation } from '../../../src/auth/system-user-delegations';
import { addResourceAccess } from '../../../src/broker/resource-access';
import { child, isNilElement } from '../../helpers/soap-client';
import {
  ACTIONS,
  altinnFault,
  envelope,
  members,
  mtomBody,
  NS,
  ORGS,
  soapCall,
  startBrokerSoapServer,
  STREAMED_PATH,
  uploadHeadersFor,
  uploadHeadersXml,
  zipFile,
  type BrokerSoapServer,
  type SoapReply,
  type SystemUser,
} from './support';

let soap: BrokerSoapServer;
/** A service whose access list holds only ORGS.sender and ORGS.recipient. */
const RESTRICTED = { code: '5001', edition: 1 };
/** A service that takes files of at most 200 bytes. */
const SMALL = { code: '5002', edition: 2 };

beforeAll(async () => {
  soap = await startBrokerSoapServer({ config: { auth: { maxFailedAttempts: 3, lockSeconds: 600, verifiedCacheSeconds: 0 } } });
  const restricted = await soap.broker.configureResource({ externalServiceCodeLegacy: RESTRICTED.code, externalServiceEditionCodeLegacy: RESTRICTED.edition });
  await addResourceAccess(soap.broker.app.broker, restricted, `0192:${ORGS.sender}`);
  await addResourceAccess(soap.broker.app.broker, restricted, `0192:${ORGS.recipient}`);
  await soap.broker.configureResource({ externalServiceCodeLegacy: SMALL.code, externalServiceEditionCodeLegacy: SMALL.edition, maxFileTransferSize: 200 });
  // The sender's system user may also act for recipient2.
  await addDelegation(soap.broker.app.db, { userName: soap.users.sender.userName, orgNumber: ORGS.recipient2, now: new Date() });
});
afterAll(() => soap.close());

function expectFault(reply: SoapReply, errorId: number, message?: string | RegExp): void {
  const fault = altinnFault(reply);
  expect(fault.ErrorID).toBe(errorId);
  if (message !== undefined) expect(fault.AltinnErrorMessage).toMatch(message);
  expect(fault.AltinnLocalizedErrorMessage).toBe(fault.AltinnErrorMessage);
  expect(fault.ErrorGuid).toMatch(/^[0-9a-f-]{36}$/);
  expect(fault.UserId).toBeNull();
  expect(fault.UserGuid).toBeNull();
  expect(members(reply.bodyElement).faultcode).toBe('s:Client');
}

describe('989: credentials', () => {
  test('a wrong password, an unknown user or missing credentials: "Incorrect username/password", on every operation', async () => {
    const reference = '0f5d7b0e-2f8c-4e7e-9d61-1f3c8a1b2c3d';
    const calls: ((user: SystemUser) => Promise<SoapReply>)[] = [
      (user) => soap.initiate(user),
      (user) => soap.getAvailableFiles(user),
      (user) => soap.check(user),
      (user) => soap.confirm(user, reference),
      (user) => soap.download(user, reference),
      (user) => soap.upload(uploadHeadersFor(user, reference)),
    ];
    for (const call of calls) {
      // A user of its own for each wrong password: three failures would lock it.
      const wrong = { ...(await soap.addSystemUser(ORGS.sender)), password: 'not the password' };
      expectFault(await call(wrong), 989, /^Incorrect username\/password$/);
      // Unknown names are counted like existing ones: a fresh one for each call too.
      expectFault(await call({ ...wrong, userName: `nobody-at-all-${calls.indexOf(call)}` }), 989, /^Incorrect username\/password$/);
    }
    // Nil headers (Metro sends a null as xsi:nil).
    expectFault(await soap.upload({ reference, reportee: ORGS.sender, userName: null, password: null }), 989, /^Incorrect username\/password$/);
  });

  test('after repeated failures the name is locked from that address, even with the right password; an unknown name alike', async () => {
    const user = await soap.addSystemUser(ORGS.sender);
    for (let i = 0; i < 3; i++) expectFault(await soap.initiate({ ...user, password: 'wrong' }), 989);
    expectFault(await soap.initiate(user), 989, /^Too many failed logins for this system user name from this address: try again after /);
    const unknown = { ...user, userName: 'nobody-locked' };
    for (let i = 0; i < 3; i++) expectFault(await soap.initiate({ ...unknown, password: 'wrong' }), 989);
    expectFault(await soap.initiate(unknown), 989, /^Too many failed logins for this system user name from this address: try again after /);
  });
});

describe('Initiate', () => {
  test('40210: a service code that names no broker service, a missing code, or edition 0', async () => {
    const { sender } = soap.users;
    expectFault(await soap.initiate(sender, { serviceCode: '9999' }), 40210, /No broker service has service code 9999 and edition 270815/);
    expectFault(await soap.initiate(sender, { serviceCode: null }), 40210);
    expectFault(await soap.initiate(sender, { serviceEdition: 0 }), 40210);
  });

  test('40211: a Manifest Reportee the system user may not act for', async () => {
    expectFault(await soap.initiate(soap.users.sender, { reportee: ORGS.stranger }), 40211, `The system user '${soap.users.sender.userName}' is not authorised to act for ${ORGS.stranger}`);
  });

  test('40214: a Manifest Reportee that is not an organisation number', async () => {
    expectFault(await soap.initiate(soap.users.sender, { reportee: '01017012345' }), 40214, /national identity number/);
    expectFault(await soap.initiate(soap.users.sender, { reportee: '974760674' }), 40214, /check digit/);
    expectFault(await soap.initiate(soap.users.sender, { reportee: null }), 40214);
  });

  test('40201: the sender may not send on the service (not on its access list)', async () => {
    const other = await soap.addSystemUser(ORGS.recipient2);
    expectFault(await soap.initiate(other, { serviceCode: RESTRICTED.code, serviceEdition: RESTRICTED.edition, recipients: [ORGS.recipient] }), 40201);
  });

  test('40202: a recipient that is not an organisation, or may not receive on the service', async () => {
    const { sender } = soap.users;
    expectFault(await soap.initiate(sender, { recipients: ['12345'] }), 40202, /^RecipientList: /);
    expectFault(await soap.initiate(sender, { recipients: ['01017012345'] }), 40202, /national identity number/);
    expectFault(await soap.initiate(sender, { recipients: [] }), 40202, /One or more recipients are required/);
    expectFault(await soap.initiate(sender, { serviceCode: RESTRICTED.code, serviceEdition: RESTRICTED.edition, recipients: [ORGS.recipient2] }), 40202);
  });

  test('0: other input rules (a missing SendersReference, more than 10 properties)', async () => {
    const { sender } = soap.users;
    expectFault(await soap.initiate(sender, { sendersReference: null }), 0, /^Manifest\/SendersReference: /);
    const properties = Array.from({ length: 11 }, (_, i) => [`k${i}`, 'v'] as [string, string]);
    expectFault(await soap.initiate(sender, { properties }), 0, /^Manifest\/PropertyList: PropertyList can contain at most 10 properties/);
  });
});

describe('Upload', () => {
  test('40205: no DataStream, or an empty one; the transfer can still be uploaded', async () => {
    const { sender } = soap.users;
    const reference = await soap.initiated();
    expectFault(await soap.upload(uploadHeadersFor(sender, reference), Buffer.alloc(0)), 40205);
    const noData = `<StreamedPayloadBasicBE xmlns="${NS.svc}"/>`;
    const headers = uploadHeadersXml(uploadHeadersFor(sender, reference));
    expectFault(await soapCall(soap.url, STREAMED_PATH, ACTIONS.streamed('UploadFileStreamedBasic'), mtomBody(envelope(noData, headers))), 40205);
    expect((await soap.upload(uploadHeadersFor(sender, reference))).status).toBe(200);
  });

  test('40206: not a ZIP; the transfer can still be uploaded', async () => {
    const { sender } = soap.users;
    const reference = await soap.initiated();
    expectFault(await soap.upload(uploadHeadersFor(sender, reference), Buffer.from('{"not":"a zip"}')), 40206, 'The file is not a ZIP file');
    expect((await soap.upload(uploadHeadersFor(sender, reference))).status).toBe(200);
  });

  test('40204: larger than the service accepts; the transfer can still be uploaded', async () => {
    const { sender } = soap.users;
    const reference = await soap.initiated(sender, { serviceCode: SMALL.code, serviceEdition: SMALL.edition });
    expectFault(await soap.upload(uploadHeadersFor(sender, reference), await zipFile()), 40204);
    const tiny = await zipFile({ a: '' });
    expect(tiny.length).toBeLessThanOrEqual(200);
    expect((await soap.upload(uploadHeadersFor(sender, reference), tiny)).status).toBe(200);
  });

  test('40208: a file was already uploaded on the reference', async () => {
    const reference = await soap.send();
    expectFault(await soap.upload(uploadHeadersFor(soap.users.sender, reference)), 40208);
  });

  test('40212: a reference that names no broker file (unknown, malformed, missing)', async () => {
    const { sender } = soap.users;
    expectFault(await soap.upload(uploadHeadersFor(sender, '0f5d7b0e-2f8c-4e7e-9d61-1f3c8a1b2c3d')), 40212);
    expectFault(await soap.upload(uploadHeadersFor(sender, 'not-a-guid')), 40212);
    expectFault(await soap.upload({ ...uploadHeadersFor(sender, ''), reference: null }), 40212);
  });

  test('40213: the Reportee header is an organisation the user acts for, but not the sender', async () => {
    const reference = await soap.initiated();
    expectFault(await soap.upload(uploadHeadersFor(soap.users.sender, reference, ORGS.recipient2)), 40213, `The reportee ${ORGS.recipient2} is not the sender of file ${reference}`);
  });

  test('40211 and 40214: a Reportee header the user may not act for, or no organisation number', async () => {
    const reference = await soap.initiated();
    expectFault(await soap.upload(uploadHeadersFor(soap.users.sender, reference, ORGS.stranger)), 40211);
    expectFault(await soap.upload(uploadHeadersFor(soap.users.sender, reference, '01017012345')), 40214);
  });
});

describe('Download and Confirm', () => {
  test('40207: nothing uploaded yet', async () => {
    const reference = await soap.initiated();
    expectFault(await soap.download(soap.users.recipient, reference), 40207);
    expectFault(await soap.confirm(soap.users.recipient, reference), 40207);
  });

  test('40212: an unknown or malformed reference', async () => {
    for (const reference of ['0f5d7b0e-2f8c-4e7e-9d61-1f3c8a1b2c3d', 'garbage']) {
      expectFault(await soap.download(soap.users.recipient, reference), 40212);
      expectFault(await soap.confirm(soap.users.recipient, reference), 40212);
    }
  });

  test('40215: the reportee (one the user acts for) is not a recipient of the file', async () => {
    const reference = await soap.send();
    const { sender } = soap.users;
    expectFault(await soap.download(sender, reference, ORGS.sender), 40215, `The reportee ${ORGS.sender} is not a recipient of file ${reference}`);
    expectFault(await soap.confirm(sender, reference, ORGS.sender), 40215);
  });

  test('40211 and 40214: a reportee the user may not act for, or no organisation number', async () => {
    const reference = await soap.send();
    expectFault(await soap.download(soap.users.recipient, reference, ORGS.recipient2), 40211);
    expectFault(await soap.confirm(soap.users.recipient, reference, ORGS.recipient2), 40211);
    expectFault(await soap.download(soap.users.recipient, reference, '123'), 40214);
  });
});

describe('Get and Check', () => {
  test('40211: a reportee or recipient the user may not act for', async () => {
    const { recipient } = soap.users;
    expectFault(await soap.getAvailableFiles(recipient, { reportee: ORGS.sender }), 40211);
    expectFault(await soap.check(recipient, { recipients: [ORGS.recipient, ORGS.sender] }), 40211);
  });

  test('40210: a service code that names no broker service (fatal at the integrasjonspunkt\'s start-up, as on Altinn)', async () => {
    const { recipient } = soap.users;
    expectFault(await soap.getAvailableFiles(recipient, { serviceCode: '9999' }), 40210);
    expectFault(await soap.check(recipient, { serviceCode: '4192', serviceEdition: 1 }), 40210);
  });

  test('40214: a reportee that is not an organisation number', async () => {
    expectFault(await soap.getAvailableFiles(soap.users.recipient, { reportee: '01017012345' }), 40214);
    expectFault(await soap.check(soap.users.recipient, { recipients: ['abc'] }), 40214);
  });

  test('a FileStatus outside the enumeration is a plain Client fault (as a schema violation)', async () => {
    const reply = await soap.getAvailableFiles(soap.users.recipient, { fileStatus: 'Initialized' });
    expect(reply.status).toBe(500);
    expect(members(reply.bodyElement).faultstring).toBe("searchParameters/FileStatus must be Uploaded or Downloaded, not 'Initialized'");
    expect(() => child(reply.bodyElement, 'detail')).toThrow();
    expect(isNilElement(reply.bodyElement)).toBe(false);
  });
});
