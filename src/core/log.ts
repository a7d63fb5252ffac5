import { pino } from 'pino';
import { PinoPretty } from 'pino-pretty';

/** Structured JSON logger (pino). Level from FULCRUM_LOG_LEVEL (default `info`; tests use `silent`). */
export type Logger = pino.Logger;

/** How log lines look: JSON lines for machines, or pretty lines (pino-pretty) for people. */
export type LogFormat = 'json' | 'pretty';

/**
 * The log format: `format`, else FULCRUM_LOG_FORMAT (`fulcrum serve --log-format`), else pretty
 * when standard output is a terminal and JSON otherwise.
 */
export function logFormat(format?: string, env = process.env, tty = process.stdout.isTTY === true): LogFormat {
  const f = format ?? env.FULCRUM_LOG_FORMAT;
  if (f === 'json' || f === 'pretty') return f;
  return tty ? 'pretty' : 'json';
}

/** Creates the process logger; `level` overrides FULCRUM_LOG_LEVEL, `format` the log format. */
export function createLogger(level?: string, format?: LogFormat): Logger {
  const options = { level: level ?? process.env.FULCRUM_LOG_LEVEL ?? 'info', base: { svc: 'fulcrum' } };
  if (options.level === 'silent' || logFormat(format) === 'json') return pino(options);
  const colorize = process.stdout.isTTY === true && !process.env.NO_COLOR;
  return pino(
    options,
    PinoPretty({ sync: true, colorize, ignore: 'pid,hostname,svc', translateTime: 'SYS:HH:MM:ss.l' }),
  );
}

/** A logger that writes nothing, for tests and library use. */
export const silentLogger: Logger = pino({ level: 'silent' });
