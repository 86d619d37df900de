import type { EntryKind, LogEntry } from '../wal/entry.js';
import { assert, unreachable } from './assert.js';
import type { Command } from './command.js';
import { defaultEngineConfig, type EngineConfig } from './engine-config.js';
import type { EngineEvent } from './engine-event.js';
import { EntrySizes } from './entry-sizes.js';
import { nextBatchEnd, nextIndexAfterReject } from './flow-control.js';
import type { Input } from './input.js';
import { emptyLogId, isAtLeastAsUpToDate, type LogId } from './log-id.js';
import { LogIds, type TermStart } from './log-ids.js';
import {
  decodeMembership,
  encodeMembership,
  hasMember,
  type Member,
  type Membership,
  quorumSize,
  sortMembers,
} from './membership.js';
import type {
  AppendEntries,
  AppendEntriesResponse,
  Heartbeat,
  HeartbeatResponse,
  Message,
  PreVoteRequest,
  PreVoteResponse,
  TimeoutNow,
  VoteRequest,
  VoteResponse,
} from './message.js';
import { compareNodeIds, type NodeId } from './node-id.js';
import { memberStatus, type NodeStatus, type Role } from './node-status.js';
import { Prng } from './prng.js';
import { newProgress, type Progress } from './progress.js';

/** What must survive a crash besides the log: the current term and the vote cast in it. */
export interface HardState {
  readonly term: number;
  readonly votedFor: NodeId | null;
}

/**
 * What the runtime recovered from disk at start. Everything in it is durable.
 * - `log`: the WAL's shape: the last purged entry, where each term starts after it, the last index;
 * - `memberships`: the last two configuration entries of the WAL, oldest first (or the snapshot's
 *   membership at the purge index): all but the last configuration in a log are committed, so two
 *   are enough to undo a truncated one;
 * - `appliedIndex`: what the local MariaDB has applied, hence known committed.
 */
export interface RecoveredState {
  readonly hardState: HardState;
  readonly log: {
    readonly purged: LogId;
    readonly termStarts: readonly TermStart[];
    readonly lastIndex: number;
  };
  readonly memberships: readonly Membership[];
  readonly appliedIndex: number;
}

export interface EngineOptions {
  readonly id: NodeId;
  /** Used while the log holds no configuration entry (a fresh cluster): `cluster.peers` plus this node. Empty for a node that joins. */
  readonly initialMembers: readonly Member[];
  /** Seeds the jitter added after a failed election round. */
  readonly seed: number;
  /** The local MariaDB's health at start. */
  readonly healthy: boolean;
  /**
   * Whether the local database is known to hold nothing outside the committed log at start
   * (default true: a runtime without local state to check). A runtime that rewinds (WolfScale's)
   * passes false unless the node never ran before, and reports `localStateChecked` when its check
   * is done. Until then the node is not a failback or transfer target and campaigns last.
   */
  readonly localStateChecked?: boolean;
  /**
   * Whether the local MariaDB has applied the committed log at start (default true: a runtime
   * without an apply lag). Reported to the leader; failback waits for it (`applyCaughtUpChanged`).
   */
  readonly applyCaughtUp?: boolean;
  readonly config?: Partial<EngineConfig>;
  readonly recovered?: RecoveredState;
}

/** A snapshot of the engine's state for reporting and for tests. */
export interface EngineStatus {
  readonly id: NodeId;
  readonly role: Role;
  readonly term: number;
  readonly votedFor: NodeId | null;
  readonly leaderId: NodeId | null;
  readonly commitIndex: number;
  readonly lastLogId: LogId;
  readonly persistedIndex: number;
  readonly firstIndex: number;
  readonly members: readonly Member[];
  readonly membershipIndex: number;
  readonly healthy: boolean;
  /** The local database was checked against the log since this node last led (see `localStateChecked`). */
  readonly localStateChecked: boolean;
  /** Counts the leaderships this node ended; a `localStateChecked` input names the epoch its check began in. */
  readonly checkEpoch: number;
  readonly transferTo: NodeId | null;
  /** Leader only: this term began with an operator's transfer, so failback waits for the next election. */
  readonly failbackSuppressed: boolean;
  readonly learner: NodeId | null;
  /**
   * This node's own status: JOINING (not a member yet), NEEDS_MIGRATION (it refused to overwrite
   * committed entries: diverged), SYNCING (WAL not durable to its end, or behind the last known
   * commit), else ACTIVE. The leader's view of the others is `nodeStatuses()`.
   */
  readonly localStatus: NodeStatus;
}

/** The leader's view of one follower's replication (see `Engine.followerProgress`). */
export interface FollowerProgress {
  readonly id: NodeId;
  readonly matchIndex: number;
  readonly needsMigration: boolean;
  readonly heardTicksAgo: number;
  /** A voting member (false for the learner being added). */
  readonly voter: boolean;
}

type InternalRole = 'leader' | 'follower' | 'candidate';

const noopPayload = new Uint8Array(0);

/**
 * The consensus engine: a pure Raft state machine with WolfScale's election preference. Feed it
 * inputs with `step`; it returns the commands the runtime must execute, in order (see command.ts
 * for the durability contract). It never reads the disk, the clock or a random source: time is
 * `tick` inputs and randomness comes from `options.seed`.
 */
export class Engine {
  readonly id: NodeId;
  private readonly config: EngineConfig;
  private readonly prng: Prng;
  private readonly log: LogIds;
  private out: Command[] = [];

  private term: number;
  private votedFor: NodeId | null;
  private persistedTerm: number;
  private persistedVotedFor: NodeId | null;

  private role: InternalRole = 'follower';
  private preVote = false;
  private leaderId: NodeId | null = null;
  private reportedRole: Role = 'FOLLOWER';
  private reportedLeaderId: NodeId | null = null;

  /** Highest index durable in the WAL and still in the log. */
  private persistedIndex: number;
  private commitIndex: number;
  /** Latest last; every one but the last is committed. */
  private memberships: Membership[];
  private healthy: boolean;
  private applyCaughtUp: boolean;
  /**
   * The runtime vouched that the local database holds nothing outside the committed log (its
   * rewind check) since this node last led. A node that led may hold commits of that leadership
   * no quorum acknowledged until the check has rewound them, or it may find them impossible to
   * rewind (NEEDS_MIGRATION): handing it leadership then stalls writes (found by the rewind
   * integration test: failback to a restarted old leader made the current leader read-only).
   */
  private localChecked: boolean;
  private checkEpoch = 0;

  private nowTicks = 0;
  private electionElapsedTicks = 0;
  /** Drawn when the timer is reset: only after a failed round (see `electionDeadlineTicks`). */
  private electionJitterTicks = 0;
  private failedRounds = 0;
  private readonly votesGranted = new Set<NodeId>();

  // Follower: what this term's leader has shown us.
  /** Our log matches this term's leader up to here. */
  private verifiedIndex = 0;
  private leaderCommit = 0;
  private ackedMatchIndex = 0;
  /** Refused a leader's entries that would overwrite committed ones: only a migration helps. */
  private diverged = false;

  // Leader.
  private readonly progress = new Map<NodeId, Progress>();
  private heartbeatElapsedTicks = 0;
  private leaderSinceTick = 0;
  /** Index of this term's no-op: once committed, the leader knows its commit index is current. */
  private leaderStartIndex = 0;
  private transfer: { to: NodeId; elapsedTicks: number; byOperator: boolean } | null = null;
  /**
   * An operator's promote/demote holds for the new leader's whole term: failback does not undo it
   * at the next heartbeat. The next election (any cause) restores the preference.
   */
  private failbackSuppressed = false;
  private pendingFailbackSuppression = false;
  private learner: Member | null = null;
  private readonly statuses = new Map<NodeId, NodeStatus>();

  private readonly entrySizes: EntrySizes;

  constructor(options: EngineOptions) {
    this.id = options.id;
    this.config = { ...defaultEngineConfig, ...options.config };
    assert(this.config.heartbeatIntervalTicks >= 1, 'config: heartbeatIntervalTicks must be at least 1');
    assert(
      this.config.electionTimeoutTicks > this.config.heartbeatIntervalTicks,
      'config: electionTimeoutTicks must exceed heartbeatIntervalTicks',
    );
    for (const bound of [
      'inflightMessagesMax',
      'inflightEntriesMax',
      'inflightBytesMax',
      'batchEntriesMax',
      'lagHeartbeatsMissed',
      'entryBytesTrackedMax',
    ] as const) {
      assert(
        Number.isInteger(this.config[bound]) && this.config[bound] >= 1,
        `config: ${bound} must be an integer ≥ 1`,
      );
    }
    assert(
      this.config.deadNodeRemovalTicks > this.config.electionTimeoutTicks,
      'config: deadNodeRemovalTicks must exceed electionTimeoutTicks',
    );
    this.prng = new Prng(options.seed);
    this.healthy = options.healthy;
    this.applyCaughtUp = options.applyCaughtUp ?? true;
    this.localChecked = options.localStateChecked ?? true;
    const recovered = options.recovered;
    this.term = recovered?.hardState.term ?? 0;
    this.votedFor = recovered?.hardState.votedFor ?? null;
    this.persistedTerm = this.term;
    this.persistedVotedFor = this.votedFor;
    this.log = new LogIds(recovered?.log ?? { purged: emptyLogId, termStarts: [], lastIndex: 0 });
    this.persistedIndex = this.log.lastIndex;
    // Purged entries were committed (purges never pass the commit index), whatever the runtime says it applied.
    this.commitIndex = Math.max(recovered?.appliedIndex ?? 0, this.log.purged.index);
    assert(this.commitIndex <= this.log.lastIndex, 'recovered: applied index beyond the WAL');
    this.entrySizes = new EntrySizes(this.log.lastIndex + 1, this.config.entryBytesTrackedMax);
    const memberships = recovered?.memberships ?? [];
    this.memberships =
      memberships.length > 0
        ? [...memberships]
        : [{ index: 0, members: sortMembers(options.initialMembers) }];
    this.resetElectionTimer();
  }

  /** Applies one input; returns the commands to execute, in order. */
  step(input: Input): Command[] {
    this.out = [];
    switch (input.kind) {
      case 'tick':
        this.onTick();
        break;
      case 'receive':
        this.onMessage(input.message);
        break;
      case 'appended':
        this.onAppended(input.logId);
        break;
      case 'propose':
        this.onPropose(input.payload);
        break;
      case 'healthChanged':
        this.onHealthChanged(input.healthy);
        break;
      case 'applyCaughtUpChanged':
        this.applyCaughtUp = input.caughtUp;
        break;
      case 'localStateChecked':
        if (input.epoch === this.checkEpoch) this.localChecked = true;
        break;
      case 'transferLeadership':
        this.onTransferLeadership(input.to, input.reason);
        break;
      case 'forcePromote':
        this.onForcePromote(input.members);
        break;
      case 'addMember':
        this.onAddMember({ id: input.id, neverLeader: input.neverLeader });
        break;
      case 'removeMember':
        this.onRemoveMember(input.id, 'requested by operator');
        break;
      case 'purged':
        this.onPurged(input.upToIndex);
        break;
      default:
        unreachable(input);
    }
    this.flushHardState();
    const out = this.out;
    this.out = [];
    return out;
  }

  status(): EngineStatus {
    return {
      id: this.id,
      role: this.reportedRoleOf(this.role),
      term: this.term,
      votedFor: this.votedFor,
      leaderId: this.leaderId,
      commitIndex: this.commitIndex,
      lastLogId: this.log.lastId(),
      persistedIndex: this.persistedIndex,
      firstIndex: this.log.firstIndex,
      members: this.members(),
      membershipIndex: this.latestMembership().index,
      healthy: this.healthy,
      localStateChecked: this.localChecked,
      checkEpoch: this.checkEpoch,
      transferTo: this.transfer?.to ?? null,
      failbackSuppressed: this.role === 'leader' && this.failbackSuppressed,
      learner: this.learner?.id ?? null,
      localStatus: this.localStatus(),
    };
  }

  private localStatus(): NodeStatus {
    if (!this.isMember(this.id)) return 'JOINING';
    if (this.diverged) return 'NEEDS_MIGRATION';
    return this.walUpToDate() ? 'ACTIVE' : 'SYNCING';
  }

  /** Leader only (empty otherwise): each member's status, and the learner's. */
  nodeStatuses(): ReadonlyMap<NodeId, NodeStatus> {
    return new Map(this.statuses);
  }

  /**
   * Leader only (empty otherwise): what each follower (and the learner) durably holds, and how
   * many ticks ago it last answered. For retention (never purge what a live follower still
   * needs) and lag reporting; a follower being migrated reports its match as 0.
   */
  followerProgress(): readonly FollowerProgress[] {
    if (this.role !== 'leader') return [];
    return [...this.progress.values()].map((progress) => ({
      id: progress.id,
      matchIndex: this.countedMatchIndex(progress.id),
      needsMigration: progress.state === 'needsMigration',
      heardTicksAgo: this.nowTicks - progress.lastHeardTick,
      voter: this.isMember(progress.id),
    }));
  }

  // ---------------------------------------------------------------- membership helpers

  private latestMembership(): Membership {
    return this.memberships[this.memberships.length - 1]!;
  }

  private members(): readonly Member[] {
    return this.latestMembership().members;
  }

  private isMember(id: NodeId): boolean {
    return hasMember(this.members(), id);
  }

  private selfMember(): Member | undefined {
    return this.members().find((member) => member.id === this.id);
  }

  private peers(): NodeId[] {
    const ids = this.members()
      .map((member) => member.id)
      .filter((id) => id !== this.id);
    if (this.learner !== null) ids.push(this.learner.id);
    return ids;
  }

  private quorum(): number {
    return quorumSize(this.members().length);
  }

  /** Eligible to campaign: healthy MariaDB, a voting member allowed to lead, WAL durable to its end. */
  private canCampaign(): boolean {
    const self = this.selfMember();
    return this.healthy && self !== undefined && !self.neverLeader && this.walUpToDate();
  }

  /**
   * ACTIVE from this node's own point of view: its WAL is durable to its end and holds everything
   * the last leader said was committed. A node still syncing would only lose the vote anyway; not
   * campaigning spares the cluster a round, and leaves the first turn to one that can win.
   */
  private walUpToDate(): boolean {
    return this.persistedIndex === this.log.lastIndex && this.log.lastIndex >= this.leaderCommit;
  }

  /**
   * Could take over now: healthy, and its local database checked since it last led. What a
   * follower reports to its leader as `healthy` (failback and transfer targets need it).
   */
  private readyToLead(): boolean {
    return this.healthy && this.localChecked;
  }

  /**
   * Position among the members allowed to lead, by node ID: 0 campaigns first. The leader this
   * node follows is left out: the timer it sets runs out only when that leader is gone, so waiting
   * a stagger for it would only delay the failover (one stagger is 300 ms at the default timings).
   */
  private rank(): number {
    const leaders = this.members().filter(
      (member) => !member.neverLeader && (member.id === this.id || member.id !== this.leaderId),
    );
    const position = leaders.findIndex((member) => member.id === this.id);
    return position < 0 ? leaders.length : position;
  }

  // ---------------------------------------------------------------- emitting

  private emit(command: Command): void {
    this.out.push(command);
  }

  private event(event: EngineEvent): void {
    this.emit({ kind: 'event', event });
  }

  /** Terms and votes reach the disk before anything that depends on them leaves this node. */
  private flushHardState(): void {
    if (this.term === this.persistedTerm && this.votedFor === this.persistedVotedFor) return;
    this.persistedTerm = this.term;
    this.persistedVotedFor = this.votedFor;
    this.emit({ kind: 'persistHardState', term: this.term, votedFor: this.votedFor });
  }

  private send(message: Message): void {
    assert(message.to !== this.id, 'send: message to self');
    this.flushHardState();
    this.emit({ kind: 'send', message });
  }

  private reportedRoleOf(role: InternalRole): Role {
    return role === 'leader' ? 'LEADER' : role === 'candidate' ? 'CANDIDATE' : 'FOLLOWER';
  }

  private reportRole(reason: string): void {
    const role = this.reportedRoleOf(this.role);
    if (role === this.reportedRole && this.leaderId === this.reportedLeaderId) return;
    this.reportedRole = role;
    this.reportedLeaderId = this.leaderId;
    this.emit({ kind: 'roleChanged', role, term: this.term, leaderId: this.leaderId, reason });
  }

  // ---------------------------------------------------------------- timers

  /**
   * The deterministic preference: the k-th node allowed to lead (by ID) waits k × stagger beyond
   * the election timeout, so the lowest eligible ID campaigns first. Jitter only after a failed
   * round, to break the rare tie that delays can still produce.
   *
   * One tick beyond the timeout even for rank 0: the peers' leases (`inLease`) end at their own
   * tick `electionTimeoutTicks` after the same heartbeat, and each node's ticks have their own
   * phase. Without the extra tick the first candidate's pre-vote was refused about half the time
   * (measured with `npm run bench:failover`: node-3 instead of node-2 won 4 of 10 rounds, 300 ms
   * later), because it came just before the peers' leases ran out.
   */
  private resetElectionTimer(): void {
    this.electionElapsedTicks = 0;
    this.electionJitterTicks =
      this.failedRounds > 0 ? this.prng.below(this.config.electionTimeoutTicks + 1) : 0;
  }

  /**
   * Computed on every tick, not when the timer was reset: rank and the local check change while
   * the timer runs. A follower becomes unchecked when its leadership ends and is checked some
   * hundred milliseconds later, while its leader's heartbeats only restart the count; a deadline
   * fixed at the step-down kept the unchecked node's place behind every checked one, so after
   * a failback the next failover went to node-3 instead of node-2 (failover-load test, CI).
   */
  private electionDeadlineTicks(): number {
    // A node whose local database is not checked yet campaigns after every checked one (it still
    // campaigns: when every node restarts at once none is checked, and the check needs a leader).
    const uncheckedRanks = this.localChecked
      ? 0
      : this.members().filter((member) => !member.neverLeader).length;
    return (
      this.config.electionTimeoutTicks +
      1 +
      (this.rank() + uncheckedRanks) * this.config.staggerTicks +
      this.electionJitterTicks
    );
  }

  /** Leader lease: while a leader is known to be alive, nobody may start an election against it. */
  private inLease(): boolean {
    if (this.role === 'leader') return true;
    return this.leaderId !== null && this.electionElapsedTicks < this.config.electionTimeoutTicks;
  }

  private onTick(): void {
    this.nowTicks++;
    if (this.role === 'leader') {
      this.tickLeader();
      return;
    }
    this.electionElapsedTicks++;
    if (this.electionElapsedTicks < this.electionDeadlineTicks()) return;
    if (this.role === 'candidate') this.failedRounds++;
    if (this.canCampaign()) {
      this.startPreVote();
      return;
    }
    // The leader is presumed gone (which also ends its lease here), but we may not campaign.
    if (this.role === 'candidate' || this.leaderId !== null) {
      this.becomeFollower(this.term, null, 'leader lost; not eligible to campaign');
    }
    this.resetElectionTimer();
  }

  // ---------------------------------------------------------------- elections

  private startPreVote(): void {
    this.role = 'candidate';
    this.preVote = true;
    this.leaderId = null;
    this.votesGranted.clear();
    this.votesGranted.add(this.id);
    this.resetElectionTimer();
    this.reportRole(`election timeout: pre-vote for term ${this.term + 1}`);
    this.event({ kind: 'campaignStarted', term: this.term + 1, preVote: true, rank: this.rank() });
    if (this.votesGranted.size >= this.quorum()) {
      this.startElection(false);
      return;
    }
    const lastLogId = this.log.lastId();
    for (const peer of this.members()) {
      if (peer.id === this.id) continue;
      this.send({ kind: 'preVote', from: this.id, to: peer.id, term: this.term + 1, lastLogId });
    }
  }

  private startElection(transfer: boolean): void {
    this.term++;
    this.votedFor = this.id;
    this.role = 'candidate';
    this.preVote = false;
    this.leaderId = null;
    this.resetFollowerKnowledge();
    this.votesGranted.clear();
    this.votesGranted.add(this.id);
    this.resetElectionTimer();
    this.reportRole(transfer ? 'leadership transferred to this node' : 'pre-vote won');
    if (!transfer)
      this.event({ kind: 'campaignStarted', term: this.term, preVote: false, rank: this.rank() });
    if (this.votesGranted.size >= this.quorum()) {
      this.becomeLeader();
      return;
    }
    const lastLogId = this.log.lastId();
    for (const peer of this.members()) {
      if (peer.id === this.id) continue;
      this.send({ kind: 'vote', from: this.id, to: peer.id, term: this.term, lastLogId, transfer });
    }
  }

  private resetFollowerKnowledge(): void {
    this.verifiedIndex = 0;
    this.leaderCommit = 0;
    this.ackedMatchIndex = 0;
  }

  private becomeFollower(term: number, leaderId: NodeId | null, reason: string): void {
    assert(term >= this.term, 'becomeFollower: term goes back');
    if (term > this.term) {
      this.term = term;
      this.votedFor = null;
      this.resetFollowerKnowledge();
    }
    if (this.role === 'leader') {
      // What this leadership committed locally without a quorum must be checked (rewound) first.
      this.localChecked = false;
      this.checkEpoch++;
    }
    this.role = 'follower';
    this.preVote = false;
    this.leaderId = leaderId;
    this.clearLeaderState();
    if (leaderId !== null) this.failedRounds = 0;
    this.resetElectionTimer();
    this.reportRole(reason);
  }

  private clearLeaderState(): void {
    this.progress.clear();
    this.transfer = null;
    this.learner = null;
    this.statuses.clear();
  }

  private becomeLeader(reason = 'won the election'): void {
    this.role = 'leader';
    this.preVote = false;
    this.leaderId = this.id;
    this.failedRounds = 0;
    this.clearLeaderState();
    this.heartbeatElapsedTicks = 0;
    this.leaderSinceTick = this.nowTicks;
    this.failbackSuppressed = this.pendingFailbackSuppression;
    this.pendingFailbackSuppression = false;
    for (const id of this.peers())
      this.progress.set(id, newProgress(id, this.log.lastIndex + 1, this.nowTicks));
    this.reportRole(reason);
    // Raft §5.4.2 / §8: entries of earlier terms are committed only through an entry of ours.
    this.leaderStartIndex = this.appendLocal('noop', noopPayload).index;
    this.maybeCommit();
    this.broadcastAppend();
  }

  private onPreVote(message: PreVoteRequest): void {
    const granted =
      message.term > this.term &&
      !this.inLease() &&
      this.isMember(message.from) &&
      isAtLeastAsUpToDate(message.lastLogId, this.log.lastId());
    this.send({
      kind: 'preVoteResponse',
      from: this.id,
      to: message.from,
      term: this.term,
      proposedTerm: message.term,
      granted,
    });
  }

  private onPreVoteResponse(message: PreVoteResponse): void {
    if (!message.granted && message.term > this.term) {
      this.becomeFollower(message.term, null, 'pre-vote answered with a higher term');
      return;
    }
    if (this.role !== 'candidate' || !this.preVote || message.proposedTerm !== this.term + 1) return;
    if (!message.granted) return;
    this.votesGranted.add(message.from);
    if (this.votesGranted.size >= this.quorum()) this.startElection(false);
  }

  private onVote(message: VoteRequest): void {
    // A voter that hears from a live leader ignores the request, without even adopting its term:
    // a node returning from a partition cannot depose a healthy leader. A transfer is the leader's own wish.
    if (message.term < this.term || (!message.transfer && this.inLease()) || !this.isMember(message.from)) {
      this.send({ kind: 'voteResponse', from: this.id, to: message.from, term: this.term, granted: false });
      return;
    }
    if (message.term > this.term) this.becomeFollower(message.term, null, 'vote requested for a higher term');
    const granted =
      (this.votedFor === null || this.votedFor === message.from) &&
      isAtLeastAsUpToDate(message.lastLogId, this.log.lastId());
    if (granted) {
      this.votedFor = message.from;
      this.resetElectionTimer();
    }
    this.send({ kind: 'voteResponse', from: this.id, to: message.from, term: this.term, granted });
  }

  private onVoteResponse(message: VoteResponse): void {
    if (message.term > this.term) {
      this.becomeFollower(message.term, null, 'vote answered with a higher term');
      return;
    }
    if (this.role !== 'candidate' || this.preVote || message.term !== this.term || !message.granted) return;
    this.votesGranted.add(message.from);
    if (this.votesGranted.size >= this.quorum()) this.becomeLeader();
  }

  private onTimeoutNow(message: TimeoutNow): void {
    if (message.term < this.term) return;
    if (message.term > this.term)
      this.becomeFollower(message.term, message.from, 'timeout-now from a newer leader');
    // Not checked since it last led: taking over now would stall writes until the check is done.
    if (this.role === 'leader' || !this.canCampaign() || !this.localChecked) return;
    this.pendingFailbackSuppression = message.byOperator;
    this.startElection(true);
  }

  // ---------------------------------------------------------------- messages

  private onMessage(message: Message): void {
    assert(message.to === this.id, `message for ${message.to} delivered to ${this.id}`);
    switch (message.kind) {
      case 'preVote':
        this.onPreVote(message);
        return;
      case 'preVoteResponse':
        this.onPreVoteResponse(message);
        return;
      case 'vote':
        this.onVote(message);
        return;
      case 'voteResponse':
        this.onVoteResponse(message);
        return;
      case 'appendEntries':
        this.onAppendEntries(message);
        return;
      case 'appendEntriesResponse':
        this.onAppendEntriesResponse(message);
        return;
      case 'heartbeat':
        this.onHeartbeat(message);
        return;
      case 'heartbeatResponse':
        this.onHeartbeatResponse(message);
        return;
      case 'timeoutNow':
        this.onTimeoutNow(message);
        return;
      default:
        unreachable(message);
    }
  }

  /** A message from this term's leader: follow it. Returns false when the message is stale. */
  private acceptLeader(message: AppendEntries | Heartbeat): boolean {
    if (message.term < this.term) return false;
    assert(
      !(this.role === 'leader' && message.term === this.term),
      `two leaders in term ${this.term}: ${this.id} and ${message.from}`,
    );
    if (message.term > this.term || this.role !== 'follower' || this.leaderId !== message.from) {
      this.becomeFollower(message.term, message.from, `following ${message.from}`);
    }
    this.electionElapsedTicks = 0;
    this.failedRounds = 0;
    return true;
  }

  private onHeartbeat(message: Heartbeat): void {
    if (this.acceptLeader(message)) {
      // The leader sends min(its commit, our match): entries up to there match its log.
      this.verifiedIndex = Math.max(this.verifiedIndex, Math.min(message.commitIndex, this.log.lastIndex));
      this.leaderCommit = Math.max(this.leaderCommit, message.commitIndex);
      this.advanceFollowerCommit();
    }
    this.send({
      kind: 'heartbeatResponse',
      from: this.id,
      to: message.from,
      term: this.term,
      healthy: this.readyToLead(),
      applyCaughtUp: this.applyCaughtUp,
      lastLogId: this.log.lastId(),
      firstIndex: this.log.firstIndex,
    });
  }

  private respondAppend(to: NodeId, fields: Partial<AppendEntriesResponse> & { success: boolean }): void {
    const matchIndex = fields.success ? this.followerMatchIndex() : 0;
    if (fields.success) this.ackedMatchIndex = Math.max(this.ackedMatchIndex, matchIndex);
    this.send({
      kind: 'appendEntriesResponse',
      from: this.id,
      to,
      term: this.term,
      matchIndex,
      rejectedPrevIndex: 0,
      conflict: null,
      diverged: false,
      healthy: this.readyToLead(),
      applyCaughtUp: this.applyCaughtUp,
      lastLogId: this.log.lastId(),
      firstIndex: this.log.firstIndex,
      ...fields,
    });
  }

  /** What a follower may acknowledge: durable, and verified against this term's leader. */
  private followerMatchIndex(): number {
    return Math.min(this.persistedIndex, this.verifiedIndex);
  }

  private onAppendEntries(message: AppendEntries): void {
    if (!this.acceptLeader(message)) {
      this.respondAppend(message.from, { success: false, rejectedPrevIndex: message.prevLogId.index });
      return;
    }
    let prev = message.prevLogId;
    let entries = message.entries;
    const purged = this.log.purged;
    if (prev.index < purged.index) {
      // Entries at or below our purge point are committed, hence identical to the leader's: skip them.
      this.verifiedIndex = Math.max(this.verifiedIndex, purged.index);
      entries = entries.filter((entry) => entry.index > purged.index);
      if (entries.length === 0) {
        this.respondAppend(message.from, { success: true });
        return;
      }
      prev = purged;
    }
    const termAtPrev = this.log.termAt(prev.index);
    if (termAtPrev !== prev.term) {
      const conflict: LogId =
        termAtPrev === undefined
          ? { term: 0, index: this.log.lastIndex + 1 }
          : { term: termAtPrev, index: Math.max(this.log.runStartAt(prev.index), this.commitIndex + 1) };
      this.respondAppend(message.from, {
        success: false,
        rejectedPrevIndex: message.prevLogId.index,
        conflict,
      });
      return;
    }
    if (!this.appendFromLeader(entries)) {
      this.respondAppend(message.from, {
        success: false,
        rejectedPrevIndex: message.prevLogId.index,
        diverged: true,
      });
      return;
    }
    const lastNewIndex = prev.index + entries.length;
    this.verifiedIndex = Math.max(this.verifiedIndex, lastNewIndex);
    this.leaderCommit = Math.max(this.leaderCommit, message.leaderCommit);
    this.advanceFollowerCommit();
    // Acknowledge once durable: now if it already is, else when `appended` arrives.
    if (this.followerMatchIndex() >= lastNewIndex) this.respondAppend(message.from, { success: true });
  }

  /** Appends what is new, truncating a conflicting tail first. False when that tail is committed (diverged). */
  private appendFromLeader(entries: readonly LogEntry[]): boolean {
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]!;
      const term = this.log.termAt(entry.index);
      if (term === entry.term) continue;
      if (term !== undefined) {
        if (entry.index <= this.commitIndex) {
          // Only a forced promotion can ask this: never silently drop what we applied.
          this.diverged = true;
          this.event({ kind: 'diverged', index: entry.index, commitIndex: this.commitIndex });
          return false;
        }
        this.truncateFrom(entry.index);
      }
      this.appendEntries(entries.slice(i));
      return true;
    }
    return true;
  }

  private advanceFollowerCommit(): void {
    const index = Math.min(this.leaderCommit, this.verifiedIndex, this.persistedIndex);
    if (index > this.commitIndex) this.setCommitIndex(index);
  }

  // ---------------------------------------------------------------- the local log

  private appendLocal(kind: EntryKind, payload: Uint8Array): LogEntry {
    const entry: LogEntry = { term: this.term, index: this.log.lastIndex + 1, kind, payload };
    this.appendEntries([entry]);
    return entry;
  }

  private appendEntries(entries: readonly LogEntry[]): void {
    if (entries.length === 0) return;
    for (const entry of entries) {
      this.log.append(entry);
      this.entrySizes.record(entry.index, entry.payload.byteLength);
      if (entry.kind === 'configuration') {
        this.memberships.push({ index: entry.index, members: sortMembers(decodeMembership(entry.payload)) });
      }
    }
    this.emit({ kind: 'append', entries });
  }

  private truncateFrom(index: number): void {
    assert(index > this.commitIndex, `truncate ${index} at or below the commit index ${this.commitIndex}`);
    assert(this.role !== 'leader', 'a leader never truncates its log');
    this.log.truncateFrom(index);
    this.persistedIndex = Math.min(this.persistedIndex, index - 1);
    this.verifiedIndex = Math.min(this.verifiedIndex, index - 1);
    this.entrySizes.truncateFrom(index);
    this.memberships = this.memberships.filter((membership) => membership.index < index);
    assert(this.memberships.length > 0, 'truncate removed every configuration');
    this.emit({ kind: 'truncate', fromIndex: index });
  }

  private onAppended(logId: LogId): void {
    if (logId.index <= this.persistedIndex || this.log.termAt(logId.index) !== logId.term) return;
    this.persistedIndex = logId.index;
    if (this.role === 'leader') {
      this.maybeCommit();
      if (this.role === 'leader') this.announceCommit();
      return;
    }
    this.advanceFollowerCommit();
    if (
      this.role === 'follower' &&
      this.leaderId !== null &&
      this.followerMatchIndex() > this.ackedMatchIndex
    ) {
      this.respondAppend(this.leaderId, { success: true });
    }
  }

  private onPurged(upToIndex: number): void {
    assert(upToIndex <= this.commitIndex, `purge ${upToIndex} beyond the commit index ${this.commitIndex}`);
    this.log.purgeTo(upToIndex);
    this.entrySizes.forgetBefore(upToIndex + 1);
  }

  private setCommitIndex(index: number): void {
    assert(index > this.commitIndex, 'commit index goes back');
    assert(index <= this.persistedIndex, `commit ${index} beyond the durable index ${this.persistedIndex}`);
    this.commitIndex = index;
    this.emit({ kind: 'commit', index });
    // Keep the latest committed configuration and what follows it.
    while (this.memberships.length > 1 && this.memberships[1]!.index <= index) this.memberships.shift();
    if (this.role !== 'leader') return;
    if (this.latestMembership().index <= index && !this.isMember(this.id)) {
      this.stepDown('removed from the configuration');
    }
  }

  // ---------------------------------------------------------------- leader

  private onPropose(payload: Uint8Array): void {
    if (this.role !== 'leader') {
      this.emit({ kind: 'proposalRejected', reason: 'NOT_LEADER', leaderId: this.leaderId });
      return;
    }
    // Accepted even while transferring leadership: a proposal is a transaction MariaDB already
    // wrote to the leader's binlog, and refusing it would leave that binlog ahead of the log. The
    // runtime stops new writes when a transfer starts (transferStarted), so the target catches
    // up with the few still in flight; TimeoutNow waits until it matches the last index.
    const entry = this.appendLocal('transaction', payload);
    this.emit({ kind: 'proposalAccepted', logId: { term: entry.term, index: entry.index } });
    this.broadcastAppend();
  }

  private broadcastAppend(): void {
    for (const id of this.progress.keys()) this.sendAppend(id);
  }

  /** Sends what flow control allows to one follower. */
  private sendAppend(id: NodeId): void {
    const progress = this.progress.get(id);
    if (progress === undefined || progress.state === 'needsMigration') return;
    if (progress.nextIndex < this.log.firstIndex) {
      // The follower may still hold our purge point (it is committed): try it once before
      // declaring that only a snapshot can help.
      if (progress.purgePointTried) {
        this.markNeedsMigration(progress);
        return;
      }
      progress.purgePointTried = true;
      progress.nextIndex = this.log.firstIndex;
      this.toProbe(progress);
    }
    if (progress.state === 'probe') {
      if (progress.probeSentTick !== null) return;
      progress.probeSentTick = this.nowTicks;
      this.replicate(
        progress,
        Math.min(this.log.lastIndex, progress.nextIndex + this.config.batchEntriesMax - 1),
      );
      return;
    }
    for (;;) {
      const toIndex = nextBatchEnd(progress, this.config, this.log.lastIndex, this.entrySizes);
      if (toIndex === null) return;
      this.replicate(progress, toIndex);
    }
  }

  private replicate(progress: Progress, toIndex: number): void {
    const fromIndex = progress.nextIndex;
    const prevTerm = this.log.termAt(fromIndex - 1);
    assert(prevTerm !== undefined, `replicate: no term at ${fromIndex - 1}`);
    this.emit({
      kind: 'replicate',
      to: progress.id,
      term: this.term,
      prevLogId: { term: prevTerm, index: fromIndex - 1 },
      fromIndex,
      toIndex,
      leaderCommit: this.commitIndex,
    });
    progress.commitSent = Math.max(progress.commitSent, this.commitIndex);
    if (progress.state !== 'replicate' || toIndex < fromIndex) return;
    const bytes = this.entrySizes.bytesBetween(fromIndex, toIndex);
    progress.inflight.push({ lastIndex: toIndex, entryCount: toIndex - fromIndex + 1, bytes });
    progress.nextIndex = toIndex + 1;
  }

  /** Records the follower's log as we last saw it: a migration changes it (new purge point or end). */
  private markNeedsMigration(progress: Progress): void {
    const nextIndex = progress.nextIndex;
    progress.state = 'needsMigration';
    progress.inflight = [];
    progress.migration = {
      lastLogId: progress.lastLogId,
      followerFirstIndex: progress.firstIndex,
      leaderFirstIndex: this.log.firstIndex,
    };
    this.emit({ kind: 'needsMigration', nodeId: progress.id, nextIndex, firstIndex: this.log.firstIndex });
  }

  private onAppendEntriesResponse(message: AppendEntriesResponse): void {
    const progress = this.leaderProgressFor(message);
    if (progress === undefined) return;
    if (message.diverged) {
      if (progress.state !== 'needsMigration') this.markNeedsMigration(progress);
      return;
    }
    if (message.success) {
      this.onAppendAccepted(progress, message.matchIndex);
      return;
    }
    if (progress.state === 'needsMigration' || message.rejectedPrevIndex < progress.matchIndex) return;
    progress.nextIndex = nextIndexAfterReject(
      progress.matchIndex,
      message.rejectedPrevIndex,
      message.conflict,
      this.log,
    );
    this.toProbe(progress);
    this.sendAppend(progress.id);
  }

  private onAppendAccepted(progress: Progress, matchIndex: number): void {
    if (progress.state === 'needsMigration') return;
    if (matchIndex > progress.matchIndex) {
      progress.matchIndex = matchIndex;
      progress.purgePointTried = false;
      progress.lastProgressTick = this.nowTicks;
      progress.inflight = progress.inflight.filter((append) => append.lastIndex > matchIndex);
    }
    if (progress.state === 'probe') {
      progress.state = 'replicate';
      progress.inflight = [];
      progress.probeSentTick = null;
      progress.nextIndex = progress.matchIndex + 1;
    }
    progress.nextIndex = Math.max(progress.nextIndex, progress.matchIndex + 1);
    this.maybeCommit();
    if (this.role !== 'leader') return;
    this.maybePromoteLearner();
    this.maybeSendTimeoutNow();
    this.sendAppend(progress.id);
    this.announceCommit();
  }

  /**
   * When every entry is committed, tells each follower with nothing in flight the commit index it has not heard yet (a heartbeat
   * carrying min(commit, its match)). Without it a follower learned a commit only with the next
   * append or heartbeat: at one write at a time, it applied transaction N when N+1 arrived, and
   * its MariaDB's commit of N competed with its WAL fsync of N+1 on the quorum's path (trace:
   * `scripts/write-trace.ts`); with no further write it waited a heartbeat interval to apply. A
   * follower with appends in flight hears the commit in its next append.
   */
  private announceCommit(): void {
    // Only in a lull (everything this leader holds is committed): under sustained writes the
    // next append carries the commit index soon anyway, and a notice plus its response per
    // commit per follower would cost CPU where throughput is bound by it.
    if (this.commitIndex < this.log.lastIndex) return;
    for (const progress of this.progress.values()) {
      if (progress.state !== 'replicate' || progress.inflight.length > 0) continue;
      const commitIndex = Math.min(this.commitIndex, progress.matchIndex);
      if (commitIndex <= progress.commitSent) continue;
      progress.commitSent = commitIndex;
      this.send({ kind: 'heartbeat', from: this.id, to: progress.id, term: this.term, commitIndex });
    }
  }

  private toProbe(progress: Progress): void {
    progress.state = 'probe';
    progress.inflight = [];
    progress.probeSentTick = null;
  }

  /** Common checks for a response to the leader; records that the peer is alive. */
  private leaderProgressFor(message: AppendEntriesResponse | HeartbeatResponse): Progress | undefined {
    if (message.term > this.term) {
      this.becomeFollower(message.term, null, `${message.from} has a higher term`);
      return undefined;
    }
    if (this.role !== 'leader' || message.term < this.term) return undefined;
    const progress = this.progress.get(message.from);
    if (progress === undefined) return undefined;
    progress.lastHeardTick = this.nowTicks;
    progress.lastLogId = message.lastLogId;
    progress.firstIndex = message.firstIndex;
    progress.healthy = message.healthy;
    progress.applyCaughtUp = message.applyCaughtUp;
    progress.responded = true;
    return progress;
  }

  private onHeartbeatResponse(message: HeartbeatResponse): void {
    const progress = this.leaderProgressFor(message);
    if (progress === undefined) return;
    if (progress.state === 'needsMigration') {
      // A migrated node comes back with a different log (purge point or end) to continue from.
      const last = message.lastLogId;
      const seen = progress.migration;
      const changed =
        seen === null ||
        seen.lastLogId?.term !== last.term ||
        seen.lastLogId.index !== last.index ||
        seen.followerFirstIndex !== message.firstIndex;
      const behind = last.index + 1 < this.log.firstIndex;
      if (!changed) {
        // Unchanged; if we purged further meanwhile, the snapshot it needs is newer: say so again.
        if (behind && seen?.leaderFirstIndex !== this.log.firstIndex) this.markNeedsMigration(progress);
        return;
      }
      if (behind) {
        progress.nextIndex = last.index + 1;
        this.markNeedsMigration(progress);
        return;
      }
      progress.migration = null;
      progress.purgePointTried = false;
      // Its log may be longer than ours (a divergent tail): probe from our end then.
      progress.nextIndex = Math.min(last.index, this.log.lastIndex) + 1;
      progress.matchIndex = Math.min(progress.matchIndex, last.index);
      this.toProbe(progress);
    }
    if (progress.matchIndex < this.log.lastIndex) this.sendAppend(progress.id);
  }

  /** Quorum commit over the voting members; only an entry of the current term commits by counting (raft §5.4.2). */
  private maybeCommit(): void {
    let candidate: number;
    if (this.config.unsafeCommitWithoutQuorum) {
      candidate = this.persistedIndex;
    } else {
      const matches = this.members()
        .map((member) => (member.id === this.id ? this.persistedIndex : this.countedMatchIndex(member.id)))
        .sort((a, b) => b - a);
      // A quorum of followers may hold it before our own fsync ends; we still wait for it, so
      // that on every node the commit index never passes the durable WAL.
      candidate = Math.min(matches[this.quorum() - 1] ?? 0, this.persistedIndex);
    }
    if (candidate > this.commitIndex && this.log.termAt(candidate) === this.term)
      this.setCommitIndex(candidate);
  }

  /** A follower being migrated may lose its WAL to a snapshot: its old match no longer counts. */
  private countedMatchIndex(id: NodeId): number {
    const progress = this.progress.get(id);
    return progress === undefined || progress.state === 'needsMigration' ? 0 : progress.matchIndex;
  }

  private tickLeader(): void {
    if (this.leaderLostQuorum()) {
      this.stepDown('no quorum heard for an election timeout');
      return;
    }
    this.heartbeatElapsedTicks++;
    if (this.transfer !== null && ++this.transfer.elapsedTicks >= this.config.electionTimeoutTicks) {
      this.event({
        kind: 'transferAborted',
        to: this.transfer.to,
        reason: 'target did not take over in time',
      });
      this.transfer = null;
    }
    if (this.heartbeatElapsedTicks >= this.config.heartbeatIntervalTicks) {
      this.heartbeatElapsedTicks = 0;
      this.broadcastHeartbeat();
      this.retryStalledReplication();
      this.maybeSendTimeoutNow();
      this.checkLeadershipPreference();
      if (this.role !== 'leader') return;
      this.maybeRemoveDeadMember();
    }
    this.updateStatuses();
  }

  /** Check-quorum: the leader must have heard from a quorum (itself included) within an election timeout. */
  private leaderLostQuorum(): boolean {
    if (this.config.unsafeCommitWithoutQuorum) return false;
    if (this.nowTicks - this.leaderSinceTick < this.config.electionTimeoutTicks) return false;
    const alive = this.aliveMembers();
    return alive < this.quorum();
  }

  /** Members heard within an election timeout, this node included if it is a member. */
  private aliveMembers(): number {
    let alive = 0;
    for (const member of this.members()) {
      if (member.id === this.id) {
        alive++;
        continue;
      }
      const progress = this.progress.get(member.id);
      if (progress !== undefined && this.nowTicks - progress.lastHeardTick < this.config.electionTimeoutTicks)
        alive++;
    }
    return alive;
  }

  private stepDown(reason: string): void {
    this.event({ kind: 'steppedDown', reason });
    this.becomeFollower(this.term, null, reason);
  }

  private broadcastHeartbeat(): void {
    for (const progress of this.progress.values()) {
      const commitIndex = Math.min(this.commitIndex, progress.matchIndex);
      progress.commitSent = Math.max(progress.commitSent, commitIndex);
      this.send({ kind: 'heartbeat', from: this.id, to: progress.id, term: this.term, commitIndex });
    }
  }

  /** Lost appends leave a pipeline waiting forever: restart from the match index when nothing moved for a while. */
  private retryStalledReplication(): void {
    // Longer than a round trip with an fsync in it, or slow links would be reset over and over.
    const stalledTicks = Math.max(
      2 * this.config.heartbeatIntervalTicks,
      Math.ceil(this.config.electionTimeoutTicks / 2),
    );
    for (const progress of this.progress.values()) {
      if (progress.state === 'replicate' && progress.inflight.length > 0) {
        if (this.nowTicks - progress.lastProgressTick >= stalledTicks) {
          progress.nextIndex = progress.matchIndex + 1;
          this.toProbe(progress);
          this.sendAppend(progress.id);
        }
      } else if (progress.state === 'probe' && progress.probeSentTick !== null) {
        if (this.nowTicks - progress.probeSentTick >= stalledTicks) {
          progress.probeSentTick = null;
          this.sendAppend(progress.id);
        }
      }
    }
  }

  // ---------------------------------------------------------------- transfer, failback, health

  /** A member that could take over: allowed to lead, healthy, heard recently, caught up with the commit index. */
  private isTransferTarget(member: Member): boolean {
    if (member.id === this.id || member.neverLeader) return false;
    const progress = this.progress.get(member.id);
    if (progress === undefined || !progress.healthy || progress.state === 'needsMigration') return false;
    const lagTicks = this.config.lagHeartbeatsMissed * this.config.heartbeatIntervalTicks;
    return this.nowTicks - progress.lastHeardTick < lagTicks && progress.matchIndex >= this.commitIndex;
  }

  private ownTermCommitted(): boolean {
    return this.commitIndex >= this.leaderStartIndex;
  }

  /** Failback to a lower ID, and handing over when our own MariaDB is unhealthy. */
  private checkLeadershipPreference(): void {
    if (this.transfer !== null) return;
    if (!this.healthy) {
      this.handOverUnhealthy();
      return;
    }
    if (!this.config.failback || this.failbackSuppressed || !this.ownTermCommitted()) return;
    // Only to a node that has applied the log: a new leader applies its backlog before it takes
    // writes, so failing back to one seconds behind would stop writes for those seconds.
    const lower = this.members().find(
      (member) =>
        compareNodeIds(member.id, this.id) < 0 &&
        this.isTransferTarget(member) &&
        this.progress.get(member.id)?.applyCaughtUp === true,
    );
    if (lower !== undefined) this.startTransfer(lower.id, `failback to lower node ID ${lower.id}`);
  }

  /** The transfer target to choose when none is named: lowest ID, preferring one that has applied the log. */
  private bestTransferTarget(): Member | undefined {
    const targets = this.members().filter((member) => this.isTransferTarget(member));
    return targets.find((member) => this.progress.get(member.id)?.applyCaughtUp === true) ?? targets[0];
  }

  private handOverUnhealthy(): void {
    const target = this.bestTransferTarget();
    if (target !== undefined) {
      this.startTransfer(target.id, 'local MariaDB is unhealthy');
    } else {
      this.stepDown('local MariaDB is unhealthy and no node is ready to take over');
    }
  }

  private onHealthChanged(healthy: boolean): void {
    this.healthy = healthy;
    if (this.role === 'leader' && !healthy && this.transfer === null) this.handOverUnhealthy();
    if (this.role === 'candidate' && !healthy)
      this.becomeFollower(this.term, null, 'local MariaDB is unhealthy');
  }

  private onTransferLeadership(to: NodeId | null, reason?: string): void {
    if (this.role !== 'leader') {
      this.event({
        kind: 'transferRejected',
        reason: `not the leader (leader: ${this.leaderId ?? 'unknown'})`,
      });
      return;
    }
    if (to === this.id) {
      this.event({ kind: 'transferRejected', reason: 'already the leader' });
      return;
    }
    const target =
      to === null ? this.bestTransferTarget() : this.members().find((member) => member.id === to);
    if (target === undefined || target.neverLeader) {
      this.event({
        kind: 'transferRejected',
        reason: to === null ? 'no member is caught up and healthy' : `${to} is not a member allowed to lead`,
      });
      return;
    }
    if (reason !== undefined) this.startTransfer(target.id, reason);
    else this.startTransfer(target.id, to === null ? 'demoted by operator' : 'promoted by operator', true);
  }

  /** Raft leadership transfer: stop taking proposals, bring the target up to date, then TimeoutNow. */
  private startTransfer(to: NodeId, reason: string, byOperator = false): void {
    this.transfer = { to, elapsedTicks: 0, byOperator };
    this.event({ kind: 'transferStarted', to, reason });
    this.maybeSendTimeoutNow();
    this.sendAppend(to);
  }

  private maybeSendTimeoutNow(): void {
    if (this.transfer === null) return;
    const progress = this.progress.get(this.transfer.to);
    if (progress === undefined || progress.matchIndex < this.log.lastIndex) return;
    this.send({
      kind: 'timeoutNow',
      from: this.id,
      to: progress.id,
      term: this.term,
      byOperator: this.transfer.byOperator,
    });
  }

  // ---------------------------------------------------------------- membership

  private canChangeMembership(): string | null {
    if (this.role !== 'leader') return `not the leader (leader: ${this.leaderId ?? 'unknown'})`;
    if (!this.ownTermCommitted()) return 'the leader has not committed an entry of its term yet';
    if (this.latestMembership().index > this.commitIndex) return 'a configuration change is in progress';
    return null;
  }

  private onAddMember(member: Member): void {
    const refusal =
      this.canChangeMembership() ?? (this.learner !== null ? 'another node is being added' : null);
    if (refusal !== null || this.isMember(member.id)) {
      this.event({ kind: 'membershipChangeRejected', reason: refusal ?? `${member.id} is already a member` });
      return;
    }
    // Catch up as a non-voter first, so the new voter does not stall commits while it syncs.
    this.learner = member;
    this.progress.set(member.id, newProgress(member.id, this.log.lastIndex + 1, this.nowTicks));
    this.sendAppend(member.id);
  }

  private maybePromoteLearner(): void {
    const learner = this.learner;
    if (learner === null) return;
    const progress = this.progress.get(learner.id);
    if (
      progress === undefined ||
      progress.matchIndex < this.commitIndex ||
      this.canChangeMembership() !== null
    )
      return;
    this.learner = null;
    this.appendMembership([...this.members(), learner], `adding ${learner.id}: caught up`);
  }

  private onRemoveMember(id: NodeId, reason: string): void {
    if (this.learner?.id === id) {
      this.learner = null;
      this.progress.delete(id);
      return;
    }
    const refusal = this.canChangeMembership() ?? (this.isMember(id) ? null : `${id} is not a member`);
    if (refusal !== null || this.members().length === 1) {
      this.event({ kind: 'membershipChangeRejected', reason: refusal ?? 'cannot remove the last member' });
      return;
    }
    this.appendMembership(
      this.members().filter((member) => member.id !== id),
      `removing ${id}: ${reason}`,
    );
  }

  /** One member changes at a time; the new configuration takes effect as soon as it is in the log. */
  private appendMembership(members: readonly Member[], reason: string): void {
    const sorted = sortMembers(members);
    this.event({ kind: 'membershipChangeStarted', members: sorted, reason });
    this.appendLocal('configuration', encodeMembership(sorted));
    for (const id of [...this.progress.keys()]) {
      if (!hasMember(sorted, id) && this.learner?.id !== id) {
        this.progress.delete(id);
        this.statuses.delete(id);
        this.emit({ kind: 'statusChanged', nodeId: id, status: 'OFFLINE' });
      }
    }
    for (const member of sorted) {
      if (member.id !== this.id && !this.progress.has(member.id)) {
        this.progress.set(member.id, newProgress(member.id, this.log.lastIndex, this.nowTicks));
      }
    }
    this.maybeCommit();
    this.broadcastAppend();
  }

  /** A member silent for `deadNodeRemovalTicks` is removed, one at a time, while a quorum is alive. */
  private maybeRemoveDeadMember(): void {
    if (this.canChangeMembership() !== null || this.aliveMembers() < this.quorum()) return;
    const dead = this.members().find((member) => {
      const progress = this.progress.get(member.id);
      return (
        progress !== undefined && this.nowTicks - progress.lastHeardTick >= this.config.deadNodeRemovalTicks
      );
    });
    if (dead !== undefined) {
      this.onRemoveMember(dead.id, `silent for ${this.config.deadNodeRemovalTicks} ticks`);
    }
  }

  private onForcePromote(memberIds: readonly NodeId[]): void {
    if (this.role === 'leader') {
      this.event({ kind: 'membershipChangeRejected', reason: 'forced promotion: already the leader' });
      return;
    }
    const known = new Map(this.members().map((member) => [member.id, member]));
    const ids = new Set([...memberIds, this.id]);
    const members = sortMembers(
      [...ids].map((id) => ({
        id,
        neverLeader: id === this.id ? false : (known.get(id)?.neverLeader ?? false),
      })),
    );
    const lastIndex = this.log.lastIndex;
    this.term++;
    this.votedFor = this.id;
    this.resetFollowerKnowledge();
    this.event({
      kind: 'forcedPromotion',
      term: this.term,
      members,
      knownCommitIndex: this.commitIndex,
      uncommittedRange: this.commitIndex < lastIndex ? { from: this.commitIndex + 1, to: lastIndex } : null,
      lastIndex,
    });
    // The new configuration follows the no-op and takes effect at once: from then on only the
    // reachable set counts, so the no-op and everything before it commit on that set's majority.
    this.becomeLeader('forced promotion by operator');
    this.appendMembership(members, 'forced promotion');
  }

  // ---------------------------------------------------------------- statuses

  private updateStatuses(): void {
    this.setStatus(this.id, 'ACTIVE');
    for (const progress of this.progress.values()) {
      const status = memberStatus(progress, {
        nowTicks: this.nowTicks,
        isLearner: this.learner?.id === progress.id,
        leaderLastIndex: this.log.lastIndex,
        heartbeatIntervalTicks: this.config.heartbeatIntervalTicks,
        electionTimeoutTicks: this.config.electionTimeoutTicks,
        deadNodeRemovalTicks: this.config.deadNodeRemovalTicks,
        lagHeartbeatsMissed: this.config.lagHeartbeatsMissed,
        syncingEntriesMin: this.config.inflightEntriesMax,
      });
      this.setStatus(progress.id, status);
    }
  }

  private setStatus(id: NodeId, status: NodeStatus): void {
    if (this.statuses.get(id) === status) return;
    this.statuses.set(id, status);
    this.emit({ kind: 'statusChanged', nodeId: id, status });
  }
}
