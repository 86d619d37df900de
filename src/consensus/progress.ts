import type { LogId } from './log-id.js';
import type { NodeId } from './node-id.js';

/**
 * The leader's view of one follower (or of the learner being added).
 * - probe: one append in flight at a time, backing off by the follower's conflict hint;
 * - replicate: pipelined appends, bounded by the in-flight limits;
 * - needsMigration: the follower needs entries the leader no longer has (or diverged): heartbeats only.
 */
export type ReplicationState = 'probe' | 'replicate' | 'needsMigration';

export interface InflightAppend {
  /** Last index carried by the append message. */
  readonly lastIndex: number;
  readonly entryCount: number;
  readonly bytes: number;
}

export interface Progress {
  readonly id: NodeId;
  /** Highest index known to be durable on the follower and to match the leader's log. */
  matchIndex: number;
  /** Next index to send. */
  nextIndex: number;
  state: ReplicationState;
  /** Bounded by `inflightMessagesMax`. */
  inflight: InflightAppend[];
  /** When the probe append was sent (probe state), or null when none is outstanding. */
  probeSentTick: number | null;
  /** Last time matchIndex grew (detects lost appends in the pipeline). */
  lastProgressTick: number;
  /** Last time any response arrived: the basis of check-quorum, statuses and dead-node removal. */
  lastHeardTick: number;
  /** The follower's MariaDB health, as last reported. */
  healthy: boolean;
  /** The follower's MariaDB has applied the committed log (within the apply-lag bound), as last reported. */
  applyCaughtUp: boolean;
  responded: boolean;
  /** The follower's last entry, as last reported. */
  lastLogId: LogId | null;
  /** The follower's first retained index, as last reported. */
  firstIndex: number | null;
  /**
   * While NEEDS_MIGRATION: the follower's log as it was (a change of purge point or end means it
   * was migrated) and our first index then (a further purge means it needs a newer snapshot).
   */
  migration: {
    readonly lastLogId: LogId | null;
    readonly followerFirstIndex: number | null;
    readonly leaderFirstIndex: number;
  } | null;
  /** The purge point was offered once since the last progress (see Engine.sendAppend). */
  purgePointTried: boolean;
  /** The highest commit index sent to this follower (in an append or a heartbeat). */
  commitSent: number;
}

export function newProgress(id: NodeId, nextIndex: number, nowTicks: number): Progress {
  return {
    id,
    matchIndex: 0,
    nextIndex,
    state: 'probe',
    inflight: [],
    probeSentTick: null,
    lastProgressTick: nowTicks,
    lastHeardTick: nowTicks,
    healthy: false,
    applyCaughtUp: false,
    responded: false,
    lastLogId: null,
    firstIndex: null,
    migration: null,
    purgePointTried: false,
    commitSent: 0,
  };
}

export function inflightEntryCount(progress: Progress): number {
  let count = 0;
  for (const append of progress.inflight) count += append.entryCount;
  return count;
}

export function inflightBytes(progress: Progress): number {
  let bytes = 0;
  for (const append of progress.inflight) bytes += append.bytes;
  return bytes;
}
