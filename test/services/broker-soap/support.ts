/**
 * The Altinn 2 SOAP broker under test: a broker test server (test/helpers/broker.ts) whose resource
 * has an Altinn 2 service code, a system user for each organisation, and requests shaped as the
 * integrasjonspunkt's Metro (JAX-WS RI) client writes them (altinn2-broker CONTRACT §6, §11):
 * JAXB's namespace declarations, `xsi:nil` for nulls, `ArrayOfFile` instead of `FileList`, the
 * upload as chunked MTOM with its five headers in WSDL order, each declaring its own namespace,
 * and every call posted to `…svc?wsdl` with a quoted SOAPAction.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import yazl from 'yazl';
import { addServiceOwner } from '../../../src/archive/add-service-owner';
import { addSystemUser } from '../../../src/auth/system-users';
import type { Config } from '../../../src/config';
import { escapeText } from '../../../src/xml/writer';
import { childElements, textContent, type XmlElement } from '../../../src/xml/parser';
import { ORGS, startBrokerTestServer, type BrokerTestServer } from '../../helpers/broker';
import { binaryOf, child, children, isNilElement, parseSoapResponse, type SoapResult } from '../../helpers/soap-client';
import type { ResourceSettings } from '../../../src/broker/configure-resource';

export { ORGS };
export { sha256 } from '../../helpers/soap-client';

export const NS = {
  soap11: 'http://schemas.xmlsoap.org/soap/envelope/',
  svc: 'http://www.altinn.no/services/ServiceEngine/Broker/2015/06',
  bs: 'http://schemas.altinn.no/services/ServiceEngine/Broker/2015/06',
  p20: 'http://schemas.altinn.no/services/ServiceEngine/Broker/2020/01',
  arr: 'http://schemas.microsoft.com/2003/10/Serialization/Arrays',
  base: 'http://www.altinn.no/services/2009/10',
  fault: 'http://www.altinn.no/services/common/fault/2009/10',
  xsi: 'http://www.w3.org/2001/XMLSchema-instance',
  xop: 'http://www.w3.org/2004/08/xop/include',
};

export const BASIC_PATH = '/ServiceEngineExternal/BrokerServiceExternalBasic.svc';
export const STREAMED_PATH = '/ServiceEngineExternal/BrokerServiceExternalBasicStreamed.svc';
export const STREAMED_TYPO_PATH = '/ServiceEngineExternal/BrokerServiceExternalStreamedBasic.svc';

export const ACTIONS = {
  basic: (op: string) => `http://www.altinn.no/services/ServiceEngine/Broker/2015/06/IBrokerServiceExternalBasic/${op}`,
  streamed: (op: string) => `http://www.altinn.no/services/ServiceEngine/Broker/2015/06/IBrokerServiceExternalBasicStreamed/${op}`,
  test: 'http://www.altinn.no/services/2009/10/IAltinnContractBase/Test',
};

/** The integrasjonspunkt's defaults in tt02 (CONTRACT §11). */
export const SERVICE = { code: '4192', edition: 270815 };

export interface SystemUser {
  userName: string;
  password: string;
  orgNumber: string;
}

export interface BrokerSoapServer {
  broker: BrokerTestServer;
  url: string;
  users: { sender: SystemUser; recipient: SystemUser; recipient2: SystemUser; stranger: SystemUser };
  /** Adds an organisation account (as `owner add`) with a system user. */
  addSystemUser(orgNumber: string, userName?: string): Promise<SystemUser>;
  /** A Basic operation (`operationXml` from initiateXml, checkXml, …): plain SOAP 1.1 to …Basic.svc?wsdl. */
  basic(op: string, operationXml: string): Promise<SoapReply>;
  initiate(user: SystemUser, options?: InitiateOptions): Promise<SoapReply>;
  /** Initiate (default: as the sender), expecting 200: the new file reference. */
  initiated(user?: SystemUser, options?: InitiateOptions): Promise<string>;
  /** UploadFileStreamedBasic with these headers and `zip` (default: a fresh ZIP). */
  upload(headers: UploadHeaders, zip?: Buffer): Promise<SoapReply>;
  /** Initiate + upload as the integrasjonspunkt does (default: as the sender, a fresh ZIP), expecting 200 for both: the reference. */
  send(zip?: Buffer, user?: SystemUser, options?: InitiateOptions): Promise<string>;
  check(user: SystemUser, options?: CheckOptions): Promise<SoapReply>;
  getAvailableFiles(user: SystemUser, options?: SearchOptions): Promise<SoapReply>;
  /** The FileReferences GetAvailableFilesBasic lists for `user`, expecting 200. */
  listed(user: SystemUser, options?: SearchOptions): Promise<string[]>;
  /** DownloadFileStreamedBasic, MTOM-wrapped as Metro sends it. */
  download(user: SystemUser, reference: string, reportee?: string): Promise<SoapReply>;
  confirm(user: SystemUser, reference: string, reportee?: string): Promise<SoapReply>;
  /** As the recipient's integrasjonspunkt: Check (true), Get (lists it), Download (200), Confirm (200): the bytes downloaded. */
  receive(reference: string, user?: SystemUser): Promise<Buffer>;
  close(): Promise<void>;
}

export async function startBrokerSoapServer(options: { config?: Partial<Config>; resource?: ResourceSettings } = {}): Promise<BrokerSoapServer> {
  const broker = await startBrokerTestServer({
    config: options.config,
    resource: { externalServiceCodeLegacy: SERVICE.code, externalServiceEditionCodeLegacy: SERVICE.edition, ...options.resource },
  });
  const addUser = async (orgNumber: string, userName = `system-${orgNumber}-${randomUUID().slice(0, 6)}`): Promise<SystemUser> => {
    const existing = await broker.app.db('service_owners').where({ org_number: orgNumber }).first<{ id: number } | undefined>('id');
    const serviceOwnerId = existing?.id ?? (await addServiceOwner(broker.app.db, { orgNumber, name: `Organisation ${orgNumber}` })).serviceOwnerId;
    const password = `pw-${randomUUID()}`;
    await addSystemUser(broker.app.db, { serviceOwnerId, userName, password });
    return { userName, password, orgNumber };
  };
  const users = {
    sender: await addUser(ORGS.sender),
    recipient: await addUser(ORGS.recipient),
    recipient2: await addUser(ORGS.recipient2),
    stranger: await addUser(ORGS.stranger),
  };
  const url = broker.url;
  const basic = (op: string, operationXml: string) => soapCall(url, BASIC_PATH, ACTIONS.basic(op), plainBody(envelope(operationXml)));
  const initiate = (user: SystemUser, initiateOptions?: InitiateOptions) => basic('InitiateBrokerServiceBasic', initiateXml(user, initiateOptions));
  const initiated = async (user = users.sender, initiateOptions?: InitiateOptions) => {
    const reply = await initiate(user, initiateOptions);
    expect(reply.status).toBe(200);
    return initiatedReference(reply);
  };
  const upload = async (headers: UploadHeaders, zip?: Buffer) =>
    soapCall(url, STREAMED_PATH, ACTIONS.streamed('UploadFileStreamedBasic'), uploadBody(headers, zip ?? (await zipFile())));
  const check = (user: SystemUser, checkOptions?: CheckOptions) => basic('CheckIfAvailableFilesBasic', checkXml(user, checkOptions));
  const getAvailableFiles = (user: SystemUser, search?: SearchOptions) => basic('GetAvailableFilesBasic', getAvailableFilesXml(user, search));
  const download = (user: SystemUser, reference: string, reportee?: string) =>
    soapCall(url, STREAMED_PATH, ACTIONS.streamed('DownloadFileStreamedBasic'), mtomBody(envelope(downloadXml(user, reference, reportee))));
  const confirm = (user: SystemUser, reference: string, reportee?: string) => basic('ConfirmDownloadedBasic', confirmXml(user, reference, reportee));
  return {
    broker,
    url,
    users,
    addSystemUser: addUser,
    basic,
    initiate,
    initiated,
    upload,
    send: async (zip?: Buffer, user = users.sender, initiateOptions?: InitiateOptions) => {
      const reference = await initiated(user, initiateOptions);
      expect((await upload(uploadHeadersFor(user, reference), zip)).status).toBe(200);
      return reference;
    },
    check,
    getAvailableFiles,
    listed: async (user: SystemUser, search?: SearchOptions) => {
      const reply = await getAvailableFiles(user, search);
      expect(reply.status).toBe(200);
      return listedReferences(reply);
    },
    download,
    confirm,
    receive: async (reference: string, recipient = users.recipient) => {
      expect(members((await check(recipient)).bodyElement).CheckIfAvailableFilesBasicResult).toBe('true');
      expect(listedReferences(await getAvailableFiles(recipient))).toContain(reference);
      const downloaded = await download(recipient, reference);
      expect(downloaded.status).toBe(200);
      const bytes = binaryOf(downloaded, child(downloaded.bodyElement, 'DownloadFileStreamedBasicResult'))!;
      expect((await confirm(recipient, reference)).status).toBe(200);
      return bytes;
    },
    close: () => broker.close(),
  };
}

// ---- requests as Metro writes them ----

function element(name: string, value: string | number | null | undefined): string {
  if (value === undefined) return '';
  if (value === null) return `<${name} xsi:nil="true"/>`;
  return `<${name}>${escapeText(String(value))}</${name}>`;
}

export function envelope(bodyXml: string, headerXml = ''): string {
  return `<?xml version="1.0" ?><S:Envelope xmlns:S="${NS.soap11}">${headerXml ? `<S:Header>${headerXml}</S:Header>` : ''}<S:Body>${bodyXml}</S:Body></S:Envelope>`;
}

/** A Basic operation's wrapper as JAXB marshals it: svc children prefixed ns2, bs types unprefixed. */
function basicOperation(op: string, inner: string): string {
  return `<ns2:${op} xmlns="${NS.bs}" xmlns:ns2="${NS.svc}" xmlns:ns3="${NS.p20}" xmlns:ns4="${NS.arr}" xmlns:xsi="${NS.xsi}">${inner}</ns2:${op}>`;
}

function credentials(user: Pick<SystemUser, 'userName' | 'password'>): string {
  return element('ns2:systemUserName', user.userName) + element('ns2:systemPassword', user.password);
}

export interface InitiateOptions {
  serviceCode?: string | null;
  serviceEdition?: number | null;
  reportee?: string | null;
  sendersReference?: string | null;
  recipients?: (string | null)[];
  /** How the file list is sent: the integrasjonspunkt's misnamed ArrayOfFile (default), FileList, or none. */
  fileList?: { as: 'ArrayOfFile' | 'FileList'; names: string[] } | null;
  properties?: [string, string][];
}

export function initiateXml(user: SystemUser, options: InitiateOptions = {}): string {
  const fileList = options.fileList === undefined ? { as: 'ArrayOfFile' as const, names: ['sbd.zip'] } : options.fileList;
  const manifest =
    element('ExternalServiceCode', options.serviceCode === undefined ? SERVICE.code : options.serviceCode) +
    element('ExternalServiceEditionCode', options.serviceEdition === undefined ? SERVICE.edition : options.serviceEdition) +
    (fileList ? `<${fileList.as}>${fileList.names.map((name) => `<File>${element('FileName', name)}</File>`).join('')}</${fileList.as}>` : '') +
    (options.properties
      ? `<PropertyList>${options.properties.map(([k, v]) => `<Property>${element('PropertyKey', k)}${element('PropertyValue', v)}</Property>`).join('')}</PropertyList>`
      : '') +
    element('Reportee', options.reportee === undefined ? user.orgNumber : options.reportee) +
    element('SendersReference', options.sendersReference === undefined ? randomUUID() : options.sendersReference);
  const recipients = (options.recipients ?? [ORGS.recipient]).map((r) => `<Recipient>${element('PartyNumber', r)}</Recipient>`).join('');
  return basicOperation(
    'InitiateBrokerServiceBasic',
    `${credentials(user)}<ns2:brokerServiceInitiation><Manifest>${manifest}</Manifest><RecipientList>${recipients}</RecipientList></ns2:brokerServiceInitiation>`,
  );
}

export interface SearchOptions {
  serviceCode?: string | null;
  serviceEdition?: number | null;
  fileStatus?: string;
  reportee?: string | null;
  minSentDateTime?: string;
  maxSentDateTime?: string;
}

export function getAvailableFilesXml(user: SystemUser, options: SearchOptions = {}): string {
  const search =
    element('ExternalServiceCode', options.serviceCode === undefined ? SERVICE.code : options.serviceCode) +
    element('ExternalServiceEditionCode', options.serviceEdition === undefined ? SERVICE.edition : options.serviceEdition) +
    element('FileStatus', options.fileStatus ?? 'Uploaded') +
    element('MaxSentDateTime', options.maxSentDateTime) +
    element('MinSentDateTime', options.minSentDateTime) +
    element('Reportee', options.reportee === undefined ? user.orgNumber : options.reportee);
  return basicOperation('GetAvailableFilesBasic', `${credentials(user)}<ns2:searchParameters>${search}</ns2:searchParameters>`);
}

export interface CheckOptions {
  serviceCode?: string | null;
  serviceEdition?: number | null;
  recipients?: string[];
}

export function checkXml(user: SystemUser, options: CheckOptions = {}): string {
  const poll =
    element('ns3:ExternalServiceCode', options.serviceCode === undefined ? SERVICE.code : options.serviceCode) +
    element('ns3:ExternalServiceEditionCode', options.serviceEdition === undefined ? SERVICE.edition : options.serviceEdition) +
    `<ns3:Recipients>${(options.recipients ?? [user.orgNumber]).map((r) => element('ns4:string', r)).join('')}</ns3:Recipients>`;
  return basicOperation('CheckIfAvailableFilesBasic', `${credentials(user)}<ns2:pollParameters>${poll}</ns2:pollParameters>`);
}

export function confirmXml(user: SystemUser, fileReference: string, reportee: string = user.orgNumber): string {
  return basicOperation('ConfirmDownloadedBasic', `${credentials(user)}${element('ns2:fileReference', fileReference)}${element('ns2:reportee', reportee)}`);
}

export function downloadXml(user: SystemUser, fileReference: string, reportee: string = user.orgNumber): string {
  return `<DownloadFileStreamedBasic xmlns="${NS.svc}">${element('systemUserName', user.userName)}${element('systemPassword', user.password)}${element('fileReference', fileReference)}${element('reportee', reportee)}</DownloadFileStreamedBasic>`;
}

export interface UploadHeaders {
  fileName?: string | null;
  reference: string | null;
  reportee?: string | null;
  password?: string | null;
  userName?: string | null;
}

/** The five headers in WSDL order, each declaring its namespace, nulls as xsi:nil (Metro's -XadditionalHeaders output). */
export function uploadHeadersXml(headers: UploadHeaders): string {
  const values: [string, string | null][] = [
    ['FileName', headers.fileName === undefined ? 'sbd.zip' : headers.fileName],
    ['Reference', headers.reference],
    ['Reportee', headers.reportee ?? null],
    ['SystemPassword', headers.password ?? null],
    ['SystemUserName', headers.userName ?? null],
  ];
  return values
    .map(([name, value]) =>
      value === null
        ? `<${name} xmlns="${NS.svc}" xmlns:xsi="${NS.xsi}" xsi:nil="true"/>`
        : `<${name} xmlns="${NS.svc}">${escapeText(value)}</${name}>`,
    )
    .join('');
}

export function uploadHeadersFor(user: SystemUser, reference: string, reportee = user.orgNumber): UploadHeaders {
  return { reference, reportee, password: user.password, userName: user.userName };
}

// ---- transport ----

const METRO_BOUNDARY = () => `uuid:${randomUUID()}`;

export interface Body {
  contentType: string;
  chunks: AsyncIterable<Buffer> | Iterable<Buffer>;
}

/** A plain SOAP 1.1 request, as Metro sends the Basic (non-MTOM) service's calls. */
export function plainBody(xml: string): Body {
  return { contentType: 'text/xml; charset=utf-8', chunks: [Buffer.from(xml, 'utf8')] };
}

/** An MTOM request as Metro frames it: root part first; `binary` (if any) as the second part, streamed. */
export function mtomBody(xml: string, binary?: { contentId: string; chunks: AsyncIterable<Buffer> | Iterable<Buffer> }): Body {
  const boundary = METRO_BOUNDARY();
  const rootId = `rootpart*${randomUUID()}@example.jaxws.sun.com`;
  async function* chunks(): AsyncGenerator<Buffer> {
    yield Buffer.from(
      `--${boundary}\r\nContent-Id: <${rootId}>\r\nContent-Type: application/xop+xml;charset=utf-8;type="text/xml"\r\nContent-Transfer-Encoding: binary\r\n\r\n${xml}`,
    );
    if (binary) {
      yield Buffer.from(`\r\n--${boundary}\r\nContent-Type: application/octet-stream\r\nContent-ID: <${binary.contentId}>\r\nContent-Transfer-Encoding: binary\r\n\r\n`);
      for await (const chunk of binary.chunks) yield chunk;
    }
    yield Buffer.from(`\r\n--${boundary}--`);
  }
  return {
    contentType: `multipart/related;start="<${rootId}>";type="application/xop+xml";boundary="${boundary}";start-info="text/xml"`,
    chunks: chunks(),
  };
}

/** UploadFileStreamedBasic as the integrasjonspunkt sends it: headers, the ZIP as an XOP part. */
export function uploadBody(headers: UploadHeaders, zip: Buffer | AsyncIterable<Buffer>): Body {
  const contentId = `${randomUUID()}@example.jaxws.sun.com`;
  const xml = envelope(
    `<StreamedPayloadBasicBE xmlns="${NS.svc}"><DataStream><xop:Include xmlns:xop="${NS.xop}" href="cid:${contentId}"/></DataStream></StreamedPayloadBasicBE>`,
    uploadHeadersXml(headers),
  );
  return mtomBody(xml, { contentId, chunks: Buffer.isBuffer(zip) ? splitChunks(zip, 8192) : zip });
}

function* splitChunks(bytes: Buffer, size: number): Generator<Buffer> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
  if (bytes.length === 0) return;
}

export interface SoapReply extends SoapResult {
  rawHeaders: http.IncomingHttpHeaders;
}

/** POSTs chunked (no Content-Length, as Metro with a chunk size set) to `path` (default: with `?wsdl`, as the integrasjonspunkt). */
export function soapCall(baseUrl: string, path: string, action: string, body: Body, options: { query?: string } = {}): Promise<SoapReply> {
  return new Promise((resolve, reject) => {
    const url = new URL(`${path}${options.query ?? '?wsdl'}`, baseUrl);
    const request = http.request(
      url,
      { method: 'POST', headers: { 'content-type': body.contentType, soapaction: `"${action}"`, 'transfer-encoding': 'chunked', accept: 'text/xml, multipart/related' } },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', reject);
        response.on('end', () => {
          try {
            const headers = new Headers();
            for (const [name, value] of Object.entries(response.headers)) if (typeof value === 'string') headers.set(name, value);
            const parsed = parseSoapResponse({ status: response.statusCode!, headers, body: Buffer.concat(chunks) });
            resolve({ ...parsed, rawHeaders: response.headers });
          } catch (error) {
            reject(error);
          }
        });
      },
    );
    request.on('error', reject);
    void (async () => {
      try {
        for await (const chunk of body.chunks) if (!request.write(chunk)) await new Promise((r) => request.once('drain', r));
        request.end();
      } catch (error) {
        request.destroy(error as Error);
      }
    })();
  });
}

// ---- reading answers ----

export interface AltinnFaultDetail {
  AltinnErrorMessage: string | null;
  AltinnExtendedErrorMessage: string | null;
  AltinnLocalizedErrorMessage: string | null;
  ErrorGuid: string | null;
  ErrorID: number;
  UserGuid: string | null;
  UserId: string | null;
}

/** The AltinnFault of a fault answer, every member (in schema order), nil as null. */
export function altinnFault(reply: SoapReply): AltinnFaultDetail {
  expect(reply.status).toBe(500);
  expect(reply.bodyElement.local).toBe('Fault');
  const detail = child(reply.bodyElement, 'detail');
  const fault = child(detail, 'AltinnFault', NS.fault);
  const members = childElements(fault);
  expect(members.map((m) => m.local)).toEqual([
    'AltinnErrorMessage',
    'AltinnExtendedErrorMessage',
    'AltinnLocalizedErrorMessage',
    'ErrorGuid',
    'ErrorID',
    'UserGuid',
    'UserId',
  ]);
  const value = (m: XmlElement) => (isNilElement(m) ? null : textContent(m));
  const out = Object.fromEntries(members.map((m) => [m.local, value(m)])) as Record<string, string | null>;
  return { ...(out as unknown as AltinnFaultDetail), ErrorID: Number(out.ErrorID) };
}

/** The members of an element as { name: text | null } (nil → null). */
export function members(element: XmlElement): Record<string, string | null> {
  return Object.fromEntries(childElements(element).map((m) => [m.local, isNilElement(m) ? null : textContent(m)]));
}

/** The file reference an InitiateBrokerServiceBasic answer gives. */
export function initiatedReference(reply: SoapReply): string {
  return members(reply.bodyElement).InitiateBrokerServiceBasicResult!;
}

/** The BrokerServiceAvailableFile elements of a GetAvailableFilesBasic answer. */
export function availableFiles(reply: SoapReply): XmlElement[] {
  return children(child(reply.bodyElement, 'GetAvailableFilesBasicResult'), 'BrokerServiceAvailableFile');
}

/** The FileReferences a GetAvailableFilesBasic answer lists, in order. */
export function listedReferences(reply: SoapReply): string[] {
  return availableFiles(reply).map((file) => members(file).FileReference!);
}

/** A ZIP like the integrasjonspunkt's (sbd.json and more), different every time unless the entries are given. */
export async function zipFile(entries: Record<string, string | Buffer> = { 'sbd.json': `{"standardBusinessDocument":"${randomUUID()}"}`, 'asic.zip': randomBytes(2048) }): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const [name, content] of Object.entries(entries)) zip.addBuffer(Buffer.isBuffer(content) ? content : Buffer.from(content, 'utf8'), name);
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}
