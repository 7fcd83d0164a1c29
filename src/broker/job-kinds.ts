/** Names of the broker's background jobs (handlers in jobs.ts), and their dedupe keys' prefixes. */
export const PROCESS_UPLOAD_JOB = 'broker.process-upload';
export const EXPIRE_JOB = 'broker.expire';
export const PURGE_JOB = 'broker.purge';
export const STUCK_UPLOADS_JOB = 'broker.stuck-uploads';
export const DELETE_BLOB_JOB = 'broker.delete-blob';
export const ABORT_UPLOAD_JOB = 'broker.abort-upload';
/** Concatenates a final TUS upload's partial uploads into one blob and attaches it (resumable-upload.ts). */
export const COMPOSE_UPLOAD_JOB = 'broker.compose-upload';
