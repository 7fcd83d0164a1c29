/**
 * Typed failures of the message use cases. The REST adapter maps `kind` to an HTTP status and
 * sends `{ ErrorCode, ErrorMessage }`; the domain never speaks HTTP.
 */
export type MessageErrorKind =
  /** The request breaks a rule (shape, service definition, well-formedness): nothing was stored. */
  | 'invalid'
  /** The caller may not act for this reportee. */
  | 'forbidden'
  /** No such message (or form, attachment) for this reportee: another reportee's looks the same. */
  | 'not_found'
  /** The message is archived, or changed while this request was prepared. */
  | 'conflict';

export class MessageError extends Error {
  constructor(
    readonly kind: MessageErrorKind,
    /** Stable, machine-readable: ErrorCode on the wire. */
    readonly errorCode: string,
    message: string,
  ) {
    super(message);
    this.name = 'MessageError';
  }
}

/** A rule broken by one field of the request; the message names the field first. */
export function invalidField(field: string, problem: string, errorCode = 'InvalidRequest'): MessageError {
  return new MessageError('invalid', errorCode, `${field}: ${problem}`);
}

export function messageNotFound(messageId: string | number): MessageError {
  return new MessageError('not_found', 'NotFound', `Message ${typeof messageId === 'number' ? `a${messageId}` : messageId} was not found`);
}

export function archivedConflict(messageId: number): MessageError {
  return new MessageError(
    'conflict',
    'MessageArchived',
    `Message a${messageId} is sent and archived ("Sendt og arkivert") and can no longer be changed`,
  );
}

export function concurrentChange(messageId: number): MessageError {
  return new MessageError('conflict', 'ConcurrentUpdate', `Message a${messageId} was changed by another request meanwhile; fetch it and try again`);
}
