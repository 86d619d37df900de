import type { Logger } from 'pino';
import {
  type ApplyLagReport,
  decideThrottle,
  purgeBeforeIndex,
  retentionFloor,
  type ThrottleDecision,
} from '../consensus/index.js';
import type { ApplyReport, ClusterReport, ReportedNode } from './node-report-codec.js';
import type { ReplicatedLog } from './replicated-log.js';

/**
 * What nodes tell each other about applying, every heartbeat, and the three things built on it:
 *
 * - **Views**: the leader knows every follower's match index (engine) and applied index and lag
 *   (their `applyReport`s); it sends that table to the followers (`clusterReport`), so `/cluster`
 *   on any node shows every node's lag as the leader last knew it.
 * - **Flow control** (`cluster.max_apply_lag_ms`): the leader's decision (pure,
 *   `consensus/apply-lag-throttle.ts`) gates the capture's acknowledgements to MariaDB.
 * - **Retention**: every `retentionEveryMs` the node purges what nobody needs
 *   (`consensus/retention.ts`); the WAL keeps each segment `wal.retention_hours` at least.
 */
export interface LocalApplyState {
  readonly appliedIndex: number;
  readonly applyLagMs: number;
  readonly applyFailed: boolean;
  readonly mariadbHealthy: boolean;
}

export interface ClusterReportsOptions {
  readonly log: ReplicatedLog;
  readonly logger: Logger;
  readonly local: () => LocalApplyState;
  readonly heartbeatMs: number;
  readonly tickMs: number;
  readonly electionTimeoutMs: number;
  /** `cluster.max_apply_lag_ms`. */
  readonly maxApplyLagMs: number;
  /** Engine ticks a silent follower keeps holding the WAL back (the dead-node removal time). */
  readonly retentionHoldTicks: number;
  readonly retentionEveryMs?: number;
  readonly onThrottle?: (decision: ThrottleDecision) => void;
}

/** What this node knows about another node's progress. */
export interface NodeProgressView {
  readonly matchIndex: number | null;
  readonly appliedIndex: number | null;
  readonly applyLagEntries: number | null;
  readonly applyLagMs: number | null;
  readonly lastSeenMsAgo: number | null;
}

interface Received<T> {
  readonly report: T;
  readonly atMs: number;
  readonly atTick: number;
}

export class ClusterReports {
  readonly #options: ClusterReportsOptions;
  readonly #logger: Logger;
  /** Leader side: the followers' apply reports. */
  readonly #applyReports = new Map<string, Received<ApplyReport>>();
  /** Per follower: the applied index it last reported, and the tick it first reported it. */
  readonly #appliedSince = new Map<string, { readonly index: number; readonly tick: number }>();
  /** Follower side: the leader's last cluster report. */
  #clusterReport: Received<ClusterReport> | undefined;
  #ticks = 0;
  #timer: NodeJS.Timeout | undefined;
  #lastRetentionMs = 0;
  #purging = false;
  #throttle: ThrottleDecision = { throttling: false, reason: 'not leading' };
  #throttleStartedMs = 0;
  #throttledMsTotal = 0;
  #release: { promise: Promise<void>; resolve: () => void } | undefined;
  #purgedEntries = 0;
  #retentionChecks = 0;

  constructor(options: ClusterReportsOptions) {
    this.#options = options;
    this.#logger = options.logger;
    options.log.onReport((report) => {
      const received = { atMs: Date.now(), atTick: this.#ticks };
      if (report.kind === 'applyReport') {
        if (this.#options.log.status().role === 'LEADER') {
          this.#applyReports.set(report.from, { report, ...received });
          const since = this.#appliedSince.get(report.from);
          if (since === undefined || since.index !== report.appliedIndex)
            this.#appliedSince.set(report.from, { index: report.appliedIndex, tick: this.#ticks });
        }
      } else if (report.from === this.#options.log.status().leaderId) {
        this.#clusterReport = { report, ...received };
      }
    });
  }

  start(): void {
    this.#timer ??= setInterval(() => this.tick(), this.#options.heartbeatMs);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#setThrottle({ throttling: false, reason: 'node stopping' });
  }

  get throttling(): boolean {
    return this.#throttle.throttling;
  }

  /** Milliseconds the leader has held acknowledgements back in total. */
  throttledMs(): number {
    return this.#throttledMsTotal + (this.#throttle.throttling ? Date.now() - this.#throttleStartedMs : 0);
  }

  /** Retention decisions taken so far (each may purge nothing). */
  retentionChecks(): number {
    return this.#retentionChecks;
  }

  purgedEntries(): number {
    return this.#purgedEntries;
  }

  /**
   * The capture awaits this before acknowledging MariaDB: undefined (no wait) unless the leader
   * is throttling; then a promise that resolves when it stops.
   */
  ackGate(): Promise<void> | undefined {
    if (!this.#throttle.throttling) return undefined;
    this.#release ??= (() => {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => {
        resolve = r;
      });
      return { promise, resolve };
    })();
    return this.#release.promise;
  }

  /** One heartbeat: send reports, decide flow control, maybe purge. Public for tests. */
  tick(): void {
    this.#ticks++;
    const log = this.#options.log;
    const status = log.status();
    const local = this.#options.local();
    if (status.role === 'LEADER') {
      this.#clusterReport = undefined;
      this.#sendClusterReport(local);
      this.#decideThrottle();
    } else {
      this.#applyReports.clear();
      this.#appliedSince.clear();
      this.#setThrottle({ throttling: false, reason: 'not leading' });
      if (status.leaderId !== null && status.leaderId !== status.id) {
        log.sendReport({
          kind: 'applyReport',
          from: status.id,
          to: status.leaderId,
          term: status.term,
          appliedIndex: local.appliedIndex,
          applyLagMs: local.applyLagMs,
          applyFailed: local.applyFailed,
          mariadbHealthy: local.mariadbHealthy,
        });
      }
    }
    this.#maybePurge(local);
  }

  /** What this node knows of `id`'s progress (itself excluded: the node knows its own). */
  view(id: string): NodeProgressView {
    const log = this.#options.log;
    if (log.status().role === 'LEADER') {
      const progress = log.followerProgress().find((p) => p.id === id);
      const applied = this.#applyReports.get(id);
      const commit = log.commitIndex;
      return {
        matchIndex: progress?.matchIndex ?? null,
        appliedIndex: applied?.report.appliedIndex ?? null,
        applyLagEntries: applied === undefined ? null : Math.max(0, commit - applied.report.appliedIndex),
        applyLagMs: applied?.report.applyLagMs ?? null,
        lastSeenMsAgo:
          progress === undefined ? null : Math.round(progress.heardTicksAgo * this.#options.tickMs),
      };
    }
    const received = this.#clusterReport;
    const node = received?.report.nodes.find((n) => n.id === id);
    if (received === undefined || node === undefined) {
      return {
        matchIndex: null,
        appliedIndex: null,
        applyLagEntries: null,
        applyLagMs: null,
        lastSeenMsAgo: null,
      };
    }
    const age = Date.now() - received.atMs;
    return {
      matchIndex: node.matchIndex,
      appliedIndex: node.appliedIndex,
      applyLagEntries: Math.max(0, received.report.commitIndex - node.appliedIndex),
      applyLagMs: node.applyLagMs,
      lastSeenMsAgo: node.heardMsAgo + age,
    };
  }

  #sendClusterReport(local: LocalApplyState): void {
    const log = this.#options.log;
    const status = log.status();
    const followers = log.followerProgress();
    const nodes: ReportedNode[] = [
      {
        id: status.id,
        matchIndex: status.persistedIndex,
        appliedIndex: local.appliedIndex,
        applyLagMs: local.applyLagMs,
        heardMsAgo: 0,
      },
      ...followers.map((progress) => {
        const applied = this.#applyReports.get(progress.id)?.report;
        return {
          id: progress.id,
          matchIndex: progress.matchIndex,
          appliedIndex: applied?.appliedIndex ?? 0,
          applyLagMs: applied?.applyLagMs ?? 0,
          heardMsAgo: Math.round(progress.heardTicksAgo * this.#options.tickMs),
        };
      }),
    ];
    const floor = retentionFloor(followers, this.#options.retentionHoldTicks, log.commitIndex + 1);
    for (const progress of followers) {
      log.sendReport({
        kind: 'clusterReport',
        from: status.id,
        to: progress.id,
        term: status.term,
        commitIndex: log.commitIndex,
        retentionFloor: floor,
        nodes,
      });
    }
  }

  #decideThrottle(): void {
    const log = this.#options.log;
    const status = log.status();
    const voters = status.members.map((member) => member.id).filter((id) => id !== status.id);
    const reports = new Map<string, ApplyLagReport>();
    for (const [id, received] of this.#applyReports) {
      reports.set(id, {
        lagMs: received.report.applyLagMs,
        applyFailed: received.report.applyFailed,
        mariadbHealthy: received.report.mariadbHealthy,
        atTick: received.atTick,
        progressTick: this.#appliedSince.get(id)?.tick ?? received.atTick,
      });
    }
    const staleTicks = Math.max(2, Math.ceil(this.#options.electionTimeoutMs / this.#options.heartbeatMs));
    this.#setThrottle(
      decideThrottle(this.#throttle.throttling, voters, reports, this.#ticks, {
        maxLagMs: this.#options.maxApplyLagMs,
        staleTicks,
        // Applying that makes no progress for twice the bound (at least an election timeout) is
        // paused or stuck: holding writes for it cannot help it catch up.
        stallTicks: Math.max(
          staleTicks,
          Math.ceil((2 * this.#options.maxApplyLagMs) / this.#options.heartbeatMs),
        ),
      }),
    );
  }

  #setThrottle(decision: ThrottleDecision): void {
    const was = this.#throttle.throttling;
    this.#throttle = decision;
    if (decision.throttling === was) return;
    if (decision.throttling) {
      this.#throttleStartedMs = Date.now();
      this.#logger.warn(
        { reason: decision.reason, laggards: decision.laggards },
        'flow control: holding commit acknowledgements until followers catch up with applying',
      );
    } else {
      const heldMs = Date.now() - this.#throttleStartedMs;
      this.#throttledMsTotal += heldMs;
      this.#logger.info({ reason: decision.reason, heldMs }, 'flow control: acknowledging commits again');
      this.#release?.resolve();
      this.#release = undefined;
    }
    this.#options.onThrottle?.(decision);
  }

  #maybePurge(local: LocalApplyState): void {
    const now = Date.now();
    if (this.#purging || now - this.#lastRetentionMs < (this.#options.retentionEveryMs ?? 5000)) return;
    this.#lastRetentionMs = now;
    this.#retentionChecks++;
    const log = this.#options.log;
    const status = log.status();
    const before = purgeBeforeIndex({
      isLeader: status.role === 'LEADER',
      commitIndex: log.commitIndex,
      appliedIndex: local.appliedIndex,
      followers: log.followerProgress(),
      leaderFloor: this.#clusterReport?.report.retentionFloor ?? null,
      holdTicks: this.#options.retentionHoldTicks,
    });
    if (before <= log.firstIndex()) return;
    this.#purging = true;
    const firstBefore = log.firstIndex();
    void log
      .purge(before, now)
      .then((purgedTo) => {
        if (purgedTo > 0) this.#purgedEntries += purgedTo - firstBefore + 1;
      })
      .finally(() => {
        this.#purging = false;
      });
  }
}
