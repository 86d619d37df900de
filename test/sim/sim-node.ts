import {
  type Command,
  decodeMembership,
  Engine,
  type EngineConfig,
  type HardState,
  type Input,
  type LogId,
  type Member,
  type Membership,
  type Message,
  type NodeId,
  type Role,
  type TermStart,
  unreachable,
} from '../../src/consensus/index.js';
import type { LogEntry } from '../../src/wal/entry.js';
import { Violation } from './safety-checker.js';

/**
 * What the simulated runtime does for a node, through these hooks: the world owns the network,
 * the checkers and the clock.
 */
export interface SimNodeHooks {
  now(): number;
  send(command: Extract<Command, { kind: 'send' }>['message']): void;
  /** Ticks until an fsync completes. */
  fsyncDelayTicks(): number;
  onCommand(node: SimNode, command: Command): void;
  onAppend(node: SimNode, entry: LogEntry, prevTerm: number): void;
  onRemoved(node: SimNode, entry: LogEntry, why: string): void;
  onCommit(node: SimNode, index: number, entry: LogEntry): void;
  onApply(node: SimNode, index: number, entry: LogEntry): void;
  onLeader(node: SimNode, term: number): void;
}

/** The engine's reason for a candidacy a TimeoutNow started (failback, promote, demote, handover). */
const transferReason = 'leadership transferred to this node';

interface PendingSync {
  readonly atTick: number;
  readonly logId: LogId;
}

/**
 * One node's runtime, modelled: a WAL whose tail is durable only once "fsynced", a hard state
 * that is durable at once (it is a barrier in the contract), and an applied position that models
 * MariaDB's (durable, survives crashes). Executes the engine's commands exactly as the contract
 * in src/consensus/command.ts says.
 */
export class SimNode {
  engine: Engine | null = null;
  healthy = true;
  pausedUntilTick = -1;
  role: Role = 'FOLLOWER';
  term = 0;
  leaderId: NodeId | null = null;

  // Durable state.
  hardState: HardState = { term: 0, votedFor: null };
  walPurged: LogId = { term: 0, index: 0 };
  /** walEntries[i] is index walPurged.index + 1 + i. */
  walEntries: LogEntry[] = [];
  syncedIndex = 0;
  appliedIndex = 0;

  commitIndex = 0;
  private pendingSyncs: PendingSync[] = [];
  private restarts = 0;

  // The runtime's rewind check, modelled (src/node/rewind.ts): after a start, and after every
  // leadership, the local MariaDB may hold commits no quorum acknowledged until a check that
  // began once the log was final (a leader's entry at the commit index) has run. Independent of
  // the engine's own bookkeeping, so the simulator can check that the engine honours it.
  /** Operation counter: orders leadership ends and check starts on this node. */
  private seq = 0;
  /** seq when a leadership of this node last ended (survives crashes: it is MariaDB's state). */
  leadershipEndedSeq = -1;
  /** seq when the latest completed check began. */
  checkedFromSeq = -1;
  /** A check in progress: it reports at `atTick` what the engine's epoch was when it began. */
  private check: { readonly atTick: number; readonly epoch: number; readonly seq: number } | null = null;
  /** Transcripts hold a check (a slow rewind) with `local-check NODE hold`. */
  checkHeld = false;
  /**
   * Transcripts hold applying (a slow or paused MariaDB) with `apply NODE hold`: committed
   * entries wait, and the node reports itself behind once it has any to apply.
   */
  applyHeld = false;
  /** What the engine was last told (`applyCaughtUpChanged`); a new engine starts caught up. */
  private reportedCaughtUp = true;

  constructor(
    readonly id: NodeId,
    private readonly initialMembers: readonly Member[],
    private readonly config: Partial<EngineConfig>,
    private readonly seed: number,
    private readonly hooks: SimNodeHooks,
  ) {}

  get up(): boolean {
    return this.engine !== null;
  }

  isPaused(now: number): boolean {
    return now < this.pausedUntilTick;
  }

  walLastIndex(): number {
    return this.walPurged.index + this.walEntries.length;
  }

  walFirstIndex(): number {
    return this.walPurged.index + 1;
  }

  entryAt(index: number): LogEntry | undefined {
    return this.walEntries[index - this.walPurged.index - 1];
  }

  termAt(index: number): number | undefined {
    if (index === this.walPurged.index) return this.walPurged.term;
    return this.entryAt(index)?.term;
  }

  start(): void {
    if (this.engine !== null) return;
    // As the runtime does: only a node that never ran before starts with its state checked.
    const fresh = this.restarts === 0 && this.walLastIndex() === 0;
    this.engine = new Engine({
      id: this.id,
      initialMembers: this.initialMembers,
      seed: (this.seed + this.restarts++ * 7919) >>> 0,
      healthy: this.healthy,
      localStateChecked: fresh,
      config: this.config,
      recovered: {
        hardState: this.hardState,
        log: { purged: this.walPurged, termStarts: this.termStarts(), lastIndex: this.walLastIndex() },
        memberships: this.recoveredMemberships(),
        appliedIndex: this.appliedIndex,
      },
    });
    this.commitIndex = this.appliedIndex;
    this.reportedCaughtUp = true;
    this.role = 'FOLLOWER';
    this.leaderId = null;
  }

  /**
   * Crash: the process dies. What was fsynced survives; of the unsynced tail a random prefix
   * survives (a torn write), `keepUnsynced` entries of it.
   */
  crash(keepUnsynced: number): void {
    if (this.role === 'LEADER') this.leadershipEndedSeq = ++this.seq;
    this.engine = null;
    this.pendingSyncs = [];
    this.check = null;
    const keepIndex = Math.min(
      this.walLastIndex(),
      Math.max(this.syncedIndex, this.syncedIndex + keepUnsynced),
    );
    // Losing an unsynced entry is allowed even if it is committed elsewhere: this node never
    // acknowledged or applied it. Losing a synced one is impossible by construction.
    this.walEntries.splice(keepIndex - this.walPurged.index);
    this.syncedIndex = keepIndex;
    this.role = 'FOLLOWER';
    this.leaderId = null;
  }

  unsyncedCount(): number {
    return this.walLastIndex() - this.syncedIndex;
  }

  step(input: Input): void {
    const engine = this.engine;
    if (engine === null) return;
    for (const command of engine.step(input)) this.execute(command);
  }

  /**
   * The modelled rewind check: begins once this node's log is final up to its commit index (the
   * entry there has the current term and a leader is known), takes `delayTicks`, and reports the
   * epoch it began in. Returns true when a check completed at this call.
   */
  runLocalCheck(now: number, delayTicks: () => number): boolean {
    const engine = this.engine;
    if (engine === null || this.checkHeld) return false;
    const status = engine.status();
    if (this.check === null) {
      const final =
        status.leaderId !== null && status.commitIndex > 0 && this.termAt(status.commitIndex) === status.term;
      if (status.localStateChecked || !final) return false;
      this.check = { atTick: now + delayTicks(), epoch: status.checkEpoch, seq: ++this.seq };
    }
    if (now < this.check.atTick) return false;
    const check = this.check;
    this.check = null;
    this.checkedFromSeq = Math.max(this.checkedFromSeq, check.seq);
    this.step({ kind: 'localStateChecked', epoch: check.epoch });
    return true;
  }

  /** A leadership of this node ended and no check has begun since: its MariaDB may hold a tail. */
  mayHoldUncheckedTail(): boolean {
    return this.leadershipEndedSeq >= 0 && this.checkedFromSeq < this.leadershipEndedSeq;
  }

  /** Completes the fsyncs due by now, in order. */
  completeSyncs(now: number): void {
    while (this.pendingSyncs.length > 0 && this.pendingSyncs[0]!.atTick <= now) {
      const sync = this.pendingSyncs.shift()!;
      if (this.termAt(sync.logId.index) !== sync.logId.term) continue;
      this.syncedIndex = Math.max(this.syncedIndex, sync.logId.index);
      this.step({ kind: 'appended', logId: sync.logId });
    }
  }

  private execute(command: Command): void {
    this.hooks.onCommand(this, command);
    switch (command.kind) {
      case 'persistHardState':
        this.hardState = { term: command.term, votedFor: command.votedFor };
        return;
      case 'truncate':
        this.truncate(command.fromIndex);
        return;
      case 'append':
        this.append(command.entries);
        return;
      case 'send':
        this.checkDurableBeforeSend(command.message);
        this.hooks.send(command.message);
        return;
      case 'replicate':
        this.replicate(command);
        return;
      case 'commit':
        this.commit(command.index);
        return;
      case 'roleChanged':
        if (this.role === 'LEADER' && command.role !== 'LEADER') this.leadershipEndedSeq = ++this.seq;
        if (
          command.role === 'CANDIDATE' &&
          command.reason === transferReason &&
          this.mayHoldUncheckedTail()
        ) {
          throw new Violation(
            `${this.id} took over by a leadership transfer before its local state was checked since its leadership ended`,
          );
        }
        this.role = command.role;
        this.term = command.term;
        this.leaderId = command.leaderId;
        if (command.role === 'LEADER') this.hooks.onLeader(this, command.term);
        return;
      case 'proposalAccepted':
      case 'proposalRejected':
      case 'statusChanged':
      case 'needsMigration':
      case 'event':
        return;
      default:
        unreachable(command);
    }
  }

  /** The contract's core: what a message promises is already on disk when it leaves. */
  private checkDurableBeforeSend(message: Message): void {
    // A pre-vote carries the term it proposes, not one the sender is in.
    if (message.kind !== 'preVote' && message.term > this.hardState.term) {
      throw new Violation(
        `${this.id} sent term ${message.term} before persisting it (durable ${this.hardState.term})`,
      );
    }
    if (message.kind === 'voteResponse' && message.granted && this.hardState.votedFor !== message.to) {
      throw new Violation(`${this.id} granted a vote to ${message.to} before persisting it`);
    }
    if (
      message.kind === 'appendEntriesResponse' &&
      message.success &&
      message.matchIndex > this.syncedIndex
    ) {
      throw new Violation(
        `${this.id} acknowledged ${message.matchIndex} with only ${this.syncedIndex} fsynced`,
      );
    }
  }

  private truncate(fromIndex: number): void {
    const removed = this.walEntries.splice(Math.max(0, fromIndex - this.walPurged.index - 1));
    for (const entry of removed) this.hooks.onRemoved(this, entry, 'truncated');
    this.syncedIndex = Math.min(this.syncedIndex, fromIndex - 1);
  }

  private append(entries: readonly LogEntry[]): void {
    for (const entry of entries) {
      if (entry.index !== this.walLastIndex() + 1) {
        throw new Error(`${this.id}: append ${entry.index} after ${this.walLastIndex()}`);
      }
      this.hooks.onAppend(this, entry, this.termAt(entry.index - 1) ?? -1);
      this.walEntries.push(entry);
    }
    const last = entries[entries.length - 1]!;
    const previous = this.pendingSyncs[this.pendingSyncs.length - 1]?.atTick ?? 0;
    const atTick = Math.max(previous, this.hooks.now() + this.hooks.fsyncDelayTicks());
    this.pendingSyncs.push({ atTick, logId: { term: last.term, index: last.index } });
  }

  private replicate(command: Extract<Command, { kind: 'replicate' }>): void {
    if (this.termAt(command.prevLogId.index) !== command.prevLogId.term) return;
    const entries: LogEntry[] = [];
    for (let index = command.fromIndex; index <= command.toIndex; index++) {
      const entry = this.entryAt(index);
      if (entry === undefined) return;
      entries.push(entry);
    }
    this.hooks.send({
      kind: 'appendEntries',
      from: this.id,
      to: command.to,
      term: command.term,
      prevLogId: command.prevLogId,
      entries,
      leaderCommit: command.leaderCommit,
    });
  }

  private commit(index: number): void {
    if (index > this.syncedIndex)
      throw new Error(`${this.id}: commit ${index} beyond synced ${this.syncedIndex}`);
    for (let i = this.commitIndex + 1; i <= index; i++) {
      const entry = this.entryAt(i);
      if (entry === undefined) throw new Error(`${this.id}: committed ${i} is not in the WAL`);
      this.hooks.onCommit(this, i, entry);
    }
    this.commitIndex = Math.max(this.commitIndex, index);
    this.applyCommitted();
  }

  private applyCommitted(): void {
    while (!this.applyHeld && this.appliedIndex < this.commitIndex) {
      const next = this.appliedIndex + 1;
      this.hooks.onApply(this, next, this.entryAt(next)!);
      this.appliedIndex = next;
    }
  }

  /**
   * The runtime's apply report, once a tick (the real one samples once a heartbeat): applies
   * what a released hold left, and tells the engine when "caught up" changed. Returns the new
   * value when it changed.
   */
  reportApply(): boolean | undefined {
    if (this.engine === null) return undefined;
    this.applyCommitted();
    const caughtUp = this.appliedIndex >= this.commitIndex;
    if (caughtUp === this.reportedCaughtUp) return undefined;
    this.reportedCaughtUp = caughtUp;
    this.step({ kind: 'applyCaughtUpChanged', caughtUp });
    return caughtUp;
  }

  /** The runtime's retention: tell the engine, then drop WAL entries up to `upToIndex`. */
  purge(upToIndex: number): void {
    if (this.engine === null || upToIndex <= this.walPurged.index || upToIndex > this.appliedIndex) return;
    this.snapshotMembership = this.membershipAt(upToIndex);
    this.step({ kind: 'purged', upToIndex });
    const term = this.termAt(upToIndex)!;
    this.walEntries.splice(0, upToIndex - this.walPurged.index);
    this.walPurged = { term, index: upToIndex };
  }

  /**
   * Migration (a snapshot restore, `wolfctl migrate`): the node stops (losing its unsynced tail, as
   * in a crash), its MariaDB and WAL start from `source`'s applied state S, and it starts again.
   * Raft's InstallSnapshot rule: when this node's entry at S has the snapshot's term, the entries
   * after it match the cluster's history and are kept; otherwise every entry is dropped (they come
   * from a diverged history, so none of them was committed).
   */
  migrateFrom(source: SimNode): void {
    const index = Math.min(source.appliedIndex, source.walLastIndex());
    const term = source.termAt(index);
    if (term === undefined || index <= this.walPurged.index) return;
    const membership = source.membershipAt(index);
    const wasUp = this.up;
    this.crash(0);
    const keepTail = this.termAt(index) === term;
    const kept = keepTail ? this.walEntries.filter((entry) => entry.index > index) : [];
    for (const entry of this.walEntries) {
      if (entry.index > index && !keepTail) this.hooks.onRemoved(this, entry, 'replaced by a migration');
    }
    this.walEntries = kept;
    this.walPurged = { term, index };
    this.syncedIndex = index + kept.length;
    // MariaDB is restored from the snapshot: what it applied beyond S stays only if it matches.
    this.appliedIndex = keepTail ? Math.max(this.appliedIndex, index) : index;
    this.commitIndex = this.appliedIndex;
    this.snapshotMembership = membership;
    if (wasUp) this.start();
  }

  private snapshotMembership: Membership | null = null;

  membershipAt(index: number): Membership {
    for (let i = index; i > this.walPurged.index; i--) {
      const entry = this.entryAt(i);
      if (entry?.kind === 'configuration') return { index: i, members: decodeMembership(entry.payload) };
    }
    return this.snapshotMembership ?? { index: 0, members: this.initialMembers };
  }

  private termStarts(): TermStart[] {
    const starts: TermStart[] = [];
    let term = -1;
    for (const entry of this.walEntries) {
      if (entry.term !== term) {
        starts.push({ term: entry.term, index: entry.index });
        term = entry.term;
      }
    }
    return starts;
  }

  private recoveredMemberships(): Membership[] {
    const found: Membership[] = [];
    for (let i = this.walEntries.length - 1; i >= 0 && found.length < 2; i--) {
      const entry = this.walEntries[i]!;
      if (entry.kind === 'configuration')
        found.unshift({ index: entry.index, members: decodeMembership(entry.payload) });
    }
    // Fewer than two in the WAL: the one before is the snapshot's, or the bootstrap configuration.
    if (found.length < 2)
      found.unshift(this.snapshotMembership ?? { index: 0, members: this.initialMembers });
    return found;
  }
}
