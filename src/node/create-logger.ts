import { type DestinationStream, type Logger, pino } from 'pino';
import pretty from 'pino-pretty';

export interface LoggerOptions {
  readonly level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
  /** auto: pretty when the output is a terminal, JSON lines otherwise (for journald, files, collectors). */
  readonly format: 'auto' | 'pretty' | 'json';
  /** Append to this file instead of stdout. */
  readonly file?: string;
  /** Bound to every line, e.g. `{ node: 'node-1' }`. */
  readonly base?: Record<string, unknown>;
}

/**
 * The node's one logger, shared with fastify. Writes are asynchronous (sonic-boom) so logging
 * never blocks the event loop; `flush()` before exit keeps the last lines.
 */
export function createLogger(options: LoggerOptions): Logger {
  const toTerminal = options.file === undefined && process.stdout.isTTY === true;
  const usePretty = options.format === 'pretty' || (options.format === 'auto' && toTerminal);
  const destination: DestinationStream = usePretty
    ? pretty({
        colorize: toTerminal,
        translateTime: 'SYS:HH:MM:ss.l',
        ignore: 'pid,hostname',
        ...(options.file === undefined ? {} : { destination: options.file, mkdir: true }),
      })
    : pino.destination({ dest: options.file ?? 1, sync: false, mkdir: true });
  return pino({ level: options.level, base: options.base ?? null }, destination);
}
