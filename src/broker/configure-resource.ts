/**
 * Configure a broker resource (PUT /resource/{id}, CONTRACT §2.7), and read its configuration.
 * A resource belongs to the service owner that configured it first; only that owner may change or
 * read it. Members left out (or null) keep their value, as Altinn's handler does; a new resource
 * starts from the defaults (TTL P30D, purge after all confirmed, grace period PT2H).
 */
import { isUniqueViolation } from '../storage/db';
import { parseIsoDuration } from './durations';
import { brokerError, invalidInput, type BrokerErrorName } from './errors';
import { checkResourceId, ValidationErrors } from './input-rules';
import { parsePartyId } from './parties';
import { findResource, normaliseResourceId } from './resources';
import type { BrokerCaller, BrokerContext, BrokerResource } from './types';

export const MAX_TIME_TO_LIVE_MS = 365 * 24 * 60 * 60 * 1000;
export const MAX_GRACE_PERIOD_MS = 24 * 60 * 60 * 1000;

export interface ResourceSettings {
  maxFileTransferSize?: number | null;
  fileTransferTimeToLive?: string | null;
  purgeFileTransferAfterAllRecipientsConfirmed?: boolean | null;
  purgeFileTransferGracePeriod?: string | null;
  useManifestFileShim?: boolean | null;
  externalServiceCodeLegacy?: string | null;
  externalServiceEditionCodeLegacy?: number | null;
  requiredParty?: string | null;
}

function check(condition: boolean, error: BrokerErrorName): void {
  if (!condition) throw brokerError(error);
}

/**
 * Validates the given settings (Altinn's order) and returns them with the required party
 * normalised ('' clears it). A negative time to live, which Altinn lets through, is refused too.
 */
function validate(ctx: BrokerContext, settings: ResourceSettings, merged: ResourceSettings): ResourceSettings {
  const size = settings.maxFileTransferSize;
  if (size !== undefined && size !== null) {
    check(size >= 0, 'MaxUploadSizeCannotBeNegative');
    check(size !== 0, 'MaxUploadSizeCannotBeZero');
    check(size <= ctx.settings.defaultMaxFileTransferSize, 'MaxUploadSizeOverGlobal');
  }
  const ttl = settings.fileTransferTimeToLive;
  if (ttl !== undefined && ttl !== null) {
    const ms = parseIsoDuration(ttl);
    check(ms !== undefined, 'InvalidTimeToLiveFormat');
    check(ms! <= MAX_TIME_TO_LIVE_MS, 'TimeToLiveCannotExceed365Days');
  }
  const grace = settings.purgeFileTransferGracePeriod;
  if (grace !== undefined && grace !== null) {
    const ms = parseIsoDuration(grace);
    check(ms !== undefined, 'InvalidGracePeriodFormat');
    check(ms! <= MAX_GRACE_PERIOD_MS, 'GracePeriodCannotExceed24Hours');
  }
  // Altinn stores any text here; a party that can never take part would make the resource unusable.
  let requiredParty = settings.requiredParty;
  if (requiredParty !== undefined && requiredParty !== null && requiredParty.trim() !== '') {
    const parsed = parsePartyId(requiredParty);
    if ('error' in parsed) throw invalidInput('RequiredParty', parsed.error);
    requiredParty = parsed.partyId;
  }
  if (merged.useManifestFileShim) {
    check(!!merged.externalServiceCodeLegacy && merged.externalServiceEditionCodeLegacy != null, 'ManifestShimRequiresServiceCode');
  }
  return { ...settings, ...(requiredParty !== undefined && { requiredParty: requiredParty || null }) };
}

function requireResourceId(resourceId: string): void {
  const errors = new ValidationErrors();
  checkResourceId(errors, resourceId, 'resourceId');
  errors.throwIfAny();
}

export async function configureResource(ctx: BrokerContext, caller: BrokerCaller, resourceId: string, settings: ResourceSettings): Promise<BrokerResource> {
  requireResourceId(resourceId);
  const id = normaliseResourceId(resourceId);
  const existing = await findResource(ctx.db, id);
  if (existing && existing.serviceOwnerOrg !== caller.orgNumber) throw brokerError('NoAccessToResource');
  const given = Object.fromEntries(Object.entries(settings).filter(([, value]) => value !== undefined && value !== null)) as ResourceSettings;
  const merged: ResourceSettings = { ...(existing ?? {}), ...given };
  const valid = validate(ctx, given, merged);

  const columns = {
    ...(valid.maxFileTransferSize != null && { max_file_transfer_size: valid.maxFileTransferSize }),
    ...(valid.fileTransferTimeToLive != null && { file_transfer_time_to_live: valid.fileTransferTimeToLive }),
    ...(valid.purgeFileTransferAfterAllRecipientsConfirmed != null && { purge_after_all_confirmed: valid.purgeFileTransferAfterAllRecipientsConfirmed }),
    ...(valid.purgeFileTransferGracePeriod != null && { purge_grace_period: valid.purgeFileTransferGracePeriod }),
    ...(valid.useManifestFileShim != null && { use_manifest_file_shim: valid.useManifestFileShim }),
    ...(valid.externalServiceCodeLegacy != null && { external_service_code_legacy: valid.externalServiceCodeLegacy }),
    ...(valid.externalServiceEditionCodeLegacy != null && { external_service_edition_code_legacy: valid.externalServiceEditionCodeLegacy }),
    ...(valid.requiredParty !== undefined && { required_party: valid.requiredParty }),
  };
  const now = ctx.clock.now();
  try {
    if (existing) {
      await ctx.db('broker_resources').where({ resource_id: id }).update({ ...columns, updated_at: now });
    } else {
      await ctx.db('broker_resources')
        .insert({ resource_id: id, service_owner_org: caller.orgNumber, ...columns, created_at: now, updated_at: now })
        // Two owners configuring a new resource at once: the first wins, the second is refused below.
        .onConflict('resource_id')
        .ignore();
      const stored = await findResource(ctx.db, id);
      if (stored?.serviceOwnerOrg !== caller.orgNumber) throw brokerError('NoAccessToResource');
    }
  } catch (error) {
    if (isUniqueViolation(error)) throw brokerError('LegacyServiceCodeTaken');
    throw error;
  }
  return (await findResource(ctx.db, id))!;
}

/** The configuration of a resource the caller owns. */
export async function getResource(ctx: BrokerContext, caller: BrokerCaller, resourceId: string): Promise<BrokerResource> {
  requireResourceId(resourceId);
  const resource = await findResource(ctx.db, resourceId);
  if (!resource) throw brokerError('ResourceNotConfigured');
  if (resource.serviceOwnerOrg !== caller.orgNumber) throw brokerError('NoAccessToResource');
  return resource;
}
