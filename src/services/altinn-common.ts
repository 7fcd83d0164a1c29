/**
 * What every Altinn service-owner endpoint shares: the `Test` operation of IAltinnContractBase,
 * system-user authentication from the body, and the mapping of domain errors to AltinnFaults.
 *
 * Error IDs (CONTRACT.md): 989 wrong/missing system user or password, or locked; 5 authorization
 * impossible — also used for "not found", so another owner's item is indistinguishable from a
 * missing one; 0 for other request problems.
 */
import { ArchiveError } from '../archive/errors';
import { AuthenticationError, type AuthenticatedSystemUser, type SystemUserAuthenticator } from '../auth/system-users';
import { altinnFault, type SoapFault } from '../soap/fault';
import { ALTINN } from '../soap/namespaces';
import type { ElementDescriptor } from '../soap/schema';
import type { OperationContext, SoapOperation } from '../soap/endpoint';

export const ERROR_ID = { generic: 0, authorizationImpossible: 5, invalidSystemUser: 989 } as const;

export function mapServiceOwnerError(error: unknown): SoapFault | undefined {
  if (error instanceof AuthenticationError) return altinnFault(ERROR_ID.invalidSystemUser, error.message);
  if (error instanceof ArchiveError) {
    return altinnFault(error.code === 'not_found' ? ERROR_ID.authorizationImpossible : ERROR_ID.generic, error.message);
  }
  return undefined;
}

export function authenticate(
  authenticator: SystemUserAuthenticator,
  userName: unknown,
  password: unknown,
  context: OperationContext,
): Promise<AuthenticatedSystemUser> {
  return authenticator.authenticate(userName as string | null, password as string | null, context.clientAddress);
}

/** A string argument the operation cannot do without. */
export function requireString(input: Record<string, unknown>, name: string): string {
  const value = input[name];
  if (typeof value !== 'string' || value.trim() === '') throw altinnFault(ERROR_ID.generic, `The parameter ${name} is required`);
  return value.trim();
}

const TEST_REQUEST: ElementDescriptor = { name: 'Test', ns: ALTINN.base, type: { name: 'base:Test', fields: [] } };
const TEST_RESPONSE: ElementDescriptor = { name: 'TestResponse', ns: ALTINN.base, type: { name: 'base:TestResponse', fields: [] } };

/** IAltinnContractBase.Test: an empty round trip that proves the endpoint is up. */
export const testOperation: SoapOperation = {
  name: 'Test',
  soapAction: 'http://www.altinn.no/services/2009/10/IAltinnContractBase/Test',
  request: TEST_REQUEST,
  response: TEST_RESPONSE,
  handle: async () => ({}),
};
