import type { Logger } from 'pino';

/**
 * The `mariadb` driver (3.4) ends a connection that has a command in flight by opening a second
 * connection and sending `KILL <thread id>` (`Connection.destroy()`, lib/connection.js). When the
 * server thread is already gone, that KILL fails with 1094 "Unknown thread id", and the driver
 * chains it with `.finally()` and no `.catch()`: the rejection is unhandled and Node ends the
 * process. Measured: `destroy()` of a connection running `SELECT SLEEP(5)`, its thread killed
 * right after, ended the process (and a 5-node chaos run lost a node to it while the applier
 * dropped a session). The connection is closed either way; nothing is lost by ignoring it.
 */
export function isDriverDestroyKillFailure(reason: unknown): boolean {
  if (typeof reason !== 'object' || reason === null) return false;
  const error = reason as { errno?: unknown; sql?: unknown };
  return error.errno === 1094 && typeof error.sql === 'string' && /^KILL \d+\b/.test(error.sql);
}

let installed: Logger | undefined;

/**
 * Ignores (with a warning) only the driver's failed `KILL` from `destroy()`; every other
 * unhandled rejection still ends the process as Node's default does. Installed once per process.
 */
export function installDriverDestroyGuard(logger: Logger): void {
  if (installed !== undefined) return;
  installed = logger;
  process.on('unhandledRejection', (reason) => {
    if (isDriverDestroyKillFailure(reason)) {
      installed?.warn(
        { err: reason },
        'the MariaDB driver could not KILL the thread of a connection it was closing (the thread had ended): ignored',
      );
      return;
    }
    throw reason;
  });
}
