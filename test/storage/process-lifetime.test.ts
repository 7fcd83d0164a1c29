/**
 * The hashing workers and the life of a process: a command that awaits a digest must not exit
 * before it arrives, and an idle pool (or a stream abandoned unfinished) must not keep it alive.
 * Each case runs in a child process on the storage modules transpiled to CommonJS.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ts from 'typescript';

const MODULES = ['blob-errors', 'blob-store', 'direct-write-readable', 'file-range-stream', 'hash-workers', 'hashing-writer', 'measure'];
let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agw-lifetime-'));
  for (const name of MODULES) {
    const source = fs.readFileSync(path.join(__dirname, '../../src/storage', `${name}.ts`), 'utf8');
    const { outputText } = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    });
    fs.writeFileSync(path.join(dir, `${name}.js`), outputText);
  }
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function run(script: string): { status: number | null; stdout: string; stderr: string; signal: NodeJS.Signals | null } {
  const result = spawnSync(process.execPath, ['-e', script], { cwd: dir, encoding: 'utf8', timeout: 30_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr, signal: result.signal };
}

it('stays alive until the digests of an in-memory stream arrive from the worker', () => {
  const result = run(`
    const { HashingWriter } = require('./hashing-writer');
    const { Readable } = require('node:stream');
    const { createHash } = require('node:crypto');
    const data = Buffer.alloc(6 * 1024 * 1024, 7);
    const writer = new HashingWriter({ algorithms: ['md5', 'sha256'] });
    // Nothing but the worker keeps this process alive while the digests are computed.
    Readable.from([data]).pipe(writer).on('finish', () => {
      const expected = createHash('sha256').update(data).digest('hex');
      console.log(writer.digests().sha256 === expected ? 'digest ok' : 'digest wrong');
    });
  `);
  expect(result).toMatchObject({ status: 0, stdout: 'digest ok\n' });
});

it('exits on its own once streams are done, and when one is abandoned unfinished', () => {
  const result = run(`
    const { HashingWriter } = require('./hashing-writer');
    const { Readable } = require('node:stream');
    const finished = new HashingWriter({ algorithms: ['md5'] });
    Readable.from([Buffer.alloc(3 * 1024 * 1024)]).pipe(finished).on('finish', () => {
      const abandoned = new HashingWriter({ algorithms: ['md5', 'sha256'] });
      abandoned.write(Buffer.alloc(3 * 1024 * 1024), () => console.log('abandoned mid-stream'));
    });
  `);
  expect(result).toMatchObject({ status: 0, signal: null, stdout: 'abandoned mid-stream\n' });
});
