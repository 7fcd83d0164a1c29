/** loadConfig: every wrong variable named at once, values parsed into their types, secrets never echoed. */
import { ConfigError, loadConfig } from '../src/config';

function problemsOf(env: NodeJS.ProcessEnv): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

it('names every wrong variable, one problem each, without echoing a password', () => {
  expect(
    problemsOf({
      PORT: '99999',
      HOST: 'http://0.0.0.0',
      LOG_LEVEL: 'verbose',
      DATABASE_URL: 'mysql://gateway:s3cret@db/archive',
      PUBLIC_URL: 'https://gw.example.no/?x=1',
      TRUST_PROXY: 'maybe',
      CLAMD_URL: 'clamav:3310',
      QUEUE_PAGE_SIZE: '0',
    }),
  ).toEqual([
    "PORT must be an integer from 0 to 65535, got '99999'",
    "HOST must be an IP address or host name to listen on (0.0.0.0 for all), got 'http://0.0.0.0'",
    "DATABASE_URL must be a postgres://user:password@host:5432/database URL, got 'mysql://gateway:***@db/archive'",
    "LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got 'verbose'",
    "QUEUE_PAGE_SIZE must be an integer >= 1, got '0'",
    "PUBLIC_URL must be an http(s) URL without query, fragment or credentials (e.g. https://gateway.example.no), got 'https://gw.example.no/?x=1'",
    "TRUST_PROXY must be true, false, a number of proxy hops, or proxy addresses/CIDR ranges separated by commas, got 'maybe'",
    "CLAMD_URL must be tcp://host:3310, unix:///path/to/clamd.ctl or an absolute socket path, got 'clamav:3310'",
  ]);
  expect(problemsOf({ DATABASE_URL: 'garbage' })).toEqual(["DATABASE_URL must be a postgres://user:password@host:5432/database URL, got 'garbage'"]);
});

it('parses valid values', () => {
  const config = loadConfig({
    PORT: '0',
    HOST: '::1',
    LOG_LEVEL: 'debug',
    DATABASE_URL: 'postgresql://gateway:pw@db:5432/archive',
    DATABASE_CONNECT_RETRY_SECONDS: '5',
    PUBLIC_URL: 'https://gw.example.no/altinn/',
    TRUST_PROXY: '10.0.0.0/8, ::1',
  });
  expect(config).toMatchObject({
    port: 0,
    host: '::1',
    logLevel: 'debug',
    databaseUrl: 'postgresql://gateway:pw@db:5432/archive',
    databaseConnectRetryMs: 5000,
    publicUrl: 'https://gw.example.no/altinn',
    trustProxy: ['10.0.0.0/8', '::1'],
  });
  expect(loadConfig({ TRUST_PROXY: 'TRUE' }).trustProxy).toBe(true);
  expect(loadConfig({ TRUST_PROXY: '2' }).trustProxy).toBe(2);
  expect(loadConfig({}).trustProxy).toBe(false);
});
