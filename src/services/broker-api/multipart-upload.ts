/**
 * POST /filetransfer/upload: initialize and upload in one multipart form (CONTRACT §2.2), read as
 * it arrives with busboy (the remix parser keeps every part whole in memory): the `Metadata.*`
 * fields first, bound as ASP.NET's form binder would, then the `FileTransfer` part streamed into
 * the upload. The whole form is limited to 2 GiB, as Altinn's `MultipartBodyLengthLimit`.
 */
import { Transform, type Readable } from 'node:stream';
import Busboy, { type BusboyFileStream, type BusboyHeaders } from '@fastify/busboy';
import type { FastifyRequest } from 'fastify';
import { BrokerError, isBrokerError } from '../../broker/errors';
import { initializeFileTransfer, type InitializeFileTransferRequest } from '../../broker/initialize-file-transfer';
import type { BrokerCaller, BrokerContext } from '../../broker/types';
import { uploadFileTransfer } from '../../broker/upload-file-transfer';
import { contentLengthOf, httpError } from './json';

/** Altinn's multipart limit (`MultipartBodyLengthLimit = int.MaxValue`): the whole form, file included. */
export const MULTIPART_FORM_MAX_BYTES = 2 ** 31 - 1;

const FORM_SCALARS: Record<string, keyof InitializeFileTransferRequest> = {
  filename: 'fileName',
  resourceid: 'resourceId',
  sendersfiletransferreference: 'sendersFileTransferReference',
  sender: 'sender',
  checksum: 'checksum',
};
const FILE_PART = 'filetransfer';
const METADATA_FIRST = 'The Metadata fields are read only before the file part FileTransfer: send them first.';

/** The Metadata.* fields of the form, bound as ASP.NET's form binder would (names in any case). */
class FormMetadata {
  private readonly scalars = new Map<keyof InitializeFileTransferRequest, string>();
  private readonly recipients: { index: number; value: string }[] = [];
  private readonly properties: Record<string, string> = {};
  private readonly indexedProperties = new Map<number, { key?: string; value?: string }>();
  private disableVirusScan: string | undefined;
  readonly errors: Record<string, string[]> = {};
  count = 0;

  add(name: string, value: string, truncated: boolean): void {
    const lower = name.toLowerCase();
    if (!lower.startsWith('metadata.')) return; // ASP.NET ignores form fields no model property names
    this.count++;
    if (truncated) {
      (this.errors[name] ??= []).push(`The field ${name} is too long.`);
      return;
    }
    const member = lower.slice('metadata.'.length);
    const scalar = FORM_SCALARS[member];
    if (scalar) {
      this.scalars.set(scalar, value);
    } else if (member === 'disablevirusscan') {
      this.disableVirusScan = value;
    } else if (member === 'recipients') {
      this.recipients.push({ index: Number.MAX_SAFE_INTEGER, value });
    } else if (/^recipients\[\d+\]$/.test(member)) {
      this.recipients.push({ index: Number(member.slice('recipients['.length, -1)), value });
    } else {
      const indexed = /^propertylist\[(\d+)\]\.(key|value)$/.exec(member);
      const keyed = /^metadata\.propertylist\[(.*)\]$/is.exec(name);
      if (indexed) {
        const entry = this.indexedProperties.get(Number(indexed[1])) ?? {};
        entry[indexed[2] as 'key' | 'value'] = value;
        this.indexedProperties.set(Number(indexed[1]), entry);
      } else if (keyed) {
        this.properties[keyed[1]!] = value;
      }
    }
  }

  toRequest(): InitializeFileTransferRequest {
    const properties = { ...this.properties };
    for (const [, entry] of [...this.indexedProperties].sort(([a], [b]) => a - b)) {
      if (entry.key !== undefined) properties[entry.key] = entry.value ?? '';
    }
    let disableVirusScan: boolean | null = null;
    if (this.disableVirusScan !== undefined && this.disableVirusScan.trim() !== '') {
      const text = this.disableVirusScan.trim().toLowerCase();
      if (text === 'true' || text === 'false') disableVirusScan = text === 'true';
      else (this.errors['Metadata.DisableVirusScan'] ??= []).push(`The value '${this.disableVirusScan}' is not valid for DisableVirusScan.`);
    }
    const recipients = [...this.recipients].sort((a, b) => a.index - b.index).map((entry) => entry.value);
    return {
      fileName: this.scalars.get('fileName'),
      resourceId: this.scalars.get('resourceId'),
      sendersFileTransferReference: this.scalars.get('sendersFileTransferReference'),
      sender: this.scalars.get('sender'),
      recipients: recipients.length > 0 ? recipients : undefined,
      propertyList: properties,
      checksum: this.scalars.get('checksum'),
      disableVirusScan,
    };
  }
}

function formProblem(errors: Record<string, string[]>): BrokerError {
  const [first] = Object.entries(errors);
  return new BrokerError('InvalidInput', `${first![0]}: ${first![1][0]}`, { errors });
}

/** The domain's InvalidInput keys (`FileName`) as the form names them (`Metadata.FileName`). */
function asFormErrors(error: unknown): unknown {
  if (!isBrokerError(error, 'InvalidInput') || !error.details.errors) return error;
  const errors: Record<string, string[]> = {};
  for (const [key, messages] of Object.entries(error.details.errors)) errors[key === '' ? '' : `Metadata.${key}`] = messages;
  const missing = Object.values(error.details.errors).some((messages) => messages.some((message) => message.endsWith('field is required.')));
  if (missing) errors.FileTransfer = [METADATA_FIRST];
  return formProblem(errors);
}

/**
 * Reads the form as it arrives (busboy: the remix parser buffers every part whole): the Metadata
 * fields first, then, when the file part starts, initializes the transfer and streams the part
 * into its upload. Resolves with the transfer id once the bytes are stored and the form has ended.
 */
export async function initializeAndUpload(ctx: BrokerContext, caller: BrokerCaller, request: FastifyRequest): Promise<string> {
  const declared = contentLengthOf(request);
  if (declared !== undefined && declared > MULTIPART_FORM_MAX_BYTES) throw formTooLarge();
  const source = request.body as Readable;

  let form: ReturnType<typeof Busboy>;
  try {
    form = Busboy({
      headers: request.headers as BusboyHeaders,
      limits: { fields: 200, fieldSize: 64 * 1024, files: 1, parts: 201, headerPairs: 100 },
      // The file part is a file whatever its Content-Type; other parts are fields unless named as files.
      isPartAFile: (fieldName, _contentType, fileName) => fieldName?.toLowerCase() === FILE_PART || fileName !== undefined,
    });
  } catch (error) {
    throw httpError(400, `The multipart/form-data request cannot be read: ${(error as Error).message}`);
  }

  return new Promise<string>((resolve, reject) => {
    const metadata = new FormMetadata();
    let upload: Promise<string> | undefined;
    let fileStream: BusboyFileStream | undefined;
    let formEnded = false;
    let settled = false;
    const settle = (error: unknown, fileTransferId?: string) => {
      if (settled) return;
      settled = true;
      source.unpipe(counter);
      counter.unpipe(form);
      if (error === undefined) resolve(fileTransferId!);
      else reject(error);
    };
    // Once the upload has started, its own outcome (UploadFailed, FileSizeTooBig, …) is the answer.
    const fail = (error: unknown) => {
      if (fileStream && !fileStream.destroyed) fileStream.destroy(error as Error);
      if (!upload) settle(error);
    };

    let received = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        received += chunk.length;
        if (received > MULTIPART_FORM_MAX_BYTES) done(formTooLarge());
        else done(null, chunk);
      },
    });
    counter.on('error', fail);
    source.on('close', () => {
      if (!source.readableEnded) fail(new Error('the client closed the connection before the form ended'));
    });

    form.on('field', (name, value, _nameTruncated, valueTruncated) => {
      if (!upload) metadata.add(name, value, valueTruncated);
    });
    form.on('file', (name, stream) => {
      if (upload || name.toLowerCase() !== FILE_PART) {
        stream.resume();
        return;
      }
      fileStream = stream;
      upload = (async () => {
        if (metadata.count === 0) throw formProblem({ FileTransfer: [METADATA_FIRST] });
        const initialize = metadata.toRequest();
        // Fields that did not bind (a bad DisableVirusScan, a truncated value) refuse the form before anything is stored.
        if (Object.keys(metadata.errors).length > 0) throw formProblem(metadata.errors);
        let fileTransferId: string;
        try {
          ({ fileTransferId } = await initializeFileTransfer(ctx, caller, initialize));
        } catch (error) {
          throw asFormErrors(error);
        }
        await uploadFileTransfer(ctx, caller, fileTransferId, stream);
        return fileTransferId;
      })();
      upload.then(
        (fileTransferId) => {
          if (formEnded) settle(undefined, fileTransferId);
        },
        (error: unknown) => settle(error),
      );
    });
    form.on('finish', () => {
      formEnded = true;
      if (!upload) {
        settle(formProblem({ FileTransfer: ['The FileTransfer field is required.'] }));
        return;
      }
      upload.then(
        (fileTransferId) => settle(undefined, fileTransferId),
        () => undefined,
      );
    });
    form.on('error', (error: unknown) => fail(httpError(400, `The multipart/form-data request cannot be read: ${(error as Error).message}`)));

    source.pipe(counter).pipe(form);
  });
}

function formTooLarge(): Error {
  return httpError(413, `The form is larger than ${MULTIPART_FORM_MAX_BYTES} bytes (2 GiB): upload larger files with POST /filetransfer/{id}/upload or TUS`);
}
