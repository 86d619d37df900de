import * as mariadb from 'mariadb';

/** Where to open the short-lived connection that ends an abandoned one's thread. */
export interface KillerOptions {
  readonly host: string;
  readonly port: number;
  readonly socketPath?: string;
  readonly user: string;
  readonly password: string;
}

const killConnectTimeoutMs = 2000;

/**
 * Gives up a connection that may have a statement running, without the driver's `destroy()`.
 *
 * `destroy()` of a busy connection (mariadb 3.5, lib/connection.js) opens a second connection and
 * sends `KILL <thread>` on it with no handler for its failure: when the server goes away while
 * that KILL runs, the rejection ("socket has unexpectedly been closed") is unhandled and Node ends
 * the process — a chaos run (3 nodes, seed 31, a MariaDB killed and restarted, 2026-12-04) lost a
 * node process that way; `driver-destroy-guard.ts` only knows the 1094 case. And when that second
 * connection cannot be made, the driver clears its queue without failing what was in it.
 *
 * Here the thread is ended with a KILL of our own, every failure handled (the server gone, the
 * thread already ended: its socket closes by itself), then the connection is ended with COM_QUIT.
 * Callers must not wait for the abandoned statement: it may never settle (`end()` too clears the
 * driver's queue without failing it). Never rejects, never throws.
 */
export function abandonConnection(connection: mariadb.Connection, killer: KillerOptions): void {
  const threadId = connection.threadId;
  // Its socket closes when the KILL lands; without a listener the driver would throw that.
  connection.on('error', () => undefined);
  void (async () => {
    await killThread(killer, threadId);
    await connection.end().catch(() => undefined);
  })().catch(() => undefined);
}

/**
 * `KILL CONNECTION threadId` over a short-lived connection of its own. Resolves true when the
 * server ended the thread, false otherwise (gone already, the server unreachable); never rejects.
 */
export async function killThread(
  killer: KillerOptions,
  threadId: number | null | undefined,
): Promise<boolean> {
  if (threadId === null || threadId === undefined) return false;
  let kill: mariadb.Connection | undefined;
  try {
    kill = await mariadb.createConnection({ ...killer, connectTimeout: killConnectTimeoutMs });
    kill.on('error', () => undefined);
    await kill.query(`KILL CONNECTION ${Number(threadId)}`);
    return true;
  } catch {
    // Gone already (1094), or the server does not answer: nothing more to end.
    return false;
  } finally {
    await kill?.end().catch(() => undefined);
  }
}
