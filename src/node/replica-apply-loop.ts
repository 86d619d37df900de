import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { ApplyError } from '../apply/applier.js';
import type { ApplierTransaction } from '../apply/applier-transaction.js';
import { formatGtidPosition, type GtidPosition, positionContains } from '../mariadb/gtid-position.js';
import { MariaDbAdmin } from '../mariadb/mariadb-admin.js';
import {
  type ReplicaApplyStatus,
  type ReplicaSettings,
  replicaAppliedPosition,
  replicaApplyStatus,
  startReplica,
  stopReplica,
  waitReplicaAppliedPosition,
} from '../mariadb/replica-control.js';
import type { SqlRunner } from '../mariadb/sql-runner.js';
import { formatGtid, type Gtid } from '../protocol/gtid.js';
import { AppliedWaiters, type Pause, PauseQueue } from './apply-gates.js';
import { type ApplyLoopStatus, loopStatus, type NodeApplyLoop } from './apply-loop.js';
import { type BinlogFeed, type BinlogFeedCursor, BinlogStreamServer } from './binlog-stream-server.js';
import type { ReplicatedLog } from './replicated-log.js';
import { TransactionReassembler } from './transaction-payload.js';

/**
 * `apply.mode = "replica"`: committed entries reach the local MariaDB through its own
 * replication (src/apply/DESIGN.md, "Apply through the target's own replication"). This loop
 * serves them as a binlog stream on 127.0.0.1 (`BinlogStreamServer`), points the local MariaDB at
 * it (`CHANGE MASTER TO … MASTER_USE_GTID=slave_pos`, parallel SQL threads), and follows
 * `@@gtid_slave_pos` to move `appliedIndex`. Same contract as `ApplyLoop`:
 *
 * - Entries are served in index order, committed ones only, never one of a term this node led
 *   (its own captures, already in its MariaDB: they count as applied at once), never while a
 *   pause (the rewind check) is pending.
 * - `appliedIndex` advances over a contiguous prefix: a transaction counts once the replica's
 *   position holds its GTID (MariaDB's parallel replication commits in order), a transaction's
 *   leading chunks and the entries that need no apply count with what precedes them.
 * - A SQL-thread error stops the loop for good with MariaDB's message (the node reports it and is
 *   not eligible to lead), except once per transaction the out-of-order refusal of one the local
 *   binlog already holds (`#realignIfRecovered`); a MariaDB that cannot be reached is retried,
 *   the replica restarted.
 * - `pauseWhile` stops the replica (`STOP SLAVE` waits for the event group in progress) and
 *   starts it again afterwards from `@@gtid_binlog_pos` (what the rewind left).
 */
export interface ReplicaApplyLoopOptions {
  readonly log: ReplicatedLog;
  /** The node's connection pool to its local MariaDB (admin statements, position reads). */
  readonly sql: SqlRunner;
  readonly logger: Logger;
  readonly isOwnTerm: (term: number) => boolean;
  readonly replica: ReplicaSettings;
  /** The stream's server id as the replica sees it; must differ from every node's server id. */
  readonly streamServerId: number;
  /** Bytes of transactions held between the applied index and the read index. Default 64 MiB. */
  readonly windowBytesMax?: number;
  /**
   * Runs a transaction once more when it is an account statement (`src/apply/account-statement.ts`,
   * `accountStatementReasserter`): asked before each start of the replica for the local MariaDB's
   * last transaction, whose effect a crash may have lost. Absent: never.
   */
  readonly reassertAccount?: (transaction: ApplierTransaction) => Promise<void>;
}

/** One committed entry the replica has not been seen to apply yet. */
interface WindowEntry {
  readonly index: number;
  /** The transaction this entry completes (served to the replica); undefined otherwise. */
  readonly transaction: ApplierTransaction | undefined;
  /**
   * What must be applied before this entry counts: its transaction's GTID, also for the leading
   * chunks of that transaction; undefined for entries that need no apply.
   */
  readonly gtid: Gtid | undefined;
  readonly bytes: number;
}

/** The account the local replica logs in to the stream with (its password is made per start). */
const streamUser = 'wolfscale_stream';
const idleRecheckMs = 1000;
const waitSliceS = 0.2;
const statusEveryMs = 1000;
const reconnectDelayMsMax = 5000;
/** ER_GTID_STRICT_OUT_OF_ORDER: the binlog already holds a later or equal sequence number. */
const errGtidStrictOutOfOrder = 1950;
/** `#lastApplied` keeps no larger transaction (account statements are far smaller). */
const lastAppliedBytesMax = 64 * 1024;

export class ReplicaApplyLoop implements NodeApplyLoop {
  readonly #options: ReplicaApplyLoopOptions;
  readonly #logger: Logger;
  readonly #reassembler = new TransactionReassembler();
  readonly #server: BinlogStreamServer;
  readonly #password = randomBytes(18).toString('base64url');
  /** Entries after appliedIndex, in index order, up to `#nextIndex - 1`. */
  #window: WindowEntry[] = [];
  #windowBytes = 0;
  /** Chunks of the transaction being reassembled (they join the window with its last chunk). */
  #openChunks: number[] = [];
  #appliedIndex: number;
  #nextIndex: number;
  readonly #appliedPosition = new Map<number, bigint>();
  #failure: ApplyError | undefined;
  /** Serialises window fills (the commit listener and the run loop both start them). */
  #filling: Promise<void> = Promise.resolve();
  /** A fill is queued and has not started: a later commit needs no other (it reads to the end). */
  #fillQueued: Promise<void> | undefined;
  #stopped = false;
  #running: Promise<void> | undefined;
  /** The replica is configured and started against this process's stream. */
  #replicaStarted = false;
  readonly #stopSignal = new AbortController();
  /** Pauses (see pauseWhile): nothing new is applied while one is pending. */
  readonly #pauses = new PauseQueue({
    signal: this.#stopSignal.signal,
    wake: () => this.#wake?.(),
    failed: (message) => this.#fail({ code: 'APPLY_FAILED', message }),
  });
  readonly #appliedWaiters = new AppliedWaiters();
  readonly #feedWaiters = new Set<() => void>();
  #wake: (() => void) | undefined;
  #lastStatusMs = 0;
  #lastIoError: string | undefined;
  /** The transaction the replica was last realigned past (see `#realignIfRecovered`): once each. */
  #realignedPast: string | undefined;
  /** The last transaction `#advance` passed, when small (an account statement is). */
  #lastApplied: ApplierTransaction | undefined;
  /** The transaction last run again by `#reassertLastAccountStatement`: once each. */
  #reasserted: string | undefined;

  constructor(options: ReplicaApplyLoopOptions) {
    this.#options = options;
    this.#logger = options.logger;
    this.#nextIndex = options.log.firstIndex();
    this.#appliedIndex = this.#nextIndex - 1;
    const feed: BinlogFeed = { open: (start) => this.#openCursor(start) };
    this.#server = new BinlogStreamServer({
      port: 0,
      user: streamUser,
      password: this.#password,
      serverId: options.streamServerId,
      feed,
      logger: options.logger.child({ component: 'binlog-stream' }),
    });
    options.log.onCommit(() => {
      this.#wake?.();
      // Feed the replica at once, not when the wait for the window's head returns.
      if (this.#running !== undefined && this.#replicaStarted) void this.#fill().catch(() => undefined);
    });
  }

  /** `#readCommitted`, one at a time. */
  #fill(): Promise<void> {
    if (this.#fillQueued !== undefined) return this.#fillQueued;
    const next = this.#filling.then(() => {
      this.#fillQueued = undefined;
      return this.#readCommitted();
    });
    this.#fillQueued = next;
    this.#filling = next.catch(() => undefined);
    return next;
  }

  get appliedIndex(): number {
    return this.#appliedIndex;
  }

  get appliedPosition(): ReadonlyMap<number, bigint> {
    return this.#appliedPosition;
  }

  status(): ApplyLoopStatus {
    return loopStatus(this.#appliedIndex, this.#failure, this.#pauses.pausedSinceMs);
  }

  start(): void {
    this.#running ??= this.#run().catch((error: Error) => {
      this.#logger.fatal({ err: error }, 'replica apply loop crashed');
      this.#fail({ code: 'APPLY_FAILED', message: `apply loop crashed: ${error.message}` });
    });
  }

  async waitApplied(index: number, signal?: AbortSignal): Promise<void> {
    if (this.#appliedIndex >= index) return;
    if (this.#failure !== undefined) throw new Error(this.#failure.message);
    await this.#appliedWaiters.wait(index, signal);
  }

  pauseWhile(work: (signal: AbortSignal) => Promise<void>): Promise<void> {
    if (this.#failure !== undefined) return Promise.reject(new Error(this.#failure.message));
    return this.#pauses.enqueue(work, this.#running !== undefined);
  }

  async stop(): Promise<void> {
    this.#stopSignal.abort();
    this.#stopped = true;
    this.#wake?.();
    this.#wakeFeed();
    await this.#running;
    await this.#filling;
    await this.#server.close();
    // Best effort: a replica left running would only retry connecting to the closed stream.
    await stopReplica(this.#options.sql).catch(() => undefined);
  }

  async #run(): Promise<void> {
    await this.#server.start();
    let reconnectDelayMs = 100;
    while (!this.#stopped && this.#failure === undefined) {
      if (this.#pauses.current !== undefined) {
        await this.#parkWhilePaused(this.#pauses.current);
        continue;
      }
      try {
        if (!this.#replicaStarted) {
          // The window first: at the loop's start the local MariaDB's last transaction is in it.
          await this.#fill();
          await this.#reassertLastAccountStatement();
          await startReplica(
            this.#options.sql,
            {
              host: '127.0.0.1',
              port: this.#server.port,
              user: streamUser,
              password: this.#password,
            },
            this.#options.replica,
          );
          this.#replicaStarted = true;
          // START SLAVE returns before its threads run: the first status check comes later.
          this.#lastStatusMs = Date.now();
          this.#logger.info(
            { stream: `127.0.0.1:${this.#server.port}`, ...this.#options.replica },
            'the local MariaDB replicates the committed log from this node’s binlog stream',
          );
        }
        await this.#fill();
        await this.#followReplica();
        reconnectDelayMs = 100;
      } catch (error) {
        if (this.#stopped) return;
        this.#replicaStarted = false;
        this.#logger.warn(
          { err: error, retryInMs: reconnectDelayMs, appliedIndex: this.#appliedIndex },
          'cannot reach the local MariaDB to follow its replica; retrying',
        );
        await new Promise((resolve) => setTimeout(resolve, reconnectDelayMs));
        reconnectDelayMs = Math.min(reconnectDelayMs * 2, reconnectDelayMsMax);
      }
    }
  }

  /** Moves committed entries into the window while it has room. */
  async #readCommitted(): Promise<void> {
    const log = this.#options.log;
    const windowBytesMax = this.#options.windowBytesMax ?? 64 * 1024 * 1024;
    let added = false;
    while (
      this.#nextIndex <= log.commitIndex &&
      this.#windowBytes < windowBytesMax &&
      this.#pauses.current === undefined
    ) {
      const entries = await log.read(this.#nextIndex, log.commitIndex, 8 * 1024 * 1024);
      if (entries.length === 0) break;
      for (const entry of entries) {
        if (this.#failure !== undefined) return;
        if (entry.kind !== 'transaction' || this.#options.isOwnTerm(entry.term)) {
          this.#dropOpenChunks();
          this.#push({ index: entry.index, transaction: undefined, gtid: undefined, bytes: 0 });
        } else {
          const step = this.#reassembler.push(entry.index, entry.payload);
          if (!step.ok) {
            this.#fail({
              code: 'APPLY_FAILED',
              message: `WAL entry ${entry.index} is not a valid transaction chunk (${step.error.message}); this node's WAL is damaged: migrate it from a healthy node (wolfctl migrate)`,
            });
            return;
          }
          let current = step.value;
          if (current.kind === 'discarded') {
            this.#dropOpenChunks();
            current = current.next;
          }
          if (current.kind === 'complete') {
            const { gtid, events, formatDescription } = current.transaction;
            for (const index of this.#openChunks)
              this.#push({ index, transaction: undefined, gtid, bytes: 0 });
            this.#openChunks = [];
            const bytes = events.reduce((sum, event) => sum + event.byteLength, 0);
            this.#push({ index: entry.index, transaction: { gtid, events, formatDescription }, gtid, bytes });
          } else if (current.kind === 'incomplete') {
            this.#openChunks.push(entry.index);
          }
        }
        this.#nextIndex = entry.index + 1;
        added = true;
      }
    }
    if (added) this.#wakeFeed();
  }

  /** Chunks of a run whose last chunk will never come: nothing to apply, they count as applied. */
  #dropOpenChunks(): void {
    this.#reassembler.abandon();
    for (const index of this.#openChunks)
      this.#push({ index, transaction: undefined, gtid: undefined, bytes: 0 });
    this.#openChunks = [];
  }

  #push(entry: WindowEntry): void {
    // In index order: open chunks join the window just before the entry that ends their run.
    this.#window.push(entry);
    this.#windowBytes += entry.bytes;
  }

  /** Waits a little for the replica to apply the window's first transaction, then advances. */
  async #followReplica(): Promise<void> {
    const sql = this.#options.sql;
    this.#advance(undefined);
    const head = this.#window.find((entry) => entry.transaction !== undefined)?.transaction;
    if (head === undefined) {
      if (
        this.#nextIndex > this.#options.log.commitIndex &&
        this.#pauses.current === undefined &&
        !this.#stopped
      ) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, idleRecheckMs);
          this.#wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.#wake = undefined;
      }
      await this.#checkReplica(false);
      return;
    }
    const { reached, applied } = await waitReplicaAppliedPosition(sql, head.gtid, waitSliceS);
    this.#advance(applied);
    await this.#checkReplica(!reached);
  }

  /** Advances appliedIndex over the window's prefix that `position` holds (or needs no apply). */
  #advance(position: GtidPosition | undefined): void {
    let applied = this.#appliedIndex;
    let count = 0;
    for (const entry of this.#window) {
      if (entry.gtid !== undefined) {
        if (position === undefined || !positionContains(position, entry.gtid)) break;
      }
      if (entry.transaction !== undefined) {
        this.#lastApplied = entry.bytes <= lastAppliedBytesMax ? entry.transaction : undefined;
        const gtid = entry.transaction.gtid;
        const seen = this.#appliedPosition.get(gtid.domainId);
        if (seen === undefined || seen < gtid.sequenceNumber)
          this.#appliedPosition.set(gtid.domainId, gtid.sequenceNumber);
        this.#windowBytes -= entry.bytes;
      }
      applied = entry.index;
      count++;
    }
    if (count === 0) return;
    this.#window = this.#window.slice(count);
    this.#appliedIndex = applied;
    this.#appliedWaiters.reached(applied);
  }

  /**
   * Before the replica starts (at the loop's start, after a pause, after its MariaDB went away):
   * when the local MariaDB's last transaction of a domain is one this loop served and an account
   * statement, it is run once more without binlogging. A crash can leave such a statement in the
   * binlog (and in `gtid_slave_pos`) without its effect on the privilege tables, and the replica
   * resumes after it (src/apply/account-statement.ts). MariaDB's parallel replication runs a
   * DDL or account statement alone, so only the last transaction can be in that state.
   */
  async #reassertLastAccountStatement(): Promise<void> {
    const reassert = this.#options.reassertAccount;
    if (reassert === undefined) return;
    const { binlogPos } = await new MariaDbAdmin(this.#options.sql).gtidState();
    for (const transaction of [this.#lastApplied, ...this.#window.map((entry) => entry.transaction)]) {
      if (transaction === undefined) continue;
      const { domainId, serverId, sequenceNumber } = transaction.gtid;
      const last = binlogPos.find((gtid) => gtid.domainId === domainId);
      if (last?.serverId !== serverId || last.sequenceNumber !== sequenceNumber) continue;
      const key = formatGtid(transaction.gtid);
      if (this.#reasserted === key) continue;
      this.#reasserted = key;
      await reassert(transaction);
    }
  }

  /** Every second, or when a wait timed out: a stopped SQL thread is an apply error. */
  async #checkReplica(stalled: boolean): Promise<void> {
    const now = Date.now();
    if (!stalled && now - this.#lastStatusMs < statusEveryMs) return;
    this.#lastStatusMs = now;
    const status: ReplicaApplyStatus = await replicaApplyStatus(this.#options.sql);
    if (status.error?.thread === 'sql') {
      const head = this.#window.find((entry) => entry.transaction !== undefined)?.transaction;
      if (
        status.error.errno === errGtidStrictOutOfOrder &&
        head !== undefined &&
        (await this.#realignIfRecovered(head.gtid, status.error.message))
      )
        return;
      this.#fail({
        code: 'APPLY_FAILED',
        message: `the local MariaDB's replication stopped on ${status.error.gtid ?? (head === undefined ? 'a transaction' : formatGtid(head.gtid))}: error ${status.error.errno}: ${status.error.message}. Fix the cause on this node's MariaDB (or migrate it from a healthy node) and restart the node; nothing after it is applied`,
        errno: status.error.errno,
        serverMessage: status.error.message,
        ...(head === undefined ? {} : { gtid: formatGtid(head.gtid) }),
      });
      return;
    }
    const ioError = status.error?.thread === 'io' ? status.error.message : undefined;
    if (ioError !== this.#lastIoError) {
      if (ioError !== undefined)
        this.#logger.warn({ error: ioError }, 'the local replica cannot read the binlog stream (it retries)');
      this.#lastIoError = ioError;
    }
    if (!status.sqlRunning) {
      // Stopped by someone, or MariaDB restarted with skip_slave_start: configure and start again.
      this.#logger.warn(
        { io: status.ioRunning, sql: status.sqlRunning, applied: formatGtidPosition(status.applied) },
        'the local replica is not running; starting it again',
      );
      this.#replicaStarted = false;
    }
  }

  async #parkWhilePaused(pause: Pause): Promise<void> {
    this.#wakeFeed();
    for (let delayMs = 100; !this.#stopped; delayMs = Math.min(delayMs * 2, reconnectDelayMsMax)) {
      try {
        await stopReplica(this.#options.sql);
        break;
      } catch (error) {
        // MariaDB down: nothing is applying; the rewind check retries its own work.
        this.#logger.warn({ err: error }, 'could not stop the local replica for a pause; retrying');
        if (delayMs >= 1600) break;
        await new Promise((resolve) => setTimeout(resolve, delayMs));
      }
    }
    this.#server.dropConnections();
    this.#replicaStarted = false;
    // What the replica applied before it stopped.
    const position = await replicaAppliedPosition(this.#options.sql).catch(() => undefined);
    if (position !== undefined) this.#advance(position);
    pause.parked();
    await pause.done.catch(() => undefined);
  }

  /**
   * The SQL thread refused `gtid` as out of order because the local binlog already holds its
   * sequence number: the local MariaDB was killed inside that transaction (a DDL), its crash
   * recovery completed the statement and binlogged it under the local server id, and the replica
   * then restarted by itself from `@@gtid_slave_pos`, which the recovery does not advance.
   * Seen on MariaDB 10.11 in `npm test` (src/apply/DESIGN.md, "a target killed inside a DDL"): `0-44-207`
   * in the binlog for the source's `0-41-207`, error 1950. The statement is done, so the replica
   * is started again the way this loop always starts it (`startReplica`: `gtid_slave_pos` from
   * `@@gtid_binlog_pos`), which skips it. Once per transaction: refused again, applying stops.
   */
  async #realignIfRecovered(gtid: Gtid, message: string): Promise<boolean> {
    const key = formatGtid(gtid);
    if (this.#realignedPast === key) return false;
    const { binlogPos } = await new MariaDbAdmin(this.#options.sql).gtidState();
    if (!positionContains(binlogPos, gtid)) return false;
    this.#realignedPast = key;
    this.#logger.warn(
      { gtid: key, binlogPosition: formatGtidPosition(binlogPos), error: message },
      "the local replica refused a transaction its MariaDB's binlog already holds (a statement its crash recovery completed after a kill, binlogged under its own server id): starting the replica again from @@gtid_binlog_pos, which skips it",
    );
    this.#replicaStarted = false;
    return true;
  }

  #fail(error: ApplyError): void {
    if (this.#failure !== undefined) return;
    this.#failure = error;
    this.#logger.error(
      { error },
      'applying a committed transaction failed: this node stops applying until the cause is fixed',
    );
    this.#appliedWaiters.failed(error.message);
    this.#wakeFeed();
  }

  #wakeFeed(): void {
    for (const wake of this.#feedWaiters) wake();
    this.#feedWaiters.clear();
  }

  /**
   * A replica connection's view of the window: from the first transaction `start` does not hold.
   * Serves nothing while a pause is pending, after a failure, or once the loop stops — and then
   * still waits `waitMs` before it answers []: the stream's send loop goes straight on to the next
   * call, so an [] at once made it a loop of resolved promises that never yielded to the event
   * loop. Found by `node-cluster-retention.test.ts` with `replica` the default: stopping a node
   * whose #run was waiting on a query hung the process at 100% CPU, sending heartbeats.
   */
  #openCursor(start: readonly Gtid[]): BinlogFeedCursor {
    let nextIndex = 0;
    let closed = false;
    return {
      next: async (waitMs) => {
        for (;;) {
          if (closed) return [];
          const servable =
            !this.#stopped &&
            this.#pauses.current === undefined &&
            this.#failure === undefined &&
            this.#replicaStarted;
          const batch: ApplierTransaction[] = [];
          if (servable) {
            for (const entry of this.#window) {
              if (entry.index < nextIndex || entry.transaction === undefined) continue;
              if (positionContains(start, entry.transaction.gtid)) continue;
              batch.push(entry.transaction);
              nextIndex = entry.index + 1;
              if (batch.length >= 256) break;
            }
          }
          if (batch.length > 0) return batch;
          if (waitMs <= 0) return [];
          const woken = await new Promise<boolean>((resolve) => {
            const timer = setTimeout(() => {
              this.#feedWaiters.delete(wake);
              resolve(false);
            }, waitMs);
            const wake = (): void => {
              clearTimeout(timer);
              resolve(true);
            };
            this.#feedWaiters.add(wake);
          });
          if (!woken) return [];
        }
      },
      close: () => {
        closed = true;
      },
    };
  }
}
