/**
 * The broker part of the demo: a resource owned by a demo service owner, with an Altinn 2 service
 * code (so the Altinn 2 doors reach it too) and two organisations on its access list, and a curl
 * walk-through of one transfer (initialize, upload, overview, download, confirm) with organisation
 * tokens from the gateway's own issuer; then one through the Altinn 2 REST brokerservice API, by
 * the demo's REST person, who has roles for both organisations.
 */
import type { App } from '../app';
import { addRole } from '../auth/roles';
import { configureResource } from '../broker/configure-resource';
import { addResourceAccess } from '../broker/resource-access';
import { findResource } from '../broker/resources';
import { toPartyId } from '../broker/parties';
import { DEMO } from './seed';

export const BROKER_DEMO = {
  resourceId: 'demo-formidling',
  serviceOwner: '983887457',
  sender: { orgNumber: '991825827', name: 'Avsender AS' },
  recipient: { orgNumber: '974760673', name: 'Mottaker AS' },
  legacyServiceCode: '4747',
  legacyServiceEditionCode: 1,
} as const;

export interface BrokerDemoInfo {
  resourceId: string;
  serviceOwner: string;
  sender: string;
  recipient: string;
  legacyServiceCode: string;
  legacyServiceEditionCode: number;
}

function info(): BrokerDemoInfo {
  return {
    resourceId: BROKER_DEMO.resourceId,
    serviceOwner: BROKER_DEMO.serviceOwner,
    sender: BROKER_DEMO.sender.orgNumber,
    recipient: BROKER_DEMO.recipient.orgNumber,
    legacyServiceCode: BROKER_DEMO.legacyServiceCode,
    legacyServiceEditionCode: BROKER_DEMO.legacyServiceEditionCode,
  };
}

/** The demo resource if it exists. */
export async function findBrokerDemo(app: App): Promise<BrokerDemoInfo | undefined> {
  return (await findResource(app.db, BROKER_DEMO.resourceId)) ? info() : undefined;
}

/** Configures the demo resource and its access list (idempotent). */
export async function seedBrokerDemo(app: App): Promise<BrokerDemoInfo> {
  const owner = { orgNumber: BROKER_DEMO.serviceOwner, partyId: toPartyId(BROKER_DEMO.serviceOwner) };
  await configureResource(app.broker, owner, BROKER_DEMO.resourceId, {
    externalServiceCodeLegacy: BROKER_DEMO.legacyServiceCode,
    externalServiceEditionCodeLegacy: BROKER_DEMO.legacyServiceEditionCode,
  });
  for (const party of [BROKER_DEMO.sender.orgNumber, BROKER_DEMO.recipient.orgNumber]) await addResourceAccess(app.broker, BROKER_DEMO.resourceId, toPartyId(party));
  // The Altinn 2 REST walk-through: the REST person acts for the sender, then for the recipient.
  for (const orgNumber of [BROKER_DEMO.sender.orgNumber, BROKER_DEMO.recipient.orgNumber]) await addRole(app.db, { person: DEMO.person, orgNumber });
  return info();
}

/** The curl walk-through, with `token` the shell command that prints an organisation token. */
export function brokerInstructions(demo: BrokerDemoInfo, base: string, token: (orgNumber: string, scopes: string) => string): string[] {
  const api = `${base}/broker/api/v1`;
  const initialize = JSON.stringify({
    resourceId: demo.resourceId,
    fileName: 'hei.txt',
    sendersFileTransferReference: 'demo-1',
    sender: `0192:${demo.sender}`,
    recipients: [`0192:${demo.recipient}`],
  });
  return [
    `Broker file transfer (Altinn 3 Broker API; browse it at ${base}/api/help): resource ${demo.resourceId} of service owner ${demo.serviceOwner},`,
    `sender ${demo.sender} (${BROKER_DEMO.sender.name}) and recipient ${demo.recipient} (${BROKER_DEMO.recipient.name}); Altinn 2 service ${demo.legacyServiceCode} edition ${demo.legacyServiceEditionCode}.`,
    '',
    `SENDER=$(${token(demo.sender, 'altinn:broker.write altinn:broker.read')})`,
    `RECIPIENT=$(${token(demo.recipient, 'altinn:broker.read')})`,
    `ID=$(curl -sS -H "Authorization: Bearer $SENDER" -H 'Content-Type: application/json' ${api}/filetransfer \\`,
    `  --data-binary '${initialize}' | sed -E 's/.*"fileTransferId":"([^"]+)".*/\\1/')`,
    `echo 'Hei fra Avsender AS' | curl -sS -H "Authorization: Bearer $SENDER" -H 'Content-Type: application/octet-stream' --data-binary @- ${api}/filetransfer/$ID/upload`,
    `curl -sS -H "Authorization: Bearer $SENDER" ${api}/filetransfer/$ID`,
    `curl -sS -H "Authorization: Bearer $RECIPIENT" ${api}/filetransfer/$ID/download`,
    `curl -sS -o /dev/null -w '%{http_code}\\n' -X POST -H "Authorization: Bearer $RECIPIENT" ${api}/filetransfer/$ID/confirmdownload`,
    '',
    ...altinn2RestInstructions(demo, base),
  ];
}

/** The same exchange through the Altinn 2 REST brokerservice API, with $KEY and $TOKEN of the REST walk-through. */
function altinn2RestInstructions(demo: BrokerDemoInfo, base: string): string[] {
  const description = JSON.stringify({
    ServiceCode: demo.legacyServiceCode,
    ServiceEditionCode: demo.legacyServiceEditionCode,
    SendersReference: 'demo-a2',
    Recipients: [demo.recipient],
  });
  const headers = `-H "ApiKey: $KEY" -H "Authorization: Bearer $TOKEN"`;
  return [
    `Altinn 2 REST brokerservice API, same transfers: ${DEMO.person} (KEY and TOKEN as above) sends for ${demo.sender} and receives for ${demo.recipient}:`,
    '',
    `REF=$(echo 'Hei fra Altinn 2' | curl -sS ${headers} -H 'Content-Type: application/zip' --data-binary @- \\`,
    `  '${base}/api/${demo.sender}/brokerservice/outbox?fileName=hei.txt&brokerServiceDescription=${encodeURIComponent(description)}' \\`,
    `  | sed -E 's/.*"FileReference":"([^"]+)".*/\\1/')`,
    `curl -sS ${headers} ${base}/api/${demo.sender}/brokerservice/outbox/$REF/receipt`,
    `curl -sS ${headers} '${base}/api/${demo.recipient}/brokerservice/inbox?serviceCode=${demo.legacyServiceCode}&serviceEditionCode=${demo.legacyServiceEditionCode}'`,
    `curl -sS ${headers} ${base}/api/${demo.recipient}/brokerservice/inbox/$REF/download`,
    `curl -sS ${headers} -X POST ${base}/api/${demo.recipient}/brokerservice/inbox/$REF/confirmdownloaded`,
    '',
  ];
}
