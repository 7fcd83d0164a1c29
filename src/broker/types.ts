/**
 * The broker's domain vocabulary (Altinn 3 Broker's model), independent of HTTP, SOAP and SQL.
 * The three doors (Altinn 3 REST, Altinn 2 REST, Altinn 2 SOAP) all speak to these.
 */
import type { Logger } from 'pino';
import type { Clock } from '../clock';
import type { Db } from '../storage/db';
import type { BlobStore } from '../storage/blob-store';
import type { MalwareScanner } from '../scanning/clamd';

/** File transfer statuses with Altinn's numbers and default texts (CONTRACT §3). */
export const FILE_TRANSFER_STATUSES = {
  Initialized: { number: 0, text: 'Ready for upload' },
  UploadStarted: { number: 1, text: 'Upload started' },
  UploadProcessing: { number: 2, text: 'Processing upload' },
  Published: { number: 3, text: 'Ready for download' },
  Cancelled: { number: 4, text: 'FileTransfer cancelled' },
  AllConfirmedDownloaded: { number: 5, text: 'All downloaded' },
  Purged: { number: 6, text: 'FileTransfer has been purged' },
  Failed: { number: 7, text: 'Upload failed' },
} as const;
export type FileTransferStatus = keyof typeof FILE_TRANSFER_STATUSES;

export const RECIPIENT_STATUSES = {
  Initialized: { number: 0, text: 'Initialized' },
  DownloadStarted: { number: 1, text: 'Recipient has attempted to download fileTransfer' },
  DownloadConfirmed: { number: 2, text: 'Recipient has downloaded fileTransfer' },
} as const;
export type RecipientStatus = keyof typeof RECIPIENT_STATUSES;

/** Detailed status texts stored with a status row (they replace the default text). */
export const STATUS_TEXTS = {
  checksumMismatch: 'Checksum mismatch',
  uploadError: 'Error occurred while uploading fileTransfer',
  uploadAborted: 'File upload failed and was aborted',
  stuckUpload: 'File transfer was stuck in UploadStarted as it failed upload mid-request.',
  malwareFound: (result: string, details: unknown) => `Malware scan failed: ${result}. Extra details: ${JSON.stringify(details)}`,
} as const;

/** The statuses in which the bytes may be downloaded (the purge grace period included). */
export const DOWNLOADABLE_STATUSES: readonly FileTransferStatus[] = ['Published', 'AllConfirmedDownloaded'];
/** Statuses in which an upload may still (re)start. */
export const UPLOADABLE_STATUSES: readonly FileTransferStatus[] = ['Initialized', 'UploadStarted'];

export type Role = 'Sender' | 'Recipient';

/** Who is calling: an organisation (by its own token, a system user or a person acting for it). */
export interface BrokerCaller {
  /** '0192:<orgnr>' */
  partyId: string;
  orgNumber: string;
}

export interface BrokerResource {
  resourceId: string;
  serviceOwnerOrg: string;
  maxFileTransferSize: number | null;
  /** ISO 8601 duration as configured, null → default. */
  fileTransferTimeToLive: string | null;
  purgeFileTransferAfterAllRecipientsConfirmed: boolean;
  /** ISO 8601 duration as configured, null → default. */
  purgeFileTransferGracePeriod: string | null;
  useManifestFileShim: boolean;
  externalServiceCodeLegacy: string | null;
  externalServiceEditionCodeLegacy: number | null;
  requiredParty: string | null;
}

export interface StatusEntry<S extends string> {
  status: S;
  /** The stored detailed text, or the status's default text. */
  text: string;
  changedAt: Date;
}

export interface RecipientState {
  /** '0192:<orgnr>' */
  recipient: string;
  /** The highest status reached. */
  status: RecipientStatus;
  text: string;
  /** Time of this recipient's latest status row. */
  changedAt: Date;
}

export interface FileTransfer {
  fileTransferId: string;
  resourceId: string;
  fileName: string;
  sendersFileTransferReference: string | null;
  /** Lower-case hex MD5: given at initialize, or filled in once computed; null until then. */
  checksum: string | null;
  checksumGiven: boolean;
  useVirusScan: boolean;
  fileTransferSize: number;
  sha256: string | null;
  /** Where the bytes are; null before upload and after purge or a failed scan. */
  blobKey: string | null;
  status: StatusEntry<FileTransferStatus>;
  created: Date;
  expirationTime: Date;
  /** '0192:<orgnr>' */
  sender: string;
  recipients: RecipientState[];
  propertyList: Record<string, string>;
  /** Time of the Published row, null if never published. */
  published: Date | null;
}

export interface FileTransferHistory {
  fileTransferStatusHistory: StatusEntry<FileTransferStatus>[];
  recipientFileTransferStatusHistory: (StatusEntry<RecipientStatus> & { recipient: string })[];
}

export interface BrokerSettings {
  /**
   * How long a streamed upload's attempt stays claimed without renewal (renewed every third of it
   * while bytes flow); after that, or at once when its process is known dead, it is abandoned.
   */
  uploadAttemptLeaseMs: number;
  /** Default maximum size of a file transfer when the resource sets none. */
  defaultMaxFileTransferSize: number;
  /** Upper bound on any transfer's size when it is virus scanned. */
  maxVirusScanFileTransferSize: number;
}

/** Rendering events (cloud-events.ts) and delivering them to webhooks (webhooks.ts). */
export interface BrokerEventSettings {
  /** CloudEvent `source`: `<public URL>/broker/api/v1/filetransfer` (PUBLIC_URL, else http://localhost:PORT). */
  source: string;
  webhooks: WebhookDeliverySettings;
}

export interface WebhookDeliverySettings {
  /** One delivery attempt (connect, send, response headers) fails after this long. */
  timeoutMs: number;
  /**
   * Receivers on loopback, private, link-local and other non-public addresses are allowed
   * (BROKER_WEBHOOK_ALLOW_PRIVATE_ADDRESSES, default true). False closes the SSRF door: see webhooks.ts.
   */
  allowPrivateAddresses: boolean;
  /** Retries: exponential backoff from baseMs, capped at maxMs, with jitter; given up after windowMs. */
  retry: { baseMs: number; maxMs: number; windowMs: number };
}

/** What every broker use case needs. */
export interface BrokerContext {
  db: Db;
  blobs: BlobStore;
  clock: Clock;
  log: Logger;
  /** Undefined → no scanning configured: transfers publish unscanned (`useVirusScan: false`). */
  scanner: MalwareScanner | undefined;
  settings: BrokerSettings;
  /** Called after a commit that enqueued jobs, so they start at once rather than at the next poll. */
  wakeJobs(): void;
  events: BrokerEventSettings;
}
