import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/**
 * The one root logger of a process, built in its main and handed down; components take
 * `logger.child({ component })`. Library code never creates a global logger.
 *
 * `LOG_LEVEL` sets the level (default info). Tests pass `silentLogger()`.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  return pino({
    level: process.env['LOG_LEVEL'] ?? 'info',
    base: null,
    timestamp: pino.stdTimeFunctions.isoTime,
    ...options,
  });
}

/** A logger that drops everything: for tests and benchmarks, where output would only be noise. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
