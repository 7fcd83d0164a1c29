/** How to call the server with the demo data: printed by `serve` on first start and by `demo`. */
import type { DemoInfo } from './seed';

import { SOAP_ACTION_PREFIX } from '../services/download-queue/contract';
import { DOWNLOAD_QUEUE_PATH } from '../services/download-queue/endpoint';
import { STREAMED_ARCHIVE_PATH as STREAMED_PATH } from '../services/streamed-archive/endpoint';

const GET_ITEMS_ACTION = `${SOAP_ACTION_PREFIX}GetDownloadQueueItems`;

/** A URL a person can paste: a wildcard listen address becomes localhost. */
export function reachableBaseUrl(url: string): string {
  const parsed = new URL(url);
  if (['0.0.0.0', '[::]', '::'].includes(parsed.hostname)) parsed.hostname = 'localhost';
  return parsed.origin;
}

export function formatDemoInstructions(demo: DemoInfo, baseUrl: string): string {
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
  ].join('\n');
}
