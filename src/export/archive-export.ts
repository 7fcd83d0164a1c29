/**
 * `archive export`: an owner's queued form tasks written to a folder, each as the XML a
 * GetArchivedFormTaskBasicDQ response carries plus its attachment files exactly as stored (still
 * encrypted for an encrypted service: the export is as unreadable as the archive without the
 * owner's key), with sha256 sums.
 *
 *   DIR/AR123/GetArchivedFormTaskBasicDQResponse.xml   the SOAP 1.1 envelope; each AttachmentData is
 *                                                      an xop:Include whose Content-ID is the path of
 *                                                      the attachment file relative to the XML
 *   DIR/AR123/attachments/<AttachmentId>-<FileName>[.encrypted]
 *   DIR/AR123/manifest.json                            the task's files and sums, written last
 *   DIR/manifest.json, DIR/SHA256SUMS                  every task the folder holds (`sha256sum -c SHA256SUMS`)
 *
 * A folder collects: the index files list every complete task folder in DIR, those of earlier runs
 * (another filter, or since purged from the queue) as well as this run's, so exporting into the
 * same folder again never drops a task from them. A folder holds one service owner's tasks. The
 * index files are written whole to a temporary name and renamed into place.
 *
 * Resumable: a task is written under `AR123.partial` and renamed into place once complete, so
 * `AR123/` exists only complete. Run again, a task already there is kept after its files are
 * checked against its manifest, and written anew if they do not match.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { getFormTask } from '../archive/get-form-task';
import { countQueuedTasks, listQueuedTasks, type QueuedTasksFilter } from '../archive/list-queued-tasks';
import type { ArchiveContext, ArchivedAttachment, ArchivedFormTask } from '../archive/types';
import { fsyncDirectory } from '../storage/blob-store';
import { measureBytes } from '../storage/measure';
import { safeFileName } from '../storage/safe-file-name';
import { soapEnvelope } from '../soap/response-writer';
import type { BinaryPart } from '../soap/schema';
import { XmlOutput } from '../soap/serializer';
import { attachmentPart, writeArchivedFormTaskResponse } from '../services/download-queue/archived-form-task';

export const RESPONSE_FILE = 'GetArchivedFormTaskBasicDQResponse.xml';
export const TASK_MANIFEST = 'manifest.json';

export interface ExportOptions extends QueuedTasksFilter {
  outDir: string;
  /** Organisation number, recorded in the manifest. */
  serviceOwner: string;
  /** FormData as a client asking with includeXmlNamespace=true gets it. */
  includeXmlNamespace?: boolean;
  onProgress?(progress: ExportProgress): void;
}

export interface ExportProgress {
  done: number;
  total: number;
  /** Tasks found complete from an earlier run. */
  kept: number;
  /** Bytes written in this run. */
  bytesWritten: number;
}

export interface ExportedFile {
  /** Relative to the export folder, with '/' separators. */
  path: string;
  sha256: string;
  sizeBytes: number;
  attachmentId?: number;
  isEncrypted?: boolean;
}

export interface TaskManifest {
  archiveReference: string;
  archivedAt: string;
  serviceCode: string;
  serviceEditionCode: number;
  /** Set when the content is encrypted for the owner (SOEncryptedSymmetricKey). */
  certificateThumbprint: string | null;
  files: ExportedFile[];
}

export interface ExportResult {
  /** This run's tasks. */
  tasks: TaskManifest[];
  written: number;
  kept: number;
  /** Tasks listed in the folder's index: this run's and those of earlier runs. */
  inFolder: number;
}

export async function exportArchive(ctx: ArchiveContext, options: ExportOptions): Promise<ExportResult> {
  const outDir = path.resolve(options.outDir);
  await requireSameOwner(outDir, options.serviceOwner);
  await fs.promises.mkdir(outDir, { recursive: true });
  const total = await countQueuedTasks(ctx, options);
  const progress: ExportProgress = { done: 0, total, kept: 0, bytesWritten: 0 };
  options.onProgress?.(progress);

  const tasks: TaskManifest[] = [];
  for await (const archiveReference of listQueuedTasks(ctx, options)) {
    const kept = await verifiedTaskManifest(outDir, archiveReference);
    if (kept) {
      tasks.push(kept);
      progress.kept += 1;
    } else {
      const task = await getFormTask(ctx, { serviceOwnerId: options.serviceOwnerId, archiveReference });
      const manifest = await writeTask(ctx, outDir, task, options.includeXmlNamespace ?? false);
      progress.bytesWritten += manifest.files.reduce((sum, file) => sum + file.sizeBytes, 0);
      tasks.push(manifest);
    }
    progress.done += 1;
    options.onProgress?.(progress);
  }
  const inFolder = await writeIndex(outDir, options, tasks);
  return { tasks, written: tasks.length - progress.kept, kept: progress.kept, inFolder };
}

// ---- one task ----

/** Content-IDs chosen by us (the attachment files' paths) instead of generated ones. */
class ExportXmlOutput extends XmlOutput {
  constructor(private readonly contentIds: Map<BinaryPart, string>) {
    super('export');
  }

  override addPart(part: BinaryPart): string {
    const contentId = this.contentIds.get(part)!;
    this.parts.push({ contentId, part });
    return contentId;
  }
}

async function writeTask(ctx: ArchiveContext, outDir: string, task: ArchivedFormTask, includeXmlNamespace: boolean): Promise<TaskManifest> {
  const taskDir = path.join(outDir, task.archiveReference);
  const partialDir = `${taskDir}.partial`;
  await fs.promises.rm(partialDir, { recursive: true, force: true });
  await fs.promises.mkdir(path.join(partialDir, 'attachments'), { recursive: true });

  const files: ExportedFile[] = [];
  const contentIds = new Map<BinaryPart, string>();
  const parts = new Map<number, BinaryPart>();
  for (const attachment of task.attachments) {
    const relative = `attachments/${attachment.attachmentId}-${safeFileName(attachment.fileName)}${attachment.isEncrypted ? '.encrypted' : ''}`;
    const written = await copyAttachment(ctx, attachment, path.join(partialDir, relative));
    files.push({ path: `${task.archiveReference}/${relative}`, ...written, attachmentId: attachment.attachmentId, isEncrypted: attachment.isEncrypted });
    const part = attachmentPart(ctx.blobs, attachment);
    contentIds.set(part, relative);
    parts.set(attachment.attachmentId, part);
  }

  const xml = new ExportXmlOutput(contentIds);
  writeArchivedFormTaskResponse(xml, task, { includeXmlNamespace, attachmentData: (a) => parts.get(a.attachmentId)! });
  const response = Buffer.from(`<?xml version="1.0" encoding="utf-8"?>\n${soapEnvelope(xml.toString(), '1.1')}\n`, 'utf8');
  await writeDurably(path.join(partialDir, RESPONSE_FILE), response);
  files.unshift({ path: `${task.archiveReference}/${RESPONSE_FILE}`, sha256: sha256(response), sizeBytes: response.length });

  const manifest: TaskManifest = {
    archiveReference: task.archiveReference,
    archivedAt: task.archivedAt.toISOString(),
    serviceCode: task.serviceCode,
    serviceEditionCode: task.serviceEditionCode,
    certificateThumbprint: task.encryptedSymmetricKey?.certificateThumbprint ?? null,
    files,
  };
  await writeDurably(path.join(partialDir, TASK_MANIFEST), Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`));
  await fs.promises.rm(taskDir, { recursive: true, force: true }); // an earlier copy that failed verification
  await fs.promises.rename(partialDir, taskDir);
  await fsyncDirectory(outDir);
  return manifest;
}

/** Copy an attachment's stored bytes out, checking them against the sums recorded when it was archived. */
async function copyAttachment(ctx: ArchiveContext, attachment: ArchivedAttachment, target: string): Promise<{ sha256: string; sizeBytes: number }> {
  const measure = measureBytes();
  await pipeline(ctx.blobs.open(attachment.blobKey), measure.stream, fs.createWriteStream(target, { flush: true }));
  const { sha256: digest, sizeBytes } = measure.result();
  if (digest !== attachment.sha256 || sizeBytes !== attachment.sizeBytes) {
    throw new Error(
      `Attachment ${attachment.attachmentId} of ${attachment.archiveReference} is damaged in the archive ` +
        `(${sizeBytes} bytes, sha256 ${digest}; archived as ${attachment.sizeBytes} bytes, sha256 ${attachment.sha256})`,
    );
  }
  return { sha256: digest, sizeBytes };
}

/** The manifest of a task exported earlier, if its files are all there with the recorded sums. */
async function verifiedTaskManifest(outDir: string, archiveReference: string): Promise<TaskManifest | undefined> {
  let manifest: TaskManifest;
  try {
    manifest = JSON.parse(await fs.promises.readFile(path.join(outDir, archiveReference, TASK_MANIFEST), 'utf8')) as TaskManifest;
  } catch {
    return undefined;
  }
  if (manifest.archiveReference !== archiveReference || !Array.isArray(manifest.files)) return undefined;
  for (const file of manifest.files) {
    const actual = await fileSum(path.join(outDir, ...file.path.split('/')));
    if (!actual || actual.sha256 !== file.sha256 || actual.sizeBytes !== file.sizeBytes) return undefined;
  }
  return manifest;
}

// ---- the whole export ----

const INDEX = 'manifest.json';

/** Refuses a folder that already holds another service owner's export, before anything is written. */
async function requireSameOwner(outDir: string, serviceOwner: string): Promise<void> {
  let existing: { serviceOwner?: unknown };
  try {
    existing = JSON.parse(await fs.promises.readFile(path.join(outDir, INDEX), 'utf8'));
  } catch {
    return; // a new folder, or one without a readable index: it is rebuilt from the task folders
  }
  if (existing.serviceOwner !== undefined && existing.serviceOwner !== serviceOwner) {
    throw new Error(`${outDir} holds an export of service owner ${String(existing.serviceOwner)}; export service owner ${serviceOwner} into another folder`);
  }
}

/** The index files, listing this run's tasks and every complete task folder from earlier runs; how many. */
async function writeIndex(outDir: string, options: ExportOptions, tasks: TaskManifest[]): Promise<number> {
  const all = new Map((await earlierTasks(outDir)).map((task) => [task.archiveReference, task]));
  for (const task of tasks) all.set(task.archiveReference, task);
  const listed = [...all.values()].sort(
    (a, b) => a.archivedAt.localeCompare(b.archivedAt) || Number(a.archiveReference.slice(2)) - Number(b.archiveReference.slice(2)),
  );
  const index = {
    format: 'altinn-gateway archive export, version 1',
    serviceOwner: options.serviceOwner,
    /** Of the latest run, as is the filter; `tasks` holds every run's. */
    exportedAt: new Date().toISOString(),
    filter: { serviceCode: options.serviceCode ?? null, since: options.since?.toISOString() ?? null },
    tasks: listed,
  };
  await writeDurably(path.join(outDir, INDEX), Buffer.from(`${JSON.stringify(index, null, 2)}\n`));
  const sums = listed.flatMap((task) => task.files.map((file) => `${file.sha256}  ${file.path}\n`)).join('');
  await writeDurably(path.join(outDir, 'SHA256SUMS'), Buffer.from(sums));
  await fsyncDirectory(outDir);
  return listed.length;
}

/** The manifests of the complete task folders (`AR123/`, renamed into place only once complete). */
async function earlierTasks(outDir: string): Promise<TaskManifest[]> {
  const entries = await fs.promises.readdir(outDir, { withFileTypes: true });
  const manifests: TaskManifest[] = [];
  for (const entry of entries) {
    if (!entry.isDirectory() || !/^AR[0-9]+$/.test(entry.name)) continue;
    try {
      const manifest = JSON.parse(await fs.promises.readFile(path.join(outDir, entry.name, TASK_MANIFEST), 'utf8')) as TaskManifest;
      if (manifest.archiveReference === entry.name && Array.isArray(manifest.files)) manifests.push(manifest);
    } catch {
      // Not one of ours, or damaged: a run that exports this task again writes it anew.
    }
  }
  return manifests;
}

async function writeDurably(file: string, bytes: Buffer): Promise<void> {
  const partial = `${file}.partial`;
  await fs.promises.writeFile(partial, bytes, { flush: true });
  await fs.promises.rename(partial, file);
}

async function fileSum(file: string): Promise<{ sha256: string; sizeBytes: number } | undefined> {
  const measure = measureBytes();
  try {
    await pipeline(fs.createReadStream(file, { highWaterMark: 1024 * 1024 }), measure.stream, new Writable({ write: (_chunk, _encoding, done) => done() }));
  } catch {
    return undefined;
  }
  return measure.result();
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}
