/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    // PGlite's CommonJS build imports Node built-ins dynamically; see the transform's comment.
    '/node_modules/@electric-sql/pglite/dist/.+\\.cjs$': '<rootDir>/test/support/require-builtins-transform.js',
    // Our TypeScript, plus the few ESM-only dependencies (jest's module system is CommonJS here).
    '^.+\\.[tj]s$': ['ts-jest', { tsconfig: 'tsconfig.json', diagnostics: false }],
  },
  transformIgnorePatterns: ['/node_modules/(?!(@remix-run|@electric-sql/pglite)/)'],
  testTimeout: 120000,
  // Integration tests start servers and databases; two cores, so keep the worker count low.
  maxWorkers: 2,
};
