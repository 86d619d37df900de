import {
  type Command,
  compareNodeIds,
  type EngineConfig,
  InvariantError,
  type Member,
  type Message,
  type NodeId,
  Prng,
} from '../../src/consensus/index.js';
import type { LogEntry } from '../../src/wal/entry.js';
import { SafetyChecker, Violation } from './safety-checker.js';
import { type NetworkFaults, SimNetwork } from './sim-network.js';
import { SimNode } from './sim-node.js';

export interface SimulationOptions {
  readonly seed: number;
  /** 3 to 7. */
  readonly nodeCount: number;
  /** Ticks of faults; then everything heals and the cluster gets `settleTicks` to converge. */
  readonly chaosTicks: number;
  readonly settleTicks: number;
  readonly engineConfig?: Partial<EngineConfig>;
  /** Members that replicate and vote but never lead. */
  readonly neverLeader?: readonly NodeId[];
  /** The bootstrap configuration (default: every node); the others start empty, as joining nodes do. */
  readonly initialMembers?: readonly NodeId[];
  /** Vary the engine's tunables with the seed (flow-control bounds, timeouts); default true. */
  readonly varyConfig?: boolean;
}

export interface SimulationStats {
  proposals: number;
  acked: number;
  maxTerm: number;
  messagesSent: number;
  messagesDropped: number;
  crashes: number;
  partitions: number;
  pauses: number;
  unhealthy: number;
  /** A node's applying held back (a slow MariaDB): failback must not pick it meanwhile. */
  applyHolds: number;
  transfers: number;
  migrations: number;
  membershipChanges: number;
  deadNodeRemovals: number;
  committed: number;
  healedLeaderAfterTicks: number | null;
  convergedAtTick: number | null;
}

export interface SimulationResult {
  readonly seed: number;
  readonly ok: boolean;
  readonly failure: string | null;
  readonly failedAtTick: number | null;
  readonly stats: SimulationStats;
  /** FNV-1a over every role change and commit: same seed, same digest. */
  readonly digest: string;
  readonly reproduce: string;
}

/** After the heal, a leader must exist within this many ticks. */
export const leaderAfterHealTicksMax = 120;
/**
 * Beyond the settle phase, how long convergence may still take before it is a liveness failure:
 * a base, plus ticks per committed entry, since removed nodes are added back one at a time and
 * each catches up the whole log (a seed may allow only 4 entries per round trip).
 */
export const convergenceExtraTicksMax = 2000;
export const convergenceTicksPerEntryMax = 4;

type ScheduledAction = { readonly atTick: number; readonly run: () => void };

/** The whole cluster in one process on virtual time: one tick = one engine tick. */
export class Simulation {
  readonly nodes: SimNode[];
  readonly network: SimNetwork;
  readonly checker: SafetyChecker;
  now = 0;
  private readonly prng: Prng;
  private readonly faultPrng: Prng;
  /** Durations of the modelled rewind checks (its own stream: other draws stay as they were). */
  private readonly checkPrng: Prng;
  /** Longest modelled rewind check, in ticks. */
  checkDelayTicksMax = 6;
  private scheduled: ScheduledAction[] = [];
  private proposalSeq = 0;
  private readonly pending = new Map<string, { nodeId: NodeId; index: number; term: number }>();
  private digestHash = 0x811c9dc5;
  readonly stats: SimulationStats = {
    proposals: 0,
    acked: 0,
    maxTerm: 0,
    messagesSent: 0,
    messagesDropped: 0,
    crashes: 0,
    partitions: 0,
    pauses: 0,
    unhealthy: 0,
    applyHolds: 0,
    transfers: 0,
    migrations: 0,
    membershipChanges: 0,
    deadNodeRemovals: 0,
    committed: 0,
    healedLeaderAfterTicks: null,
    convergedAtTick: null,
  };
  /** Commands of the current tick, for transcripts (null: not recorded). */
  trace: string[] | null = null;
  fsyncDelayTicksMax = 2;
  /** The operator migrates a node as soon as a leader reports NEEDS_MIGRATION (transcripts do it by hand). */
  autoMigrate = true;
  private profile: { purgeRetainEntries: number | null; membershipChurn: boolean; longCrash: boolean } = {
    purgeRetainEntries: null,
    membershipChurn: false,
    longCrash: false,
  };
  forcedPromotion = false;
  /** Members that never lead: the operator re-adds them with the same flag. */
  private readonly neverLeader: ReadonlySet<NodeId>;

  constructor(
    readonly options: SimulationOptions,
    checkerMode: 'throw' | 'collect' = 'throw',
  ) {
    this.prng = new Prng(options.seed);
    this.checkPrng = new Prng((options.seed ^ 0x5bd1e995) >>> 0);
    this.faultPrng = this.prng.fork();
    this.network = new SimNetwork(this.prng.fork());
    this.checker = new SafetyChecker(checkerMode);
    const ids = Array.from({ length: options.nodeCount }, (_, i) => `n${i + 1}`);
    // Unless told, one seed in five has a never_leader member (any of them, n1 included).
    const neverLeader =
      options.neverLeader ?? (options.nodeCount > 1 && this.prng.chance(0.2) ? [this.prng.pick(ids)] : []);
    const members: Member[] = ids
      .filter((id) => options.initialMembers?.includes(id) ?? true)
      .map((id) => ({ id, neverLeader: neverLeader.includes(id) }));
    this.neverLeader = new Set(neverLeader);
    const seeds = this.prng.fork();
    const config = {
      ...(options.varyConfig === false ? {} : variedConfig(this.prng.fork())),
      ...options.engineConfig,
    };
    this.nodes = ids.map(
      (id) =>
        new SimNode(
          id,
          members.some((member) => member.id === id) ? members : [],
          config,
          seeds.nextUint32(),
          this.hooks(),
        ),
    );
    for (const node of this.nodes) node.start();
  }

  node(id: NodeId): SimNode {
    const node = this.nodes.find((n) => n.id === id);
    if (node === undefined) throw new Error(`no node ${id}`);
    return node;
  }

  get digest(): string {
    return (this.digestHash >>> 0).toString(16).padStart(8, '0');
  }

  private mix(text: string): void {
    let hash = this.digestHash;
    for (let i = 0; i < text.length; i++) {
      hash ^= text.charCodeAt(i);
      hash = Math.imul(hash, 0x01000193);
    }
    this.digestHash = hash >>> 0;
  }

  private hooks() {
    return {
      now: () => this.now,
      send: (message: Message) => this.network.send(message, this.now),
      fsyncDelayTicks: () => this.prng.between(0, this.fsyncDelayTicksMax),
      onCommand: (node: SimNode, command: Command) => this.onCommand(node, command),
      onAppend: (node: SimNode, entry: LogEntry, prevTerm: number) =>
        this.checker.onAppend(node.id, entry, prevTerm),
      onRemoved: (node: SimNode, entry: LogEntry, why: string) => this.checker.onRemoved(node.id, entry, why),
      onCommit: (node: SimNode, index: number, entry: LogEntry) => this.onCommit(node, index, entry),
      onApply: (node: SimNode, index: number, entry: LogEntry) => this.checker.onApply(node.id, index, entry),
      onLeader: (node: SimNode, term: number) => {
        this.stats.maxTerm = Math.max(this.stats.maxTerm, term);
        if (!this.forcedPromotion) {
          this.checker.onLeader(node.id, term, (index) => node.entryAt(index), node.walFirstIndex());
        }
      },
    };
  }

  private onCommand(node: SimNode, command: Command): void {
    switch (command.kind) {
      case 'roleChanged':
        this.mix(`${this.now}${node.id}${command.role}${command.term}${command.leaderId}`);
        break;
      case 'commit':
        this.mix(`${this.now}${node.id}c${command.index}`);
        break;
      case 'proposalAccepted':
        this.pending.set(`${command.logId.term}/${command.logId.index}`, {
          nodeId: node.id,
          index: command.logId.index,
          term: command.logId.term,
        });
        break;
      case 'needsMigration':
        if (this.autoMigrate) this.migrate(command.nodeId, node);
        break;
      case 'event':
        if (command.event.kind === 'membershipChangeStarted' && command.event.reason.includes('silent')) {
          this.stats.deadNodeRemovals++;
        }
        if (command.event.kind === 'diverged' && !this.forcedPromotion) {
          throw new Violation(`${node.id} diverged at ${command.event.index} without a forced promotion`);
        }
        break;
      default:
        break;
    }
    this.trace?.push(`${node.id}: ${describe(command)}`);
  }

  private onCommit(node: SimNode, index: number, entry: LogEntry): void {
    this.checker.onCommit(node.id, index, entry, node.engine?.status().term ?? 0);
    this.stats.committed = Math.max(this.stats.committed, index);
    const key = `${entry.term}/${index}`;
    const proposal = this.pending.get(key);
    if (proposal !== undefined && proposal.nodeId === node.id) {
      this.pending.delete(key);
      this.checker.onAck({ term: entry.term, index }, entry);
      this.stats.acked++;
    }
  }

  // ---------------------------------------------------------------- the loop

  /** One tick: scheduled faults, engine ticks, deliveries, fsyncs. */
  tick(): void {
    this.now++;
    const due = this.scheduled.filter((action) => action.atTick <= this.now);
    this.scheduled = this.scheduled.filter((action) => action.atTick > this.now);
    for (const action of due) action.run();
    for (const node of this.nodes) {
      if (node.up && !node.isPaused(this.now)) node.step({ kind: 'tick' });
    }
    const messages = this.network.takeDue(this.now, (message) => this.node(message.to).isPaused(this.now));
    for (const message of messages) {
      const node = this.node(message.to);
      if (node.up) node.step({ kind: 'receive', message });
    }
    for (const node of this.nodes) {
      if (node.up && !node.isPaused(this.now)) node.completeSyncs(this.now);
    }
    for (const node of this.nodes) {
      if (node.up && !node.isPaused(this.now)) {
        if (node.runLocalCheck(this.now, () => this.checkPrng.between(0, this.checkDelayTicksMax)))
          this.trace?.push(`${node.id}: local state checked`);
        const caughtUp = node.reportApply();
        if (caughtUp !== undefined)
          this.trace?.push(`${node.id}: ${caughtUp ? 'applied the log' : 'behind applying'}`);
      }
    }
  }

  propose(node: SimNode): void {
    this.proposalSeq++;
    this.stats.proposals++;
    node.step({ kind: 'propose', payload: new TextEncoder().encode(`p${this.proposalSeq}`) });
  }

  leaders(): SimNode[] {
    return this.nodes.filter((node) => node.up && node.role === 'LEADER');
  }

  private schedule(afterTicks: number, run: () => void): void {
    this.scheduled.push({ atTick: this.now + afterTicks, run });
  }

  /** The operator's `wolfctl migrate`, done at once from the leader that asked for it. */
  migrate(targetId: NodeId, source: SimNode): void {
    this.stats.migrations++;
    this.node(targetId).migrateFrom(source);
  }

  // ---------------------------------------------------------------- faults

  private chooseFaults(): NetworkFaults {
    const p = this.faultPrng;
    return {
      lossRate: p.pick([0, 0.01, 0.05, 0.15]),
      duplicateRate: p.pick([0, 0.02, 0.1]),
      delayTicksMin: 1,
      delayTicksMax: p.pick([1, 2, 4, 8]),
    };
  }

  private injectFaults(): void {
    const p = this.faultPrng;
    const ids = this.nodes.map((node) => node.id);
    if (this.network.blockedLinks().length === 0 && p.chance(0.012)) this.startPartition(ids);
    if (p.chance(0.006)) {
      const node = p.pick(this.nodes);
      if (node.up) {
        this.stats.crashes++;
        node.crash(p.below(node.unsyncedCount() + 1));
        this.network.dropTo(node.id);
        this.schedule(p.between(3, 120), () => node.start());
      }
    }
    if (p.chance(0.004)) {
      const node = p.pick(this.nodes);
      this.stats.pauses++;
      node.pausedUntilTick = Math.max(node.pausedUntilTick, this.now + p.between(3, 40));
    }
    if (p.chance(0.004)) {
      const node = p.pick(this.nodes);
      if (node.healthy) {
        this.stats.unhealthy++;
        this.setHealth(node, false);
        this.schedule(p.between(5, 150), () => this.setHealth(node, true));
      }
    }
    if (p.chance(0.004)) {
      const node = p.pick(this.nodes);
      if (!node.applyHeld) {
        this.stats.applyHolds++;
        node.applyHeld = true;
        this.schedule(p.between(5, 150), () => {
          node.applyHeld = false;
        });
      }
    }
    if (this.profile.purgeRetainEntries !== null && p.chance(0.05)) {
      const node = p.pick(this.nodes);
      node.purge(node.appliedIndex - this.profile.purgeRetainEntries);
    }
    if (this.profile.membershipChurn && p.chance(0.004)) this.churnMembership();
    if (this.profile.longCrash && this.now === 50) {
      const node = p.pick(this.nodes);
      if (node.up) {
        // Longer than deadNodeRemovalTicks: the leader removes it from the configuration.
        this.stats.crashes++;
        node.crash(0);
        this.network.dropTo(node.id);
        this.schedule(p.between(320, 420), () => node.start());
      }
    }
    if (p.chance(0.003)) {
      const leader = this.leaders()[0];
      if (leader !== undefined) {
        this.stats.transfers++;
        leader.step({ kind: 'transferLeadership', to: p.chance(0.5) ? null : p.pick(ids) });
      }
    }
  }

  /** An operator removing a member, or adding back a node that is not one. */
  private churnMembership(): void {
    const leader = this.leaders()[0];
    if (leader === undefined) return;
    const members = leader.engine!.status().members;
    const outsiders = this.nodes.filter(
      (node) => node.up && !members.some((member) => member.id === node.id),
    );
    const p = this.faultPrng;
    if (outsiders.length > 0 && (members.length <= 3 || p.chance(0.5))) {
      this.stats.membershipChanges++;
      const id = p.pick(outsiders).id;
      leader.step({ kind: 'addMember', id, neverLeader: this.neverLeader.has(id) });
    } else if (members.length > 3) {
      const victim = p.pick(members.filter((member) => member.id !== leader.id));
      this.stats.membershipChanges++;
      leader.step({ kind: 'removeMember', id: victim.id });
    }
  }

  /** After the heal the operator adds back every node that was removed, one at a time. */
  private readdOutsiders(): void {
    const leader = this.leaders()[0];
    if (leader === undefined) return;
    const status = leader.engine!.status();
    if (status.learner !== null) return;
    const outsider = this.nodes.find((node) => !status.members.some((member) => member.id === node.id));
    if (outsider !== undefined) {
      leader.step({ kind: 'addMember', id: outsider.id, neverLeader: this.neverLeader.has(outsider.id) });
    }
  }

  setHealth(node: SimNode, healthy: boolean): void {
    node.healthy = healthy;
    node.step({ kind: 'healthChanged', healthy });
  }

  private startPartition(ids: NodeId[]): void {
    const p = this.faultPrng;
    this.stats.partitions++;
    const shuffled = [...ids];
    for (let i = shuffled.length - 1; i > 0; i--) {
      const j = p.below(i + 1);
      [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
    }
    const leader = this.leaders()[0]?.id ?? shuffled[0]!;
    switch (p.below(4)) {
      case 0: {
        const cut = p.between(1, ids.length - 1);
        this.network.partition([shuffled.slice(0, cut), shuffled.slice(cut)]);
        break;
      }
      case 1:
        this.network.partition([[leader], ids.filter((id) => id !== leader)]);
        break;
      case 2: {
        // A bridge: shuffled[0] is in neither group, so it alone still talks to both sides.
        const rest = shuffled.slice(1);
        const cut = Math.max(1, Math.floor(rest.length / 2));
        this.network.partition([rest.slice(0, cut), rest.slice(cut)]);
        break;
      }
      default: {
        // One way: the leader's (or a random node's) messages out are lost, what comes in arrives.
        for (const id of ids) if (id !== leader) this.network.block(leader, id);
        break;
      }
    }
    this.schedule(p.between(10, 150), () => this.network.heal());
  }

  /** Ends every fault: links, crashes, pauses, health; the network becomes reliable but still delays. */
  heal(): void {
    this.scheduled = [];
    this.network.heal();
    this.network.faults = { lossRate: 0, duplicateRate: 0, delayTicksMin: 1, delayTicksMax: 2 };
    for (const node of this.nodes) {
      node.pausedUntilTick = -1;
      node.start();
      if (!node.healthy) this.setHealth(node, true);
      node.applyHeld = false;
    }
  }

  // ---------------------------------------------------------------- a whole run

  run(): SimulationResult {
    let failure: string | null = null;
    let failedAtTick: number | null = null;
    try {
      this.runPhases();
    } catch (error) {
      if (!(error instanceof Violation || error instanceof InvariantError || error instanceof Error))
        throw error;
      failure = `${error.name}: ${error.message}`;
      failedAtTick = this.now;
    }
    this.stats.messagesSent = this.network.sentCount;
    this.stats.messagesDropped = this.network.droppedCount;
    const { seed, nodeCount, chaosTicks, settleTicks } = this.options;
    return {
      seed,
      ok: failure === null,
      failure,
      failedAtTick,
      stats: this.stats,
      digest: this.digest,
      reproduce: `npm run sim -- --seed ${seed} --nodes ${nodeCount} --ticks ${chaosTicks + settleTicks}${this.options.engineConfig?.unsafeCommitWithoutQuorum ? ' --plant-bug' : ''}`,
    };
  }

  private runPhases(): void {
    const { chaosTicks, settleTicks } = this.options;
    this.network.faults = this.chooseFaults();
    const proposeRate = this.faultPrng.pick([0.1, 0.3, 0.6]);
    this.profile = {
      purgeRetainEntries: this.faultPrng.chance(0.5) ? this.faultPrng.pick([5, 20, 50]) : null,
      membershipChurn: this.faultPrng.chance(0.3),
      longCrash: chaosTicks > 500 && this.faultPrng.chance(0.15),
    };
    while (this.now < chaosTicks) {
      this.injectFaults();
      if (this.faultPrng.chance(proposeRate)) this.proposeSomewhere();
      this.tick();
    }
    this.heal();
    const healTick = this.now;
    // Clients stop after the first 40 % of the settle phase, so everyone can catch up.
    const quietTick = healTick + Math.floor((settleTicks * 2) / 5);
    while (this.now < healTick + settleTicks) {
      if (this.now < quietTick && this.faultPrng.chance(proposeRate)) this.proposeSomewhere();
      if (this.now % 10 === 0) this.readdOutsiders();
      this.tick();
      if (this.stats.healedLeaderAfterTicks === null && this.leaders().length > 0) {
        this.stats.healedLeaderAfterTicks = this.now - healTick;
      }
      if (this.stats.healedLeaderAfterTicks === null && this.now - healTick > leaderAfterHealTicksMax) {
        throw new Violation(`liveness: no leader ${leaderAfterHealTicksMax} ticks after the faults healed`);
      }
    }
    this.converge(
      healTick + settleTicks + convergenceExtraTicksMax + convergenceTicksPerEntryMax * this.stats.committed,
    );
  }

  /**
   * Convergence depends on throughput (a seed may draw one 4-entry message in flight per follower
   * and have several removed nodes to add back, one at a time), so the check is retried every 50
   * ticks up to a hard deadline; only then is a liveness failure reported.
   */
  private converge(deadlineTick: number): void {
    for (;;) {
      try {
        this.checkConverged();
        this.stats.convergedAtTick = this.now;
        return;
      } catch (error) {
        if (!(error instanceof Violation) || this.now >= deadlineTick) throw error;
      }
      for (let i = 0; i < 50; i++) {
        if (this.now % 10 === 0) this.readdOutsiders();
        this.tick();
      }
    }
  }

  private proposeSomewhere(): void {
    const leader = this.leaders()[0];
    const target =
      leader !== undefined && this.faultPrng.chance(0.9) ? leader : this.faultPrng.pick(this.nodes);
    if (target.up && !target.isPaused(this.now)) this.propose(target);
  }

  /** Liveness after heal: one leader, the lowest eligible ID; every member holds and applied every acknowledged entry. */
  checkConverged(): void {
    const leaders = this.leaders();
    if (leaders.length !== 1) {
      throw new Violation(
        `liveness: ${leaders.length} leaders after settling (${leaders.map((n) => n.id).join(', ')})`,
      );
    }
    const leader = leaders[0]!;
    const status = leader.engine!.status();
    const expected = status.members
      .filter((member) => !member.neverLeader)
      .map((member) => member.id)
      .sort(compareNodeIds)[0];
    const preferenceApplies = this.options.engineConfig?.failback !== false && !status.failbackSuppressed;
    if (preferenceApplies && expected !== leader.id) {
      throw new Violation(`preference: ${leader.id} leads but ${expected} is the lowest eligible ID`);
    }
    for (const node of this.nodes) {
      if (!status.members.some((member) => member.id === node.id)) {
        throw new Violation(`liveness: ${node.id} is live but was not added back as a member`);
      }
    }
    for (const member of status.members) {
      const node = this.node(member.id);
      const nodeStatus = node.engine!.status();
      if (nodeStatus.leaderId !== leader.id) {
        throw new Violation(`liveness: ${node.id} follows ${nodeStatus.leaderId} instead of ${leader.id}`);
      }
      if (nodeStatus.commitIndex !== status.commitIndex) {
        throw new Violation(
          `liveness: ${node.id} committed ${nodeStatus.commitIndex}, the leader ${status.commitIndex}`,
        );
      }
      this.checker.checkHoldsAcked(
        node.id,
        (index) => node.entryAt(index),
        node.walFirstIndex(),
        node.appliedIndex,
      );
      if (nodeStatus.localStatus !== 'ACTIVE') {
        throw new Violation(`liveness: ${node.id} sees itself as ${nodeStatus.localStatus}`);
      }
      const reported = leader.engine!.nodeStatuses().get(member.id);
      if (reported !== 'ACTIVE')
        throw new Violation(`liveness: the leader reports ${member.id} as ${reported}`);
    }
  }
}

/**
 * Tunables drawn per seed: tight flow-control bounds (one message in flight, one entry per batch,
 * a few bytes, few remembered sizes) and different timings, so every code path of replication and
 * election runs under faults, not just the defaults.
 */
function variedConfig(p: Prng): Partial<EngineConfig> {
  // At least 2: after the heal a round trip takes up to 4 ticks, and LAGGING is 3 missed heartbeats.
  const heartbeatIntervalTicks = p.between(2, 3);
  return {
    heartbeatIntervalTicks,
    electionTimeoutTicks: heartbeatIntervalTicks * p.between(4, 6),
    staggerTicks: p.between(1, 4),
    inflightMessagesMax: p.pick([1, 2, 8]),
    batchEntriesMax: p.pick([4, 16, 64]),
    inflightEntriesMax: p.pick([8, 64, 512]),
    inflightBytesMax: p.pick([32, 256, 8 * 1024 * 1024]),
    entryBytesTrackedMax: p.pick([8, 1 << 20]),
  };
}

export function runSimulation(options: SimulationOptions): SimulationResult {
  return new Simulation(options).run();
}

/** One line per command, for transcripts. */
export function describe(command: Command): string {
  switch (command.kind) {
    case 'persistHardState':
      return `persist term=${command.term} vote=${command.votedFor ?? '-'}`;
    case 'truncate':
      return `truncate from ${command.fromIndex}`;
    case 'append':
      return `append ${command.entries.map((e) => `${e.term}/${e.index}:${e.kind}`).join(' ')}`;
    case 'send':
      return `send ${describeMessage(command.message)}`;
    case 'replicate':
      return `replicate to=${command.to} prev=${command.prevLogId.term}/${command.prevLogId.index} [${command.fromIndex},${command.toIndex}] commit=${command.leaderCommit}`;
    case 'commit':
      return `commit ${command.index}`;
    case 'roleChanged':
      return `role ${command.role} term=${command.term} leader=${command.leaderId ?? '-'} (${command.reason})`;
    case 'proposalAccepted':
      return `proposal accepted ${command.logId.term}/${command.logId.index}`;
    case 'proposalRejected':
      return `proposal rejected ${command.reason} leader=${command.leaderId ?? '-'}`;
    case 'statusChanged':
      return `status ${command.nodeId} ${command.status}`;
    case 'needsMigration':
      return `needs migration ${command.nodeId} next=${command.nextIndex} first=${command.firstIndex}`;
    case 'event':
      return `event ${JSON.stringify(command.event)}`;
  }
}

export function describeMessage(message: Message): string {
  const head = `${message.kind} ${message.from}->${message.to} term=${message.term}`;
  switch (message.kind) {
    case 'preVote':
    case 'vote':
      return `${head} last=${message.lastLogId.term}/${message.lastLogId.index}`;
    case 'preVoteResponse':
    case 'voteResponse':
      return `${head} granted=${message.granted}`;
    case 'appendEntries':
      return `${head} prev=${message.prevLogId.term}/${message.prevLogId.index} entries=${message.entries.length} commit=${message.leaderCommit}`;
    case 'appendEntriesResponse':
      return `${head} ${message.success ? `ok match=${message.matchIndex}` : `reject prev=${message.rejectedPrevIndex}`}`;
    case 'heartbeat':
      return `${head} commit=${message.commitIndex}`;
    case 'heartbeatResponse':
      return `${head} last=${message.lastLogId.term}/${message.lastLogId.index}`;
    case 'timeoutNow':
      return head;
  }
}
