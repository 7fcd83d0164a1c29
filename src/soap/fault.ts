/**
 * SOAP faults. Application errors carry an AltinnFault in the fault detail (what generated clients
 * map to their AltinnFaultFault exception); protocol errors (malformed XML, unsupported content,
 * unknown mustUnderstand headers) are plain SOAP faults. Both are sent with HTTP 500.
 */
import { randomUUID } from 'node:crypto';
import { escapeText } from '../xml/writer';
import { ALTINN } from './namespaces';
import { field, type ElementDescriptor } from './schema';
import { writeElement, XmlOutput } from './serializer';

export type FaultCode = 'Client' | 'Server' | 'MustUnderstand' | 'VersionMismatch';

export interface AltinnFaultDetail {
  errorId: number;
  message: string;
  extendedMessage?: string | null;
  localizedMessage?: string | null;
}

export class SoapFault extends Error {
  /** Correlates the fault a client saw with our logs. */
  readonly errorGuid = randomUUID();

  constructor(
    readonly code: FaultCode,
    message: string,
    readonly altinnFault?: AltinnFaultDetail,
  ) {
    super(message);
    this.name = 'SoapFault';
  }
}

/** An application error: Client fault with AltinnFault detail. */
export function altinnFault(errorId: number, message: string, extendedMessage?: string): SoapFault {
  return new SoapFault('Client', message, { errorId, message, extendedMessage: extendedMessage ?? null });
}

/** A protocol-level problem with the request. */
export function clientFault(message: string): SoapFault {
  return new SoapFault('Client', message);
}

const ALTINN_FAULT_ELEMENT: ElementDescriptor = {
  name: 'AltinnFault',
  ns: ALTINN.fault,
  type: {
    name: 'f:AltinnFault',
    fields: [
      field('AltinnErrorMessage', ALTINN.fault, 'string', { nillable: true }),
      field('AltinnExtendedErrorMessage', ALTINN.fault, 'string', { nillable: true }),
      field('AltinnLocalizedErrorMessage', ALTINN.fault, 'string', { nillable: true }),
      field('ErrorGuid', ALTINN.fault, 'string', { nillable: true }),
      field('ErrorID', ALTINN.fault, 'int'),
      field('UserGuid', ALTINN.fault, 'string', { nillable: true }),
      field('UserId', ALTINN.fault, 'string', { nillable: true }),
    ],
  },
};

/** The Fault element (inside Body) for the given SOAP version, prefixes as declared on our Envelope (`s`). */
export function renderFaultBody(fault: SoapFault, soapVersion: '1.1' | '1.2'): string {
  const detail = fault.altinnFault ? renderAltinnFault(fault) : '';
  const reason = escapeText(fault.message);
  if (soapVersion === '1.1') {
    return (
      `<s:Fault><faultcode>s:${fault.code}</faultcode><faultstring xml:lang="en-US">${reason}</faultstring>` +
      (detail ? `<detail>${detail}</detail>` : '') +
      `</s:Fault>`
    );
  }
  const code12 = { Client: 'Sender', Server: 'Receiver', MustUnderstand: 'MustUnderstand', VersionMismatch: 'VersionMismatch' }[fault.code];
  return (
    `<s:Fault><s:Code><s:Value>s:${code12}</s:Value></s:Code><s:Reason><s:Text xml:lang="en-US">${reason}</s:Text></s:Reason>` +
    (detail ? `<s:Detail>${detail}</s:Detail>` : '') +
    `</s:Fault>`
  );
}

function renderAltinnFault(fault: SoapFault): string {
  const detail = fault.altinnFault!;
  const out = new XmlOutput('fault');
  writeElement(out, ALTINN_FAULT_ELEMENT, {
    AltinnErrorMessage: detail.message,
    AltinnExtendedErrorMessage: detail.extendedMessage ?? null,
    AltinnLocalizedErrorMessage: detail.localizedMessage ?? detail.message,
    ErrorGuid: fault.errorGuid,
    ErrorID: detail.errorId,
    UserGuid: null,
    UserId: null,
  });
  return out.toString();
}
