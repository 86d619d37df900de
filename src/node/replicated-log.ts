import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import {
  type Command,
  decodeMembership,
  Engine,
  type EngineConfig,
  type EngineEvent,
  type EngineStatus,
  type FollowerProgress,
  type Input,
  type LogId,
  type Member,
  type Membership,
  type NodeStatus,
  type RoleChangedCommand,
  type TermStart,
  unreachable,
} from '../consensus/index.js';
import { Transport, type TransportOptions } from '../transport/transport.js';
import type { LogEntry } from '../wal/entry.js';
import { HardStateStore } from '../wal/hard-state.js';
import { Wal } from '../wal/wal.js';
import type { WalOptions } from '../wal/wal-options.js';
import { AtomicJsonFile } from './atomic-json-file.js';
import {
  decodeMessage,
  decodeMessageBatch,
  encodeMessage,
  encodeMessageBatch,
  isMessageBatch,
} from './message-codec.js';
import { decodeNodeReport, encodeNodeReport, isNodeReport, type NodeReport } from './node-report-codec.js';
import { traceWrite, writeTraceLabel, writeTraceOn } from './write-trace.js';

/**
 * The replicated log of one node: the pure consensus engine driven by a clock, persisted in the
 * WAL and the hard-state file, and connected to the other nodes by the transport.
 *
 * Contract:
 * - `propose(payload)` resolves `{ok: true, logId}` only once the entry is committed: durable on a
 *   quorum. It resolves `{ok: false}` when this node does not lead, or when the entry was replaced
 *   before it committed (leadership lost): then it is not and never will be committed.
 * - `onCommit` listeners see the commit index grow; entries up to it are final and can be read
 *   with `read`.
 * - Commands of one engine step run in order; hard state and truncations are durable before the
 *   next command runs; `appended` is fed back only after the WAL made the entries durable.
 */
export interface Peer {
  readonly id: string;
  /** host:port of its cluster port. */
  readonly address: string;
}

export interface ReplicatedLogOptions {
  readonly nodeId: string;
  readonly dataDir: string;
  /** The other members of a new cluster; every node must list the same set (ids included). */
  readonly peers: readonly Peer[];
  readonly neverLeader: boolean;
  readonly tickMs: number;
  readonly healthy: boolean;
  /**
   * This runtime checks its local database against the log (the rewind check) and reports it
   * with `localStateChecked`. The engine then starts unchecked unless `fresh` (the node never
   * ran: no WAL entries, no rewind baseline). Without it the engine counts as checked.
   */
  readonly localStateChecks?: { readonly fresh: boolean };
  readonly logger: Logger;
  readonly transport: Omit<TransportOptions, 'nodeId' | 'peers' | 'logger'>;
  readonly engine?: Partial<EngineConfig>;
  readonly wal?: WalOptions;
  /** Seeds the engine's election jitter. */
  readonly seed?: number;
  /**
   * Safety cap on payload bytes read for one replication message. The engine already bounds a
   * range by its in-flight limits (8 MiB by default); cutting a range short makes the follower
   * reject and the leader re-probe, so this only guards the transport's 64 MiB frame. Default 48 MiB.
   */
  readonly replicateBytesMax?: number;
}

export type ProposeOutcome =
  | { readonly ok: true; readonly logId: LogId }
  | {
      readonly ok: false;
      /** NOT_LEADER / TRANSFERRING_LEADERSHIP: nothing was appended. SUPERSEDED: appended, then replaced by a new leader's log. CLOSED: the node stopped; the outcome is unknown. */
      readonly reason: 'NOT_LEADER' | 'TRANSFERRING_LEADERSHIP' | 'SUPERSEDED' | 'CLOSED';
      readonly leaderId: string | null;
    };

interface QueuedInput {
  readonly input: Input;
  readonly proposal?: (outcome: ProposeOutcome) => void;
  /** A retention request: purge before this index (see `purge`). */
  readonly purge?: {
    readonly beforeIndex: number;
    readonly nowMs: number;
    readonly done: (purgedTo: number) => void;
  };
}

interface Outbox {
  parts: Uint8Array[];
  bytes: number;
  /** Trace points of the write path (WOLFSCALE_WRITE_TRACE) to record when this box is written. */
  traced: Array<{ point: string; index: number }>;
}

interface AwaitingCommit {
  readonly logId: LogId;
  readonly resolve: (outcome: ProposeOutcome) => void;
}

/** Network inputs beyond this many queued are dropped (the engine retries); others never are. */
const receiveQueueMax = 10_000;
const membershipsKept = 2;
/** Bound on the in-memory window of recent entries. */
const recentBytesMax = 64 * 1024 * 1024;
const recentEntriesMax = 100_000;
/** A peer's outbox is sent at once when it holds this much (the transport's frame limit is 64 MiB). */
const outboxBytesMax = 16 * 1024 * 1024;

export class ReplicatedLog {
  readonly nodeId: string;
  readonly #options: ReplicatedLogOptions;
  readonly #logger: Logger;
  readonly #engine: Engine;
  readonly #wal: Wal;
  readonly #hardState: HardStateStore;
  readonly #membershipFile: AtomicJsonFile<Membership[]>;
  #memberships: Membership[];
  readonly #transport: Transport;
  readonly #queue: QueuedInput[] = [];
  #queueHead = 0;
  #receivesQueued = 0;
  #draining = false;
  #tickQueued = false;
  #timer: NodeJS.Timeout | undefined;
  #healthy: boolean;
  /** As last told to the engine (it starts caught up: nothing is committed it has not seen). */
  #applyCaughtUp = true;
  #commitIndex = 0;
  readonly #awaiting = new Map<number, AwaitingCommit>();
  /**
   * The newest appended entries, contiguous, durable or not: the leader replicates from here
   * without waiting for its own fsync (it counts itself in the quorum only once durable, which the
   * engine tracks). Older ranges are read from the WAL.
   */
  #recent: LogEntry[] = [];
  #recentBytes = 0;
  readonly #statuses = new Map<string, NodeStatus>();
  readonly #commitListeners: Array<(commitIndex: number) => void> = [];
  readonly #roleListeners: Array<(change: RoleChangedCommand) => void> = [];
  readonly #eventListeners: Array<(event: EngineEvent) => void> = [];
  readonly #reportListeners: Array<(report: NodeReport) => void> = [];
  /** Messages to each peer gathered during one event-loop turn (see #sendTo). */
  readonly #outbox = new Map<string, Outbox>();
  #flushScheduled = false;
  #role: RoleChangedCommand | undefined;
  #failure: Error | undefined;
  #closed = false;

  private constructor(
    options: ReplicatedLogOptions,
    parts: {
      engine: Engine;
      wal: Wal;
      hardState: HardStateStore;
      membershipFile: AtomicJsonFile<Membership[]>;
      memberships: Membership[];
      transport: Transport;
    },
  ) {
    this.nodeId = options.nodeId;
    this.#options = options;
    this.#logger = options.logger;
    this.#engine = parts.engine;
    this.#wal = parts.wal;
    this.#hardState = parts.hardState;
    this.#membershipFile = parts.membershipFile;
    this.#memberships = parts.memberships;
    this.#transport = parts.transport;
    this.#healthy = options.healthy;
  }

  /** Recovers the WAL and hard state, starts the transport and the clock. */
  static async open(options: ReplicatedLogOptions): Promise<ReplicatedLog> {
    await mkdir(options.dataDir, { recursive: true });
    const hardState = new HardStateStore(join(options.dataDir, 'hard-state.json'));
    const hard = (await hardState.load()) ?? { term: 0, votedFor: null };
    const wal = await Wal.open(join(options.dataDir, 'wal'), { ...options.wal, logger: options.logger });
    const membershipFile = new AtomicJsonFile<Membership[]>(
      join(options.dataDir, 'membership.json'),
      'membership record',
    );
    const memberships = await verifiedMemberships(wal, (await membershipFile.load()) ?? []);
    const firstIndex = wal.firstIndex();
    const engine = new Engine({
      id: options.nodeId,
      initialMembers: initialMembers(options),
      seed: options.seed ?? hashSeed(options.nodeId),
      healthy: options.healthy,
      localStateChecked:
        options.localStateChecks === undefined || (options.localStateChecks.fresh && wal.lastIndex() === 0),
      ...(options.engine === undefined ? {} : { config: options.engine }),
      recovered: {
        hardState: hard,
        log: {
          purged: { index: firstIndex - 1, term: wal.termAt(firstIndex - 1) ?? 0 },
          termStarts: termStarts(wal),
          lastIndex: wal.lastIndex(),
        },
        memberships,
        appliedIndex: 0,
      },
    });
    const transport = await Transport.start({
      ...options.transport,
      nodeId: options.nodeId,
      peers: options.peers.map((peer) => `${peer.id}@${peer.address}`),
      logger: options.logger,
    });
    const log = new ReplicatedLog(options, {
      engine,
      wal,
      hardState,
      membershipFile,
      memberships,
      transport,
    });
    writeTraceLabel(options.nodeId);
    transport.onMessage((from, payload) => log.#receive(from, payload));
    log.#timer = setInterval(() => log.#tick(), options.tickMs);
    options.logger.info(
      {
        nodeId: options.nodeId,
        term: hard.term,
        firstIndex,
        lastIndex: wal.lastIndex(),
        recovery: wal.recovery,
      },
      'replicated log opened',
    );
    return log;
  }

  get port(): number {
    return this.#transport.port;
  }

  /** What peer `nodeId` advertised in its handshake (API URL, proxy address). */
  peerMeta(nodeId: string): Readonly<Record<string, string>> | undefined {
    return this.#transport.peerMeta(nodeId);
  }

  /** Peers this node has an authenticated connection to. */
  connectedPeers(): string[] {
    return this.#transport.connectedPeers();
  }

  /** Leader only: what each follower durably holds and when it last answered (in ticks). */
  followerProgress(): readonly FollowerProgress[] {
    return this.#engine.followerProgress();
  }

  /** Frame bytes in the WAL's segment files, and how many segments. */
  walSize(): { readonly bytes: number; readonly segments: number } {
    return { bytes: this.#wal.sizeBytes(), segments: this.#wal.segmentCount() };
  }

  /** Sends a node-level report (apply progress, cluster view) to a peer; fire and forget. */
  sendReport(report: NodeReport): void {
    if (this.#closed) return;
    this.#sendTo(report.to, encodeNodeReport(report));
  }

  /** Node-level reports from authenticated peers (envelope checked). */
  onReport(listener: (report: NodeReport) => void): void {
    this.#reportListeners.push(listener);
  }

  /**
   * Retention: removes the WAL segments whose entries are all below `beforeIndex` (never past
   * the commit index) and old enough for `wal.retention_hours`. The engine is told (`purged`)
   * before the files go, so it never asks for them again. Resolves with the last purged index
   * (0 when nothing went).
   */
  purge(beforeIndex: number, nowMs: number): Promise<number> {
    if (this.#closed) return Promise.resolve(0);
    return new Promise((done) =>
      this.#enqueue({ input: { kind: 'tick' }, purge: { beforeIndex, nowMs, done } }),
    );
  }

  /** First entry still in this node's WAL. */
  firstIndex(): number {
    return this.#wal.firstIndex();
  }

  get commitIndex(): number {
    return this.#commitIndex;
  }

  status(): EngineStatus {
    return this.#engine.status();
  }

  nodeStatuses(): ReadonlyMap<string, NodeStatus> {
    return this.#statuses;
  }

  /** The last role change, with its reason; undefined until the first. */
  role(): RoleChangedCommand | undefined {
    return this.#role;
  }

  /** Why the log stopped (a WAL or disk failure); undefined while it runs. */
  failure(): Error | undefined {
    return this.#failure;
  }

  onCommit(listener: (commitIndex: number) => void): void {
    this.#commitListeners.push(listener);
  }

  onRoleChanged(listener: (change: RoleChangedCommand) => void): void {
    this.#roleListeners.push(listener);
  }

  /** The engine's reported decisions (transfers, step-downs, forced promotions, …). */
  onEvent(listener: (event: EngineEvent) => void): void {
    this.#eventListeners.push(listener);
  }

  /**
   * Committed entries in [fromIndex, toIndex] (inclusive), at most about `bytesMax` of payload
   * (always at least one when any is in range). Served from the recent-entry window when it holds
   * `fromIndex`: a committed entry there is durable here and final (a truncation never reaches
   * the commit index), so it is the WAL's entry without the file reads (measured: the apply loop
   * re-reading each new entry from disk competed with the next entry's WAL write for the libuv
   * threadpool, on every node).
   */
  async read(fromIndex: number, toIndex: number, bytesMax: number): Promise<readonly LogEntry[]> {
    const upTo = Math.min(toIndex, this.#commitIndex);
    if (upTo < fromIndex) return [];
    const recent = this.#recentCommitted(fromIndex, upTo, bytesMax);
    if (recent !== undefined) return recent;
    const result = await this.#wal.read(fromIndex, upTo + 1, bytesMax);
    if (!result.ok) {
      throw new Error(
        `entries from ${fromIndex} were purged from this node's WAL (it starts at ${result.error.firstIndex})`,
      );
    }
    return result.entries;
  }

  /** Replicates `payload` as a transaction entry; resolves once it is committed or cannot be. */
  propose(payload: Uint8Array): Promise<ProposeOutcome> {
    if (this.#closed) return Promise.resolve({ ok: false, reason: 'CLOSED', leaderId: null });
    return new Promise((resolve) =>
      this.#enqueue({ input: { kind: 'propose', payload }, proposal: resolve }),
    );
  }

  /** The rewind check that began at `epoch` (`status().checkEpoch`) found or left nothing outside the log. */
  localStateChecked(epoch: number): void {
    this.#enqueue({ input: { kind: 'localStateChecked', epoch } });
  }

  setHealthy(healthy: boolean): void {
    if (healthy === this.#healthy) return;
    this.#healthy = healthy;
    this.#enqueue({ input: { kind: 'healthChanged', healthy } });
  }

  /** Whether the local MariaDB has applied the committed log closely enough for failback (`apply-caught-up.ts`). */
  setApplyCaughtUp(caughtUp: boolean): void {
    if (caughtUp === this.#applyCaughtUp) return;
    this.#applyCaughtUp = caughtUp;
    this.#enqueue({ input: { kind: 'applyCaughtUpChanged', caughtUp } });
  }

  /** An operator's promote/demote; with `reason`, the node's own hand-over (not an operator's). */
  transferLeadership(to: string | null, reason?: string): void {
    this.#enqueue({
      input:
        reason === undefined
          ? { kind: 'transferLeadership', to }
          : { kind: 'transferLeadership', to, reason },
    });
  }

  forcePromote(members: readonly string[]): void {
    this.#enqueue({ input: { kind: 'forcePromote', members } });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    for (const waiter of this.#awaiting.values())
      waiter.resolve({ ok: false, reason: 'CLOSED', leaderId: null });
    this.#awaiting.clear();
    // What the last turn queued (a TimeoutNow of a handover, a final response) still goes out.
    for (const [to, box] of this.#outbox) this.#flushTo(to, box);
    await this.#transport.close();
    await this.#wal.close();
  }

  #tick(): void {
    if (this.#tickQueued) return;
    this.#tickQueued = true;
    this.#enqueue({ input: { kind: 'tick' } });
  }

  #receive(from: string, payload: Uint8Array): void {
    if (isMessageBatch(payload)) {
      const parts = decodeMessageBatch(payload);
      if (!parts.ok) {
        this.#logger.warn({ from, reason: parts.error.message }, 'dropped a malformed cluster message batch');
        return;
      }
      for (const part of parts.value) this.#receive(from, part);
      return;
    }
    if (isNodeReport(payload)) {
      this.#receiveReport(from, payload);
      return;
    }
    const decoded = decodeMessage(payload);
    if (!decoded.ok) {
      this.#logger.warn({ from, reason: decoded.error.message }, 'dropped a malformed cluster message');
      return;
    }
    if (decoded.value.from !== from || decoded.value.to !== this.nodeId) {
      this.#logger.warn(
        { from, claimed: decoded.value.from, to: decoded.value.to },
        'dropped a cluster message with a forged or misrouted envelope',
      );
      return;
    }
    if (writeTraceOn) {
      const message = decoded.value;
      if (message.kind === 'appendEntries' && message.entries.length > 0)
        traceWrite('f.recv', message.entries.at(-1)?.index ?? 0);
      if (message.kind === 'appendEntriesResponse' && message.success)
        traceWrite(`l.resp.${from}`, message.matchIndex);
    }
    if (this.#receivesQueued >= receiveQueueMax) return;
    this.#receivesQueued++;
    this.#enqueue({ input: { kind: 'receive', message: decoded.value } });
  }

  #receiveReport(from: string, payload: Uint8Array): void {
    const decoded = decodeNodeReport(payload);
    if (!decoded.ok) {
      this.#logger.warn({ from, reason: decoded.error.message }, 'dropped a malformed node report');
      return;
    }
    if (decoded.value.from !== from || decoded.value.to !== this.nodeId) {
      this.#logger.warn(
        { from, claimed: decoded.value.from, to: decoded.value.to },
        'dropped a node report with a forged or misrouted envelope',
      );
      return;
    }
    for (const listener of this.#reportListeners) listener(decoded.value);
  }

  #enqueue(item: QueuedInput): void {
    if (this.#closed) {
      item.proposal?.({ ok: false, reason: 'CLOSED', leaderId: null });
      return;
    }
    this.#queue.push(item);
    if (!this.#draining) void this.#drain();
  }

  async #drain(): Promise<void> {
    this.#draining = true;
    try {
      while (this.#queueHead < this.#queue.length && !this.#closed) {
        const item = this.#queue[this.#queueHead] as QueuedInput;
        this.#queueHead++;
        if (this.#queueHead > 1024 && this.#queueHead * 2 > this.#queue.length) {
          this.#queue.splice(0, this.#queueHead);
          this.#queueHead = 0;
        }
        if (item.purge !== undefined) {
          await this.#purge(item.purge);
          continue;
        }
        if (item.input.kind === 'tick') this.#tickQueued = false;
        if (item.input.kind === 'receive') this.#receivesQueued--;
        const commands = this.#engine.step(item.input);
        await this.#execute(commands, item);
      }
    } catch (error) {
      this.#fail(error as Error);
    } finally {
      this.#draining = false;
    }
  }

  /** A WAL or disk failure: stop, say why. A restart recovers from what is durable. */
  #fail(error: Error): void {
    if (this.#failure !== undefined) return;
    this.#failure = error;
    this.#logger.fatal({ err: error }, 'replicated log stopped: the WAL or hard state could not be written');
    void this.close();
  }

  async #execute(commands: readonly Command[], item: QueuedInput): Promise<void> {
    for (const command of commands) {
      switch (command.kind) {
        case 'persistHardState':
          await this.#hardState.save({ term: command.term, votedFor: command.votedFor });
          break;
        case 'truncate':
          await this.#truncate(command.fromIndex);
          break;
        case 'append':
          await this.#append(command.entries);
          break;
        case 'send':
          this.#sendTo(
            command.message.to,
            encodeMessage(command.message),
            writeTraceOn && command.message.kind === 'appendEntriesResponse' && command.message.success
              ? `f.resp`
              : undefined,
            command.message.kind === 'appendEntriesResponse' ? command.message.matchIndex : 0,
          );
          break;
        case 'replicate':
          void this.#replicate(command).catch((error: Error) => this.#fail(error));
          break;
        case 'commit':
          this.#commit(command.index);
          break;
        case 'roleChanged':
          this.#role = command;
          this.#logger.info(
            { role: command.role, term: command.term, leaderId: command.leaderId, reason: command.reason },
            'role changed',
          );
          for (const listener of this.#roleListeners) listener(command);
          break;
        case 'proposalAccepted':
          if (item.proposal !== undefined)
            this.#awaiting.set(command.logId.index, { logId: command.logId, resolve: item.proposal });
          break;
        case 'proposalRejected':
          item.proposal?.({ ok: false, reason: command.reason, leaderId: command.leaderId });
          break;
        case 'statusChanged':
          this.#statuses.set(command.nodeId, command.status);
          this.#logger.info({ nodeId: command.nodeId, status: command.status }, 'node status changed');
          break;
        case 'needsMigration':
          this.#statuses.set(command.nodeId, 'NEEDS_MIGRATION');
          this.#logger.warn(
            { nodeId: command.nodeId, nextIndex: command.nextIndex, firstIndex: command.firstIndex },
            'node needs entries this WAL no longer holds: run `wolfctl migrate` on it',
          );
          break;
        case 'event':
          this.#logger.info({ event: command.event }, `consensus: ${command.event.kind}`);
          for (const listener of this.#eventListeners) listener(command.event);
          break;
        default:
          unreachable(command);
      }
    }
  }

  async #purge(request: NonNullable<QueuedInput['purge']>): Promise<void> {
    const before = Math.min(request.beforeIndex, this.#commitIndex + 1);
    const firstKept = this.#wal.purgeableBefore(before, request.nowMs);
    if (firstKept <= this.#wal.firstIndex()) {
      request.done(0);
      return;
    }
    await this.#execute(this.#engine.step({ kind: 'purged', upToIndex: firstKept - 1 }), {
      input: { kind: 'purged', upToIndex: firstKept - 1 },
    });
    // The WAL applies calls in order; the engine no longer asks for these entries, so the
    // queue need not wait for the files to go.
    this.#wal.purgeBefore(firstKept, request.nowMs).then(
      () => request.done(firstKept - 1),
      (error: Error) => {
        request.done(0);
        this.#fail(error);
      },
    );
  }

  async #truncate(fromIndex: number): Promise<void> {
    const keep = this.#recent.findIndex((entry) => entry.index >= fromIndex);
    if (keep >= 0) {
      for (const dropped of this.#recent.splice(keep)) this.#recentBytes -= dropped.payload.byteLength;
    }
    await this.#wal.truncateFrom(fromIndex);
    for (const [index, waiter] of this.#awaiting) {
      if (index >= fromIndex) {
        this.#awaiting.delete(index);
        waiter.resolve({ ok: false, reason: 'SUPERSEDED', leaderId: this.#engine.status().leaderId });
      }
    }
    const kept = this.#memberships.filter((membership) => membership.index < fromIndex);
    if (kept.length !== this.#memberships.length) {
      this.#memberships = kept;
      await this.#membershipFile.save(kept);
    }
  }

  async #append(entries: readonly LogEntry[]): Promise<void> {
    const last = entries.at(-1);
    if (last === undefined) return;
    const configurations = entries.filter((entry) => entry.kind === 'configuration');
    if (configurations.length > 0) {
      // Recorded before the entries are written: at open, a record whose entry never reached the
      // WAL is recognised and dropped (verifiedMemberships), while retention may purge the entry.
      this.#memberships = [
        ...this.#memberships,
        ...configurations.map((entry) => ({ index: entry.index, members: decodeMembership(entry.payload) })),
      ].slice(-membershipsKept);
      await this.#membershipFile.save(this.#memberships);
    }
    this.#remember(entries);
    const logId = { term: last.term, index: last.index };
    traceWrite('wal.append', last.index);
    // The outbox's setImmediate goes before the WAL writer's: on the leader the same step
    // replicates these entries, and the followers' round trip (network, their fsync, network)
    // is the longer way to the quorum, so the appendEntries leave before the WAL encodes and
    // writes (trace: the writer's turn delayed them 0.1–0.3 ms).
    this.#scheduleFlush();
    this.#wal.append(entries).then(
      () => {
        traceWrite('wal.durable', last.index);
        this.#enqueue({ input: { kind: 'appended', logId } });
      },
      (error: Error) => this.#fail(error),
    );
  }

  async #replicate(command: Extract<Command, { kind: 'replicate' }>): Promise<void> {
    let entries: readonly LogEntry[] = [];
    if (command.toIndex >= command.fromIndex) {
      const recent = this.#recentRange(command.fromIndex, command.toIndex);
      if (recent !== undefined) {
        entries = recent;
      } else {
        const result = await this.#wal.read(
          command.fromIndex,
          command.toIndex + 1,
          this.#options.replicateBytesMax ?? 48 * 1024 * 1024,
        );
        // Purged or truncated meanwhile: drop it; the engine retries and detects a needed migration.
        if (!result.ok || result.entries.length === 0) return;
        entries = result.entries;
      }
    }
    this.#sendTo(
      command.to,
      encodeMessage({
        kind: 'appendEntries',
        from: this.nodeId,
        to: command.to,
        term: command.term,
        prevLogId: command.prevLogId,
        entries,
        leaderCommit: command.leaderCommit,
      }),
      entries.length > 0 ? `l.repl.${command.to}` : undefined,
      command.toIndex,
    );
  }

  /**
   * Queues a message for `to`; everything queued for a peer during this event-loop turn goes in
   * one transport frame (one socket write) at the next `setImmediate`. Order per peer is kept.
   */
  #sendTo(to: string, bytes: Uint8Array, tracePoint?: string, traceIndex = 0): void {
    let box = this.#outbox.get(to);
    if (box === undefined) {
      box = { parts: [], bytes: 0, traced: [] };
      this.#outbox.set(to, box);
    }
    if (box.parts.length > 0 && box.bytes + bytes.byteLength > outboxBytesMax) this.#flushTo(to, box);
    box.parts.push(bytes);
    box.bytes += bytes.byteLength;
    if (tracePoint !== undefined && writeTraceOn) {
      traceWrite(`${tracePoint}.queued`, traceIndex);
      box.traced.push({ point: tracePoint, index: traceIndex });
    }
    this.#scheduleFlush();
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(() => this.#flush());
  }

  #flush(): void {
    this.#flushScheduled = false;
    if (this.#closed) return;
    for (const [to, box] of this.#outbox) this.#flushTo(to, box);
  }

  #flushTo(to: string, box: Outbox): void {
    if (box.parts.length === 0) return;
    const [only] = box.parts;
    this.#transport.send(
      to,
      box.parts.length === 1 && only !== undefined ? only : encodeMessageBatch(box.parts),
    );
    box.parts = [];
    box.bytes = 0;
    if (box.traced.length > 0) {
      for (const traced of box.traced) traceWrite(`${traced.point}.written`, traced.index);
      box.traced = [];
    }
  }

  #remember(entries: readonly LogEntry[]): void {
    const first = entries[0];
    const newest = this.#recent.at(-1);
    if (first === undefined) return;
    if (newest !== undefined && newest.index + 1 !== first.index) {
      this.#recent = [];
      this.#recentBytes = 0;
    }
    for (const entry of entries) {
      this.#recent.push(entry);
      this.#recentBytes += entry.payload.byteLength;
    }
    let drop = 0;
    while (
      drop < this.#recent.length - 1 &&
      (this.#recentBytes > recentBytesMax || this.#recent.length - drop > recentEntriesMax)
    ) {
      this.#recentBytes -= (this.#recent[drop] as LogEntry).payload.byteLength;
      drop++;
    }
    if (drop > 0) this.#recent.splice(0, drop);
  }

  /** Entries from `fromIndex` up to `toIndex` within `bytesMax` (at least one) from the window; undefined when it does not hold `fromIndex`. */
  #recentCommitted(fromIndex: number, toIndex: number, bytesMax: number): LogEntry[] | undefined {
    const oldest = this.#recent[0];
    const newest = this.#recent.at(-1);
    if (
      oldest === undefined ||
      newest === undefined ||
      fromIndex < oldest.index ||
      fromIndex > newest.index
    ) {
      return undefined;
    }
    const entries: LogEntry[] = [];
    let bytes = 0;
    const last = Math.min(toIndex, newest.index);
    for (let position = fromIndex - oldest.index; position <= last - oldest.index; position++) {
      const entry = this.#recent[position] as LogEntry;
      if (entries.length > 0 && bytes + entry.payload.byteLength > bytesMax) break;
      entries.push(entry);
      bytes += entry.payload.byteLength;
    }
    return entries;
  }

  /** Entries [from, to] from the recent window, or undefined when it does not hold all of them. */
  #recentRange(fromIndex: number, toIndex: number): LogEntry[] | undefined {
    const oldest = this.#recent[0];
    const newest = this.#recent.at(-1);
    if (oldest === undefined || newest === undefined || fromIndex < oldest.index || toIndex > newest.index) {
      return undefined;
    }
    return this.#recent.slice(fromIndex - oldest.index, toIndex - oldest.index + 1);
  }

  #commit(index: number): void {
    if (index <= this.#commitIndex) return;
    traceWrite('commit', index);
    this.#commitIndex = index;
    for (const [entryIndex, waiter] of this.#awaiting) {
      if (entryIndex > index) continue;
      this.#awaiting.delete(entryIndex);
      waiter.resolve(
        this.#wal.termAt(entryIndex) === waiter.logId.term
          ? { ok: true, logId: waiter.logId }
          : { ok: false, reason: 'SUPERSEDED', leaderId: this.#engine.status().leaderId },
      );
    }
    for (const listener of this.#commitListeners) listener(index);
  }
}

function initialMembers(options: ReplicatedLogOptions): Member[] {
  return [
    { id: options.nodeId, neverLeader: options.neverLeader },
    ...options.peers.map((peer) => ({ id: peer.id, neverLeader: false })),
  ];
}

/** A stable seed per node id, so election jitter differs between nodes but not between runs. */
function hashSeed(text: string): number {
  let hash = 2166136261;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 16777619);
  return hash >>> 0;
}

/** Where each term starts in the WAL: O(terms × log entries) with termAt's binary search. */
function termStarts(wal: Wal): TermStart[] {
  const starts: TermStart[] = [];
  const first = wal.firstIndex();
  let high = wal.lastIndex();
  while (high >= first) {
    const term = wal.termAt(high) as number;
    let low = first;
    let hi = high;
    while (low < hi) {
      const mid = Math.floor((low + hi) / 2);
      if ((wal.termAt(mid) as number) < term) low = mid + 1;
      else hi = mid;
    }
    starts.push({ term, index: low });
    high = low - 1;
  }
  return starts.reverse();
}

/**
 * Keeps the recorded memberships whose entry is still in the WAL (or was purged, hence committed
 * and final); drops a record whose entry never became durable or was replaced.
 */
async function verifiedMemberships(wal: Wal, recorded: readonly Membership[]): Promise<Membership[]> {
  const verified: Membership[] = [];
  for (const membership of recorded) {
    if (membership.index > wal.lastIndex()) continue;
    if (membership.index < wal.firstIndex()) {
      verified.push(membership);
      continue;
    }
    const read = await wal.read(membership.index, membership.index + 1, 1);
    const entry = read.ok ? read.entries[0] : undefined;
    if (entry?.kind !== 'configuration') continue;
    const members = decodeMembership(entry.payload);
    if (JSON.stringify(members) === JSON.stringify(membership.members)) verified.push(membership);
  }
  return verified;
}
