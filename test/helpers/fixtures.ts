/** What SOAP tests need on top of archive-fixtures: a system user to call with, and large attachments. */
import type { App } from '../../src/app';
import { addService } from '../../src/archive/add-service';
import type { NewAttachment } from '../../src/archive/archive-form-tasks';
import { addSystemUser } from '../../src/auth/system-users';
import { createOwnerWithService, type OwnerWithService } from './archive-fixtures';

export interface SoapOwner extends OwnerWithService {
  userName: string;
  password: string;
}

let nextUser = 0;

/** A service owner with one service (download queue on) and a system user to call as. */
export async function createSoapOwner(app: App, options: { extraServiceCodes?: string[] } = {}): Promise<SoapOwner> {
  const owner = await createOwnerWithService(app);
  nextUser += 1;
  const userName = `sys${owner.orgNumber}u${nextUser}`;
  const password = `pw-${owner.orgNumber}-secret`;
  await addSystemUser(app.db, { serviceOwnerId: owner.serviceOwnerId, userName, password });
  for (const serviceCode of options.extraServiceCodes ?? []) {
    await addService(app.db, { serviceOwnerId: owner.serviceOwnerId, serviceCode, serviceEditionCode: 1, downloadQueue: true });
  }
  return { ...owner, userName, password };
}

/** A deterministic attachment of any size, generated as it is read (never held whole in memory). */
export function generatedAttachment(fileName: string, sizeBytes: number, seed = 1): NewAttachment {
  return { fileName, attachmentType: 'application_octet-stream', open: () => generatedBytes(sizeBytes, seed) };
}

export function* generatedBytes(sizeBytes: number, seed = 1): Generator<Buffer> {
  const chunk = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 31 + seed * 17 + (i >> 8)) & 0xff;
  for (let written = 0; written < sizeBytes; written += chunk.length) {
    yield chunk.subarray(0, Math.min(chunk.length, sizeBytes - written));
  }
}

/** sha256 of generatedBytes(sizeBytes, seed), computed the same streaming way. */
export function generatedSha256(sizeBytes: number, seed = 1): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const hash = require('node:crypto').createHash('sha256');
  for (const chunk of generatedBytes(sizeBytes, seed)) hash.update(chunk);
  return hash.digest('hex');
}
