import { formatGtid, type GtidPosition, parseGtidPosition } from './gtid-position.js';
import { type SqlRunner, selectOne, selectRows, variableText } from './sql-runner.js';

/**
 * The local MariaDB as a replica of WolfScale's binlog stream (src/apply/DESIGN.md, "Apply
 * through the target's own replication"): set-up, start/stop, and what it has applied.
 */
export interface ReplicaStreamSource {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
}

export interface ReplicaSettings {
  /** slave_parallel_threads. */
  readonly parallelThreads: number;
  /** slave_parallel_mode: conservative (group commits of the source) or optimistic. */
  readonly parallelMode: 'conservative' | 'optimistic' | 'aggressive' | 'minimal' | 'none';
  /** MASTER_HEARTBEAT_PERIOD, seconds. */
  readonly heartbeatPeriodS?: number;
}

export interface ReplicaError {
  readonly thread: 'sql' | 'io';
  readonly errno: number;
  readonly message: string;
  /** The transaction the SQL thread failed on, when MariaDB's message names it. */
  readonly gtid: string | undefined;
}

export interface ReplicaApplyStatus {
  /** @@gtid_slave_pos: what the SQL threads committed (crash-safe, in mysql.gtid_slave_pos). */
  readonly applied: GtidPosition;
  readonly ioRunning: boolean;
  readonly sqlRunning: boolean;
  /** Last_SQL_Error, else Last_IO_Error, when set. */
  readonly error: ReplicaError | undefined;
}

function quote(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** Ends replication, keeping gtid_slave_pos. Safe when it is not configured. */
export async function stopReplica(runner: SqlRunner): Promise<void> {
  await runner.query('STOP SLAVE');
}

/**
 * Points the local MariaDB at the stream and starts replicating from what it holds. Its own
 * transactions (a node that led) are in @@gtid_binlog_pos but not in @@gtid_slave_pos: the slave
 * position is set to @@gtid_binlog_pos first, so it asks for the transactions after everything it
 * has (its binlog names exactly what it committed, log_slave_updates=ON).
 */
export async function startReplica(
  runner: SqlRunner,
  source: ReplicaStreamSource,
  settings: ReplicaSettings,
): Promise<void> {
  await runner.query('STOP SLAVE');
  const row = await selectOne(
    runner,
    'SELECT @@GLOBAL.gtid_binlog_pos AS binlog, @@GLOBAL.gtid_slave_pos AS slave',
  );
  const binlog = variableText(row['binlog']);
  if (binlog !== variableText(row['slave']))
    await runner.query(`SET GLOBAL gtid_slave_pos = ${quote(binlog)}`);
  await runner.query(
    `SET GLOBAL slave_parallel_threads = ${Math.max(0, Math.floor(settings.parallelThreads))}, slave_parallel_mode = ${quote(settings.parallelMode)}`,
  );
  await runner.query(
    `CHANGE MASTER TO MASTER_HOST=${quote(source.host)}, MASTER_PORT=${source.port}, MASTER_USER=${quote(source.user)}, MASTER_PASSWORD=${quote(source.password)}, MASTER_USE_GTID=slave_pos, MASTER_HEARTBEAT_PERIOD=${settings.heartbeatPeriodS ?? 1}, MASTER_CONNECT_RETRY=1`,
  );
  await runner.query('START SLAVE');
}

/** Stops replicating and forgets the configuration (promotion to leader). */
export async function resetReplica(runner: SqlRunner): Promise<void> {
  await runner.query('STOP SLAVE');
  await runner.query('RESET SLAVE ALL');
}

/** @@gtid_slave_pos: what the local replica's SQL threads committed. */
export async function replicaAppliedPosition(runner: SqlRunner): Promise<GtidPosition> {
  const row = await selectOne(runner, 'SELECT @@GLOBAL.gtid_slave_pos AS pos');
  return slavePosFrom(row);
}

function slavePosFrom(row: Record<string, unknown>): GtidPosition {
  const parsed = parseGtidPosition(variableText(row['pos']));
  if (!parsed.ok) throw new Error(`@@gtid_slave_pos: ${parsed.error.message}`);
  return parsed.value;
}

const gtidInMessage = /\bGTID (\d+-\d+-\d+)/i;

/** What the local replica has applied, and its error if a thread stopped on one. */
export async function replicaApplyStatus(runner: SqlRunner): Promise<ReplicaApplyStatus> {
  const [status] = await selectRows(runner, 'SHOW SLAVE STATUS');
  const applied = await replicaAppliedPosition(runner);
  if (status === undefined) return { applied, ioRunning: false, sqlRunning: false, error: undefined };
  const sqlErrno = Number(status['Last_SQL_Errno'] ?? 0);
  const ioErrno = Number(status['Last_IO_Errno'] ?? 0);
  let error: ReplicaError | undefined;
  if (sqlErrno !== 0) {
    const message = variableText(status['Last_SQL_Error']);
    error = { thread: 'sql', errno: sqlErrno, message, gtid: gtidInMessage.exec(message)?.[1] };
  } else if (ioErrno !== 0) {
    error = { thread: 'io', errno: ioErrno, message: variableText(status['Last_IO_Error']), gtid: undefined };
  }
  return {
    applied,
    ioRunning: variableText(status['Slave_IO_Running']) === 'Yes',
    sqlRunning: variableText(status['Slave_SQL_Running']) === 'Yes',
    error,
  };
}

/**
 * Waits (MASTER_GTID_WAIT, `timeoutS`) until the replica committed `gtid`. Returns false on
 * timeout. Note: MASTER_GTID_WAIT waits on @@gtid_slave_pos.
 */
export async function waitReplicaApplied(
  runner: SqlRunner,
  gtid: GtidPosition[number],
  timeoutS: number,
): Promise<boolean> {
  const row = await selectOne(
    runner,
    `SELECT MASTER_GTID_WAIT(${quote(formatGtid(gtid))}, ${timeoutS}) AS waited`,
  );
  return Number(row['waited']) === 0;
}

/**
 * `waitReplicaApplied` and `replicaAppliedPosition` in one round trip: MariaDB evaluates a select
 * list in order when it sends the row, so the position is read after the wait ended (and were it
 * read earlier, it would only be older: what it shows is applied either way). The replica apply
 * loop runs this per step under load; two queries were a tenth of a follower's busy time.
 */
export async function waitReplicaAppliedPosition(
  runner: SqlRunner,
  gtid: GtidPosition[number],
  timeoutS: number,
): Promise<{ readonly reached: boolean; readonly applied: GtidPosition }> {
  const row = await selectOne(
    runner,
    `SELECT MASTER_GTID_WAIT(${quote(formatGtid(gtid))}, ${timeoutS}) AS waited, @@GLOBAL.gtid_slave_pos AS pos`,
  );
  return { reached: Number(row['waited']) === 0, applied: slavePosFrom(row) };
}
