/**
 * Runs the altinn-gateway CLI from src/ in a child process, as bin/altinn-gateway.js runs it from
 * dist/: tests spawn `node test/support/cli-from-source.js <args>` without a build. TypeScript is
 * transpiled per file on require (types are checked by `npm run typecheck`, not here).
 */
const fs = require('node:fs');
const ts = require('typescript');

const compilerOptions = { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true, sourceMap: false };
require.extensions['.ts'] = (module, fileName) => {
  const { outputText } = ts.transpileModule(fs.readFileSync(fileName, 'utf8'), { compilerOptions, fileName });
  module._compile(outputText, fileName);
};

require('../../src/cli/main.ts').run();
