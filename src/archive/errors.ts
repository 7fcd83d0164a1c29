/**
 * Typed failures of archive use cases. Adapters map them to their protocol (SOAP faults, HTTP
 * statuses); the domain never speaks in either.
 */
export type ArchiveErrorCode =
  /** The item does not exist, or belongs to another service owner: deliberately the same answer. */
  | 'not_found'
  | 'already_purged'
  | 'invalid_argument'
  | 'conflict';

export class ArchiveError extends Error {
  constructor(
    readonly code: ArchiveErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ArchiveError';
  }
}

/** Every problem found in the input, each `field: problem`; nothing was stored. */
export class ArchiveValidationError extends ArchiveError {
  constructor(readonly problems: string[]) {
    super('invalid_argument', problems.join('\n'));
    this.name = 'ArchiveValidationError';
  }
}

export function notFound(what: string): ArchiveError {
  return new ArchiveError('not_found', `${what} was not found for this service owner`);
}
