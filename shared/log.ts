// Structured log lines (one JSON object per line) for the daemons. Human text belongs to CLIs only.
import { appendFileSync } from 'node:fs';

export type Level = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

export interface LoggerOptions {
  component: string;
  /** Append to this file; stderr when absent. */
  file?: string;
  level?: Level;
  /** Silence everything (unit tests). */
  silent?: boolean;
}

export function createLogger(opts: LoggerOptions, base: Record<string, unknown> = {}): Logger {
  const min = ORDER[opts.level ?? ((process.env.CIAO_LOG_LEVEL as Level) || 'info')] ?? ORDER.info;
  const write = (level: Level, msg: string, fields?: Record<string, unknown>) => {
    if (opts.silent || ORDER[level] < min) return;
    const line = JSON.stringify({ time: new Date().toISOString(), level, component: opts.component, msg, ...base, ...fields }) + '\n';
    if (opts.file) appendFileSync(opts.file, line);
    else process.stderr.write(line);
  };
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
    child: (fields) => createLogger(opts, { ...base, ...fields }),
  };
}

export const silentLogger = (): Logger => createLogger({ component: 'test', silent: true });
