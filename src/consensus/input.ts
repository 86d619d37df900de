import type { LogId } from './log-id.js';
import type { Message } from './message.js';
import type { NodeId } from './node-id.js';

/** Everything that can happen to the engine. The runtime feeds them one at a time to `Engine.step`. */
export type Input =
  | TickInput
  | ReceiveInput
  | AppendedInput
  | ProposeInput
  | HealthChangedInput
  | ApplyCaughtUpChangedInput
  | LocalStateCheckedInput
  | TransferLeadershipInput
  | ForcePromoteInput
  | AddMemberInput
  | RemoveMemberInput
  | PurgedInput;

/** One unit of time passed (`tickMs` of wall clock in the runtime, one step in the simulator). */
export interface TickInput {
  readonly kind: 'tick';
}

export interface ReceiveInput {
  readonly kind: 'receive';
  readonly message: Message;
}

/**
 * The WAL is durable (fsynced) through `logId`, meaning every entry up to and including it that
 * this engine asked to append. Stale acknowledgements (for entries since truncated) are recognised
 * by the term and ignored.
 */
export interface AppendedInput {
  readonly kind: 'appended';
  readonly logId: LogId;
}

/** A captured transaction to replicate. Only a leader accepts; answered by proposalAccepted/proposalRejected. */
export interface ProposeInput {
  readonly kind: 'propose';
  readonly payload: Uint8Array;
}

/** Result of the runtime's health check of the local MariaDB (sent on every change). */
export interface HealthChangedInput {
  readonly kind: 'healthChanged';
  readonly healthy: boolean;
}

/**
 * Whether the local MariaDB has applied the committed log to within `cluster.max_apply_lag_ms`
 * (sent on every change). Failback hands leadership only to a node that says so: a new leader
 * applies its whole backlog before it takes writes (its opening), so handing over to a node
 * seconds behind turns a healthy cluster unavailable for those seconds.
 */
export interface ApplyCaughtUpChangedInput {
  readonly kind: 'applyCaughtUpChanged';
  readonly caughtUp: boolean;
}

/**
 * The runtime checked its local database against the committed log (the rewind check: nothing
 * outside the log, or rewound) in a check that began when `status().checkEpoch` was `epoch`. A
 * check that began before this node's latest leadership ended is stale and ignored: only a check
 * begun after it can vouch for what that leadership left in the database.
 */
export interface LocalStateCheckedInput {
  readonly kind: 'localStateChecked';
  readonly epoch: number;
}

/**
 * `wolfctl promote <to>` (forwarded to the leader) or `wolfctl demote` (`to: null`: the best
 * eligible node, lowest ID first).
 */
export interface TransferLeadershipInput {
  readonly kind: 'transferLeadership';
  readonly to: NodeId | null;
  /**
   * Set when the node itself hands over (a stuck opening, `src/node/opening-watch.ts`): the
   * event carries this reason, and the new leader's term is not an operator's, so failback to a
   * lower ID is not suppressed. Absent: an operator's promote or demote.
   */
  readonly reason?: string;
}

/**
 * `wolfctl promote --force` for a lost majority: this node becomes leader of a new configuration
 * made of `members` (itself always included) without an election. Unsafe by nature: entries the
 * lost majority committed beyond this node's log are lost, and the engine says so in an event.
 */
export interface ForcePromoteInput {
  readonly kind: 'forcePromote';
  readonly members: readonly NodeId[];
}

/** Leader only: start replicating to a new node and add it as a voter once it is caught up. */
export interface AddMemberInput {
  readonly kind: 'addMember';
  readonly id: NodeId;
  readonly neverLeader: boolean;
}

/** Leader only: commit a configuration without this member. */
export interface RemoveMemberInput {
  readonly kind: 'removeMember';
  readonly id: NodeId;
}

/**
 * The runtime is about to remove WAL entries up to `upToIndex` (inclusive): retention decided
 * elsewhere, never beyond the commit index. After this the engine never asks for them, and a
 * follower that needs them is NEEDS_MIGRATION.
 */
export interface PurgedInput {
  readonly kind: 'purged';
  readonly upToIndex: number;
}
