import * as mariadb from 'mariadb';
import type { Logger } from 'pino';
import {
  formatGtidPosition,
  type GtidPosition,
  parseGtidPosition,
  positionContains,
  positionWith,
} from '../mariadb/gtid-position.js';
import {
  type BinlogDecodeContext,
  binlogDecodeContextFrom,
  decodeBinlogEvent,
} from '../protocol/binlog/index.js';
import { formatGtid, type Gtid } from '../protocol/gtid.js';
import type { ApplierTransaction } from './applier-transaction.js';
import { withoutInUseFlag } from './format-description.js';
import {
  formatDescriptionStatement,
  type PlanErrorCode,
  planQueries,
  planTransaction,
  type TransactionPlan,
} from './transaction-plan.js';

export interface ApplierTarget {
  readonly host: string;
  readonly port: number;
  /**
   * Needs SUPER (what the tests use), or at least: BINLOG REPLAY (BINLOG statements), READ_ONLY
   * ADMIN (a follower runs read_only=ON), the privileges MariaDB asks for to set gtid_seq_no,
   * server_id and pseudo_slave_mode, and those of what it replays (DDL, CREATE USER, GRANT).
   */
  readonly user: string;
  readonly password: string;
}

export interface ApplierOptions {
  readonly target: ApplierTarget;
  readonly logger: Logger;
  /** Transactions sent and not yet committed, at most. */
  readonly inflightTransactionsMax?: number;
  /** Bytes of SQL sent and not yet committed, at most (one transaction may exceed it alone). */
  readonly inflightBytesMax?: number;
  readonly connectTimeoutMs?: number;
}

export const inflightTransactionsMaxDefault = 256;
export const inflightBytesMaxDefault = 32 * 1024 * 1024;
/** Room left in a packet for the statement around a BINLOG payload. */
const packetSlackBytes = 4096;
/** How much of a failed statement an error quotes. */
const statementQuoteBytesMax = 1000;

export type ApplyErrorCode =
  | PlanErrorCode
  | 'APPLY_FAILED'
  | 'TARGET_UNAVAILABLE'
  | 'OUT_OF_ORDER'
  | 'CLOSED';

/** Why the applier stopped: what failed, where, and MariaDB's own words. */
export interface ApplyError {
  readonly code: ApplyErrorCode;
  readonly message: string;
  readonly gtid?: string;
  readonly statement?: string;
  readonly errno?: number;
  readonly sqlState?: string;
  readonly serverMessage?: string;
}

export type ApplierStatus =
  | { readonly kind: 'running'; readonly applied: GtidPosition; readonly inflight: number }
  | { readonly kind: 'failed'; readonly applied: GtidPosition; readonly error: ApplyError }
  | { readonly kind: 'closed'; readonly applied: GtidPosition };

export type ApplyOutcome =
  | { readonly kind: 'applied'; readonly gtid: Gtid }
  /** The target already had it (its GTID position includes it): exactly-once on restart. */
  | { readonly kind: 'skipped'; readonly gtid: Gtid }
  | { readonly kind: 'failed'; readonly gtid: Gtid; readonly error: ApplyError };

interface Inflight {
  readonly gtid: Gtid;
  readonly bytes: number;
  readonly done: Promise<void>;
}

/**
 * Applies captured transactions, in the order given, to one target MariaDB, each under its
 * original GTID, over one pipelined session.
 *
 * Contracts:
 * - Exactly once: `open` reads the target's `@@gtid_binlog_pos`; a transaction that position (or
 *   an earlier submission) already covers is skipped. The target's `gtid_strict_mode` refuses
 *   anything out of order. The GTID is committed atomically with the data, so after a crash
 *   the position read on the next `open` is exactly what is there.
 * - `applied` names only transactions whose COMMIT has returned OK; the outcome promise of a
 *   transaction resolves `applied` after that and not before.
 * - The first error stops the applier for good (`status().kind === 'failed'`, with the
 *   statement, GTID and MariaDB's message); nothing after it is committed — every later query
 *   starts with a statement that fails once any statement on the session has failed (see
 *   `guardStatement`) — and nothing is skipped. Open a new applier to resume.
 * - Submissions must not overlap: await each `submit` before the next.
 */
export class Applier {
  readonly #connection: mariadb.Connection;
  readonly #logger: Logger;
  readonly #target: ApplierTarget;
  readonly #inflightTransactionsMax: number;
  readonly #inflightBytesMax: number;
  readonly #statementBytesMax: number;
  #applied: GtidPosition;
  /** Everything submitted (sent or skipped): what the next submission is checked against. */
  #submitted: GtidPosition;
  #inflight: Inflight[] = [];
  #inflightBytes = 0;
  #formatDescription: Uint8Array | undefined;
  #decodeContext: { readonly formatDescription: Buffer; readonly context: BinlogDecodeContext } | undefined;
  #failure: ApplyError | undefined;
  #closed = false;
  #submitting = false;

  private constructor(
    connection: mariadb.Connection,
    options: ApplierOptions,
    applied: GtidPosition,
    maxAllowedPacketBytes: number,
  ) {
    this.#connection = connection;
    this.#logger = options.logger;
    this.#target = options.target;
    this.#inflightTransactionsMax = options.inflightTransactionsMax ?? inflightTransactionsMaxDefault;
    this.#inflightBytesMax = options.inflightBytesMax ?? inflightBytesMaxDefault;
    this.#statementBytesMax = maxAllowedPacketBytes - packetSlackBytes;
    this.#applied = applied;
    this.#submitted = applied;
  }

  /**
   * Connects to the target, prepares the session and reads what it already holds. Throws when
   * the target cannot be reached (an I/O failure at the edge: the caller retries).
   */
  static async open(options: ApplierOptions): Promise<Applier> {
    const connection = await mariadb.createConnection({
      host: options.target.host,
      port: options.target.port,
      user: options.target.user,
      password: options.target.password,
      // One byte per char: statements logged in any character set reach the server unchanged.
      charset: 'binary',
      pipelining: true,
      multipleStatements: true,
      bigIntAsNumber: false,
      connectTimeout: options.connectTimeoutMs ?? 10_000,
    });
    // A lost session surfaces as the failure of what was in flight; the driver also emits it as
    // an event, which must not become an uncaught exception.
    connection.on('error', (error: Error) => {
      options.logger.warn({ error: error.message }, 'apply target session error');
    });
    try {
      // The driver switches its string encoding when the server reports a new
      // character_set_client; the applier sets that for every logged statement, so tracking
      // must be off or later statements would be re-encoded.
      await connection.query("SET SESSION session_track_system_variables=''");
      // As in mariadb-binlog output: the session replays events the way a replica does.
      // binlog_annotate_row_events=0: the target would otherwise log each BINLOG statement's
      // base64 text as the rows' annotation, a second copy of every row in its binlog.
      await connection.query('SET @@session.pseudo_slave_mode=1, @@session.binlog_annotate_row_events=0');
      const rows = (await connection.query(
        'SELECT @@GLOBAL.gtid_binlog_pos AS pos, @@GLOBAL.gtid_strict_mode AS strict, @@GLOBAL.max_allowed_packet AS packet',
      )) as Array<{ pos: string; strict: unknown; packet: unknown }>;
      const row = rows[0];
      if (row === undefined) throw new Error('the target returned no row for its GTID position');
      const position = parseGtidPosition(String(row.pos));
      if (!position.ok) throw new Error(`the target's @@gtid_binlog_pos: ${position.error.message}`);
      if (Number(row.strict) !== 1) {
        options.logger.warn(
          { target: `${options.target.host}:${options.target.port}` },
          'gtid_strict_mode is OFF on the apply target: a transaction applied twice would not be refused; set gtid_strict_mode=ON',
        );
      }
      const applier = new Applier(connection, options, position.value, Number(row.packet));
      options.logger.info(
        {
          target: `${options.target.host}:${options.target.port}`,
          applied: formatGtidPosition(position.value),
        },
        'applier opened; resuming after the target GTID position',
      );
      return applier;
    } catch (error) {
      connection.destroy();
      throw error;
    }
  }

  /** What the target has committed, as far as this applier knows (read at open, then advanced per COMMIT). */
  get applied(): GtidPosition {
    return this.#applied;
  }

  status(): ApplierStatus {
    if (this.#failure !== undefined) return { kind: 'failed', applied: this.#applied, error: this.#failure };
    if (this.#closed) return { kind: 'closed', applied: this.#applied };
    return { kind: 'running', applied: this.#applied, inflight: this.#inflight.length };
  }

  /** Submits and waits for the outcome: applied (committed), skipped, or failed. */
  async apply(transaction: ApplierTransaction): Promise<ApplyOutcome> {
    return await (await this.submit(transaction)).committed;
  }

  /**
   * Sends one transaction, waiting first while the in-flight bounds are reached. Returns once
   * it is sent (or known to be skipped or failed); `committed` resolves with its outcome. Never
   * rejects: failures are outcomes, and they stop the applier.
   */
  async submit(transaction: ApplierTransaction): Promise<{ readonly committed: Promise<ApplyOutcome> }> {
    if (this.#submitting)
      throw new Error('Applier.submit called while a submission is running; await each one');
    this.#submitting = true;
    try {
      return await this.#submit(transaction);
    } finally {
      this.#submitting = false;
    }
  }

  /** Returns the outcome wrapped: an async function would otherwise flatten it and wait for the commit. */
  async #submit(transaction: ApplierTransaction): Promise<{ readonly committed: Promise<ApplyOutcome> }> {
    const gtid = transaction.gtid;
    if (this.#failure !== undefined)
      return { committed: Promise.resolve({ kind: 'failed', gtid, error: this.#failure }) };
    if (this.#closed) return { committed: Promise.resolve(this.#closedOutcome(gtid)) };
    if (positionContains(this.#submitted, gtid)) {
      this.#logger.debug({ gtid: formatGtid(gtid) }, 'skipping a transaction the target already holds');
      return { committed: Promise.resolve({ kind: 'skipped', gtid }) };
    }
    const context = this.#contextFor(transaction.formatDescription);
    if (!context.ok) return { committed: Promise.resolve(this.#fail(gtid, context.error)) };
    const planned = planTransaction(transaction, {
      context: context.value,
      statementBytesMax: this.#statementBytesMax,
    });
    if (!planned.ok)
      return {
        committed: Promise.resolve(
          this.#fail(gtid, { code: planned.error.code, message: planned.error.message }),
        ),
      };
    const plan = planned.value;
    this.#submitted = positionWith(this.#submitted, gtid);
    const formatDescription = this.#formatDescriptionPending(transaction.formatDescription);
    await this.#waitForRoom(plan.bytes);
    if (this.#failure !== undefined)
      return { committed: Promise.resolve({ kind: 'failed', gtid, error: this.#failure }) };
    return { committed: this.#send(plan, formatDescription) };
  }

  /** The FORMAT_DESCRIPTION statement when this transaction's differs from the session's. */
  #formatDescriptionPending(formatDescription: Uint8Array): string | undefined {
    if (
      this.#formatDescription !== undefined &&
      Buffer.from(this.#formatDescription).equals(formatDescription)
    ) {
      return undefined;
    }
    this.#formatDescription = formatDescription;
    return formatDescriptionStatement(formatDescription);
  }

  #contextFor(
    formatDescription: Uint8Array,
  ): { ok: true; value: BinlogDecodeContext } | { ok: false; error: ApplyError } {
    if (this.#decodeContext?.formatDescription.equals(formatDescription)) {
      return { ok: true, value: this.#decodeContext.context };
    }
    const decoded = decodeBinlogEvent(withoutInUseFlag(formatDescription), { checksum: 'none' });
    if (!decoded.ok || decoded.value.body.kind !== 'format_description') {
      const reason = decoded.ok ? `a ${decoded.value.body.kind} event` : decoded.error.message;
      return {
        ok: false,
        error: { code: 'MALFORMED_TRANSACTION', message: `its format description is ${reason}` },
      };
    }
    const context = binlogDecodeContextFrom(decoded.value.body);
    this.#decodeContext = { formatDescription: Buffer.from(formatDescription), context };
    return { ok: true, value: context };
  }

  /**
   * Pipelines the transaction's queries without waiting: each query's first statement fails when
   * anything before it failed (see `planQueries`), so what is queued behind a failure never
   * commits. The outcome is the first failing query's error, or applied when all succeeded.
   */
  #send(plan: TransactionPlan, formatDescription: string | undefined): Promise<ApplyOutcome> {
    const queries = planQueries(plan, formatDescription);
    const results = queries.map((sql, index) =>
      this.#connection.query(sql).then(
        () => undefined,
        (error: unknown) => Object.assign(asError(error), { statementIndex: index }),
      ),
    );
    const run = Promise.all(results).then((outcomes) => {
      const failed = outcomes.find((outcome) => outcome !== undefined);
      if (failed !== undefined) throw failed;
    });
    return this.#track(plan, plan.bytes, run, queries);
  }

  #track(
    plan: TransactionPlan,
    bytes: number,
    sent: Promise<unknown>,
    queries: readonly string[],
  ): Promise<ApplyOutcome> {
    const outcome = sent.then(
      (): ApplyOutcome => {
        this.#settle(plan.gtid, bytes, true);
        // Statements run in order on one session, so commits come back in submission order.
        this.#applied = positionWith(this.#applied, plan.gtid);
        return { kind: 'applied', gtid: plan.gtid };
      },
      (error: unknown): ApplyOutcome => {
        this.#settle(plan.gtid, bytes, false);
        return this.#fail(plan.gtid, this.#describe(error, plan.gtid, queries));
      },
    );
    this.#inflight.push({ gtid: plan.gtid, bytes, done: outcome.then(() => undefined) });
    this.#inflightBytes += bytes;
    return outcome;
  }

  /**
   * Removes a settled transaction from the in-flight list. Successes arrive in submission order
   * (one session executes in order) and that is asserted; after a lost connection the driver
   * rejects what was queued in an order of its own, so failures are removed wherever they are.
   */
  #settle(gtid: Gtid, bytes: number, succeeded: boolean): void {
    const index = this.#inflight.findIndex((entry) => entry.gtid === gtid);
    if (index < 0 || (succeeded && index !== 0)) {
      throw new Error(`applier invariant broken: ${formatGtid(gtid)} committed out of submission order`);
    }
    this.#inflight.splice(index, 1);
    this.#inflightBytes -= bytes;
  }

  async #waitForRoom(bytes: number): Promise<void> {
    while (
      this.#inflight.length > 0 &&
      (this.#inflight.length >= this.#inflightTransactionsMax ||
        this.#inflightBytes + bytes > this.#inflightBytesMax)
    ) {
      await this.#inflight[0]?.done;
    }
  }

  async #drain(): Promise<void> {
    while (this.#inflight.length > 0) await this.#inflight[0]?.done;
  }

  /** Records the first failure (later ones are its consequences) and returns the outcome. */
  #fail(gtid: Gtid, error: ApplyError): ApplyOutcome {
    if (this.#failure === undefined) {
      this.#failure = { ...error, gtid: error.gtid ?? formatGtid(gtid) };
      this.#logger.error(
        { error: this.#failure, applied: formatGtidPosition(this.#applied) },
        'applier stopped',
      );
      // What was sent after the failure fails at its guard; close the session so nothing waits on it.
      void this.#drain().then(() => this.#connection.end().catch(() => this.#connection.destroy()));
    }
    return { kind: 'failed', gtid, error: this.#failure };
  }

  #describe(error: unknown, gtid: Gtid, queries: readonly string[]): ApplyError {
    const sqlError = error as Partial<mariadb.SqlError> & { statementIndex?: number };
    const where = `${this.#target.host}:${this.#target.port}`;
    const fatal = sqlError.fatal === true || sqlError.errno === undefined || sqlError.errno >= 2000;
    const statement = quoteStatement(
      sqlError.statementIndex === undefined ? queries.join(';') : (queries[sqlError.statementIndex] ?? ''),
    );
    const serverMessage = sqlError.sqlMessage ?? (error instanceof Error ? error.message : String(error));
    if (fatal) {
      return {
        code: 'TARGET_UNAVAILABLE',
        message: `lost the apply target MariaDB at ${where} while applying ${formatGtid(gtid)}: ${serverMessage}. Open a new applier once it is back; it resumes from the target's GTID position.`,
        statement,
        serverMessage,
      };
    }
    return {
      code: sqlError.errno === 1950 ? 'OUT_OF_ORDER' : 'APPLY_FAILED',
      message: `MariaDB at ${where} refused transaction ${formatGtid(gtid)}: ${serverMessage} (errno ${sqlError.errno}). Fix the cause on the target, then open a new applier; nothing after this transaction was applied.`,
      statement,
      ...(sqlError.errno === undefined ? {} : { errno: sqlError.errno }),
      ...(typeof sqlError.sqlState === 'string' ? { sqlState: sqlError.sqlState } : {}),
      serverMessage,
    };
  }

  #closedOutcome(gtid: Gtid): ApplyOutcome {
    return { kind: 'failed', gtid, error: { code: 'CLOSED', message: 'the applier is closed' } };
  }

  /** Waits for everything in flight, then ends the session. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#drain();
    await this.#connection.end().catch(() => this.#connection.destroy());
  }

  /** Ends the session at once; what was in flight may or may not have committed. */
  destroy(): void {
    this.#closed = true;
    this.#connection.destroy();
  }
}

function quoteStatement(sql: string): string {
  return sql.length <= statementQuoteBytesMax
    ? sql
    : `${sql.slice(0, statementQuoteBytesMax)}… (${sql.length} bytes)`;
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
