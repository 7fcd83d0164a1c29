/**
 * Azurite (Microsoft's Azure Storage emulator, npm `azurite`), its blob service only, as a child
 * process on a port of its own choosing and a temporary workspace: the real wire protocol for the
 * Azure Blob store's tests, and for tests that run gateway processes against one shared Azurite.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface Azurite {
  /** For BlobServiceClient.fromConnectionString (the emulator's well-known development account). */
  connectionString: string;
  /** The blob endpoint, e.g. http://127.0.0.1:41234/devstoreaccount1. */
  blobEndpoint: string;
  stop(): Promise<void>;
}

/** Azurite's published development account (not a secret: the same in every installation). */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export async function startAzurite(): Promise<Azurite> {
  const workspace = fs.mkdtempSync(path.join(os.tmpdir(), 'agw-azurite-'));
  const main = require.resolve('azurite/dist/src/blob/main.js');
  // Port 0: Azurite binds a free port and prints it, so parallel test files never collide.
  const child = spawn(
    process.execPath,
    [main, '--blobHost', '127.0.0.1', '--blobPort', '0', '--location', workspace, '--skipApiVersionCheck', '--loose', '--disableTelemetry'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`Azurite did not start within 30 s:\n${output}`)), 30_000);
      const onData = (chunk: Buffer) => {
        output += chunk.toString('utf8');
        const match = /successfully listens on http:\/\/127\.0\.0\.1:(\d+)/.exec(output);
        if (match) {
          clearTimeout(timer);
          resolve(Number(match[1]));
        }
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`Azurite exited (${code}) before listening:\n${output}`));
      });
    });
    // Keep reading its output so a full pipe never blocks it.
    child.stdout.resume();
    child.stderr.resume();
    const blobEndpoint = `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`;
    return {
      connectionString: `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${blobEndpoint};`,
      blobEndpoint,
      stop: async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        await exited;
        fs.rmSync(workspace, { recursive: true, force: true });
      },
    };
  } catch (error) {
    child.kill('SIGKILL');
    await exited;
    fs.rmSync(workspace, { recursive: true, force: true });
    throw error;
  }
}
