/**
 * Jest transform for PGlite's CommonJS build. Jest runs tests in vm contexts where `import()`
 * throws unless node runs with --experimental-vm-modules; PGlite loads Node built-ins with
 * `await import("fs")` and the like. For built-ins, `require` gives the same module object, so
 * those calls are rewritten to go through require, and `npx jest` works without node flags.
 *
 * The helper is a function declaration appended at the end: hoisted, so usable everywhere, and
 * immune to the emscripten code's own local `var require`.
 */
const { createHash } = require('node:crypto');

const DYNAMIC_BUILTIN_IMPORT = /(?<![\w$.])import\((["'])((?:node:)?[a-z_/]+)\1\)/g;
const HELPER = '__jestRequireBuiltin';

module.exports = {
  process(source) {
    const code = source.replace(DYNAMIC_BUILTIN_IMPORT, `Promise.resolve(${HELPER}("$2"))`);
    return { code: `${code}\n;function ${HELPER}(id) { return require(id); }\n` };
  },
  getCacheKey(source, filePath) {
    return createHash('sha256').update('require-builtins-transform v2\0').update(filePath).update('\0').update(source).digest('hex');
  },
};
