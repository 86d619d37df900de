import * as mariadb from 'mariadb';
import type { Logger } from 'pino';
import { abandonConnection } from '../mariadb/abandon-connection.js';
import {
  formatGtidPosition,
  type GtidPosition,
  gtidInDomain,
  parseGtidPosition,
  positionContains,
  positionWith,
} from '../mariadb/gtid-position.js';
import type { BinlogDecodeContext } from '../protocol/binlog/index.js';
import { formatGtid, type Gtid } from '../protocol/gtid.js';
import {
  accountStatementRedo,
  formatDescriptionContext,
  quoteStatement,
  reassertAccountStatement,
} from './account-statement.js';
import type { ApplierTransaction } from './applier-transaction.js';
import { ApplySchedule, type Placement } from './apply-schedule.js';
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
  /**
   * Sessions applying at once (default 1). Above 1, transactions of one binlog group commit on
   * the source execute concurrently and still commit in GTID order (src/apply/DESIGN.md).
   */
  readonly parallelSessions?: number;
}

export const parallelSessionsMax = 64;
/** innodb_lock_wait_timeout of parallel sessions: how long a cycle through the commit order lasts. */
const parallelLockWaitTimeoutS = 10;

export const inflightTransactionsMaxDefault = 256;
export const inflightBytesMaxDefault = 32 * 1024 * 1024;
/** Room left in a packet for the statement around a BINLOG payload. */
const packetSlackBytes = 4096;

export type ApplyErrorCode =
  | PlanErrorCode
  | 'APPLY_FAILED'
  | 'TARGET_UNAVAILABLE'
  | 'OUT_OF_ORDER'
  /** Parallel apply met a lock conflict the source did not have: re-apply from there on one session. */
  | 'PARALLEL_CONFLICT'
  | 'CLOSED';

/** Why the applier stopped: what failed, where, and MariaDB's own words. */
/**
 * Failures a caller recovers from by opening a new applier at its applied position: the target
 * went away, or parallel sessions met a lock conflict the source did not have.
 */
export function reopenable(code: ApplyErrorCode): boolean {
  return code === 'TARGET_UNAVAILABLE' || code === 'PARALLEL_CONFLICT';
}

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

interface Deferred<T> {
  readonly promise: Promise<T>;
  readonly resolve: (value: T) => void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** One connection to the target; it runs one transaction at a time, its queries in order. */
interface Session {
  readonly connection: mariadb.Connection;
  /**
   * Settles (never rejects) once the session is lost: the driver reported it closed, or the
   * applier dropped it. Every query on the session races it, so none waits past that.
   */
  readonly lost: Deferred<Error>;
  /** Rejects once `lost` settles: what every query on the session races (made once per session). */
  readonly failed: Promise<never>;
  /** The sends of the transactions placed on this session, one after the other. */
  chain: Promise<void>;
  /** The FORMAT_DESCRIPTION this session has replayed last. */
  formatDescription: Uint8Array | undefined;
}

type Completion = { readonly ok: true } | { readonly ok: false; readonly error: ApplyError };

interface Inflight {
  readonly ticket: number;
  readonly gtid: Gtid;
  readonly bytes: number;
  readonly session: Session;
  /** Its first query returned: true when it succeeded (its lock, if any, is then held). */
  readonly bodyReturned: Deferred<boolean>;
  /** Every query of it returned; set once. */
  completion: Completion | undefined;
  /** Its outcome, resolved in submission order. */
  readonly outcome: Deferred<ApplyOutcome>;
}

/**
 * Applies captured transactions, in the order given, to one target MariaDB, each under its
 * original GTID, over one or more pipelined sessions (see src/apply/DESIGN.md for the parallel
 * apply rules and their safety argument).
 *
 * Contracts:
 * - Exactly once: `open` reads the target's `@@gtid_binlog_pos`; a transaction that position (or
 *   an earlier submission) already covers is skipped. The target's `gtid_strict_mode` refuses
 *   anything out of order. The GTID is committed atomically with the data, and transactions
 *   commit in submission order on the target whatever the number of sessions, so after a crash
 *   the position read on the next `open` is exactly what is there.
 * - `applied` names only transactions whose COMMIT has returned OK, and grows in submission
 *   order; the outcome promises resolve in submission order, `applied` after the COMMIT returned
 *   and not before.
 * - The first error (in submission order) stops the applier for good (`status().kind ===
 *   'failed'`, with the statement, GTID and MariaDB's message); nothing after it is committed —
 *   every later query starts with a statement that fails once any statement on the session has
 *   failed (see `guardStatement`), and under parallel apply every later commit waits for the
 *   earlier one and checks that it committed — and nothing is skipped. Open a new applier to
 *   resume.
 * - Submissions must not overlap: await each `submit` before the next.
 */
export class Applier {
  readonly #sessions: readonly Session[];
  /** Parallel apply only: kills worker sessions (a session waiting on the server cannot be ended by closing its socket). */
  readonly #control: mariadb.Connection | undefined;
  readonly #schedule: ApplySchedule;
  readonly #logger: Logger;
  readonly #target: ApplierTarget;
  readonly #options: ApplierOptions;
  /**
   * Per domain, the last transaction the target held at `open` while not yet re-asserted: after a
   * crash, an account statement there may be in the binlog without its effect (see
   * `#reassertAccountStatement`).
   */
  #inDoubt: GtidPosition;
  readonly #inflightTransactionsMax: number;
  readonly #inflightBytesMax: number;
  readonly #statementBytesMax: number;
  #applied: GtidPosition;
  /** Everything submitted (sent or skipped): what the next submission is checked against. */
  #submitted: GtidPosition;
  /** In submission order. */
  #inflight: Inflight[] = [];
  readonly #byTicket = new Map<number, Inflight>();
  #inflightBytes = 0;
  #decodeContext: { readonly formatDescription: Buffer; readonly context: BinlogDecodeContext } | undefined;
  #failure: ApplyError | undefined;
  /** The lowest ticket known to have failed: nothing after it is sent. */
  #failedTicket = Number.POSITIVE_INFINITY;
  #closed = false;
  #submitting = false;
  #concurrent = 0;
  /** Settles when the in-flight list changes: what `#waitForRoom` and `#drain` wait on. */
  #changed = deferred<void>();

  private constructor(
    sessions: readonly mariadb.Connection[],
    control: mariadb.Connection | undefined,
    options: ApplierOptions,
    applied: GtidPosition,
    maxAllowedPacketBytes: number,
  ) {
    this.#sessions = sessions.map((connection) => {
      const lost = deferred<Error>();
      // The driver emits 'error' once its socket is gone and what was in flight failed.
      connection.on('error', (error: Error) => lost.resolve(error));
      const failed = lost.promise.then(lostQuery);
      // Handled here too: a session lost with no query in flight must not be an unhandled rejection.
      failed.catch(() => undefined);
      return { connection, lost, failed, chain: Promise.resolve(), formatDescription: undefined };
    });
    this.#control = control;
    this.#schedule = new ApplySchedule(sessions.length);
    this.#logger = options.logger;
    this.#target = options.target;
    this.#options = options;
    this.#inDoubt = applied;
    this.#inflightTransactionsMax = options.inflightTransactionsMax ?? inflightTransactionsMaxDefault;
    this.#inflightBytesMax = options.inflightBytesMax ?? inflightBytesMaxDefault;
    this.#statementBytesMax = maxAllowedPacketBytes - packetSlackBytes;
    this.#applied = applied;
    this.#submitted = applied;
  }

  /**
   * Connects to the target (`parallelSessions` sessions, and one more to end them under parallel
   * apply), prepares the sessions and reads what the target already holds. Throws when the
   * target cannot be reached (an I/O failure at the edge: the caller retries).
   */
  static async open(options: ApplierOptions): Promise<Applier> {
    const count = options.parallelSessions ?? 1;
    if (!Number.isInteger(count) || count < 1 || count > parallelSessionsMax)
      throw new Error(`parallelSessions must be an integer from 1 to ${parallelSessionsMax}, got ${count}`);
    const connections: mariadb.Connection[] = [];
    try {
      for (let i = 0; i < count + (count > 1 ? 1 : 0); i++) connections.push(await connect(options));
      const sessions = connections.slice(0, count);
      const control = count > 1 ? connections[count] : undefined;
      for (const session of sessions) await prepareSession(session, count > 1);
      const rows = (await (sessions[0] as mariadb.Connection).query(
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
      const applier = new Applier(sessions, control, options, position.value, Number(row.packet));
      options.logger.info(
        {
          target: `${options.target.host}:${options.target.port}`,
          applied: formatGtidPosition(position.value),
          sessions: count,
        },
        'applier opened; resuming after the target GTID position',
      );
      return applier;
    } catch (error) {
      for (const connection of connections) connection.destroy();
      throw error;
    }
  }

  /** What the target has committed, as far as this applier knows (read at open, then advanced per COMMIT). */
  get applied(): GtidPosition {
    return this.#applied;
  }

  /**
   * Transactions placed on another session than the one before them while that one was still in
   * flight: how many ran concurrently with their predecessor (0 with one session).
   */
  get concurrentTransactions(): number {
    return this.#concurrent;
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
   * Queues one transaction for sending, waiting first while the in-flight bounds are reached.
   * Returns once it is queued (or known to be skipped or failed); `committed` resolves with its
   * outcome. Never rejects: failures are outcomes, and they stop the applier.
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
    if (this.#failedTicket !== Number.POSITIVE_INFINITY)
      return { committed: this.#afterPendingFailure(gtid) };
    if (positionContains(this.#submitted, gtid)) {
      if (gtidInDomain(this.#inDoubt, gtid.domainId)?.sequenceNumber === gtid.sequenceNumber) {
        this.#inDoubt = this.#inDoubt.filter((g) => g.domainId !== gtid.domainId);
        if (this.#inflight.length === 0) await this.#reassertAccountStatement(transaction);
      }
      this.#logger.debug({ gtid: formatGtid(gtid) }, 'skipping a transaction the target already holds');
      return { committed: Promise.resolve({ kind: 'skipped', gtid }) };
    }
    const context = this.#contextFor(transaction.formatDescription);
    if (!context.ok) return { committed: this.#failAlone(gtid, context.error) };
    const planned = planTransaction(transaction, {
      context: context.value,
      statementBytesMax: this.#statementBytesMax,
    });
    if (!planned.ok)
      return {
        committed: this.#failAlone(gtid, { code: planned.error.code, message: planned.error.message }),
      };
    const plan = planned.value;
    const previous = gtidInDomain(this.#submitted, gtid.domainId);
    if (previous !== undefined && gtid.sequenceNumber > previous.sequenceNumber + 1n) {
      // gtid_strict_mode refuses only lower sequence numbers: a skipped transaction would go
      // unnoticed (docs/RELIABILITY.md "Failures found" 11). A leader's MariaDB numbers its commits
      // without gaps, so one here means the transactions between were never submitted (or were
      // written to that MariaDB with an explicit gtid_seq_no). Applying goes on; the operator checks.
      this.#logger.warn(
        {
          after: formatGtid(previous),
          gtid: formatGtid(gtid),
          missing: String(gtid.sequenceNumber - previous.sequenceNumber - 1n),
        },
        'a gap in GTID sequence numbers: transactions between these two were never applied here; compare this node with the leader (CHECKSUM TABLE) before trusting it',
      );
    }
    this.#submitted = positionWith(this.#submitted, gtid);
    await this.#waitForRoom(plan.bytes);
    if (this.#failure !== undefined || this.#failedTicket !== Number.POSITIVE_INFINITY)
      return { committed: this.#afterPendingFailure(gtid) };
    const placement = this.#schedule.place(plan);
    if (placement.commitAfter !== undefined) this.#concurrent += 1;
    const session = this.#sessions[placement.session];
    if (session === undefined) throw new Error(`applier invariant broken: no session ${placement.session}`);
    const entry: Inflight = {
      ticket: placement.ticket,
      gtid,
      bytes: plan.bytes,
      session,
      bodyReturned: deferred(),
      completion: undefined,
      outcome: deferred(),
    };
    this.#inflight.push(entry);
    this.#byTicket.set(entry.ticket, entry);
    this.#inflightBytes += plan.bytes;
    session.chain = session.chain.then(() =>
      this.#send(entry, plan, placement, transaction.formatDescription).catch((error: unknown) => {
        entry.bodyReturned.resolve(false);
        this.#complete(entry, { ok: false, error: this.#describe(error, gtid, []) }, false);
      }),
    );
    return { committed: entry.outcome.promise };
  }

  /**
   * The target's last transaction at `open`, when it is an account statement, is run once more
   * without binlogging (`account-statement.ts`: its effect can be missing after a crash). Only
   * the last transaction can be in doubt: the applier runs an account statement alone (nothing
   * after it is sent before it returned).
   */
  async #reassertAccountStatement(transaction: ApplierTransaction): Promise<void> {
    const context = this.#contextFor(transaction.formatDescription);
    if (!context.ok) return;
    const redo = accountStatementRedo(transaction, context.value, this.#statementBytesMax);
    if (redo !== undefined) await reassertAccountStatement(redo, () => connect(this.#options), this.#logger);
  }

  /**
   * A transaction that cannot even be planned stops the applier like a failed one: the earlier
   * ones still commit, nothing after it is sent, and the failure is recorded once they settled.
   */
  #failAlone(gtid: Gtid, error: ApplyError): Promise<ApplyOutcome> {
    const entry: Inflight = {
      ticket: Number.NaN,
      gtid,
      bytes: 0,
      session: this.#sessions[0] as Session,
      bodyReturned: deferred(),
      completion: { ok: false, error },
      outcome: deferred(),
    };
    this.#failedTicket = Math.min(this.#failedTicket, this.#schedule.nextTicket);
    this.#inflight.push(entry);
    this.#advance();
    return entry.outcome.promise;
  }

  /** A failure is known and not yet recorded: later submissions get its outcome once it is. */
  async #afterPendingFailure(gtid: Gtid): Promise<ApplyOutcome> {
    await this.#drain();
    return { kind: 'failed', gtid, error: this.#failure ?? this.#consequence() };
  }

  /**
   * Sends one transaction's queries on its session, after what it waits for (see `Placement`).
   * Returns once they are sent — the session's next transaction may follow at once — and
   * records their results as they come back.
   */
  async #send(
    entry: Inflight,
    plan: TransactionPlan,
    placement: Placement,
    formatDescription: Uint8Array,
  ): Promise<void> {
    const bodyAfter =
      placement.bodyAfter === undefined ? undefined : this.#byTicket.get(placement.bodyAfter.ticket);
    if (bodyAfter !== undefined) {
      if (placement.bodyAfter?.wait === 'client') await bodyAfter.outcome.promise;
      else await bodyAfter.bodyReturned.promise;
    }
    const commitAfter =
      placement.commitAfter === undefined ? undefined : this.#byTicket.get(placement.commitAfter);
    if (entry.ticket > this.#failedTicket) return this.#abandon(entry);
    const pendingFormatDescription = this.#formatDescriptionPending(entry.session, formatDescription);
    const queries = planQueries(
      plan,
      pendingFormatDescription === undefined
        ? undefined
        : formatDescriptionStatement(pendingFormatDescription),
      {
        locks: placement.locks,
        // A dependency that settled meanwhile needs no wait: it committed (or everything stops).
        ...(bodyAfter === undefined || placement.bodyAfter?.wait !== 'server'
          ? {}
          : { bodyAfter: bodyAfter.gtid }),
        ...(commitAfter === undefined ? {} : { commitAfter: commitAfter.gtid }),
      },
    );
    const bodyIndex = pendingFormatDescription === undefined ? 0 : 1;
    const results: Promise<unknown>[] = [];
    const session = entry.session;
    const send = (index: number): void => {
      const sql = queries[index] as string;
      const result = Promise.race([session.connection.query(sql), session.failed]).then(
        () => undefined,
        (error: unknown) => Object.assign(asError(error), { statementIndex: index }),
      );
      if (index === bodyIndex) void result.then((error) => entry.bodyReturned.resolve(error === undefined));
      results.push(result);
    };
    const last = queries.length - 1;
    for (let index = 0; index < last; index++) send(index);
    // The COMMIT waits on the server for the previous transaction's lock, which that one takes
    // in its first query: send it only once that query returned.
    if (commitAfter !== undefined) {
      const held = await commitAfter.bodyReturned.promise;
      if (!held || entry.ticket > this.#failedTicket) {
        // Its body may be open on this session; the next guard here fails on it (1953), and the
        // failure handling ends the session.
        entry.bodyReturned.resolve(false);
        this.#complete(entry, { ok: false, error: this.#consequence() }, false);
        return;
      }
    }
    send(last);
    void Promise.all(results).then((outcomes) => {
      const failed = outcomes.find((outcome) => outcome !== undefined);
      this.#complete(
        entry,
        failed === undefined
          ? { ok: true }
          : { ok: false, error: this.#describe(failed, entry.gtid, queries) },
        true,
      );
    });
  }

  #abandon(entry: Inflight): void {
    entry.bodyReturned.resolve(false);
    this.#complete(entry, { ok: false, error: this.#consequence() }, false);
  }

  #consequence(): ApplyError {
    return {
      code: 'APPLY_FAILED',
      message: 'not applied: an earlier transaction failed, and nothing after a failure is applied',
    };
  }

  /**
   * Records a transaction's result; outcomes are then given out in submission order.
   * `answered`: the result is the server's answer to its own queries.
   */
  #complete(entry: Inflight, completion: Completion, answered: boolean): void {
    if (entry.completion !== undefined) return;
    entry.completion = completion;
    if (!completion.ok && entry.ticket < this.#failedTicket) {
      this.#failedTicket = entry.ticket;
      // When the server answered with the failure, everything before it on its session has
      // returned (answers come in order) and what follows it there fails anyway: ending the
      // session at once releases its locks, so nothing waits on a failed transaction.
      if (answered && this.#control !== undefined) this.#kill([entry.session]);
    }
    this.#advance();
  }

  /** Resolves the outcomes at the head of the in-flight list whose results are in. */
  #advance(): void {
    for (let head = this.#inflight[0]; head?.completion !== undefined; head = this.#inflight[0]) {
      this.#inflight.shift();
      if (!Number.isNaN(head.ticket)) {
        this.#byTicket.delete(head.ticket);
        this.#schedule.settled(head.ticket);
      }
      this.#inflightBytes -= head.bytes;
      if (head.completion.ok && this.#failure === undefined) {
        this.#applied = positionWith(this.#applied, head.gtid);
        head.outcome.resolve({ kind: 'applied', gtid: head.gtid });
        continue;
      }
      if (head.completion.ok) {
        // Committed after a failure: the commit-order checks make this impossible.
        const message = `applier invariant broken: ${formatGtid(head.gtid)} committed after a failed transaction`;
        this.#logger.fatal({ gtid: formatGtid(head.gtid) }, message);
        queueMicrotask(() => {
          throw new Error(message);
        });
      }
      head.outcome.resolve(
        this.#fail(head.gtid, head.completion.ok ? this.#consequence() : head.completion.error),
      );
    }
    const changed = this.#changed;
    this.#changed = deferred();
    changed.resolve();
  }

  /** The FORMAT_DESCRIPTION to replay on `session` first, when it differs from the session's. */
  #formatDescriptionPending(session: Session, formatDescription: Uint8Array): Uint8Array | undefined {
    if (
      session.formatDescription !== undefined &&
      Buffer.from(session.formatDescription).equals(formatDescription)
    ) {
      return undefined;
    }
    session.formatDescription = formatDescription;
    return formatDescription;
  }

  #contextFor(
    formatDescription: Uint8Array,
  ): { ok: true; value: BinlogDecodeContext } | { ok: false; error: ApplyError } {
    if (this.#decodeContext?.formatDescription.equals(formatDescription)) {
      return { ok: true, value: this.#decodeContext.context };
    }
    const decoded = formatDescriptionContext(formatDescription);
    if (!decoded.ok) {
      return {
        ok: false,
        error: { code: 'MALFORMED_TRANSACTION', message: `its format description is ${decoded.reason}` },
      };
    }
    const context = decoded.value;
    this.#decodeContext = { formatDescription: Buffer.from(formatDescription), context };
    return { ok: true, value: context };
  }

  async #waitForRoom(bytes: number): Promise<void> {
    while (
      this.#inflight.length > 0 &&
      (this.#inflight.length >= this.#inflightTransactionsMax ||
        this.#inflightBytes + bytes > this.#inflightBytesMax)
    ) {
      await this.#changed.promise;
    }
  }

  async #drain(): Promise<void> {
    while (this.#inflight.length > 0) await this.#changed.promise;
  }

  /** Records the first failure (later ones are its consequences) and returns the outcome. */
  #fail(gtid: Gtid, error: ApplyError): ApplyOutcome {
    if (this.#failure === undefined) {
      this.#failure = { ...error, gtid: error.gtid ?? formatGtid(gtid) };
      this.#failedTicket = -1;
      // The caller (the node's apply loop) reopens after these; only the rest is an error.
      this.#logger[reopenable(error.code) ? 'warn' : 'error'](
        { error: this.#failure, applied: formatGtidPosition(this.#applied) },
        'applier stopped',
      );
      if (this.#control !== undefined) {
        // Every transaction before the failed one has settled; the later ones may wait on the
        // server for its commit: end every session (their transactions roll back).
        this.#kill(this.#sessions);
      } else {
        // One session: what was sent after the failure fails at its guard; close the session
        // so nothing waits on it.
        const [session] = this.#sessions;
        void this.#drain().then(() => session?.connection.end().catch(() => session.connection.destroy()));
      }
    }
    return { kind: 'failed', gtid, error: this.#failure };
  }

  /**
   * Ends sessions on the server (KILL CONNECTION); the server then closes their sockets and the
   * driver fails what was queued on them. Not `destroy()` first: the driver would then KILL the
   * thread itself, and its own failure to do so surfaces as an unhandled rejection.
   */
  #kill(sessions: readonly Session[]): void {
    const control = this.#control;
    void (async () => {
      for (const session of sessions) {
        await control
          ?.query(`KILL CONNECTION ${session.connection.threadId}`)
          .catch((error: SqlErrorLike) => {
            // 1094: no such thread, the session is gone already.
            if (error.errno === 1094) return;
            this.#logger.warn(
              { error: error.message },
              'could not end an apply session; dropping its socket',
            );
            dropSession(session, `could not end the session: ${error.message}`, this.#target);
          });
      }
    })();
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
    const conflict = this.#sessions.length > 1 && (sqlError.errno === 1205 || sqlError.errno === 1213);
    return {
      code: sqlError.errno === 1950 ? 'OUT_OF_ORDER' : conflict ? 'PARALLEL_CONFLICT' : 'APPLY_FAILED',
      message: conflict
        ? `MariaDB at ${where} reported a lock conflict for ${formatGtid(gtid)} applied in parallel: ${serverMessage} (errno ${sqlError.errno}). The target locked more than the source did; nothing after it was applied: open a new applier with parallelSessions=1 to apply from here on one session.`
        : `MariaDB at ${where} refused transaction ${formatGtid(gtid)}: ${serverMessage} (errno ${sqlError.errno}). Fix the cause on the target, then open a new applier; nothing after this transaction was applied.`,
      statement,
      ...(sqlError.errno === undefined ? {} : { errno: sqlError.errno }),
      ...(typeof sqlError.sqlState === 'string' ? { sqlState: sqlError.sqlState } : {}),
      serverMessage,
    };
  }

  #closedOutcome(gtid: Gtid): ApplyOutcome {
    return { kind: 'failed', gtid, error: { code: 'CLOSED', message: 'the applier is closed' } };
  }

  /** Waits for everything in flight, then ends the sessions. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#drain();
    const connections = [...this.#sessions.map((session) => session.connection), this.#control];
    await Promise.all(connections.map((connection) => connection?.end().catch(() => connection.destroy())));
  }

  /** Ends the sessions at once; what was in flight may or may not have committed. */
  destroy(): void {
    this.#closed = true;
    for (const session of this.#sessions) dropSession(session, 'the applier was destroyed', this.#target);
    // It may be running a KILL of the sweep: not the driver's destroy() (see abandon-connection.ts).
    if (this.#control !== undefined) abandonConnection(this.#control, this.#target);
  }
}

async function connect(options: ApplierOptions): Promise<mariadb.Connection> {
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
  return connection;
}

async function prepareSession(connection: mariadb.Connection, parallel: boolean): Promise<void> {
  // The driver switches its string encoding when the server reports a new
  // character_set_client; the applier sets that for every logged statement, so tracking
  // must be off or later statements would be re-encoded.
  await connection.query("SET SESSION session_track_system_variables=''");
  // As in mariadb-binlog output: the session replays events the way a replica does.
  // binlog_annotate_row_events=0: the target would otherwise log each BINLOG statement's
  // base64 text as the rows' annotation, a second copy of every row in its binlog.
  await connection.query('SET @@session.pseudo_slave_mode=1, @@session.binlog_annotate_row_events=0');
  if (parallel) {
    // Replayed row images do not depend on the isolation level; READ COMMITTED takes no gap
    // locks, so concurrent transactions of one group conflict less than under REPEATABLE READ.
    // A lock wait that is a cycle through the commit order (invisible to InnoDB) ends after
    // the timeout as PARALLEL_CONFLICT.
    await connection.query(
      `SET @@session.tx_isolation='READ-COMMITTED', @@session.innodb_lock_wait_timeout=${parallelLockWaitTimeoutS}`,
    );
  }
}

type SqlErrorLike = Error & { readonly errno?: number };

/**
 * Fails whatever is in flight on a session, then ends it (`abandonConnection`: its thread killed
 * with a KILL of our own, then COM_QUIT). The driver settles nothing here: its `destroy()` of a
 * busy connection opens a second connection to KILL the statement, and when that connection
 * cannot be made (the target is gone) clears its queue without failing what was in it and
 * ignores the socket's own close from then on (mariadb 3.5, lib/connection.js); `end()` clears
 * it the same way. Seen in `test/integration/apply-parallel.test.ts`: the target killed, one
 * session's socket not yet reported closed when the failed KILL sweep dropped it, and the
 * applier waited forever.
 */
function dropSession(session: Session, reason: string, target: ApplierTarget): void {
  session.lost.resolve(new Error(`the apply session was dropped: ${reason}`));
  abandonConnection(session.connection, target);
}

/** A query that lost its session fails as the target's loss (no errno: TARGET_UNAVAILABLE). */
function lostQuery(error: Error): never {
  throw error;
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
