import { pino } from 'pino';

/** Structured JSON logger (pino). Level from FULCRUM_LOG_LEVEL (default `info`; tests use `silent`). */
export type Logger = pino.Logger;

/** Creates the process logger; `level` overrides FULCRUM_LOG_LEVEL. */
export function createLogger(level?: string): Logger {
  return pino({ level: level ?? process.env.FULCRUM_LOG_LEVEL ?? 'info', base: { svc: 'fulcrum' } });
}

/** A logger that writes nothing, for tests and library use. */
export const silentLogger: Logger = pino({ level: 'silent' });
