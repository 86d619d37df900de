import type { LogEntry } from '../wal/entry.js';
import type { LogId } from './log-id.js';
import type { NodeId } from './node-id.js';

/**
 * What nodes say to each other. Every message carries the sender's term; a node that sees a higher
 * term adopts it (persisting it first) unless the rules for pre-vote and leader lease say otherwise.
 * `from` and `to` are set by the engine; the transport must deliver them unchanged or not at all
 * (loss, duplication and reordering are all tolerated).
 */
export type Message =
  | PreVoteRequest
  | PreVoteResponse
  | VoteRequest
  | VoteResponse
  | AppendEntries
  | AppendEntriesResponse
  | Heartbeat
  | HeartbeatResponse
  | TimeoutNow;

interface Envelope {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
}

/** "Would you vote for me in `term`?" Sent without changing the sender's term, so a node that cannot win never disrupts. */
export interface PreVoteRequest extends Envelope {
  readonly kind: 'preVote';
  readonly lastLogId: LogId;
}

/** `term` is the responder's current term; `proposedTerm` echoes the request so stale answers are ignored. */
export interface PreVoteResponse extends Envelope {
  readonly kind: 'preVoteResponse';
  readonly proposedTerm: number;
  readonly granted: boolean;
}

/** `transfer`: sent on TimeoutNow, so voters ignore their leader lease (the leader asked for this election). */
export interface VoteRequest extends Envelope {
  readonly kind: 'vote';
  readonly lastLogId: LogId;
  readonly transfer: boolean;
}

export interface VoteResponse extends Envelope {
  readonly kind: 'voteResponse';
  readonly granted: boolean;
}

/** Built by the runtime from a `replicate` command: the entries are `[fromIndex, toIndex]` of the leader's WAL. */
export interface AppendEntries extends Envelope {
  readonly kind: 'appendEntries';
  readonly prevLogId: LogId;
  readonly entries: readonly LogEntry[];
  readonly leaderCommit: number;
}

/**
 * success: the follower's log matches the leader's up to `matchIndex` and those entries are durable.
 * failure: `rejectedPrevIndex` did not match; `conflict` is the hint to back off to (raft §5.3
 * optimisation). `diverged`: the follower would have to remove an entry it knows is committed (only
 * possible after a forced promotion); it refuses and needs migration.
 */
export interface AppendEntriesResponse extends Envelope {
  readonly kind: 'appendEntriesResponse';
  readonly success: boolean;
  readonly matchIndex: number;
  readonly rejectedPrevIndex: number;
  readonly conflict: LogId | null;
  readonly diverged: boolean;
  /** Could take over: MariaDB healthy and its data checked against the log since it last led. */
  readonly healthy: boolean;
  /** Its MariaDB has applied the committed log to within `cluster.max_apply_lag_ms` (failback asks it). */
  readonly applyCaughtUp: boolean;
  /** The follower's last log entry (durable or not) and first retained index: they change on migration. */
  readonly lastLogId: LogId;
  readonly firstIndex: number;
}

/** `commitIndex` is min(leader commit, follower's match): a follower never commits what it has not matched. */
export interface Heartbeat extends Envelope {
  readonly kind: 'heartbeat';
  readonly commitIndex: number;
}

/**
 * Reports whether the follower could take over (for failback and transfer targets: its MariaDB is
 * healthy and its data was checked against the log since it last led), whether it has applied
 * the committed log (for failback) and its log end (for migration).
 */
export interface HeartbeatResponse extends Envelope {
  readonly kind: 'heartbeatResponse';
  readonly healthy: boolean;
  readonly applyCaughtUp: boolean;
  readonly lastLogId: LogId;
  readonly firstIndex: number;
}

/** Leadership transfer: "you are caught up; campaign now, without pre-vote". */
export interface TimeoutNow extends Envelope {
  readonly kind: 'timeoutNow';
  /** An operator's promote/demote: the new leader does not fail back during its term. */
  readonly byOperator: boolean;
}
