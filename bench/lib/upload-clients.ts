/**
 * The HTTP clients of the broker benchmarks, in a module that loads nothing of the gateway: a small
 * JSON call, the one-request streaming upload, a raw TUS client (creation, then a PATCH per chunk)
 * and tus-js-client. `uploadInClientProcess` runs one of them in a node process of its own
 * (upload-client-child.js), so that the client measured is a small process doing nothing else, as
 * a real client is, and not the benchmark process with the gateway's modules loaded and its
 * samplers running: there the same uploads cost 2-3 times the CPU they cost a process of their own,
 * most of it in that process's V8 helper threads and libuv threads, and on 2 shared cores the
 * server paid for it (bench/PROFILE-NOTES.md).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { Upload as TusUpload } from 'tus-js-client';
import { MB } from './stats';

export interface JsonResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  json: any;
  text: string;
  ms: number;
}

/** One request with an optional small body, answered in full. */
export function call(
  baseUrl: string,
  method: string,
  urlPath: string,
  options: { token?: string; json?: unknown; body?: Buffer; contentType?: string; agent?: http.Agent; headers?: Record<string, string> } = {},
): Promise<JsonResponse> {
  const body = options.json !== undefined ? Buffer.from(JSON.stringify(options.json)) : options.body;
  const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (body) {
    headers['content-type'] = options.contentType ?? (options.json !== undefined ? 'application/json' : 'application/octet-stream');
    headers['content-length'] = String(body.length);
  }
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const url = new URL(urlPath, baseUrl);
    const request = http.request(url, { method, headers, agent: options.agent ?? false }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        if (/json/.test(response.headers['content-type'] ?? '') && text !== '') {
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
        }
        resolve({ status: response.statusCode!, headers: response.headers, json, text, ms: Number(process.hrtime.bigint() - started) / 1e6 });
      });
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end(body);
  });
}

export interface Upload {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  seconds: number;
  mbPerSecond: number;
  bytes: number;
}

/**
 * Streams a file (or `bytes` of it from `start`) as a request body with Content-Length, 256 KiB
 * reads, optionally between a prefix and a suffix (an MTOM envelope), and waits for the whole
 * answer. The clock runs from the request's start to the answer's end; `bytes` is the file's part.
 */
export function uploadFile(
  url: string,
  file: string,
  options: {
    method?: string | undefined;
    headers?: Record<string, string>;
    start?: number;
    bytes?: number;
    agent?: http.Agent | false;
    prefix?: Buffer | undefined;
    suffix?: Buffer | undefined;
    /** Transfer-Encoding: chunked instead of Content-Length (as Metro sends MTOM uploads). */
    chunked?: boolean | undefined;
  } = {},
): Promise<Upload> {
  const start = options.start ?? 0;
  const bytes = options.bytes ?? fs.statSync(file).size - start;
  const prefix = options.prefix ?? Buffer.alloc(0);
  const suffix = options.suffix ?? Buffer.alloc(0);
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const request = http.request(
      url,
      {
        method: options.method ?? 'POST',
        agent: options.agent ?? false,
        headers: {
          'content-type': 'application/octet-stream',
          ...options.headers,
          ...(options.chunked ? { 'transfer-encoding': 'chunked' } : { 'content-length': String(prefix.length + bytes + suffix.length) }),
        },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.length < 16 && chunks.push(chunk));
        response.on('end', () => {
          const seconds = Number(process.hrtime.bigint() - started) / 1e9;
          resolve({ status: response.statusCode!, headers: response.headers, body: Buffer.concat(chunks).toString('utf8'), seconds, mbPerSecond: bytes / MB / seconds, bytes });
        });
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    if (prefix.length > 0) request.write(prefix);
    if (bytes === 0) {
      request.end(suffix);
      return;
    }
    const source = fs.createReadStream(file, { start, end: start + bytes - 1, highWaterMark: 256 * 1024 });
    source.on('error', (error) => request.destroy(error));
    source.pipe(request, { end: false });
    source.on('end', () => request.end(suffix));
  });
}

/**
 * The raw TUS client: creation at `creationUrl`, then a PATCH per chunk of `chunkBytes`, each
 * streamed from the file, over one keep-alive connection. Returns the number of requests.
 */
export async function rawTusUpload(creationUrl: string, headers: Record<string, string>, file: string, sizeBytes: number, chunkBytes: number): Promise<number> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const auth = { ...headers, 'tus-resumable': '1.0.0' };
    const creation = new URL(creationUrl);
    const created = await call(creation.origin, 'POST', creation.pathname, { agent, headers: { ...auth, 'upload-length': String(sizeBytes) } });
    const location = created.status === 201 ? created.headers.location : undefined;
    if (!location) throw new Error(`TUS creation answered ${created.status}: ${created.text.slice(0, 300)}`);
    const uploadUrl = new URL(location, creation).toString();
    let offset = 0;
    let requests = 1;
    while (offset < sizeBytes) {
      const bytes = Math.min(chunkBytes, sizeBytes - offset);
      const patch = await uploadFile(uploadUrl, file, {
        method: 'PATCH',
        start: offset,
        bytes,
        agent,
        headers: { ...auth, 'upload-offset': String(offset), 'content-type': 'application/offset+octet-stream' },
      });
      requests++;
      if (patch.status !== 204 || patch.headers['upload-offset'] !== String(offset + bytes)) {
        throw new Error(`TUS PATCH at ${offset} answered ${patch.status} (Upload-Offset ${patch.headers['upload-offset']}): ${patch.body.slice(0, 300)}`);
      }
      offset += bytes;
    }
    return requests;
  } finally {
    agent.destroy();
  }
}

/** tus-js-client with an fs.ReadStream, `chunkBytes` chunks, no retries. Returns the number of requests. */
export function tusJsUpload(endpoint: string, headers: Record<string, string>, file: string, chunkBytes: number): Promise<number> {
  let requests = 0;
  return new Promise((resolve, reject) => {
    const upload = new TusUpload(fs.createReadStream(file), {
      endpoint,
      chunkSize: chunkBytes,
      headers,
      retryDelays: [],
      storeFingerprintForResuming: false,
      removeFingerprintOnSuccess: false,
      onBeforeRequest: () => {
        requests++;
      },
      onError: reject,
      onSuccess: () => resolve(requests),
    });
    upload.start();
  });
}

/** One upload for a client process: which client, where to, what. */
export type ClientUpload =
  | {
      client: 'one-request';
      url: string;
      method?: string | undefined;
      headers: Record<string, string>;
      file: string;
      /** Sent before and after the file (an MTOM envelope), base64 in the JSON that reaches the client process. */
      prefixBase64?: string | undefined;
      suffixBase64?: string | undefined;
      chunked?: boolean | undefined;
    }
  | { client: 'raw-tus' | 'tus-js-client'; url: string; headers: Record<string, string>; file: string; chunkBytes: number };

export interface ClientUploadResult {
  /** From the first request's start to the last answer's end. */
  seconds: number;
  requests: number;
  /** The client process's CPU (all its threads) over those seconds. */
  cpuMs: number;
  /** The one-request upload's answer, and the bytes of the file it sent. */
  status?: number;
  headers?: http.IncomingHttpHeaders;
  body?: string;
  bytes?: number;
}

/** Runs `upload` in this process, timed, with this process's CPU over it. */
export async function runClientUpload(upload: ClientUpload): Promise<ClientUploadResult> {
  const cpuBefore = process.cpuUsage();
  const started = process.hrtime.bigint();
  const elapsed = () => Number(process.hrtime.bigint() - started) / 1e9;
  const cpuMs = () => {
    const cpu = process.cpuUsage(cpuBefore);
    return Math.round((cpu.user + cpu.system) / 1000);
  };
  if (upload.client === 'one-request') {
    const envelope = (base64: string | undefined) => (base64 === undefined ? undefined : Buffer.from(base64, 'base64'));
    const answer = await uploadFile(upload.url, upload.file, {
      method: upload.method,
      headers: upload.headers,
      prefix: envelope(upload.prefixBase64),
      suffix: envelope(upload.suffixBase64),
      chunked: upload.chunked,
    });
    return { seconds: answer.seconds, requests: 1, cpuMs: cpuMs(), status: answer.status, headers: answer.headers, body: answer.body, bytes: answer.bytes };
  }
  const sizeBytes = fs.statSync(upload.file).size;
  const requests =
    upload.client === 'raw-tus' ? await rawTusUpload(upload.url, upload.headers, upload.file, sizeBytes, upload.chunkBytes) : await tusJsUpload(upload.url, upload.headers, upload.file, upload.chunkBytes);
  return { seconds: elapsed(), requests, cpuMs: cpuMs() };
}

/** `uploadFile`, sent by a node process of its own: the same answer, and that process's CPU over the upload. */
export async function uploadFileInClientProcess(
  url: string,
  file: string,
  options: { method?: string | undefined; headers?: Record<string, string>; prefix?: Buffer | undefined; suffix?: Buffer | undefined; chunked?: boolean | undefined } = {},
): Promise<Upload & { cpuMs: number }> {
  const result = await uploadInClientProcess({
    client: 'one-request',
    url,
    file,
    method: options.method,
    headers: options.headers ?? {},
    prefixBase64: options.prefix?.toString('base64'),
    suffixBase64: options.suffix?.toString('base64'),
    chunked: options.chunked,
  });
  const bytes = result.bytes!;
  return { status: result.status!, headers: result.headers!, body: result.body!, seconds: result.seconds, mbPerSecond: bytes / MB / result.seconds, bytes, cpuMs: result.cpuMs };
}

/** Runs `upload` in a node process of its own (its start is not timed) and returns what it measured. */
export function uploadInClientProcess(upload: ClientUpload): Promise<ClientUploadResult> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [path.join(__dirname, 'upload-client-child.js'), JSON.stringify(upload)], { maxBuffer: 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${upload.client} client process failed: ${stderr.trim() || error.message}`));
      else resolve(JSON.parse(stdout) as ClientUploadResult);
    });
  });
}
