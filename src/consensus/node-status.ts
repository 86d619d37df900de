import type { Progress } from './progress.js';

/**
 * A member's status as the leader sees it, for reporting (`wolfctl status`, /metrics):
 * - JOINING: being added, has not answered yet;
 * - SYNCING: answering, but more than one flow-control window behind the leader;
 * - ACTIVE: answering and caught up (the only status eligible to lead);
 * - LAGGING: missed `lagHeartbeatsMissed` heartbeats;
 * - DROPPED: silent for an election timeout (not counted as alive for quorum checks);
 * - OFFLINE: silent for `deadNodeRemovalTicks` (about to be removed), or no longer a member;
 * - NEEDS_MIGRATION: needs entries the leader no longer retains, or diverged: only a snapshot helps.
 */
export type NodeStatus =
  | 'JOINING'
  | 'SYNCING'
  | 'ACTIVE'
  | 'LAGGING'
  | 'DROPPED'
  | 'OFFLINE'
  | 'NEEDS_MIGRATION';

export type Role = 'LEADER' | 'FOLLOWER' | 'CANDIDATE';

/** What `memberStatus` needs besides the follower's progress. */
export interface MemberStatusContext {
  readonly nowTicks: number;
  readonly isLearner: boolean;
  readonly leaderLastIndex: number;
  readonly heartbeatIntervalTicks: number;
  readonly electionTimeoutTicks: number;
  readonly deadNodeRemovalTicks: number;
  readonly lagHeartbeatsMissed: number;
  /** More than this many entries behind the leader is SYNCING. */
  readonly syncingEntriesMin: number;
}

/** A member's status as its leader sees it (see NodeStatus for the meaning of each). */
export function memberStatus(progress: Progress, context: MemberStatusContext): NodeStatus {
  const silentTicks = context.nowTicks - progress.lastHeardTick;
  if (progress.state === 'needsMigration') return 'NEEDS_MIGRATION';
  if (!progress.responded && context.isLearner) return 'JOINING';
  if (silentTicks >= context.deadNodeRemovalTicks) return 'OFFLINE';
  if (silentTicks >= context.electionTimeoutTicks) return 'DROPPED';
  if (silentTicks >= context.lagHeartbeatsMissed * context.heartbeatIntervalTicks) return 'LAGGING';
  // A member this leader has not heard from yet: its progress is unknown until it answers.
  if (!progress.responded || context.isLearner) return 'SYNCING';
  if (context.leaderLastIndex - progress.matchIndex > context.syncingEntriesMin) return 'SYNCING';
  return 'ACTIVE';
}
