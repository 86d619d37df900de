import * as mariadb from 'mariadb';
import { abandonConnection } from './abandon-connection.js';

export type Health =
  | { readonly kind: 'healthy'; readonly latencyMs: number; readonly readOnly: boolean }
  | { readonly kind: 'unhealthy'; readonly code: HealthProblemCode; readonly reason: string };

export type HealthProblemCode = 'TIMEOUT' | 'ABORTED' | 'CONNECT_FAILED' | 'QUERY_FAILED';

export interface HealthProbeOptions {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  /** The whole probe (connect, query, close) finishes within this, or reports TIMEOUT. */
  readonly timeoutMs: number;
  /** Ends the probe early (e.g. node shutdown): reports ABORTED. */
  readonly signal?: AbortSignal;
}

/** Bounds the probe even when the caller asks for more: a hung server must not hang a heartbeat. */
export const healthProbeTimeoutMsMax = 60_000;

/**
 * Checks that the local MariaDB accepts a login and answers a query, within a deadline. Always
 * resolves to a value; never throws. A fresh connection per probe is deliberate: it proves the
 * server still accepts logins (max_connections, a stuck acceptor), which a pooled connection
 * would not. On timeout the connection is abandoned (its thread killed, then closed), so no probe
 * outlives its deadline.
 */
export async function probeHealth(options: HealthProbeOptions): Promise<Health> {
  const timeoutMs = Math.min(options.timeoutMs, healthProbeTimeoutMsMax);
  const deadline = AbortSignal.timeout(timeoutMs);
  const signal = options.signal === undefined ? deadline : AbortSignal.any([deadline, options.signal]);
  if (signal.aborted) return aborted(options, timeoutMs, deadline);
  const started = performance.now();
  let connection: mariadb.Connection | undefined;
  let abandoned = false;
  const stop = new Promise<'stopped'>((resolve) =>
    signal.addEventListener('abort', () => resolve('stopped')),
  );
  const work = (async (): Promise<Health> => {
    try {
      connection = await mariadb.createConnection({
        host: options.host,
        port: options.port,
        user: options.user,
        password: options.password,
        connectTimeout: timeoutMs,
      });
    } catch (error) {
      return {
        kind: 'unhealthy',
        code: 'CONNECT_FAILED',
        reason: `cannot connect to ${where(options)}: ${text(error)}`,
      };
    }
    // The deadline passed while connecting: close what arrived late.
    if (abandoned) {
      connection.destroy();
      return aborted(options, timeoutMs, deadline);
    }
    try {
      const rows = (await connection.query('SELECT @@GLOBAL.read_only AS readOnly')) as Array<{
        readOnly: unknown;
      }>;
      const readOnly = Number(rows[0]?.readOnly ?? 0) === 1;
      return { kind: 'healthy', latencyMs: performance.now() - started, readOnly };
    } catch (error) {
      return {
        kind: 'unhealthy',
        code: 'QUERY_FAILED',
        reason: `${where(options)} failed a query: ${text(error)}`,
      };
    } finally {
      connection.destroy();
    }
  })();
  const outcome = await Promise.race([work, stop]);
  if (outcome !== 'stopped') return outcome;
  abandoned = true;
  // Its query may still be running: not the driver's destroy() (see abandon-connection.ts).
  if (connection !== undefined) abandonConnection(connection, options);
  // The work promise settles once the KILL lands (or never, if the server hangs); nothing awaits it.
  work.catch(() => undefined);
  return aborted(options, timeoutMs, deadline);
}

function aborted(options: HealthProbeOptions, timeoutMs: number, deadline: AbortSignal): Health {
  return deadline.aborted
    ? {
        kind: 'unhealthy',
        code: 'TIMEOUT',
        reason: `${where(options)} did not answer within ${timeoutMs} ms; check that mariadbd is running and not stalled`,
      }
    : { kind: 'unhealthy', code: 'ABORTED', reason: `the health probe of ${where(options)} was cancelled` };
}

function where(options: HealthProbeOptions): string {
  return `MariaDB at ${options.host}:${options.port}`;
}

function text(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
