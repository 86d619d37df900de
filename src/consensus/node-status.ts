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
