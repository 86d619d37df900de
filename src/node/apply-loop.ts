import type { Logger } from 'pino';
import {
  Applier,
  type ApplierTarget,
  type ApplyError,
  type ApplyOutcome,
  reopenable,
} from '../apply/applier.js';
import { formatGtid } from '../protocol/gtid.js';
import type { LogEntry } from '../wal/entry.js';
import { AppliedWaiters, type Pause, PauseQueue } from './apply-gates.js';
import type { ReplicatedLog } from './replicated-log.js';
import { TransactionReassembler } from './transaction-payload.js';

/**
 * Applies committed entries to the local MariaDB, in index order, on every node.
 *
 * - Entries of a term this node led are its own captures, already in its MariaDB: they count as
 *   applied without being executed (`isOwnTerm`). After a restart the applier's opening GTID
 *   position covers them instead.
 * - `appliedIndex` only grows, and only past entries whose COMMIT returned (or that needed none).
 * - An apply error stops the loop for good with the error (statement, GTID, MariaDB's message):
 *   nothing after it is applied, nothing is skipped. The node reports it and is not eligible to
 *   lead. A MariaDB that cannot be reached is retried with backoff instead.
 * - Transactions of one binlog group commit are applied on `parallelSessions` sessions at once,
 *   committed in WAL order (src/apply/DESIGN.md). A lock conflict only the parallel apply caused
 *   (`PARALLEL_CONFLICT`) is retried from the applied index on one session, up to the last entry
 *   read when it happened; then the loop goes parallel again.
 */
export interface ApplyLoopOptions {
  readonly log: ReplicatedLog;
  readonly target: ApplierTarget;
  readonly logger: Logger;
  readonly isOwnTerm: (term: number) => boolean;
  /** Payload bytes read from the WAL per batch. Default 8 MiB. */
  readonly readBytesMax?: number;
  /** Sessions applying at once (`Applier` parallelSessions). Default `applyParallelSessionsDefault`. */
  readonly parallelSessions?: number;
}

/** Measured with `npm run bench:apply` (src/apply/DESIGN.md): 4 sessions on this 2-core machine. */
export const applyParallelSessionsDefault = 4;

/**
 * What the node, the leadership and the rewind check need from whatever applies committed
 * entries: `ApplyLoop` (client sessions, `apply.mode = "session"`) or `ReplicaApplyLoop` (the
 * local MariaDB's own replication, `apply.mode = "replica"`).
 */
export interface NodeApplyLoop {
  readonly appliedIndex: number;
  /** Per domain, the highest sequence number applied here (or already held). */
  readonly appliedPosition: ReadonlyMap<number, bigint>;
  status(): ApplyLoopStatus;
  start(): void;
  stop(): Promise<void>;
  /** Resolves once every entry up to `index` is applied; rejects if applying stopped for good. */
  waitApplied(index: number, signal?: AbortSignal): Promise<void>;
  /** Runs `work` while nothing is applied (the rewind check); pauses run in call order. */
  pauseWhile(work: (signal: AbortSignal) => Promise<void>): Promise<void>;
}

export type ApplyLoopStatus =
  | { readonly kind: 'running'; readonly appliedIndex: number }
  /** A pause (the rewind check) is pending: nothing new is applied until it ends. */
  | { readonly kind: 'paused'; readonly appliedIndex: number; readonly sinceMs: number }
  | { readonly kind: 'failed'; readonly appliedIndex: number; readonly error: ApplyError };

const reconnectDelayMsMax = 5000;
const idleRecheckMs = 1000;

export class ApplyLoop implements NodeApplyLoop {
  readonly #options: ApplyLoopOptions;
  readonly #logger: Logger;
  readonly #reassembler = new TransactionReassembler();
  #applier: Applier | undefined;
  #appliedIndex: number;
  /** Next index to read from the WAL. */
  #nextIndex: number;
  /** Settles in index order: each link waits for its entry's outcome, then advances appliedIndex. */
  #tail: Promise<void> = Promise.resolve();
  #failure: ApplyError | undefined;
  #stopped = false;
  #wake: (() => void) | undefined;
  readonly #appliedWaiters = new AppliedWaiters();
  #running: Promise<void> | undefined;
  readonly #stopSignal = new AbortController();
  /** Pauses (see pauseWhile): nothing new is applied while one is pending. */
  readonly #pauses = new PauseQueue({
    signal: this.#stopSignal.signal,
    wake: () => this.#wake?.(),
    failed: (message) => {
      this.#failure ??= { code: 'APPLY_FAILED', message };
    },
  });
  /** After a parallel-apply conflict: apply on one session until this index is applied. */
  #serialUntilIndex: number | undefined;
  readonly #appliedPosition = new Map<number, bigint>();
  /**
   * A transaction of the current applier failed: nothing after it may count as applied (not even
   * an entry that needs no apply, such as a term's no-op) until the loop restarts from
   * `appliedIndex + 1`. Without this, a no-op settling behind a transaction lost to a MariaDB
   * crash moved `appliedIndex` past it and the restart skipped it for good: a follower 3
   * transactions short under an equal GTID position (docs/RELIABILITY.md "Failures found" 11).
   */
  #halted = false;

  constructor(options: ApplyLoopOptions) {
    this.#options = options;
    this.#logger = options.logger;
    this.#nextIndex = options.log.firstIndex();
    this.#appliedIndex = this.#nextIndex - 1;
    options.log.onCommit(() => this.#wake?.());
  }

  get appliedIndex(): number {
    return this.#appliedIndex;
  }

  /** Per domain, the highest sequence number whose COMMIT returned here (or was already held). */
  get appliedPosition(): ReadonlyMap<number, bigint> {
    return this.#appliedPosition;
  }

  status(): ApplyLoopStatus {
    return loopStatus(this.#appliedIndex, this.#failure, this.#pauses.pausedSinceMs);
  }

  start(): void {
    this.#running ??= this.#run().catch((error: Error) => {
      this.#logger.fatal({ err: error }, 'apply loop crashed');
      this.#failure = { code: 'APPLY_FAILED', message: `apply loop crashed: ${error.message}` };
    });
  }

  /** Resolves once every entry up to `index` is applied; rejects if applying stopped for good. */
  async waitApplied(index: number, signal?: AbortSignal): Promise<void> {
    if (this.#appliedIndex >= index) return;
    if (this.#failure !== undefined) throw new Error(this.#failure.message);
    await this.#appliedWaiters.wait(index, signal);
  }

  /**
   * Runs `work` while nothing is applied (the rewind check): entries in flight finish first;
   * afterwards the applier is reopened, so it re-reads MariaDB's GTID position. `work` throwing
   * stops applying for good with its message. Pauses run in call order.
   */
  pauseWhile(work: (signal: AbortSignal) => Promise<void>): Promise<void> {
    if (this.#failure !== undefined) return Promise.reject(new Error(this.#failure.message));
    return this.#pauses.enqueue(work, this.#running !== undefined);
  }

  async stop(): Promise<void> {
    this.#stopSignal.abort();
    this.#stopped = true;
    this.#wake?.();
    await this.#running;
    await this.#tail;
    await this.#applier?.close();
    this.#applier = undefined;
  }

  async #run(): Promise<void> {
    let reconnectDelayMs = 100;
    while (!this.#stopped && this.#failure === undefined) {
      const log = this.#options.log;
      await this.#reopenIfDisconnected();
      if (this.#pauses.current !== undefined) {
        await this.#parkWhilePaused(this.#pauses.current);
        continue;
      }
      if (this.#nextIndex > log.commitIndex) {
        // Woken by a commit; the timer also lets an idle node notice a lost connection.
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, idleRecheckMs);
          this.#wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.#wake = undefined;
        continue;
      }
      if (this.#serialUntilIndex !== undefined && this.#appliedIndex >= this.#serialUntilIndex) {
        // Past the conflict: back to parallel apply with a new applier.
        await this.#tail;
        await this.#applier?.close();
        this.#applier = undefined;
        this.#serialUntilIndex = undefined;
        // Normally nextIndex already; not if the applier failed since the check above.
        this.#restartFromApplied();
      }
      if (this.#applier === undefined) {
        try {
          const parallelSessions =
            this.#serialUntilIndex === undefined
              ? (this.#options.parallelSessions ?? applyParallelSessionsDefault)
              : 1;
          this.#applier = await Applier.open({
            target: this.#options.target,
            logger: this.#logger,
            parallelSessions,
          });
          reconnectDelayMs = 100;
        } catch (error) {
          this.#logger.warn(
            { err: error, retryInMs: reconnectDelayMs },
            'cannot reach the local MariaDB to apply committed entries; retrying',
          );
          await new Promise((resolve) => setTimeout(resolve, reconnectDelayMs));
          reconnectDelayMs = Math.min(reconnectDelayMs * 2, reconnectDelayMsMax);
          continue;
        }
      }
      const entries = await log.read(
        this.#nextIndex,
        log.commitIndex,
        this.#options.readBytesMax ?? 8 * 1024 * 1024,
      );
      for (const entry of entries) {
        if (this.#stopped || this.#failure !== undefined || this.#pauses.current !== undefined) break;
        await this.#submit(entry, this.#applier);
        this.#nextIndex = entry.index + 1;
      }
    }
  }

  /** Lets in-flight entries finish, drops the applier, and waits for the pause to end. */
  async #parkWhilePaused(pause: Pause): Promise<void> {
    await this.#tail;
    await this.#applier?.close();
    this.#applier = undefined;
    this.#restartFromApplied();
    pause.parked();
    await pause.done.catch(() => undefined);
  }

  /** The applier lost its connection: drop it, and re-read from the last applied entry. */
  async #reopenIfDisconnected(): Promise<void> {
    const applier = this.#applier;
    if (applier === undefined) return;
    const status = applier.status();
    if (status.kind !== 'failed' || !reopenable(status.error.code)) return;
    await this.#tail;
    applier.destroy();
    this.#applier = undefined;
    if (status.error.code === 'PARALLEL_CONFLICT') {
      this.#serialUntilIndex = Math.max(this.#nextIndex - 1, this.#serialUntilIndex ?? 0);
      this.#logger.warn(
        { appliedIndex: this.#appliedIndex, serialUntilIndex: this.#serialUntilIndex, error: status.error },
        'parallel apply met a lock conflict the leader did not have; re-applying from the applied index on one session',
      );
    } else {
      this.#logger.warn(
        { appliedIndex: this.#appliedIndex },
        'lost the connection to the local MariaDB while applying; reconnecting',
      );
    }
    this.#restartFromApplied();
  }

  /** With nothing in flight (`#tail` settled): read again from the first entry not applied. */
  #restartFromApplied(): void {
    this.#nextIndex = this.#appliedIndex + 1;
    this.#reassembler.abandon();
    this.#halted = false;
  }

  async #submit(entry: LogEntry, applier: Applier): Promise<void> {
    if (entry.kind !== 'transaction' || this.#options.isOwnTerm(entry.term)) {
      const dropped = this.#reassembler.abandon();
      if (dropped !== undefined) this.#logDiscarded(dropped);
      this.#settle(entry.index, undefined);
      return;
    }
    const step = this.#reassembler.push(entry.index, entry.payload);
    if (!step.ok) {
      this.#failure = {
        code: 'APPLY_FAILED',
        message: `WAL entry ${entry.index} is not a valid transaction chunk (${step.error.message}); this node's WAL is damaged: migrate it from a healthy node (wolfctl migrate)`,
      };
      this.#logger.error({ index: entry.index }, this.#failure.message);
      return;
    }
    let current = step.value;
    if (current.kind === 'discarded') {
      this.#logDiscarded(current);
      current = current.next;
    }
    // A chunk before a transaction's last settles nothing: `appliedIndex` stays before the
    // transaction's first chunk until its COMMIT returns, so a restart reads the whole run again
    // (from a middle chunk the reassembler would refuse it as damaged).
    if (current.kind !== 'complete') return;
    const { committed } = await applier.submit(current.transaction);
    this.#settle(entry.index, committed);
  }

  #settle(index: number, outcome: Promise<ApplyOutcome> | undefined): void {
    this.#tail = this.#tail.then(async () => {
      if (outcome !== undefined) {
        const result = await outcome;
        if (result.kind === 'failed') {
          this.#halted = true;
          if (!reopenable(result.error.code) && this.#failure === undefined) {
            this.#failure = result.error;
            this.#logger.error(
              { index, gtid: formatGtid(result.gtid), error: result.error },
              'applying a committed transaction failed: this node stops applying until the cause is fixed',
            );
          }
          return;
        }
        const seen = this.#appliedPosition.get(result.gtid.domainId);
        if (seen === undefined || seen < result.gtid.sequenceNumber)
          this.#appliedPosition.set(result.gtid.domainId, result.gtid.sequenceNumber);
      }
      if (this.#halted || this.#failure !== undefined || index <= this.#appliedIndex) return;
      this.#appliedIndex = index;
      this.#appliedWaiters.reached(index);
    });
  }

  #logDiscarded(range: { readonly fromIndex: number; readonly toIndex: number }): void {
    this.#logger.warn(
      range,
      'dropped the chunks of a transaction whose leader failed before appending the rest (it was never acknowledged)',
    );
  }
}

/** What `status()` of either apply loop reports. */
export function loopStatus(
  appliedIndex: number,
  failure: ApplyError | undefined,
  pausedSinceMs: number | undefined,
): ApplyLoopStatus {
  if (failure !== undefined) return { kind: 'failed', appliedIndex, error: failure };
  if (pausedSinceMs !== undefined) return { kind: 'paused', appliedIndex, sinceMs: pausedSinceMs };
  return { kind: 'running', appliedIndex };
}
