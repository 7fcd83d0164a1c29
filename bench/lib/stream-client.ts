/**
 * Streaming download clients for stream-1gb and encrypt-1gb: the bytes are hashed as they arrive
 * and discarded (nothing is buffered but the small MTOM head), so the client's memory stays flat at
 * any size. With `decrypt` the received bytes are AES-128-CBC ciphertext, decrypted on the fly and
 * the plaintext hashed (as a service owner would read an encrypted attachment). The MTOM reader
 * knows the attachment's size from the archive and checks the framing around it: root part, one
 * XOP part of exactly that many bytes, closing delimiter.
 */
import { createDecipheriv, createHash } from 'node:crypto';
import http from 'node:http';
import { boundaryOf, type SoapRequest } from './soap';
import { MB } from './stats';

export interface Download {
  /** Bytes received (of the body, or of the MTOM part): ciphertext when decrypting. */
  bytes: number;
  /** Of the bytes received, or of the plaintext when decrypting. */
  sha256: string;
  seconds: number;
  mbPerSecond: number;
  /** Time to the response headers. */
  ttfbMs: number;
  contentLength: number | undefined;
}

/** Key and IV for decrypting the received bytes (AES-128-CBC, PKCS#7) before they are hashed. */
export interface DecryptWith {
  key: Buffer;
  iv: Buffer;
}

export interface DownloadOptions {
  decrypt?: DecryptWith;
}

/** SHA-256 of the bytes, or of their decryption. */
function digester(decrypt: DecryptWith | undefined): { update(chunk: Buffer): void; digest(): string } {
  const hash = createHash('sha256');
  if (!decrypt) return { update: (chunk) => hash.update(chunk), digest: () => hash.digest('hex') };
  const decipher = createDecipheriv('aes-128-cbc', decrypt.key, decrypt.iv);
  return {
    update: (chunk) => hash.update(decipher.update(chunk)),
    // final() checks the padding: throws ('bad decrypt') on a wrong key or altered ciphertext.
    digest: () => hash.update(decipher.final()).digest('hex'),
  };
}

interface Sink {
  write(chunk: Buffer): void;
  end(): { bytes: number; sha256: string };
}

function request(url: URL, method: 'GET' | 'POST', headers: Record<string, string>, body: Buffer | undefined, makeSink: (res: http.IncomingMessage) => Sink): Promise<Download> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const req = http.request(url, { method, agent: false, headers: { ...headers, ...(body && { 'content-length': String(body.length) }) } }, (res) => {
      const ttfbMs = Number(process.hrtime.bigint() - started) / 1e6;
      if (res.statusCode !== 200) {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.length < 4 && chunks.push(c));
        res.on('end', () => reject(new Error(`HTTP ${res.statusCode}: ${Buffer.concat(chunks).subarray(0, 600).toString()}`)));
        return;
      }
      let sink: Sink;
      try {
        sink = makeSink(res);
      } catch (error) {
        res.destroy();
        reject(error);
        return;
      }
      res.on('data', (chunk: Buffer) => {
        try {
          sink.write(chunk);
        } catch (error) {
          res.destroy();
          reject(error);
        }
      });
      res.on('end', () => {
        try {
          const { bytes, sha256 } = sink.end();
          const seconds = Number(process.hrtime.bigint() - started) / 1e9;
          const lengthHeader = res.headers['content-length'];
          resolve({ bytes, sha256, seconds, mbPerSecond: bytes / MB / seconds, ttfbMs, contentLength: lengthHeader === undefined ? undefined : Number(lengthHeader) });
        } catch (error) {
          reject(error);
        }
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** GET a URL and hash its whole body. */
export function downloadRaw(url: string, options: DownloadOptions = {}): Promise<Download> {
  return request(new URL(url), 'GET', {}, undefined, () => {
    const hash = digester(options.decrypt);
    let bytes = 0;
    return {
      write: (chunk) => {
        hash.update(chunk);
        bytes += chunk.length;
      },
      end: () => ({ bytes, sha256: hash.digest() }),
    };
  });
}

/** POST a SOAP request whose MTOM response carries one binary part of `expectedSize` bytes; hash that part. */
export function downloadMtomPart(baseUrl: string, soap: SoapRequest, expectedSize: number, options: DownloadOptions = {}): Promise<Download> {
  return request(new URL(soap.path, baseUrl), 'POST', soap.headers, Buffer.from(soap.body), (res) => {
    const contentType = res.headers['content-type'] ?? '';
    if (!contentType.startsWith('multipart/related')) throw new Error(`Expected an MTOM response, got content-type '${contentType}'`);
    const boundary = boundaryOf(contentType);
    const partDelimiter = Buffer.from(`\r\n--${boundary}\r\n`);
    const closing = Buffer.from(`\r\n--${boundary}--\r\n`);
    const hash = digester(options.decrypt);
    let phase: 'head' | 'binary' | 'trailer' = 'head';
    let head = Buffer.alloc(0);
    let trailer = Buffer.alloc(0);
    let remaining = expectedSize;

    const takeBinary = (chunk: Buffer): void => {
      const n = Math.min(remaining, chunk.length);
      if (n > 0) hash.update(n === chunk.length ? chunk : chunk.subarray(0, n));
      remaining -= n;
      if (remaining === 0) {
        phase = 'trailer';
        if (n < chunk.length) trailer = Buffer.concat([trailer, chunk.subarray(n)]);
      }
    };
    return {
      write: (chunk) => {
        if (phase === 'binary') return takeBinary(chunk);
        if (phase === 'trailer') {
          trailer = Buffer.concat([trailer, chunk]);
          if (trailer.length > closing.length) throw new Error('MTOM: more bytes after the attachment part than the closing delimiter');
          return;
        }
        head = Buffer.concat([head, chunk]);
        const delimiterAt = head.indexOf(partDelimiter);
        const headersEnd = delimiterAt < 0 ? -1 : head.indexOf('\r\n\r\n', delimiterAt + partDelimiter.length);
        if (headersEnd < 0) {
          if (head.length > 1024 * 1024) throw new Error('MTOM: no binary part within the first MiB');
          return;
        }
        if (!head.subarray(0, delimiterAt).includes('xop:Include') && !head.subarray(0, delimiterAt).includes(':Include ')) {
          throw new Error('MTOM: the root part has no xop:Include');
        }
        phase = remaining === 0 ? 'trailer' : 'binary';
        const rest = head.subarray(headersEnd + 4);
        head = Buffer.alloc(0);
        if (phase === 'binary') takeBinary(rest);
        else trailer = Buffer.from(rest);
      },
      end: () => {
        if (phase !== 'trailer' || !trailer.equals(closing)) {
          throw new Error(`MTOM: response ended early or malformed (phase ${phase}, ${remaining} attachment bytes missing)`);
        }
        return { bytes: expectedSize, sha256: hash.digest() };
      },
    };
  });
}
