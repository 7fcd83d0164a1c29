/** Namespace URIs of the SOAP envelopes and of the Altinn contracts (see CONTRACT.md). */
export const SOAP11_ENV = 'http://schemas.xmlsoap.org/soap/envelope/';
export const SOAP12_ENV = 'http://www.w3.org/2003/05/soap-envelope';
export const XSI = 'http://www.w3.org/2001/XMLSchema-instance';
export const XOP = 'http://www.w3.org/2004/08/xop/include';

/** Header namespaces we understand (accept with mustUnderstand="1"). */
export const WS_ADDRESSING_2005 = 'http://www.w3.org/2005/08/addressing';
export const WS_ADDRESSING_2004 = 'http://schemas.xmlsoap.org/ws/2004/08/addressing';
/** WS-Security: Basic endpoints carry credentials in the body; a Security header is accepted and ignored. */
export const WS_SECURITY = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd';

export const ALTINN = {
  /** WSDL target namespace: operation wrappers and their direct children. */
  svc: 'http://www.altinn.no/services/Archive/DownloadQueue/2012/08',
  dq: 'http://schemas.altinn.no/services/Archive/DownloadQueue/2012/08',
  sm: 'http://schemas.altinn.no/services/Archive/DownloadQueue/2019/01',
  ra: 'http://schemas.altinn.no/services/Archive/ReporteeArchive/2012/08',
  en: 'http://schemas.datacontract.org/2004/07/Altinn.Common.SBL.Enums.Archive',
  fault: 'http://www.altinn.no/services/common/fault/2009/10',
  base: 'http://www.altinn.no/services/2009/10',
  so: 'http://www.altinn.no/services/Archive/ServiceOwnerArchive/2013/06',
} as const;

/** The Altinn 2 broker contracts (BrokerServiceExternalBasic[Streamed], altinn2-broker CONTRACT §3). */
export const BROKER = {
  /** WSDL target namespace: operation wrappers, their direct children, the streamed headers and receipt. */
  svc: 'http://www.altinn.no/services/ServiceEngine/Broker/2015/06',
  bs: 'http://schemas.altinn.no/services/ServiceEngine/Broker/2015/06',
  /** BrokerServicePoll and its children. */
  p20: 'http://schemas.altinn.no/services/ServiceEngine/Broker/2020/01',
  arr: 'http://schemas.microsoft.com/2003/10/Serialization/Arrays',
} as const;

/** Prefixes of the DownloadQueue and archive contracts; declared once on their Envelopes. */
export const RESPONSE_PREFIXES: Record<string, string> = {
  [ALTINN.svc]: 'svc',
  [ALTINN.dq]: 'dq',
  [ALTINN.sm]: 'sm',
  [ALTINN.ra]: 'ra',
  [ALTINN.fault]: 'f',
  [ALTINN.base]: 'base',
  [ALTINN.so]: 'so',
  [XSI]: 'xsi',
  [XOP]: 'xop',
};

/** Every namespace we may write, with its prefix (unique across contracts, so tags can be built once). */
export const ALL_PREFIXES: Record<string, string> = {
  ...RESPONSE_PREFIXES,
  [BROKER.svc]: 'bsvc',
  [BROKER.bs]: 'bs',
  [BROKER.p20]: 'p20',
  [BROKER.arr]: 'arr',
};
