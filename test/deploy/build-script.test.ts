/**
 * `npm start` builds only when dist/ is missing or older than a source (scripts/build.js
 * --if-stale), and nothing an install runs needs a dev dependency (`npm ci --omit=dev` of the
 * packed package; the full pack-install-serve round is .ci/package-smoke).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(__dirname, '../..');
const packageJson = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
  scripts: Record<string, string>;
  files: string[];
};

it('no install-time script builds; packing builds; npm start builds only when stale', () => {
  for (const hook of ['preinstall', 'install', 'postinstall', 'prepare']) expect(packageJson.scripts[hook]).toBeUndefined();
  expect(packageJson.scripts.prepack).toBe('npm run build');
  expect(packageJson.scripts.prestart).toBe('node scripts/build.js --if-stale');
  expect(packageJson.files).toEqual(expect.arrayContaining(['bin/', 'dist/src/', 'dist/migrations/', 'wsdl/', 'assets/']));
});

describe('scripts/build.js on a small project', () => {
  let project: string;
  const output = () => path.join(project, 'dist', 'src', 'a.js');
  const build = (...args: string[]) => spawnSync(process.execPath, [path.join(project, 'scripts', 'build.js'), ...args], { encoding: 'utf8' });

  beforeAll(() => {
    project = fs.mkdtempSync(path.join(os.tmpdir(), 'agw-build-'));
    fs.mkdirSync(path.join(project, 'scripts'));
    fs.copyFileSync(path.join(root, 'scripts', 'build.js'), path.join(project, 'scripts', 'build.js'));
    fs.mkdirSync(path.join(project, 'src'));
    fs.writeFileSync(path.join(project, 'src', 'a.ts'), 'export const a: number = 1;\n');
    fs.writeFileSync(path.join(project, 'tsconfig.build.json'), JSON.stringify({ compilerOptions: { outDir: 'dist', rootDir: '.', module: 'commonjs', types: [] }, include: ['src/**/*.ts'] }));
    fs.symlinkSync(path.join(root, 'node_modules'), path.join(project, 'node_modules'));
  });
  afterAll(() => fs.rmSync(project, { recursive: true, force: true }));

  it('builds when dist is missing, skips when current, rebuilds after a source changes', () => {
    expect(build('--if-stale')).toMatchObject({ status: 0, stderr: expect.stringMatching(/built dist\//) });
    expect(fs.readFileSync(output(), 'utf8')).toContain('exports.a = 1');

    const second = build('--if-stale');
    expect(second).toMatchObject({ status: 0, stderr: '' });

    const later = new Date(Date.now() + 2000);
    fs.writeFileSync(path.join(project, 'src', 'a.ts'), 'export const a: number = 2;\n');
    fs.utimesSync(path.join(project, 'src', 'a.ts'), later, later);
    expect(build('--if-stale')).toMatchObject({ status: 0, stderr: expect.stringMatching(/built dist\//) });
    expect(fs.readFileSync(output(), 'utf8')).toContain('exports.a = 2');
  });

  it('a failing compile fails the build and leaves no stamp', () => {
    fs.writeFileSync(path.join(project, 'src', 'a.ts'), 'export const a: number = "text";\n');
    const result = build();
    expect(result.status).not.toBe(0);
    expect(fs.existsSync(path.join(project, 'dist', '.build-stamp'))).toBe(false);
  });
});
