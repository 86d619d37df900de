import type { Logger } from 'pino';
import type { BinlogCapture } from '../capture/binlog-capture.js';
import {
  type CapturedTransaction,
  releaseTransaction,
  transactionEvents,
} from '../capture/captured-transaction.js';
import type { ProposeOutcome, ReplicatedLog } from './replicated-log.js';
import { encodeTransaction } from './transaction-payload.js';
import { stampOf, traceNow, traceWrite, traceWriteAt, writeTraceOn } from './write-trace.js';

/**
 * A DELIBERATELY BROKEN BUILD for the chaos suite's planted-bug test (issue 9,
 * test/integration/chaos.test.ts): with WOLFSCALE_PLANTED_BUG=ack-before-quorum, MariaDB's
 * semi-sync wait is acknowledged as soon as a transaction is captured, before the quorum holds
 * it. Never set it anywhere else.
 */
const plantedAckBeforeQuorum = process.env['WOLFSCALE_PLANTED_BUG'] === 'ack-before-quorum';

/**
 * The leader's path from binlog to quorum: every transaction the capture hands out is cut into
 * chunks and proposed back to back (so its chunks get consecutive indexes); a second loop awaits
 * the outcomes in capture order and acknowledges MariaDB's semi-sync wait only once the last chunk
 * is committed. Nothing is ever acknowledged ahead of the quorum.
 *
 * When a proposal fails (this node lost leadership, or its entry was replaced), the loop stops
 * without acknowledging that transaction or any after it: their commits stay blocked in MariaDB
 * and never reach a client as OK. `done` resolves with the reason.
 */
export interface CaptureLoopOptions {
  readonly capture: BinlogCapture;
  readonly log: ReplicatedLog;
  readonly logger: Logger;
  /** Largest WAL payload per chunk. Default 4 MiB. */
  readonly chunkBytesMax?: number;
  /** Transactions proposed and not yet acknowledged, at most. Default 4096. */
  readonly pendingMax?: number;
  /** Called once a transaction is committed, just before MariaDB is acknowledged; latency from hand-out. */
  readonly onCommitted?: (gtid: string, index: number, latencyMs: number) => void;
  /**
   * Flow control: awaited before each acknowledgement when it returns a promise (the leader is
   * holding commits back until a follower catches up with applying); undefined means go on.
   */
  readonly ackGate?: () => Promise<void> | undefined;
}

interface Pending {
  readonly transaction: CapturedTransaction;
  readonly outcome: Promise<ProposeOutcome>;
  readonly handedOutMs: number;
  /** WOLFSCALE_WRITE_TRACE: when the capture handed it out, and when the proposals were queued. */
  readonly handedOutNs: bigint;
  readonly proposedNs: bigint;
}

export class CaptureLoop {
  readonly #options: CaptureLoopOptions;
  readonly #pending: Pending[] = [];
  #pendingWake: (() => void) | undefined;
  #spaceWake: (() => void) | undefined;
  #stopped: string | undefined;
  #haltWake: (() => void) | undefined;
  readonly #halted = new Promise<void>((resolve) => {
    this.#haltWake = resolve;
  });
  readonly done: Promise<string>;

  constructor(options: CaptureLoopOptions) {
    this.#options = options;
    this.done = Promise.all([this.#produce(), this.#acknowledge()]).then(() => this.#stopped ?? 'stopped');
  }

  /** Stops proposing and acknowledging; resolves when both loops ended. */
  async stop(reason: string): Promise<string> {
    this.#halt(reason);
    await this.#options.capture.stop();
    return await this.done;
  }

  #halt(reason: string): void {
    this.#stopped ??= reason;
    this.#haltWake?.();
    this.#pendingWake?.();
    this.#spaceWake?.();
  }

  async #produce(): Promise<void> {
    const { capture, log } = this.#options;
    const chunkBytesMax = this.#options.chunkBytesMax ?? 4 * 1024 * 1024;
    const pendingMax = this.#options.pendingMax ?? 4096;
    while (this.#stopped === undefined) {
      let transaction: CapturedTransaction;
      let handedOutMs: number;
      let handedOutNs: bigint;
      try {
        transaction = await capture.next();
        handedOutMs = performance.now();
        handedOutNs = traceNow();
      } catch (error) {
        this.#halt(`capture ended: ${(error as Error).message}`);
        return;
      }
      const events: Uint8Array[] = [];
      for await (const event of transactionEvents(transaction)) events.push(event);
      const chunks = encodeTransaction(
        {
          gtid: transaction.gtid,
          gtidFlags: transaction.gtidFlags,
          timestampSeconds: transaction.timestampSeconds,
          binlogFile: transaction.binlogFile,
          binlogPosition: transaction.binlogPosition,
          formatDescription: transaction.formatDescription,
          events,
        },
        chunkBytesMax,
      );
      // All chunks are queued in one synchronous run, so nothing can take an index between them.
      const proposedNs = traceNow();
      const outcomes = chunks.map((chunk) => log.propose(chunk));
      this.#pending.push({
        transaction,
        outcome: outcomes.at(-1) as Promise<ProposeOutcome>,
        handedOutMs,
        handedOutNs,
        proposedNs,
      });
      if (plantedAckBeforeQuorum) capture.acknowledge(transaction);
      this.#pendingWake?.();
      while (this.#pending.length >= pendingMax && this.#stopped === undefined) {
        await new Promise<void>((resolve) => {
          this.#spaceWake = resolve;
        });
      }
    }
  }

  async #acknowledge(): Promise<void> {
    const { capture, logger } = this.#options;
    for (;;) {
      const head = this.#pending[0];
      if (head === undefined) {
        if (this.#stopped !== undefined) return;
        await new Promise<void>((resolve) => {
          this.#pendingWake = resolve;
        });
        continue;
      }
      const outcome = await head.outcome;
      const resolvedNs = traceNow();
      const gate = outcome.ok ? this.#options.ackGate?.() : undefined;
      if (gate !== undefined) await Promise.race([gate, this.#halted]);
      this.#pending.shift();
      this.#spaceWake?.();
      if (!outcome.ok) {
        logger.warn(
          { gtid: head.transaction.gtidText, reason: outcome.reason, leaderId: outcome.leaderId },
          'a captured transaction did not commit: it is not acknowledged, and the capture stops',
        );
        this.#halt(`proposal ${outcome.reason}`);
        await releaseTransaction(head.transaction);
        for (const rest of this.#pending.splice(0)) await releaseTransaction(rest.transaction);
        return;
      }
      if (this.#stopped !== undefined) {
        // Stopped by the node (stepping down): do not acknowledge anything more.
        await releaseTransaction(head.transaction);
        continue;
      }
      // Recorded before the acknowledgement lets the client's commit return.
      this.#options.onCommitted?.(
        head.transaction.gtidText,
        outcome.logId.index,
        performance.now() - head.handedOutMs,
      );
      if (!plantedAckBeforeQuorum) capture.acknowledge(head.transaction);
      if (writeTraceOn) {
        const index = outcome.logId.index;
        const received = stampOf(head.transaction);
        traceWriteAt('cap.first', index, received.firstNs);
        traceWriteAt('cap.recv', index, received.ns);
        traceWriteAt('cap.next', index, head.handedOutNs);
        traceWriteAt('propose', index, head.proposedNs);
        traceWriteAt('outcome', index, resolvedNs);
        traceWrite('ack', index);
      }
      await releaseTransaction(head.transaction);
    }
  }
}
