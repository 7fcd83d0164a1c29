/**
 * For test files that start several gateway processes: the embedded database serves one process,
 * so they need a PostgreSQL server (DATABASE_URL; CI always sets it). Without one the file's tests
 * are skipped and the reason is printed, so a newcomer's `npm test` passes and says what it left out.
 */
export function describeOnPostgres(file: string, why: string): jest.Describe {
  if (process.env.DATABASE_URL) return describe;
  process.stderr.write(`\n${file} SKIPPED: ${why}, and DATABASE_URL is unset (run it with DATABASE_URL=postgres://postgres@127.0.0.1:5432/test)\n\n`);
  return describe.skip;
}
