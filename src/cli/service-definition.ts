/**
 * What a service accepts through the REST messages API (src/messages/service-definitions.ts), on
 * the command line: options for `service add` and `service define`, or the same in a JSON file.
 *
 *   --main-form 5703:34114              data format id and allowed version(s), e.g. 5703:34114,34115
 *   --sub-form 5704:34115               repeatable
 *   --attachment-rule "Vedlegg;application/pdf,image/png;10MiB;5"
 *                                       type name; MIME types (or *); max size; max count (repeatable)
 *   --no-attachments                    the service accepts no attachments
 *   --definition service.json           all of it as a file (instead of the options)
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { findService } from '../archive/add-service';
import { ArchiveError } from '../archive/errors';
import {
  getServiceDefinition,
  parseServiceDefinition,
  setServiceDefinition,
  type AttachmentRule,
  type FormRule,
  type ServiceDefinition,
} from '../messages/service-definitions';
import { orgNumberArgument, serviceCodeArgument, serviceEditionArgument } from './arguments';
import { writeLine, type CliIo } from './io';
import { requireServiceOwner } from './owner';
import { withApp } from './with-app';

export interface DefinitionOptions {
  definition?: string;
  mainForm?: FormRule;
  subForm?: FormRule[];
  attachmentRule?: AttachmentRule[];
  /** commander's --no-attachments: false when given. */
  attachments?: boolean;
}

/** Adds the definition options to a command (`service add`, `service define`). */
export function addDefinitionOptions(command: Command): Command {
  return command
    .option('--definition <file>', 'REST API service definition (JSON: mainForm, subForms, attachmentRules) instead of the options below')
    .option('--main-form <id:versions>', 'allowed main form data format and version(s), e.g. 5703:34114', formRuleArgument)
    .option('--sub-form <id:versions>', 'an allowed sub form data format and version(s) (repeatable)', collect(formRuleArgument), undefined)
    .option('--attachment-rule <rule>', 'an attachment type: "Name;mime/type,…|*;max size (e.g. 10MiB);max count" (repeatable)', collect(attachmentRuleArgument), undefined)
    .option('--no-attachments', 'the service accepts no attachments');
}

/** The definition the options describe, or undefined when they describe none. */
export async function definitionFromOptions(options: DefinitionOptions): Promise<ServiceDefinition | undefined> {
  const inline = options.mainForm !== undefined || options.subForm !== undefined || options.attachmentRule !== undefined || options.attachments === false;
  if (options.definition) {
    if (inline) throw new InvalidArgumentError('Give either --definition or the --main-form/--sub-form/--attachment-rule options, not both.');
    return readDefinitionFile(options.definition);
  }
  if (!inline) return undefined;
  if (options.attachments === false && options.attachmentRule) throw new InvalidArgumentError('--no-attachments contradicts --attachment-rule.');
  return parseServiceDefinition({
    ...(options.mainForm && { mainForm: options.mainForm }),
    ...(options.subForm && { subForms: options.subForm }),
    ...(options.attachmentRule && { attachmentRules: options.attachmentRule }),
    ...(options.attachments === false && { attachmentRules: [] }),
  });
}

export async function readDefinitionFile(file: string): Promise<ServiceDefinition> {
  let text: string;
  try {
    text = await readFile(path.resolve(file), 'utf8');
  } catch (error) {
    throw new Error(`Cannot read ${file}: ${(error as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new Error(`${file} is not valid JSON: ${(error as Error).message}`);
  }
  return parseServiceDefinition(json, path.basename(file));
}

/** `service define` and `service definition` under the existing `service` command; the definition options of its `add`. */
export function registerServiceDefinitionCommands(service: Command, io: CliIo): void {
  const add = service.commands.find((command) => command.name() === 'add');
  if (add) addDefinitionOptions(add);

  addDefinitionOptions(
    service
      .command('define')
      .description('set what a service accepts through the REST messages API (replaces its definition)')
      .requiredOption('--owner <orgnr>', 'organisation number of the service owner', orgNumberArgument)
      .requiredOption('--code <code>', 'service code', serviceCodeArgument)
      .requiredOption('--edition <n>', 'service edition code', serviceEditionArgument),
  )
    .option('--clear', 'remove the definition: any forms and attachments are accepted again')
    .action(async (options: DefinitionOptions & { owner: string; code: string; edition: number; clear?: boolean }) => {
      const definition = await definitionFromOptions(options);
      if (options.clear && definition) throw new InvalidArgumentError('--clear contradicts a definition.');
      if (!options.clear && !definition) throw new InvalidArgumentError('Give a definition (--definition FILE or --main-form/--sub-form/--attachment-rule), or --clear.');
      await withApp(io, async (app) => {
        const serviceId = await requireServiceId(app, options);
        await setServiceDefinition(app.db, serviceId, definition ?? null);
        writeLine(io.stdout, definition ? `Service ${options.code} edition ${options.edition} now accepts: ${describe(definition)}.` : `Service ${options.code} edition ${options.edition} has no definition now (accepts any forms and attachments).`);
      });
    });

  service
    .command('definition')
    .description("print a service's REST API definition as JSON")
    .requiredOption('--owner <orgnr>', 'organisation number of the service owner', orgNumberArgument)
    .requiredOption('--code <code>', 'service code', serviceCodeArgument)
    .requiredOption('--edition <n>', 'service edition code', serviceEditionArgument)
    .action(async (options: { owner: string; code: string; edition: number }) => {
      await withApp(io, async (app) => {
        const definition = await getServiceDefinition(app.db, await requireServiceId(app, options));
        writeLine(io.stdout, JSON.stringify(definition ?? {}, null, 2));
      });
    });
}

async function requireServiceId(app: import('../app').App, options: { owner: string; code: string; edition: number }): Promise<number> {
  const owner = await requireServiceOwner(app, options.owner);
  const found = await findService(app.db, { serviceOwnerId: owner.serviceOwnerId, serviceCode: options.code, serviceEditionCode: options.edition });
  if (!found) throw new ArchiveError('not_found', `Service ${options.code} edition ${options.edition} was not found for service owner ${owner.orgNumber}`);
  return found.serviceId;
}

/** One line for people. */
export function describe(definition: ServiceDefinition): string {
  const forms = (rule: FormRule) => `${rule.dataFormatId} v${rule.dataFormatVersions.join('/')}`;
  const parts = [
    `main form ${definition.mainForm ? forms(definition.mainForm) : 'any'}`,
    `sub forms ${definition.subForms ? (definition.subForms.length ? definition.subForms.map(forms).join(', ') : 'none') : 'any'}`,
    `attachments ${
      definition.attachmentRules
        ? definition.attachmentRules.length
          ? definition.attachmentRules
              .map((r) => `${r.attachmentTypeName} (${r.allowedMimeTypes.join(', ')}; ≤ ${r.maxFileSizeBytes} bytes; ≤ ${r.maxAttachmentCount})`)
              .join(', ')
          : 'none'
        : 'any'
    }`,
  ];
  return parts.join('; ');
}

// ---- option parsers ----

function collect<T>(parse: (value: string) => T): (value: string, previous: T[] | undefined) => T[] {
  return (value, previous) => [...(previous ?? []), parse(value)];
}

function formRuleArgument(value: string): FormRule {
  const match = /^([^:\s]+):([0-9]+(?:,[0-9]+)*)$/.exec(value.trim());
  if (!match) throw new InvalidArgumentError('Give a data format id and version(s) as ID:VERSION[,VERSION...], e.g. 5703:34114.');
  return { dataFormatId: match[1]!, dataFormatVersions: match[2]!.split(',').map(Number) };
}

function attachmentRuleArgument(value: string): AttachmentRule {
  const parts = value.split(';').map((part) => part.trim());
  if (parts.length !== 4 || !parts[0]) {
    throw new InvalidArgumentError('Give an attachment rule as "Name;mime/type,…|*;max size;max count", e.g. "Vedlegg;application/pdf;10MiB;5".');
  }
  const maxFileSizeBytes = sizeArgument(parts[2]!);
  const maxAttachmentCount = /^[0-9]{1,9}$/.test(parts[3]!) ? Number(parts[3]) : NaN;
  if (!(maxAttachmentCount >= 1)) throw new InvalidArgumentError(`The max count '${parts[3]}' must be a whole number, at least 1.`);
  try {
    return parseServiceDefinition({
      attachmentRules: [{ attachmentTypeName: parts[0], allowedMimeTypes: parts[1]!.split(',').map((m) => m.trim()), maxFileSizeBytes, maxAttachmentCount }],
    }).attachmentRules![0]!;
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

const UNITS: Record<string, number> = { '': 1, b: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 };

/** 1048576, 500KB, 10MiB, 1GB. */
export function sizeArgument(value: string): number {
  const match = /^([0-9]+(?:\.[0-9]+)?)\s*([a-z]*)$/i.exec(value.trim());
  const unit = match && UNITS[match[2]!.toLowerCase()];
  const bytes = match && unit ? Math.floor(Number(match[1]) * unit) : NaN;
  if (!(bytes >= 1 && bytes <= Number.MAX_SAFE_INTEGER)) throw new InvalidArgumentError(`The size '${value}' must be bytes or a number with KB, MB, GB, KiB, MiB or GiB.`);
  return bytes;
}
