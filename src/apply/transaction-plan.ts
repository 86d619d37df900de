import {
  type BinlogDecodeContext,
  BinlogEventType,
  binlogEventTypeName,
  decodeBinlogEvent,
  FL_ALLOW_PARALLEL,
  FL_COMPLETED_XA,
  FL_DDL,
  FL_GROUP_COMMIT_ID,
  FL_PREPARED_XA,
  FL_STANDALONE,
  FL_TRANSACTIONAL,
  type GtidEvent,
  INTVAR_INSERT_ID,
  INTVAR_LAST_INSERT_ID,
  LOG_EVENT_SUPPRESS_USE_F,
  ROWS_STMT_END_F,
} from '../protocol/binlog/index.js';
import { formatGtid, type Gtid } from '../protocol/gtid.js';
import type { ApplierTransaction } from './applier-transaction.js';
import { querySessionStatement } from './query-context.js';

/**
 * One statement of a plan, as a binary string (one char per byte, so a statement logged in latin1
 * or with binary literals reaches the server byte for byte; the applier's session uses the
 * `binary` character set). `endsQuery`: nothing may follow it in the same multi-statement query —
 * a BINLOG statement with row events (MariaDB 10.11 answers it without the more-results flag, so
 * statements after it in the same query would be answered out of step) and every statement the
 * source logged (never concatenated with ours: a trailing comment could swallow what follows).
 */
export interface PlanStatement {
  readonly sql: string;
  readonly endsQuery: boolean;
}

/**
 * How one captured transaction is executed on the target: `BEGIN` unless it is a standalone
 * statement, then its events as statements, ending with `COMMIT` (or the logged COMMIT/ROLLBACK,
 * or the standalone statement itself). The applier sends it as queries (`planQueries`) that
 * start with a guard (`guardStatement`) or a check (`previousStatementSucceeded`).
 */
export interface TransactionPlan {
  readonly gtid: Gtid;
  readonly statements: readonly PlanStatement[];
  /** The source's binlog group commit id, when it logged one. */
  readonly commitId?: bigint;
  /**
   * True when the source says this transaction may run in parallel with others of its group
   * commit: transactional, not DDL, not XA, not standalone, parallel replication allowed.
   */
  readonly parallelSafe: boolean;
  readonly standalone: boolean;
  /** FL_TRANSACTIONAL: every change can be rolled back (no MyISAM and the like). */
  readonly transactional: boolean;
  /** Source statements with row events (groups ending in STMT_END_F). */
  readonly rowStatements: number;
  readonly skipParallelReplication: boolean;
  readonly timestampSeconds: number;
  /** Sum of the statements' lengths in bytes. */
  readonly bytes: number;
}

export type PlanErrorCode = 'MALFORMED_TRANSACTION' | 'UNSUPPORTED_EVENT' | 'TOO_LARGE';

export type PlanResult = { readonly ok: true; readonly value: TransactionPlan } | PlanFailure;

export interface PlanOptions {
  readonly context: BinlogDecodeContext;
  /**
   * The largest statement the target accepts (its max_allowed_packet, less room for the
   * statement around the data). A BINLOG statement above it is sent as two fragments, as
   * `mariadb-binlog` does; above twice it the transaction cannot be applied.
   */
  readonly statementBytesMax: number;
}

/**
 * Starts every query after the first of a transaction: fails (error 1231, naming
 * WOLFSCALE_PREVIOUS_STATEMENT_FAILED) when any earlier statement on the session failed, so that
 * the rest of the query does not run. `@@error_count` stays above zero after a failure until a
 * statement that uses tables clears it, and this check itself fails before any such statement
 * can run, so once a statement has failed every later query on the session fails here. That is
 * what makes pipelining safe: a COMMIT queued behind a failed statement never runs.
 */
export const previousStatementSucceeded =
  "SET @@session.sql_mode=IF(@@error_count=0, @@session.sql_mode, 'WOLFSCALE_PREVIOUS_STATEMENT_FAILED')";

/**
 * Starts the first query of every transaction: sets the GTID (domain, server id, sequence
 * number), the source's commit time and skip_parallel_replication for the transaction, and fails
 * unless every statement before it on the session succeeded — which includes the previous
 * transaction's COMMIT, so a transaction is only ever applied right after its predecessor
 * committed:
 * - `@@error_count` is above zero after any failure (see `previousStatementSucceeded`), and then
 *   `sql_mode` gets an invalid value (error 1231, naming
 *   WOLFSCALE_PREVIOUS_TRANSACTION_NOT_COMMITTED);
 * - MariaDB refuses to change gtid_domain_id or gtid_seq_no inside an open transaction
 *   (error 1953), so a transaction left open by a failure is never committed by the next one.
 */
export function guardStatement(plan: TransactionPlan, conditions: readonly string[] = []): string {
  return (
    `SET @@session.sql_mode=IF(${['@@error_count=0', ...conditions].join(' AND ')}, @@session.sql_mode, 'WOLFSCALE_PREVIOUS_TRANSACTION_NOT_COMMITTED'), ` +
    `@@session.gtid_domain_id=${plan.gtid.domainId}, @@session.server_id=${plan.gtid.serverId}, ` +
    `@@session.gtid_seq_no=${plan.gtid.sequenceNumber}, TIMESTAMP=${plan.timestampSeconds}, ` +
    `@@session.skip_parallel_replication=${plan.skipParallelReplication ? 1 : 0}`
  );
}

/** `previousStatementSucceeded` with more conditions (commit order waits). */
function checkStatement(conditions: readonly string[]): string {
  if (conditions.length === 0) return previousStatementSucceeded;
  return `SET @@session.sql_mode=IF(${['@@error_count=0', ...conditions].join(' AND ')}, @@session.sql_mode, 'WOLFSCALE_PREVIOUS_STATEMENT_FAILED')`;
}

/** How long a session waits on the server for an earlier transaction's commit (seconds). */
export const commitWaitSecondsMax = 86_400;

/** The user lock a transaction holds, under parallel apply, until its COMMIT returned. */
export function applyLockName(gtid: Gtid): string {
  return `wolfscale-apply:${formatGtid(gtid)}`;
}

/**
 * True on the target once `gtid` is committed: its domain's entry in `@@global.gtid_binlog_pos`
 * has reached its sequence number. Commits are in GTID order, so that means exactly `gtid` or a
 * later one of its domain, and a later one only commits after `gtid` did.
 */
export function committedCondition(gtid: Gtid): string {
  const position = "CONCAT(',', @@global.gtid_binlog_pos)";
  const entry = `LOCATE(',${gtid.domainId}-', ${position})`;
  return `(${entry} > 0 AND CAST(SUBSTRING_INDEX(SUBSTRING_INDEX(SUBSTRING(${position}, ${entry} + 1), ',', 1), '-', -1) AS UNSIGNED) >= ${gtid.sequenceNumber})`;
}

/**
 * Waits on the server until `gtid`'s session released its lock — after its COMMIT returned, or
 * because the session ended. The waiting session takes the lock and releases it at once, so
 * several may wait for the same one. The lock must already be held when this runs (the applier
 * sends it only after the first query of `gtid` returned), or it would not wait. Whether `gtid`
 * really committed is checked by the NEXT statement (`committedCondition`): MariaDB reads a
 * system variable once per statement, before the wait.
 */
export function committedWait(gtid: Gtid): string {
  const lock = `'${applyLockName(gtid)}'`;
  return `GET_LOCK(${lock}, ${commitWaitSecondsMax})=1 AND RELEASE_LOCK(${lock})=1`;
}

/** A statement that takes locks and waits for others' (conditions), failing like a guard. */
function lockStatement(conditions: readonly string[]): string {
  return `SET @@session.sql_mode=IF(${['@@error_count=0', ...conditions].join(' AND ')}, @@session.sql_mode, 'WOLFSCALE_PREVIOUS_TRANSACTION_NOT_COMMITTED')`;
}

/**
 * Commit order under parallel apply (see src/apply/DESIGN.md): the transaction's own lock,
 * and the transactions whose commits its first statement (`bodyAfter`) and its COMMIT
 * (`commitAfter`) wait for on the server.
 */
export interface CommitOrder {
  readonly locks: boolean;
  readonly bodyAfter?: Gtid;
  readonly commitAfter?: Gtid;
}

/**
 * The multi-statement queries that apply `plan`: the guard opens the first,
 * `previousStatementSucceeded` every other; a statement that `endsQuery` closes its query.
 * `formatDescription`, when given, is sent first (a new session, or a new source stream).
 */
export function planQueries(
  plan: TransactionPlan,
  formatDescription: string | undefined,
  order: CommitOrder = { locks: false },
): string[] {
  const queries: string[] = [];
  if (formatDescription !== undefined) queries.push(`${previousStatementSucceeded};${formatDescription}`);
  // Statements that wait on the server go first; the guard after them checks what they waited for.
  const bodyLocks: string[] = [];
  const bodyChecks: string[] = [];
  if (order.locks) bodyLocks.push(`GET_LOCK('${applyLockName(plan.gtid)}', 0)=1`);
  if (order.bodyAfter !== undefined) {
    bodyLocks.push(committedWait(order.bodyAfter));
    bodyChecks.push(committedCondition(order.bodyAfter));
  }
  const first = (checks: readonly string[], locks: readonly string[]): string[] =>
    locks.length === 0
      ? [guardStatement(plan, checks)]
      : [lockStatement(locks), guardStatement(plan, checks)];
  const [, data] = plan.statements;
  if (!order.locks && singleStatementTransaction(plan) && data !== undefined) {
    // One source statement of transactional rows: the BINLOG statement runs under autocommit,
    // so it is its own transaction — committed with its GTID when it succeeds, rolled back whole
    // (no GTID written) when it fails, and the failure still stops the next guard. One query.
    // Not when it locks: its lock is released by a statement after its COMMIT.
    queries.push([...first(bodyChecks, bodyLocks), data.sql].join(';'));
    return queries;
  }
  const transactionQueries: string[][] = [];
  let current: string[] = first(bodyChecks, bodyLocks);
  for (const statement of plan.statements) {
    if (current.length === 0) current.push(previousStatementSucceeded);
    current.push(statement.sql);
    if (statement.endsQuery) {
      transactionQueries.push(current);
      current = [];
    }
  }
  if (current.length > 0) transactionQueries.push(current);
  if (order.locks) {
    const last = transactionQueries.at(-1);
    const end = last?.at(-1);
    if (last === undefined || (end !== 'COMMIT' && end !== 'ROLLBACK'))
      throw new Error(`${formatGtid(plan.gtid)}: a locking transaction must end with COMMIT`);
    if (order.commitAfter !== undefined) {
      const wait = committedWait(order.commitAfter);
      const check = committedCondition(order.commitAfter);
      if (transactionQueries.length === 1) {
        last.splice(
          0,
          bodyLocks.length === 0 ? 1 : 2,
          ...first([...bodyChecks, check], [...bodyLocks, wait]),
        );
      } else {
        last.splice(0, 1, checkStatement([wait]), checkStatement([check]));
      }
    }
    // Not reached when the COMMIT failed: the lock stays held until the session ends, and the
    // committed check of whoever waits for it then fails.
    last.push(`DO RELEASE_LOCK('${applyLockName(plan.gtid)}')`);
  }
  for (const query of transactionQueries) queries.push(query.join(';'));
  return queries;
}

/**
 * BEGIN, one BINLOG statement holding one source statement's rows, COMMIT, every change
 * transactional. One source statement, not more: measured on MariaDB 10.11, a BINLOG statement
 * holding several source statements keeps the ones before a failing one in the transaction (it
 * ends a statement at each STMT_END_F), and an unchecked COMMIT would commit them.
 */
function singleStatementTransaction(plan: TransactionPlan): boolean {
  const [begin, data, commit, ...rest] = plan.statements;
  return (
    plan.transactional &&
    plan.rowStatements === 1 &&
    rest.length === 0 &&
    begin?.sql === 'BEGIN' &&
    data?.endsQuery === true &&
    data.sql.startsWith("BINLOG '") &&
    commit?.sql === 'COMMIT'
  );
}

/** `BINLOG '<base64>'` for a FORMAT_DESCRIPTION event: sent first on every session. */
export function formatDescriptionStatement(formatDescription: Uint8Array): string {
  return `BINLOG '${Buffer.from(formatDescription).toString('base64')}'`;
}

/**
 * Translates a transaction into statements. Pure. Fails (as a value) on events that cannot be
 * replayed faithfully: user variables of statement-based logging, XA, compressed QUERY events,
 * unknown event types; and on a transaction whose events do not form one transaction.
 */
export function planTransaction(transaction: ApplierTransaction, options: PlanOptions): PlanResult {
  const [first, ...rest] = transaction.events;
  if (first === undefined) return fail('MALFORMED_TRANSACTION', 'a transaction without events');
  const gtidEvent = decodeBinlogEvent(first, options.context);
  if (!gtidEvent.ok) return fail('MALFORMED_TRANSACTION', `its first event: ${gtidEvent.error.message}`);
  if (gtidEvent.value.body.kind !== 'gtid') {
    return fail(
      'MALFORMED_TRANSACTION',
      `it starts with a ${gtidEvent.value.body.kind} event, not a GTID event`,
    );
  }
  const gtidBody: GtidEvent = gtidEvent.value.body;
  const gtid = transaction.gtid;
  if (
    gtidBody.domainId !== gtid.domainId ||
    gtidBody.sequenceNumber !== gtid.sequenceNumber ||
    gtidEvent.value.header.serverId !== gtid.serverId
  ) {
    return fail(
      'MALFORMED_TRANSACTION',
      `its GTID event names ${gtidBody.domainId}-${gtidEvent.value.header.serverId}-${gtidBody.sequenceNumber}, not ${formatGtid(gtid)}`,
    );
  }
  if ((gtidBody.flags & (FL_PREPARED_XA | FL_COMPLETED_XA)) !== 0) {
    return fail(
      'UNSUPPORTED_EVENT',
      `${formatGtid(gtid)} is an XA transaction; WolfScale does not replay XA yet`,
    );
  }
  const standalone = (gtidBody.flags & FL_STANDALONE) !== 0;
  const translated = translateEvents(rest, options, standalone);
  if (!translated.ok) return fail(translated.error.code, `${formatGtid(gtid)}: ${translated.error.message}`);
  const statements = standalone
    ? translated.value.statements
    : [{ sql: 'BEGIN', endsQuery: false }, ...translated.value.statements];
  const parallelFlags = FL_GROUP_COMMIT_ID | FL_TRANSACTIONAL | FL_ALLOW_PARALLEL;
  return {
    ok: true,
    value: {
      gtid,
      statements,
      ...(gtidBody.commitId === undefined ? {} : { commitId: gtidBody.commitId }),
      parallelSafe:
        !standalone && (gtidBody.flags & parallelFlags) === parallelFlags && (gtidBody.flags & FL_DDL) === 0,
      standalone,
      transactional: (gtidBody.flags & FL_TRANSACTIONAL) !== 0,
      rowStatements: translated.value.rowStatements,
      skipParallelReplication: (gtidBody.flags & FL_ALLOW_PARALLEL) === 0,
      timestampSeconds: gtidEvent.value.header.timestampSeconds,
      bytes: statements.reduce((sum, statement) => sum + statement.sql.length, 0),
    },
  };
}

interface Translation {
  readonly statements: PlanStatement[];
  readonly rowStatements: number;
}

type TranslateResult = { readonly ok: true; readonly value: Translation } | PlanFailure;

/** Events after the GTID event → statements. Row events are batched up to each statement end. */
function translateEvents(
  events: readonly Uint8Array[],
  options: PlanOptions,
  standalone: boolean,
): TranslateResult {
  const statements: PlanStatement[] = [];
  const ours = (sql: string): void => {
    statements.push({ sql, endsQuery: false });
  };
  // Row events of the statement being read, and of whole statements not yet sent. All of a
  // transaction's row statements go into as few BINLOG statements as the packet bound allows:
  // one is the common case, which makes the transaction's data one atomic statement (see
  // `planQueries`) and saves a round of statements per source statement.
  let rowBatch: Uint8Array[] = [];
  let rowBatchBytes = 0;
  let completed: Uint8Array[] = [];
  let completedBytes = 0;
  let rowStatements = 0;
  const flushCompleted = (): string | undefined => {
    if (completed.length === 0) return undefined;
    const binlog = binlogStatements(completed, options.statementBytesMax);
    completed = [];
    completedBytes = 0;
    if (binlog === undefined) return 'a row event group larger than twice the target max_allowed_packet';
    statements.push(...binlog);
    return undefined;
  };
  const endStatement = (): string | undefined => {
    if (rowBatch.length === 0) return undefined;
    let problem: string | undefined;
    if (
      completed.length > 0 &&
      base64Bytes(completedBytes + rowBatchBytes) + binlogStatementOverheadBytes > options.statementBytesMax
    ) {
      problem = flushCompleted();
    }
    completed.push(...rowBatch);
    completedBytes += rowBatchBytes;
    rowStatements += 1;
    rowBatch = [];
    rowBatchBytes = 0;
    return problem;
  };
  const flushRows = (): string | undefined => endStatement() ?? flushCompleted();
  let ended = false;
  for (const [index, bytes] of events.entries()) {
    if (ended) return fail('MALFORMED_TRANSACTION', `event ${index + 1} follows the transaction's end`);
    const decoded = decodeBinlogEvent(bytes, options.context);
    if (!decoded.ok) return fail('MALFORMED_TRANSACTION', `event ${index + 1}: ${decoded.error.message}`);
    const { header, body } = decoded.value;
    switch (body.kind) {
      case 'table_map':
        rowBatch.push(bytes);
        rowBatchBytes += bytes.length;
        break;
      case 'rows': {
        rowBatch.push(bytes);
        rowBatchBytes += bytes.length;
        if ((body.flags & ROWS_STMT_END_F) !== 0) {
          const problem = endStatement();
          if (problem !== undefined) return fail('TOO_LARGE', problem);
        }
        break;
      }
      case 'annotate_rows':
        // The source statement's text, for humans; replaying rows does not need it.
        break;
      case 'xid': {
        const problem = flushRows();
        if (problem !== undefined) return fail('TOO_LARGE', problem);
        ours('COMMIT');
        ended = true;
        break;
      }
      case 'query': {
        const problem = flushRows();
        if (problem !== undefined) return fail('TOO_LARGE', problem);
        const text = body.query.toString('latin1');
        const keyword = text.trim().toUpperCase();
        if (!standalone && keyword === 'BEGIN') break;
        if (!standalone && (keyword === 'COMMIT' || keyword === 'ROLLBACK')) {
          ours(keyword);
          ended = true;
          break;
        }
        if (body.errorCode !== 0) {
          return fail(
            'UNSUPPORTED_EVENT',
            `a statement that failed on the source with error ${body.errorCode} (partly applied to a non-transactional table)`,
          );
        }
        // LOG_EVENT_SUPPRESS_USE_F: CREATE/DROP/ALTER DATABASE name their database as the
        // event's database, which may not exist yet (or any more) on the target.
        if (body.database !== '' && (header.flags & LOG_EVENT_SUPPRESS_USE_F) === 0) {
          for (const sql of useStatements(body.database)) ours(sql);
        }
        ours(querySessionStatement(body, header));
        statements.push({ sql: text, endsQuery: true });
        if (standalone) ended = true;
        break;
      }
      case 'intvar':
        if (body.variable === INTVAR_INSERT_ID) ours(`SET INSERT_ID=${body.value}`);
        else if (body.variable === INTVAR_LAST_INSERT_ID) ours(`SET LAST_INSERT_ID=${body.value}`);
        else return fail('UNSUPPORTED_EVENT', `an INTVAR event of unknown type ${body.variable}`);
        break;
      case 'rand':
        ours(`SET @@RAND_SEED1=${body.seed1}, @@RAND_SEED2=${body.seed2}`);
        break;
      case 'user_var':
        return fail(
          'UNSUPPORTED_EVENT',
          'a USER_VAR event (statement-based logging); the source must log ROW',
        );
      case 'gtid':
        return fail('MALFORMED_TRANSACTION', `a second GTID event at event ${index + 1}`);
      case 'format_description':
      case 'rotate':
      case 'gtid_list':
      case 'binlog_checkpoint':
      case 'heartbeat':
        // Stream bookkeeping, not part of the transaction's effect.
        break;
      case 'opaque':
        if (body.typeCode === BinlogEventType.queryCompressed) {
          return fail(
            'UNSUPPORTED_EVENT',
            'a compressed QUERY event; set log_bin_compress=OFF on the source',
          );
        }
        return fail('UNSUPPORTED_EVENT', `an event of type ${binlogEventTypeName(body.typeCode)}`);
      default:
        return unreachableKind(body);
    }
  }
  const problem = flushRows();
  if (problem !== undefined) return fail('TOO_LARGE', problem);
  if (!ended) return fail('MALFORMED_TRANSACTION', 'it has no XID, COMMIT or statement that ends it');
  return { ok: true, value: { statements, rowStatements } };
}

/**
 * `USE` for the statement's default database, before the statement's own character set is set.
 * The name is stored in the server's system character set (UTF-8) and sent as those bytes; a
 * non-ASCII name is preceded by `SET character_set_client=utf8mb4` so the server reads them as
 * UTF-8 whatever the previous statement's character set was.
 */
function useStatements(database: string): string[] {
  const use = Buffer.from(`USE \`${database.replaceAll('`', '``')}\``, 'utf8').toString('latin1');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the ASCII range is the point
  return /^[\x00-\x7f]*$/.test(database) ? [use] : ['SET @@session.character_set_client=utf8mb4', use];
}

/** Room for the SQL around a BINLOG payload (or a fragment). */
const binlogStatementOverheadBytes = 200;

function base64Bytes(bytes: number): number {
  return Math.ceil(bytes / 3) * 4;
}

/**
 * `BINLOG '<base64>'` for a batch of TABLE_MAP and row events (up to a statement end, as
 * `mariadb-binlog` groups them), or, when that is larger than `statementBytesMax`, two fragments
 * in user variables and `BINLOG @binlog_fragment_0, @binlog_fragment_1`. Undefined when even
 * fragments would exceed the bound.
 */
export function binlogStatements(
  events: readonly Uint8Array[],
  statementBytesMax: number,
): PlanStatement[] | undefined {
  const base64 = Buffer.concat(events).toString('base64');
  const statementOverheadBytes = 200;
  if (base64.length + statementOverheadBytes <= statementBytesMax)
    return [{ sql: `BINLOG '${base64}'`, endsQuery: true }];
  // The server joins the fragments before decoding, so any split point works.
  const half = Math.ceil(base64.length / 2);
  if (half + statementOverheadBytes > statementBytesMax) return undefined;
  return [
    { sql: `SET @binlog_fragment_0='${base64.slice(0, half)}'`, endsQuery: true },
    { sql: `SET @binlog_fragment_1='${base64.slice(half)}'`, endsQuery: true },
    { sql: 'BINLOG @binlog_fragment_0, @binlog_fragment_1', endsQuery: true },
  ];
}

interface PlanFailure {
  readonly ok: false;
  readonly error: { readonly code: PlanErrorCode; readonly message: string };
}

function fail(code: PlanErrorCode, message: string): PlanFailure {
  return { ok: false, error: { code, message } };
}

function unreachableKind(value: never): never {
  throw new Error(`unreachable event kind: ${JSON.stringify(value)}`);
}
