import { type GtidPosition, parseGtidPosition } from './gtid-position.js';
import { type SqlRunner, selectOne, variableFlag, variableText } from './sql-runner.js';

/** The three GTID positions a MariaDB server keeps. */
export interface GtidState {
  /** Last GTID per domain written to this server's binlog: what it holds, applied or local. */
  readonly binlogPos: GtidPosition;
  /** binlogPos merged with slavePos (the newer per domain). */
  readonly currentPos: GtidPosition;
  /** Last GTID per domain applied by MariaDB's own replication threads. */
  readonly slavePos: GtidPosition;
}

export interface SemiSyncMasterState {
  readonly enabled: boolean;
  /** `Rpl_semi_sync_master_status`: ON only while a semi-sync replica is connected and acking. */
  readonly active: boolean;
  readonly waitPoint: string;
  readonly timeoutMs: number;
  readonly clients: number;
}

/**
 * The primary never falls back to asynchronous commit: a timeout longer than any outage we would
 * wait out. 0xFFFFFFFF ms (about 49.7 days) is the largest value the server accepts.
 */
export const semiSyncTimeoutMsNever = 0xffff_ffff;

/**
 * Role changes and state reads on the node's local MariaDB. Every method is one or a few
 * statements on the given runner; the caller owns the connection (and needs SUPER or the
 * matching ADMIN privileges for the setters). Setters return when the server has applied the
 * change; GLOBAL variables take effect for new transactions, not ones already running.
 */
export class MariaDbAdmin {
  readonly #runner: SqlRunner;

  constructor(runner: SqlRunner) {
    this.#runner = runner;
  }

  async readOnly(): Promise<boolean> {
    const row = await selectOne(this.#runner, 'SELECT @@GLOBAL.read_only AS v');
    return variableFlag(row['v']);
  }

  /**
   * Sets GLOBAL read_only. Turning it on waits for running write transactions to finish (the
   * server takes the global read lock briefly); accounts with READ_ONLY ADMIN (SUPER) still
   * write, which is how the applier keeps working on a read-only follower.
   */
  async setReadOnly(on: boolean): Promise<void> {
    await this.#runner.query(`SET GLOBAL read_only = ${on ? 'ON' : 'OFF'}`);
  }

  /**
   * Makes this server a semi-sync primary that waits AFTER_SYNC: a commit is in the binlog and
   * synced before it waits, and no one sees it until a replica (our capture) has acknowledged it.
   * The timeout defaults to "never fall back to asynchronous commit".
   */
  async enableSemiSyncMaster(options: { readonly timeoutMs?: number } = {}): Promise<void> {
    const timeoutMs = options.timeoutMs ?? semiSyncTimeoutMsNever;
    if (!Number.isInteger(timeoutMs) || timeoutMs < 0 || timeoutMs > semiSyncTimeoutMsNever) {
      throw new Error(
        `semi-sync timeout must be an integer from 0 to ${semiSyncTimeoutMsNever} ms, got ${timeoutMs}`,
      );
    }
    // Wait point and timeout first, so the master never runs enabled with the wrong ones.
    await this.#runner.query("SET GLOBAL rpl_semi_sync_master_wait_point = 'AFTER_SYNC'");
    await this.#runner.query(`SET GLOBAL rpl_semi_sync_master_timeout = ${timeoutMs}`);
    await this.#runner.query('SET GLOBAL rpl_semi_sync_master_enabled = ON');
  }

  /** Commits no longer wait for a replica's acknowledgement. */
  async disableSemiSyncMaster(): Promise<void> {
    await this.#runner.query('SET GLOBAL rpl_semi_sync_master_enabled = OFF');
  }

  async semiSyncMasterState(): Promise<SemiSyncMasterState> {
    const row = await selectOne(
      this.#runner,
      'SELECT @@GLOBAL.rpl_semi_sync_master_enabled AS enabled, @@GLOBAL.rpl_semi_sync_master_wait_point AS waitPoint, ' +
        '@@GLOBAL.rpl_semi_sync_master_timeout AS timeoutMs, ' +
        "(SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'RPL_SEMI_SYNC_MASTER_STATUS') AS active, " +
        "(SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'RPL_SEMI_SYNC_MASTER_CLIENTS') AS clients",
    );
    return {
      enabled: variableFlag(row['enabled']),
      active: variableFlag(row['active']),
      waitPoint: variableText(row['waitPoint']),
      timeoutMs: Number(variableText(row['timeoutMs'])),
      clients: Number(variableText(row['clients']) || '0'),
    };
  }

  /** Reads all three positions in one statement, so they describe the same moment. */
  async gtidState(): Promise<GtidState> {
    const row = await selectOne(
      this.#runner,
      'SELECT @@GLOBAL.gtid_binlog_pos AS binlogPos, @@GLOBAL.gtid_current_pos AS currentPos, ' +
        '@@GLOBAL.gtid_slave_pos AS slavePos',
    );
    return {
      binlogPos: parsePositionOrThrow(row['binlogPos'], 'gtid_binlog_pos'),
      currentPos: parsePositionOrThrow(row['currentPos'], 'gtid_current_pos'),
      slavePos: parsePositionOrThrow(row['slavePos'], 'gtid_slave_pos'),
    };
  }
}

/** The server printing a position we cannot parse is a broken invariant, not an expected outcome. */
function parsePositionOrThrow(value: unknown, name: string): GtidPosition {
  const parsed = parseGtidPosition(variableText(value));
  if (!parsed.ok) throw new Error(`MariaDB returned an unparsable @@${name}: ${parsed.error.message}`);
  return parsed.value;
}
