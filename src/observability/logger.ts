/**
 * The process's logger (pino): JSON lines on stdout for log collectors, or with LOG_FORMAT=pretty
 * one readable, coloured line per entry for a person at a terminal (pino-pretty, in-process and
 * synchronous, so the last lines before an exit are not lost).
 */
import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';
import type { Config } from '../config';

/** `destination` (tests) defaults to stdout. */
export function createLogger(config: Pick<Config, 'logLevel' | 'logFormat'>, destination?: NodeJS.WritableStream): Logger {
  if (config.logFormat === 'pretty') {
    return pino({ level: config.logLevel }, pretty({ sync: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', ...(destination && { destination }) }));
  }
  return destination ? pino({ level: config.logLevel }, destination) : pino({ level: config.logLevel });
}
