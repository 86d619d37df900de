import type { LogEntry } from '../wal/entry.js';
import type { EngineEvent } from './engine-event.js';
import type { LogId } from './log-id.js';
import type { Message } from './message.js';
import type { NodeId } from './node-id.js';
import type { NodeStatus, Role } from './node-status.js';

/**
 * The engine's only effects. The runtime executes the commands of one `step` IN ORDER, and:
 * - `persistHardState` and `truncate` are barriers: they are durable before any later command runs
 *   (so a vote or a term is never sent before it is on disk, and an append never lands before the
 *   truncation it follows);
 * - `append` is submitted to the WAL in order; when it is durable the runtime feeds `appended`.
 *   The engine never acknowledges an entry, to a leader or in its own quorum count, before that;
 * - everything else is fire and forget.
 */
export type Command =
  | PersistHardStateCommand
  | TruncateCommand
  | AppendCommand
  | SendCommand
  | ReplicateCommand
  | CommitCommand
  | RoleChangedCommand
  | ProposalAcceptedCommand
  | ProposalRejectedCommand
  | StatusChangedCommand
  | NeedsMigrationCommand
  | EventCommand;

export interface PersistHardStateCommand {
  readonly kind: 'persistHardState';
  readonly term: number;
  readonly votedFor: NodeId | null;
}

/** Remove WAL entries from `fromIndex` on (inclusive). Never at or below the commit index. */
export interface TruncateCommand {
  readonly kind: 'truncate';
  readonly fromIndex: number;
}

/** Append these entries (contiguous, following the current end of the WAL). */
export interface AppendCommand {
  readonly kind: 'append';
  readonly entries: readonly LogEntry[];
}

export interface SendCommand {
  readonly kind: 'send';
  readonly message: Message;
}

/**
 * Send `to` an `appendEntries` with the WAL entries `[fromIndex, toIndex]` (inclusive; empty when
 * toIndex < fromIndex). The runtime reads them from the WAL; if they are gone (purged or
 * truncated meanwhile) it drops the command: the engine retries on its own.
 */
export interface ReplicateCommand {
  readonly kind: 'replicate';
  readonly to: NodeId;
  readonly term: number;
  readonly prevLogId: LogId;
  readonly fromIndex: number;
  readonly toIndex: number;
  readonly leaderCommit: number;
}

/**
 * Entries up to `index` are committed: quorum-durable and final. The runtime applies them in order
 * (follower) or acknowledges them to MariaDB's semi-sync wait (leader). Only ever grows.
 */
export interface CommitCommand {
  readonly kind: 'commit';
  readonly index: number;
}

/**
 * Role or known leader changed. Anything but LEADER must set the local MariaDB read_only=ON at
 * once; LEADER may open it for writes once capture is connected. `reason` is for the log.
 */
export interface RoleChangedCommand {
  readonly kind: 'roleChanged';
  readonly role: Role;
  readonly term: number;
  readonly leaderId: NodeId | null;
  readonly reason: string;
}

export interface ProposalAcceptedCommand {
  readonly kind: 'proposalAccepted';
  readonly logId: LogId;
}

export interface ProposalRejectedCommand {
  readonly kind: 'proposalRejected';
  readonly reason: 'NOT_LEADER' | 'TRANSFERRING_LEADERSHIP';
  readonly leaderId: NodeId | null;
}

/** Leader only: a member's reporting status changed. */
export interface StatusChangedCommand {
  readonly kind: 'statusChanged';
  readonly nodeId: NodeId;
  readonly status: NodeStatus;
}

/** Leader only: `nodeId` needs index `nextIndex` but the WAL starts at `firstIndex` (or it diverged): it needs a snapshot. */
export interface NeedsMigrationCommand {
  readonly kind: 'needsMigration';
  readonly nodeId: NodeId;
  readonly nextIndex: number;
  readonly firstIndex: number;
}

/** A decision operators will want to see in the log, with its reason. */
export interface EventCommand {
  readonly kind: 'event';
  readonly event: EngineEvent;
}
