/**
 * Service owners' certificates. Form tasks of an owner's encrypted services are wrapped under the
 * owner's current certificate; older ones stay listed because tasks wrapped under them name their
 * thumbprint. Retiring takes a certificate out of use for good (it cannot become current again).
 */
import type { KeyObject } from 'node:crypto';
import { certificateProblem, describeCertificate, normalizeThumbprint, type CertificateInfo } from '../crypto/certificate';
import type { Db } from '../storage/db';
import { ArchiveError } from './errors';

export interface RegisteredCertificate {
  thumbprint: string;
  subject: string;
  issuer: string;
  serialNumber: string;
  notBefore: Date;
  notAfter: Date;
  keyBits: number;
  current: boolean;
  addedAt: Date;
  retiredAt: Date | null;
}

export interface AddCertificateResult {
  certificate: RegisteredCertificate;
  /** False when the certificate was already registered (it is made current again). */
  added: boolean;
}

/** Register a certificate for an owner and make it the current one. */
export async function addCertificate(
  db: Db,
  request: { serviceOwnerId: number; certificate: CertificateInfo; now?: Date },
): Promise<AddCertificateResult> {
  const info = request.certificate;
  const problem = certificateProblem(info, request.now);
  if (problem) throw new ArchiveError('invalid_argument', `Certificate ${info.thumbprint} (${info.subject}) cannot be used: ${problem}`);

  return db.transaction(async (trx) => {
    // Serializes concurrent adds for one owner (the partial unique index would refuse the loser anyway).
    await trx('service_owners').where({ id: request.serviceOwnerId }).forUpdate().first('id');
    const existing = await trx('certificates')
      .where({ service_owner_id: request.serviceOwnerId, thumbprint: info.thumbprint })
      .first<CertificateRow | undefined>(CERTIFICATE_COLUMNS);
    if (existing?.retired_at) {
      throw new ArchiveError('conflict', `Certificate ${info.thumbprint} was retired on ${existing.retired_at.toISOString()} and cannot become current again`);
    }
    await trx('certificates').where({ service_owner_id: request.serviceOwnerId, is_current: true }).update({ is_current: false });
    if (existing) {
      await trx('certificates').where({ id: existing.id }).update({ is_current: true });
      return { certificate: toCertificate({ ...existing, is_current: true }), added: false };
    }
    const [row] = await trx('certificates')
      .insert({
        service_owner_id: request.serviceOwnerId,
        thumbprint: info.thumbprint,
        der: info.der,
        subject: info.subject,
        issuer: info.issuer,
        serial_number: info.serialNumber,
        not_before: info.notBefore,
        not_after: info.notAfter,
        key_bits: info.keyBits,
        is_current: true,
      })
      .returning<CertificateRow[]>(CERTIFICATE_COLUMNS);
    return { certificate: toCertificate(row!), added: true };
  });
}

/** All certificates of an owner, newest first. */
export async function listCertificates(db: Db, serviceOwnerId: number): Promise<RegisteredCertificate[]> {
  const rows = await db('certificates')
    .where({ service_owner_id: serviceOwnerId })
    .orderBy([{ column: 'added_at', order: 'desc' }, { column: 'id', order: 'desc' }])
    .select<CertificateRow[]>(CERTIFICATE_COLUMNS);
  return rows.map(toCertificate);
}

/** Take a certificate out of use; tasks wrapped under it keep its thumbprint. */
export async function retireCertificate(db: Db, request: { serviceOwnerId: number; thumbprint: string }): Promise<RegisteredCertificate> {
  const thumbprint = normalizeThumbprint(request.thumbprint);
  if (!thumbprint) throw new ArchiveError('invalid_argument', `'${request.thumbprint}' is not a thumbprint (40 hexadecimal characters)`);
  const [row] = await db('certificates')
    .where({ service_owner_id: request.serviceOwnerId, thumbprint })
    .update({ is_current: false, retired_at: db.raw('coalesce(retired_at, now())') })
    .returning<CertificateRow[]>(CERTIFICATE_COLUMNS);
  if (!row) throw new ArchiveError('not_found', `Certificate ${thumbprint} is not registered for this service owner`);
  return toCertificate(row);
}

/** What encrypting for an owner needs: the current certificate's thumbprint and public key. */
export interface EncryptionCertificate {
  thumbprint: string;
  publicKey: KeyObject;
}

/**
 * The owner's current certificate, checked again for validity now (it may have expired since it
 * was added). Throws an ArchiveError saying what to do when there is none usable (its message is
 * a sentence fragment, for the caller to say what needed the certificate).
 */
export async function requireEncryptionCertificate(db: Db, serviceOwnerId: number, now = new Date()): Promise<EncryptionCertificate> {
  const row = await db('certificates')
    .where({ service_owner_id: serviceOwnerId, is_current: true })
    .first<{ der: Uint8Array } | undefined>('der');
  const addHint = 'register one with: altinn-gateway certificate add --owner <orgnr> --cert FILE';
  if (!row) throw new ArchiveError('invalid_argument', `the service owner has no current certificate to encrypt for; ${addHint}`);
  const info = describeCertificate(Buffer.from(row.der)); // PGlite returns bytea as a Uint8Array
  const problem = certificateProblem(info, now);
  if (problem) throw new ArchiveError('invalid_argument', `the service owner's current certificate ${info.thumbprint} cannot be used: ${problem}; ${addHint}`);
  return { thumbprint: info.thumbprint, publicKey: info.publicKey };
}

interface CertificateRow {
  id: number;
  thumbprint: string;
  subject: string;
  issuer: string;
  serial_number: string;
  not_before: Date;
  not_after: Date;
  key_bits: number;
  is_current: boolean;
  added_at: Date;
  retired_at: Date | null;
}

const CERTIFICATE_COLUMNS = ['id', 'thumbprint', 'subject', 'issuer', 'serial_number', 'not_before', 'not_after', 'key_bits', 'is_current', 'added_at', 'retired_at'];

function toCertificate(row: CertificateRow): RegisteredCertificate {
  return {
    thumbprint: row.thumbprint,
    subject: row.subject,
    issuer: row.issuer,
    serialNumber: row.serial_number,
    notBefore: row.not_before,
    notAfter: row.not_after,
    keyBits: row.key_bits,
    current: row.is_current,
    addedAt: row.added_at,
    retiredAt: row.retired_at,
  };
}
