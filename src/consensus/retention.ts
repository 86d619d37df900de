import type { FollowerProgress } from './engine.js';

/**
 * How far a node may purge its WAL: the index below which no entry is still needed. Pure; the
 * runtime asks the WAL which whole segments that allows (and the WAL keeps each segment at least
 * `wal.retention_hours` after it was sealed), tells the engine `purged`, then deletes.
 *
 * An entry is still needed when
 * - it is not committed, or not applied to this node's MariaDB (the apply loop reads it);
 * - on the leader: a follower lacks it and was heard within `holdTicks` (a follower silent longer
 *   than that no longer holds the WAL back; if it returns it needs entries the leader no longer
 *   has and becomes NEEDS_MIGRATION, as the engine models). A follower already marked
 *   NEEDS_MIGRATION holds nothing back: it will be migrated from a snapshot anyway;
 * - on a follower: the leader's announced floor (the oldest entry some member still lacks) is
 *   not past it, so that this node, if it leads next, can still serve those members. Without a
 *   floor from the current leader a follower keeps everything.
 */
export interface RetentionInput {
  readonly isLeader: boolean;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  /** The leader's view of its followers (`Engine.followerProgress`); ignored on a follower. */
  readonly followers: readonly FollowerProgress[];
  /** On a follower: the leader's `retentionFloor`, or null when none is known. */
  readonly leaderFloor: number | null;
  /** A follower silent at least this many ticks stops holding the WAL back. */
  readonly holdTicks: number;
}

/** Entries with an index below the result may be purged (1 = nothing may go). */
export function purgeBeforeIndex(input: RetentionInput): number {
  let before = Math.min(input.commitIndex, input.appliedIndex) + 1;
  if (input.isLeader) {
    before = Math.min(before, retentionFloor(input.followers, input.holdTicks, Number.POSITIVE_INFINITY));
  } else {
    before = input.leaderFloor === null ? 1 : Math.min(before, input.leaderFloor);
  }
  return Math.max(1, before);
}

/**
 * Leader: the oldest index some live follower still lacks (`matchIndex + 1`), or `otherwise` when
 * no follower holds anything back. Announced to followers so they keep what the members need.
 */
export function retentionFloor(
  followers: readonly FollowerProgress[],
  holdTicks: number,
  otherwise: number,
): number {
  let floor = otherwise;
  for (const follower of followers) {
    if (follower.needsMigration || follower.heardTicksAgo >= holdTicks) continue;
    floor = Math.min(floor, follower.matchIndex + 1);
  }
  return floor;
}
