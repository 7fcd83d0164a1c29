/**
 * `altinn-gateway storage migrate --to <store>`: every blob (referenced or merely present) copied
 * under its key, each copy read back and verified; resumable after kill -9; a source that does not
 * match its row fails the run (exit 1) and leaves nothing wrong at the target. File → file, and
 * file → Azure Blob Storage (Azurite) and → S3 (s3rver), each followed by the switch of BLOB_STORE_URL.
 */
import { spawn } from 'node:child_process';
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { openApp } from '../../src/app';
import { archiveFormTasks } from '../../src/archive/archive-form-tasks';
import { main } from '../../src/cli/main';
import { loadConfig } from '../../src/config';
import { digestBlob, FileBlobStore } from '../../src/storage/blob-store';
import { createOwnerWithService, newTask } from '../helpers/archive-fixtures';
import { startAzurite } from '../helpers/azurite';
import { CapturedOutput, createCliHarness, type CliHarness } from '../helpers/cli-runner';
import { generatedAttachment, generatedBytes } from '../helpers/fixtures';
import { startS3Server } from '../helpers/s3-server';
import { CLI_FROM_SOURCE } from '../helpers/spawn-cli';

let cli: CliHarness;
let targetDir: string;
/** Key → sha256 of every blob in the source. */
let sourceBlobs: Map<string, string>;

beforeAll(async () => {
  cli = await createCliHarness();
  targetDir = await mkdtemp(path.join(tmpdir(), 'agw-migrate-target-'));
  expect(await cli.run(['migrate'])).toMatchObject({ code: 0 });
  sourceBlobs = await cli.inspect(async (app) => {
    const owner = await createOwnerWithService(app);
    // Referenced (with the size and SHA-256 their rows record), and one no row knows yet.
    await archiveFormTasks(app, owner.serviceOwnerId, [
      newTask(owner, { attachments: [generatedAttachment('a.bin', 3 * 1024 * 1024 + 5, 1), generatedAttachment('b.bin', 0, 2)] }),
      newTask(owner, { attachments: Array.from({ length: 24 }, (_, i) => generatedAttachment(`c${i}.bin`, 2 * 1024 * 1024 + i, 10 + i)) }),
    ]);
    await app.blobs.put(Readable.from(generatedBytes(70_000, 3)));
    // An upload in flight: not copied, but said.
    const upload = await app.blobs.createUpload();
    await app.blobs.writeUploadPart(upload, { partNumber: 1, offset: 0 }, Readable.from([Buffer.alloc(10, 1)]));
    const blobs = new Map<string, string>();
    for await (const item of app.blobs.listBlobs({ olderThan: new Date(Date.now() + 60_000) })) blobs.set(item.key, (await digestBlob(app.blobs, item.key)).sha256);
    return blobs;
  });
  expect(sourceBlobs.size).toBe(27);
});
afterAll(async () => {
  await cli?.close();
  if (targetDir) await rm(targetDir, { recursive: true, force: true });
});

async function targetBlobs(dir: string): Promise<Map<string, string>> {
  const target = new FileBlobStore(dir);
  const blobs = new Map<string, string>();
  for await (const item of target.listBlobs({ olderThan: new Date(Date.now() + 60_000) })) blobs.set(item.key, (await digestBlob(target, item.key)).sha256);
  return blobs;
}

it('copies every blob verified, says so on stdout with progress on stderr, and a second run copies nothing again', async () => {
  const to = `file://${targetDir}`;
  const journal = path.join(targetDir, '..', `${path.basename(targetDir)}.journal`);
  const first = await cli.run(['storage', 'migrate', '--to', to, '--journal', journal]);
  expect(first).toMatchObject({ code: 0 });
  expect(first.stdout).toMatch(/^Copied 27 blobs \(\d+ bytes\); 0 \(0 bytes\) were at the target already, verified; 0 problems\.\n$/);
  expect(first.stderr).toContain(`Copying file://${path.join(cli.env.DATA_DIR!, 'blobs')} to file://${targetDir}`);
  expect(first.stderr).toMatch(/27\/27 blobs, 51\.1 MiB of 51\.1 MiB, [\d.]+ (KiB|MiB|GiB)\/s\n/);
  expect(first.stderr).toContain('warning: 1 resumable uploads and 0 unfinished writes in flight were not copied');
  expect(await targetBlobs(targetDir)).toEqual(sourceBlobs);

  const second = await cli.run(['storage', 'migrate', '--to', to, '--journal', journal]);
  expect(second).toMatchObject({ code: 0 });
  expect(second.stdout).toMatch(/^Copied 0 blobs \(0 bytes\); 27 \(\d+ bytes\) were at the target already, verified; 0 problems\.\n$/);
  await rm(journal);
});

it('completes after a kill -9 mid-copy, verifying what the killed run left unjournalled', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'agw-migrate-killed-'));
  const journal = path.join(dir, 'journal');
  try {
    const child = spawn(process.execPath, [CLI_FROM_SOURCE, 'storage', 'migrate', '--to', `file://${path.join(dir, 'blobs')}`, '--journal', journal, '--concurrency', '1'], {
      env: { PATH: process.env.PATH, ...cli.env },
      stdio: 'ignore',
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    // Killed once a few copies are journalled, well before all 27 are.
    let lines = 0;
    while (lines < 3) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      lines = (await readFile(journal, 'utf8').catch(() => '')).split('\n').filter(Boolean).length;
    }
    child.kill('SIGKILL');
    expect(await exited).toBeNull();
    expect(lines).toBeLessThan(27);
    // A torn journal line, as a kill mid-append leaves it.
    await appendFile(journal, 'ab/cd/torn');

    const resumed = await cli.run(['storage', 'migrate', '--to', `file://${path.join(dir, 'blobs')}`, '--journal', journal]);
    expect(resumed).toMatchObject({ code: 0, stderr: expect.not.stringContaining('error') });
    const [, copied, already] = /^Copied (\d+) blobs \(\d+ bytes\); (\d+) \(\d+ bytes\) were at the target already, verified; 0 problems\.\n$/.exec(resumed.stdout)!;
    expect(Number(copied) + Number(already)).toBe(27);
    expect(Number(already)).toBeGreaterThanOrEqual(3);
    expect(await targetBlobs(path.join(dir, 'blobs'))).toEqual(sourceBlobs);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}, 120_000);

it('fails (exit 1) on a source blob that is not what its row records, keeps no bad copy, and leaves the source as it was', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'agw-migrate-bad-'));
  try {
    const key = await cli.inspect(async (app) => (await app.db('attachments').where('size_bytes', '>', 0).orderBy('id').first('blob_key')).blob_key as string);
    const sourceFile = new FileBlobStore(path.join(cli.env.DATA_DIR!, 'blobs')).pathOf(key);
    const good = await readFile(sourceFile);
    const bad = Buffer.from(good);
    bad[100] = bad[100]! ^ 0xff;
    await writeFile(sourceFile, bad);
    try {
      const run = await cli.run(['storage', 'migrate', '--to', `file://${path.join(dir, 'blobs')}`, '--journal', path.join(dir, 'journal')]);
      expect(run.code).toBe(1);
      expect(run.stdout).toMatch(/; 1 problems\.\n$/);
      expect(run.stderr).toMatch(new RegExp(`error: ${key}: the source's bytes \\(sha256 [0-9a-f]{64}\\) are not what its row records \\(sha256 ${sourceBlobs.get(key)}\\)`));
      expect(run.stderr).toContain('error: 1 blobs were not copied verified (listed above); run again once the cause is fixed');
      const copied = await targetBlobs(path.join(dir, 'blobs'));
      expect(copied.has(key)).toBe(false);
      expect(copied.size).toBe(26);
      expect((await readFile(sourceFile)).equals(bad)).toBe(true);
    } finally {
      await writeFile(sourceFile, good);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

it('refuses a bad target, and the configured store itself, before copying anything', async () => {
  expect(await cli.run(['storage', 'migrate', '--to', 'gcs://bucket'])).toMatchObject({
    code: 1,
    stderr: "error: --to must be file:, file:///absolute/directory, azure://<container>[/<prefix>] or s3://<bucket>[/<prefix>], got 'gcs://bucket'\n",
  });
  expect(await cli.run(['storage', 'migrate', '--to', 'azure://blobs'])).toMatchObject({ code: 1, stderr: expect.stringContaining('error: AZURE_STORAGE_CONNECTION_STRING must be set for --to=azure://blobs') });
  expect(await cli.run(['storage', 'migrate', '--to', 'file:'])).toMatchObject({ code: 1, stderr: expect.stringContaining('error: --to names the configured store itself') });
});

/** An object store the tests start: its BLOB_STORE_URL-style address and the variables that reach it. */
interface ObjectStoreUnderTest {
  url: string;
  env: NodeJS.ProcessEnv;
  stop(): Promise<void>;
}

describe.each<[string, () => Promise<ObjectStoreUnderTest>]>([
  ['Azure Blob Storage (Azurite)', async () => {
    const azurite = await startAzurite();
    return { url: 'azure://migrated/gw', env: { AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString }, stop: () => azurite.stop() };
  }],
  ['S3 (s3rver)', async () => {
    const s3 = await startS3Server();
    const env = { AWS_ENDPOINT_URL: s3.endpoint, AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey };
    return { url: `s3://${s3.bucket}/gw`, env, stop: () => s3.stop() };
  }],
])('to %s', (_name, startStore) => {
  let store: ObjectStoreUnderTest;
  beforeAll(async () => {
    store = await startStore();
  });
  afterAll(() => store?.stop());

  it('copies every blob there, verified; after switching BLOB_STORE_URL the gateway reads its attachments there, and gc there sweeps only the blob no row refers to', async () => {
    const env = { ...cli.env, ...store.env };
    const journal = path.join(targetDir, '..', `${path.basename(targetDir)}-${store.url.replace(/\W/g, '_')}.journal`);
    const run = async (args: string[], runEnv: NodeJS.ProcessEnv) => {
      const stdout = new CapturedOutput();
      const stderr = new CapturedOutput();
      const code = await main(args, { stdin: Readable.from([]), stdout, stderr, env: runEnv });
      return { code, stdout: stdout.text, stderr: stderr.text };
    };
    const first = await run(['storage', 'migrate', '--to', store.url, '--journal', journal], env);
    expect(first).toMatchObject({ code: 0, stdout: expect.stringMatching(/^Copied 27 blobs \(\d+ bytes\); 0 \(0 bytes\)/) });
    expect(first.stderr).toContain(`to ${store.url}/`);
    const again = await run(['storage', 'migrate', '--to', store.url, '--journal', journal], env);
    expect(again.stdout).toMatch(/^Copied 0 blobs \(0 bytes\); 27 /);

    const switched = { ...env, BLOB_STORE_URL: store.url };
    const app = await openApp(loadConfig(switched));
    try {
      const copied = new Map<string, string>();
      for await (const item of app.blobs.listBlobs({ olderThan: new Date(Date.now() + 60_000) })) copied.set(item.key, (await digestBlob(app.blobs, item.key)).sha256);
      expect(copied).toEqual(sourceBlobs);
      const rows: { blob_key: string; sha256: string }[] = await app.db('attachments').select('blob_key', 'sha256');
      for (const row of rows) expect((await digestBlob(app.blobs, row.blob_key)).sha256).toBe(row.sha256);
    } finally {
      await app.close();
    }
    // Only the blob no row refers to is an orphan there (the upload in flight stayed behind).
    expect((await run(['storage', 'gc', '--dry-run', '--grace-seconds', '0'], switched)).stdout).toMatch(/^Would remove 1 files, 70000 bytes: 1 orphan blobs \(70000 bytes\), 0 partial files \(0 bytes\), 0 abandoned uploads \(0 bytes\)\.\n$/);
  }, 120_000);
});
