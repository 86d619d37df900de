import type { Gtid } from '../protocol/gtid.js';

/** What the schedule needs to know about a transaction (a `TransactionPlan` has all of it). */
export interface ScheduleTraits {
  readonly gtid: Gtid;
  /** The source's binlog group commit id, when it logged one. */
  readonly commitId?: bigint;
  /** Transactional, not DDL, not standalone, parallel replication allowed (see `TransactionPlan`). */
  readonly parallelSafe: boolean;
}

/**
 * True when `next` may execute at the same time as `previous`, the transaction right before it:
 * both are parallel-safe and were committed in the same binlog group commit on the source (same
 * commit id, same domain, same source server — commit ids are only unique per server). Such
 * transactions were all prepared together, each holding its row locks until the group's commit,
 * so their row changes are disjoint (MariaDB's "conservative" parallel replication rule).
 */
export function sameGroupCommit(previous: ScheduleTraits, next: ScheduleTraits): boolean {
  return (
    previous.parallelSafe &&
    next.parallelSafe &&
    previous.commitId !== undefined &&
    previous.commitId === next.commitId &&
    previous.gtid.domainId === next.gtid.domainId &&
    previous.gtid.serverId === next.gtid.serverId
  );
}

/**
 * Where and after what one transaction runs. Tickets number the transactions in submission
 * (= GTID, = commit) order.
 *
 * - `session`: the target session that executes it. A session runs one transaction at a time,
 *   its statements in order (FIFO), so a dependency on the same session needs no wait.
 * - `bodyAfter`: the transaction whose COMMIT must have returned before this one's first
 *   statement runs — the last transaction before this one's group — when it is still in flight
 *   on another session. `server`: it holds a user lock, and this transaction's first statement
 *   waits for it on the server; `client`: it holds none, and the applier sends this transaction
 *   only after its outcome arrived.
 * - `commitAfter`: the transaction right before this one, when it is in flight on another
 *   session; this one's COMMIT waits (on the server, for its user lock) until it committed.
 *   Only ever set within a group, so that transaction always `locks`.
 * - `locks`: the transaction holds a user lock from its first statement until its COMMIT
 *   returned, for later ones on other sessions to wait on. Parallel-safe transactions with a
 *   commit id do, when there is more than one session.
 */
export interface Placement {
  readonly ticket: number;
  readonly session: number;
  readonly bodyAfter?: { readonly ticket: number; readonly wait: 'server' | 'client' };
  readonly commitAfter?: number;
  readonly locks: boolean;
}

interface Placed {
  readonly ticket: number;
  readonly traits: ScheduleTraits;
  readonly session: number;
  readonly locks: boolean;
}

/**
 * Which transactions may run together, and on which session. Pure: transactions in, placements
 * out; the applier reports each one's end with `settled` (committed, or stopped with a failure).
 *
 * Rules:
 * - A transaction of the same group commit as the one before it runs on the least loaded session
 *   (its body concurrently with the rest of its group), after the group's predecessor committed.
 * - Any other transaction starts a new group and runs only after the one before it committed:
 *   on the same session as that one when it is still in flight (FIFO, no wait). Transactions
 *   that are not parallel-safe (DDL, non-transactional, no commit id) always run on session 0,
 *   as they would on a single session (temporary tables and session state live there).
 * - Commits happen in ticket order: every transaction commits after the one before it.
 */
export class ApplySchedule {
  readonly #sessions: number;
  readonly #load: number[];
  readonly #inflight = new Map<number, Placed>();
  #nextTicket = 0;
  #previous: Placed | undefined;
  /** The transaction before the current group's first member. */
  #groupPredecessor: Placed | undefined;

  constructor(sessions: number) {
    if (!Number.isInteger(sessions) || sessions < 1) throw new Error(`sessions must be ≥ 1, got ${sessions}`);
    this.#sessions = sessions;
    this.#load = Array.from({ length: sessions }, () => 0);
  }

  /** The ticket the next `place` gives out. */
  get nextTicket(): number {
    return this.#nextTicket;
  }

  get inflight(): number {
    return this.#inflight.size;
  }

  place(traits: ScheduleTraits): Placement {
    const ticket = this.#nextTicket++;
    const previous = this.#previous;
    const continuesGroup = previous !== undefined && sameGroupCommit(previous.traits, traits);
    if (!continuesGroup) this.#groupPredecessor = previous;
    const predecessor = this.#live(this.#groupPredecessor);
    const live = this.#live(previous);
    const locks = this.#sessions > 1 && traits.parallelSafe && traits.commitId !== undefined;
    let session: number;
    if (!locks) session = 0;
    else if (!continuesGroup && live !== undefined) session = live.session;
    else session = this.#leastLoaded();
    const placed: Placed = { ticket, traits, session, locks };
    this.#inflight.set(ticket, placed);
    this.#load[session] = (this.#load[session] ?? 0) + 1;
    this.#previous = placed;
    const bodyAfter =
      predecessor !== undefined && predecessor.session !== session
        ? { ticket: predecessor.ticket, wait: predecessor.locks ? ('server' as const) : ('client' as const) }
        : undefined;
    // Within a group the previous transaction is parallel-safe and locks; across groups the body
    // already waits for it (bodyAfter), so the commit does too.
    const commitAfter =
      continuesGroup && live !== undefined && live.session !== session ? live.ticket : undefined;
    if (commitAfter !== undefined && live?.locks !== true)
      throw new Error(`schedule invariant broken: ticket ${ticket} would wait for an unlocked commit`);
    return {
      ticket,
      session,
      ...(bodyAfter === undefined ? {} : { bodyAfter }),
      ...(commitAfter === undefined ? {} : { commitAfter }),
      locks,
    };
  }

  /** The transaction's outcome is known: it no longer holds a session or blocks anyone. */
  settled(ticket: number): void {
    const placed = this.#inflight.get(ticket);
    if (placed === undefined) throw new Error(`schedule: ticket ${ticket} is not in flight`);
    this.#inflight.delete(ticket);
    this.#load[placed.session] = (this.#load[placed.session] ?? 1) - 1;
  }

  #live(placed: Placed | undefined): Placed | undefined {
    return placed !== undefined && this.#inflight.has(placed.ticket) ? placed : undefined;
  }

  /** Fewest transactions in flight; ties go to the lowest session number. */
  #leastLoaded(): number {
    let best = 0;
    for (let session = 1; session < this.#sessions; session++) {
      if ((this.#load[session] ?? 0) < (this.#load[best] ?? 0)) best = session;
    }
    return best;
  }
}
