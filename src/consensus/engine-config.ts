/**
 * Tunables of the engine, all in ticks (the runtime ticks every `tickMs`, 100 ms by default) or
 * counts. Defaults give: heartbeat every 200 ms, a follower campaigns after 1 s of silence, the
 * next-ranked node 300 ms later, a dead node is removed after 30 s.
 */
export interface EngineConfig {
  /** Leader sends heartbeats this often. */
  readonly heartbeatIntervalTicks: number;
  /** A follower that has heard no leader for this long may campaign; a leader that has not heard from a quorum for this long steps down. */
  readonly electionTimeoutTicks: number;
  /** Extra wait per rank: the k-th eligible node by ID waits `k × staggerTicks` beyond the election timeout. */
  readonly staggerTicks: number;
  /** Per follower: entries sent and not yet acknowledged. */
  readonly inflightEntriesMax: number;
  /** Per follower: payload bytes sent and not yet acknowledged (of entries whose size this engine has seen). */
  readonly inflightBytesMax: number;
  /** Per follower: append messages sent and not yet acknowledged. */
  readonly inflightMessagesMax: number;
  /** Entries in one append message. */
  readonly batchEntriesMax: number;
  /** A member silent this long is removed from the configuration (while a quorum of it is alive). */
  readonly deadNodeRemovalTicks: number;
  /** A member that missed this many heartbeats is LAGGING. */
  readonly lagHeartbeatsMissed: number;
  /** Transfer leadership to a lower-ID node that is caught up and healthy. */
  readonly failback: boolean;
  /** How many entry sizes the engine remembers for the byte bound (older entries count by the entry bound only). */
  readonly entryBytesTrackedMax: number;
  /**
   * TEST ONLY: commit on the leader's own copy, without a quorum. Exists so the simulator's
   * checkers can be shown to catch a real safety bug. Never set it in a runtime.
   */
  readonly unsafeCommitWithoutQuorum: boolean;
}

export const defaultEngineConfig: EngineConfig = {
  heartbeatIntervalTicks: 2,
  electionTimeoutTicks: 10,
  staggerTicks: 3,
  inflightEntriesMax: 512,
  inflightBytesMax: 8 * 1024 * 1024,
  inflightMessagesMax: 8,
  batchEntriesMax: 64,
  deadNodeRemovalTicks: 300,
  lagHeartbeatsMissed: 3,
  failback: true,
  entryBytesTrackedMax: 1 << 20,
  unsafeCommitWithoutQuorum: false,
};
