import type { CommandCode } from './command-code.js';

/** Commands that are a single byte: COM_PING, COM_QUIT, COM_RESET_CONNECTION, COM_STATISTICS, COM_DEBUG. */
export type SimpleCommandCode =
  | typeof CommandCode.ping
  | typeof CommandCode.quit
  | typeof CommandCode.resetConnection
  | typeof CommandCode.statistics
  | typeof CommandCode.debug;

export function encodeSimpleCommand(code: SimpleCommandCode): Buffer {
  return Buffer.from([code]);
}
