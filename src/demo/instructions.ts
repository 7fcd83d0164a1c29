/** How to call the server with the demo data: printed by `serve` on first start and by `demo`. */
import { MAIN_FORM, type DemoInfo } from './seed';
import { brokerInstructions } from './broker';

import { SOAP_ACTION_PREFIX } from '../services/download-queue/contract';
import { DOWNLOAD_QUEUE_PATH } from '../services/download-queue/endpoint';
import { STREAMED_ARCHIVE_PATH as STREAMED_PATH } from '../services/streamed-archive/endpoint';

const GET_ITEMS_ACTION = `${SOAP_ACTION_PREFIX}GetDownloadQueueItems`;

/** A URL a person can paste: a wildcard listen address becomes localhost. */
export function reachableBaseUrl(url: string): string {
  const parsed = new URL(url);
  if (['0.0.0.0', '[::]', '::'].includes(parsed.hostname)) parsed.hostname = 'localhost';
  return parsed.toString().replace(/\/+$/, ''); // PUBLIC_URL may carry a path
}

/** How the printed commands get an end user's Bearer token. */
export interface DemoTokenSource {
  /** DATA_DIR of the server: `altinn-gateway token` signs with the issuer key kept there. */
  dataDir: string;
  /** Set when tokens come from an external issuer (JWT_JWKS_URL): the local token would be refused. */
  jwksUrl?: string | undefined;
}

/** A word as one shell argument (single quotes). */
function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

export function formatDemoInstructions(demo: DemoInfo, baseUrl: string, tokens: DemoTokenSource): string {
  const base = reachableBaseUrl(baseUrl);
  const envelope =
    '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>' +
    '<GetDownloadQueueItems xmlns="http://www.altinn.no/services/Archive/DownloadQueue/2012/08">' +
    `<systemUserName>${demo.systemUserName}</systemUserName><systemPassword>${demo.systemPassword}</systemPassword>` +
    `<serviceCode>${demo.serviceCode}</serviceCode></GetDownloadQueueItems></s:Body></s:Envelope>`;
  const tasks = demo.archiveReferences.length > 0 ? `, ${demo.archiveReferences.length} archived form tasks (${demo.archiveReferences.join(', ')})` : '';
  return [
    `Demo: service owner ${demo.orgNumber} (${demo.ownerName}), service ${demo.serviceCode} edition ${demo.serviceEditionCode} (${demo.serviceName})${tasks}.`,
    '',
    `  Base URL        ${base}`,
    `  WSDL            ${base}${DOWNLOAD_QUEUE_PATH}?wsdl`,
    `                  ${base}${STREAMED_PATH}?wsdl`,
    `  systemUserName  ${demo.systemUserName}`,
    `  systemPassword  ${demo.systemPassword}`,
    '',
    'List the download queue (SOAP 1.1):',
    '',
    `curl -sS ${base}${DOWNLOAD_QUEUE_PATH} \\`,
    `  -H 'Content-Type: text/xml; charset=utf-8' \\`,
    `  -H 'SOAPAction: "${GET_ITEMS_ACTION}"' \\`,
    `  --data-binary '${envelope}'`,
    '',
    ...restInstructions(demo, base, tokens),
    ...(demo.broker ? brokerInstructions(demo.broker, base, (org, scopes) => organisationTokenCommand(org, scopes, tokens)) : []),
  ].join('\n');
}

function organisationTokenCommand(orgNumber: string, scopes: string, tokens: DemoTokenSource): string {
  if (tokens.jwksUrl) return `echo 'a Maskinporten token of ${orgNumber} from your issuer'`;
  return `DATA_DIR=${shellQuote(tokens.dataDir)} npx altinn-gateway token --org ${orgNumber} --scope ${shellQuote(scopes)}`;
}

function restInstructions(demo: DemoInfo, base: string, tokens: DemoTokenSource): string[] {
  const message = {
    Type: 'FormTask',
    ServiceCode: demo.serviceCode,
    ServiceEdition: demo.serviceEditionCode,
    _embedded: {
      forms: [
        {
          Type: 'MainForm',
          DataFormatId: MAIN_FORM.dataFormatId,
          DataFormatVersion: MAIN_FORM.dataFormatVersion,
          FormData:
            `<Skjema dataFormatProvider="SERES" dataFormatId="${MAIN_FORM.dataFormatId}" dataFormatVersion="${MAIN_FORM.dataFormatVersion}">` +
            `<Innsender><Navn>Demo Person</Navn><Identifikator>${demo.person}</Identifikator></Innsender>` +
            '<Soknad><Tiltak>Sendt fra fagsystemet via REST-API</Tiltak><SoktBelop>10000</SoktBelop></Soknad></Skjema>',
        },
      ],
    },
  };
  const key = demo.apiKey
    ? [
        `  ApiKey          ${demo.apiKey}`,
        '                  (shown only now: only its hash is stored; make another with altinn-gateway apikey add --name …)',
      ]
    : [
        '  ApiKey          printed at the first start (only its hash is stored); make a new one with',
        '                  altinn-gateway apikey add --name "Mitt fagsystem"   (with the server stopped: one process per embedded database)',
      ];
  const token = tokens.jwksUrl
    ? [`TOKEN='a token of ${demo.person} from your issuer'   # JWT_JWKS_URL is set: the local issuer's tokens are refused`]
    : [`TOKEN=$(DATA_DIR=${shellQuote(tokens.dataDir)} npx altinn-gateway token --person ${demo.person} --level 4)`];
  const headers = `-H "ApiKey: $KEY" -H "Authorization: Bearer $TOKEN"`;
  return [
    'End-user REST messages API (browse it at ' + `${base}/api/help):`,
    '',
    `  API client      ${demo.apiClientName}`,
    ...key,
    `  Person          ${demo.person} (acts for themself as "my", and has a role for ${demo.orgNumber} ${demo.ownerName})`,
    '',
    `List the person's messages, then create and submit one for service ${demo.serviceCode} edition ${demo.serviceEditionCode} (it lands on the download queue):`,
    '',
    `KEY=${shellQuote(demo.apiKey ?? 'paste the key here')}`,
    ...token,
    `curl -sS ${headers} ${base}/api/my/messages`,
    `curl -sS ${headers} -H 'Content-Type: application/json' \\`,
    `  ${base}/api/my/messages --data-binary ${shellQuote(JSON.stringify(message))}`,
    '',
  ];
}
