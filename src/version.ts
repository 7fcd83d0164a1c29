/** The version of this build, from package.json at the project root (src/ under ts-jest, dist/src/ when compiled). */
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, __dirname.includes(`${path.sep}dist${path.sep}`) ? '../..' : '..');

export const VERSION: string = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
