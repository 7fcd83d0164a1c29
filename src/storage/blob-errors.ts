/** Errors of the blob store that callers map to answers (413, 416); re-exported by blob-store.ts. */

/** A stream was longer than the limit it was given; nothing of it is kept. */
export class BlobTooLargeError extends Error {
  constructor(readonly limitBytes: number) {
    super(`The content is larger than the limit of ${limitBytes} bytes`);
    this.name = 'BlobTooLargeError';
  }
}

/** A writer's size limit must be a byte count (RangeError otherwise); undefined is no limit. */
export function assertMaxBytes(maxBytes: number | undefined): void {
  if (maxBytes !== undefined && !(Number.isSafeInteger(maxBytes) && maxBytes >= 0)) {
    throw new RangeError(`maxBytes must be a non-negative integer (got ${maxBytes})`);
  }
}

/** A byte range that does not lie within the blob. */
export class RangeNotSatisfiableError extends RangeError {
  constructor(
    readonly start: number,
    readonly end: number,
    readonly sizeBytes: number,
  ) {
    super(`Bytes ${start}-${end} are not within a blob of ${sizeBytes} bytes`);
    this.name = 'RangeNotSatisfiableError';
  }
}
