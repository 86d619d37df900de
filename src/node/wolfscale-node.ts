import { access, mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import * as mariadb from 'mariadb';
import type { Logger } from 'pino';
import { accountStatementReasserter } from '../apply/account-statement.js';
import type { ConfigFile } from '../config/schema.js';
import type { RoleChangedCommand } from '../consensus/index.js';
import { fail, ok, type Result } from '../errors/error-codes.js';
import { buildHttpApp, type HttpApp } from '../http/http-app.js';
import type {
  AdminOutcome,
  ClusterNodeView,
  HealthView,
  NodeApi,
  NodeStatusName,
  NodeStatusView,
  WriteOutcome,
  WriteRoute,
} from '../http/node-api.js';
import type { Statement } from '../http/write-sql.js';
import { killThread } from '../mariadb/abandon-connection.js';
import { formatGtidPosition } from '../mariadb/gtid-position.js';
import { type Health, probeHealth } from '../mariadb/health-probe.js';
import { MariaDbAdmin } from '../mariadb/mariadb-admin.js';
import { checkRequiredSettings, defaultConfigFile } from '../mariadb/required-settings.js';
import { selectOne, variableText } from '../mariadb/sql-runner.js';
import { advertisedProxyAddress, ProxyServer, splitHostPort } from '../proxy/proxy-server.js';
import { type ClusterView, localReadBlocker } from '../proxy/route.js';
import type { ProxyClusterSource } from '../proxy/session.js';
import type { TransportTls } from '../transport/transport.js';
import { appliedIndexAgo, applyCaughtUp } from './apply-caught-up.js';
import { ApplyLoop, type NodeApplyLoop } from './apply-loop.js';
import { ClusterReports } from './cluster-reports.js';
import { DataDirLock, DataDirLockedError } from './data-dir-lock.js';
import { type EligibilityHealth, eligibilityHealth, notProbedYet } from './eligibility-health.js';
import { Leadership, type LeadershipState } from './leadership.js';
import { NodeMetrics } from './node-metrics.js';
import { type NodeSettings, nodeSettings } from './node-settings.js';
import { type OpeningWatch, watchOpening } from './opening-watch.js';
import { ReplicaApplyLoop } from './replica-apply-loop.js';
import { ReplicatedLog } from './replicated-log.js';
import { Rewind } from './rewind.js';

/**
 * One WolfScale node: the replicated log, the apply loop, the leader's capture, the local
 * MariaDB's role and health, and the HTTP API. See DESIGN.md for the role transitions.
 */
export interface WolfScaleNodeOptions {
  readonly config: ConfigFile;
  readonly logger: Logger;
}

/** A start-up problem an operator must fix; the message says how. */
export class NodeStartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NodeStartError';
  }
}

const writeTimeoutMs = 30_000;
/** A rewind check pausing applying this long is reported (it waits for a step-down and a leader's first commit). */
const applyPausedWarnMs = 30_000;
const commitTimesMax = 100_000;
/**
 * A leader whose opening for writes makes no progress this long hands leadership over
 * (`opening-watch.ts`, docs/RELIABILITY.md failure 19): ten seconds is several elections, and
 * far above the few hundred milliseconds an opening takes when nothing is stuck.
 */
const openingStallMs = 10_000;
/**
 * Health probes that only time out make the node ineligible once they have failed for this many
 * heartbeats (`eligibility-health.ts`); a refused or reset connection counts at once.
 */
const healthTimeoutGraceHeartbeats = 3;
const gtidIndexesMax = 100_000;
/**
 * The server id the local MariaDB sees on this node's binlog stream (apply.mode = "replica"). It
 * must differ from the local server's id; transactions keep their leaders' ids.
 */
const streamServerId = 4_294_967_000;

export class WolfScaleNode implements NodeApi {
  readonly #config: ConfigFile;
  readonly #settings: NodeSettings;
  readonly #logger: Logger;
  readonly #pool: mariadb.Pool;
  readonly #admin: MariaDbAdmin;
  readonly #metrics = new NodeMetrics();
  readonly #startedMs = Date.now();
  #log!: ReplicatedLog;
  #applyLoop!: NodeApplyLoop;
  #dataDirLock: DataDirLock | undefined;
  #openingWatch: OpeningWatch | undefined;
  #healthLogged: Health['kind'] | undefined;
  #eligibility: EligibilityHealth = notProbedYet;
  #leadership!: Leadership;
  #reports!: ClusterReports;
  #rewind!: Rewind;
  #http: HttpApp | undefined;
  #proxy: ProxyServer | undefined;
  #healthTimer: NodeJS.Timeout | undefined;
  #health: Health = { kind: 'unhealthy', code: 'CONNECT_FAILED', reason: 'not probed yet' };
  #gtidPosition: string | null = null;
  #lastLeaderId: string | null = null;
  #lastKnownLeaderId: string | null = null;
  /** (time, applied index) once a heartbeat, for the apply rate. */
  readonly #appliedSamples: Array<{ atMs: number; index: number }> = [];
  /** Entries applied in the last `cluster.max_apply_lag_ms`, as of the last probe. */
  #appliedRecently = 0;
  #pausedWarnedAtMs: number | undefined;
  /** (index, time it was seen committed), oldest first: for lag in milliseconds. */
  readonly #commitTimes: Array<{ index: number; atMs: number }> = [];
  /** GTID → WAL index of the leader's recent captures: a write's answer names its index. */
  readonly #gtidIndexes = new Map<string, number>();
  #stopping: Promise<void> | undefined;
  #resetRequested = false;
  readonly #stoppedListeners: Array<(reason: string) => void> = [];

  private constructor(options: WolfScaleNodeOptions, settings: NodeSettings) {
    this.#config = options.config;
    this.#settings = settings;
    this.#logger = options.logger;
    const db = options.config.database;
    this.#pool = mariadb.createPool({
      host: db.host,
      port: db.port,
      ...(db.socket === undefined ? {} : { socketPath: db.socket }),
      user: db.user,
      password: db.password,
      connectionLimit: db.pool_size,
      acquireTimeout: db.connect_timeout_secs * 1000,
      connectTimeout: Math.min(5000, db.connect_timeout_secs * 1000),
      bigIntAsNumber: false,
      insertIdAsNumber: false,
    });
    this.#admin = new MariaDbAdmin(this.#pool);
  }

  /** Starts everything; throws NodeStartError for a configuration an operator must fix. */
  static async start(options: WolfScaleNodeOptions): Promise<WolfScaleNode> {
    const derived = nodeSettings(options.config);
    if (!derived.ok) throw new NodeStartError(derived.errors.join('\n'));
    const node = new WolfScaleNode(options, derived.settings);
    try {
      await node.#start();
    } catch (error) {
      await node.stop('start failed');
      throw error;
    }
    return node;
  }

  get apiUrl(): string {
    return this.#settings.apiUrl;
  }

  /** Called once the node has stopped (SIGTERM, a reset, a fatal WAL failure). */
  onStopped(listener: (reason: string) => void): void {
    this.#stoppedListeners.push(listener);
  }

  async #start(): Promise<void> {
    const { config } = this;
    const db = config.database;
    const serverName = db.socket ?? `${db.host}:${db.port}`;
    try {
      this.#dataDirLock = await DataDirLock.acquire(config.node.data_dir, config.node.id, (holder) =>
        this.#logger.warn(
          { holder },
          'took over the data directory lock of a process that is gone (a crash or a kill)',
        ),
      );
    } catch (error) {
      if (error instanceof DataDirLockedError) throw new NodeStartError(error.message);
      throw error;
    }
    await this.#checkMariaDb(serverName);
    await mkdir(join(config.node.data_dir, 'capture-spill'), { recursive: true });
    const tls = await clusterTls(config);
    this.#log = await ReplicatedLog.open({
      nodeId: config.node.id,
      dataDir: config.node.data_dir,
      peers: this.#settings.peers,
      neverLeader: config.cluster.never_leader,
      tickMs: this.#settings.tickMs,
      healthy: this.#health.kind === 'healthy',
      // A node that ran before may hold commits of a leadership no quorum acknowledged: it is no
      // failback or transfer target, and campaigns last, until its rewind check is done.
      localStateChecks: { fresh: !(await fileExists(join(config.node.data_dir, 'rewind-baseline.json'))) },
      logger: this.#logger,
      engine: this.#settings.engine,
      wal: {
        segmentSizeMb: config.wal.segment_size_mb,
        compression: config.wal.compression,
        batchSize: config.wal.batch_size,
        flushIntervalMs: config.wal.flush_interval_ms,
        fsync: config.wal.fsync,
        retentionHours: config.wal.retention_hours,
      },
      transport: {
        clusterName: config.cluster.cluster_name,
        secret: config.cluster.secret ?? '',
        listenHost: this.#settings.clusterHost,
        listenPort: this.#settings.clusterPort,
        meta: {
          apiUrl: this.#settings.apiUrl,
          ...(config.proxy.enabled ? { proxyAddress: advertisedProxyAddress(config) } : {}),
        },
        ...(tls === undefined ? {} : { tls }),
      },
    });
    this.#log.onCommit((index) => this.#recordCommit(index));
    this.#reports = new ClusterReports({
      log: this.#log,
      logger: this.#logger.child({ component: 'reports' }),
      local: () => ({
        appliedIndex: this.#applyLoop.appliedIndex,
        applyLagMs: this.#lagMs(),
        applyFailed: this.#applyLoop.status().kind === 'failed',
        mariadbHealthy: this.#health.kind === 'healthy',
      }),
      heartbeatMs: config.cluster.heartbeat_interval_ms,
      tickMs: this.#settings.tickMs,
      electionTimeoutMs: config.cluster.election_timeout_ms,
      maxApplyLagMs: config.cluster.max_apply_lag_ms,
      retentionHoldTicks: this.#settings.engine.deadNodeRemovalTicks ?? 300,
      retentionEveryMs: Math.max(1000, config.cluster.heartbeat_interval_ms * 10),
      onThrottle: (decision) => this.#metrics.throttling.set(decision.throttling ? 1 : 0),
    });
    const isOwnTerm = (term: number): boolean => this.#leadership.ledTerms.has(term);
    this.#applyLoop =
      config.apply.mode === 'replica'
        ? new ReplicaApplyLoop({
            log: this.#log,
            sql: this.#pool,
            logger: this.#logger.child({ component: 'apply' }),
            isOwnTerm,
            replica: {
              parallelThreads: config.apply.replica_threads,
              parallelMode: config.apply.replica_parallel_mode,
            },
            streamServerId,
            reassertAccount: accountStatementReasserter(
              { host: db.host, port: db.port, user: db.user, password: db.password },
              this.#logger.child({ component: 'apply' }),
            ),
          })
        : new ApplyLoop({
            log: this.#log,
            target: { host: db.host, port: db.port, user: db.user, password: db.password },
            logger: this.#logger.child({ component: 'apply' }),
            isOwnTerm,
            parallelSessions: config.apply.sessions,
          });
    this.#leadership = new Leadership({
      log: this.#log,
      admin: this.#admin,
      sql: this.#pool,
      applyLoop: this.#applyLoop,
      logger: this.#logger,
      capture: {
        host: db.host,
        port: db.port,
        user: db.user,
        password: db.password,
        replicaServerId: config.binlog.server_id,
        spillDir: join(config.node.data_dir, 'capture-spill'),
      },
      onCommitted: (gtid, index, latencyMs) => {
        this.#rememberGtid(gtid, index);
        this.#metrics.transactionsCommitted.inc();
        this.#metrics.commitLatency.observe(latencyMs / 1000);
      },
      ackGate: () => this.#reports.ackGate(),
      beforeEndingSessions: () =>
        this.#proxy?.severLocalCommands('this node no longer leads and ends the sessions of its MariaDB') ??
        0,
    });
    this.#rewind = new Rewind({
      log: this.#log,
      applyLoop: this.#applyLoop,
      sql: this.#pool,
      server: {
        host: db.host,
        port: db.port,
        user: db.user,
        password: db.password,
        ...(db.socket === undefined ? {} : { socket: db.socket }),
      },
      dataDir: config.node.data_dir,
      logger: this.#logger,
      steppedDown: () => this.#leadership.steppedDown,
    });
    // Whatever role this node's MariaDB was left in (a node process restarted while MariaDB
    // kept running may find it writable with semi-sync on), it starts as a follower; the first
    // rewind check waits for that step-down.
    this.#leadership.stepDownNow();
    this.#rewind.start();
    this.#log.onRoleChanged((change) => this.#roleChanged(change));
    this.#log.onEvent((event) => {
      if (event.kind === 'transferStarted') this.#leadership.transferStarted(event.to);
      else if (event.kind === 'transferAborted') this.#leadership.transferAborted();
    });
    const initial = this.#log.role();
    if (initial !== undefined) this.#roleChanged(initial);
    this.#applyLoop.start();
    this.#reports.start();
    this.#healthTimer = setInterval(() => void this.#probe(), config.cluster.heartbeat_interval_ms);
    if (config.api.enabled) {
      this.#http = await buildHttpApp({
        node: this,
        logger: this.#logger,
        openStatus: config.api.open_status,
        ...(config.api.token === undefined ? {} : { token: config.api.token }),
      });
      const [host, port] = splitAddress(config.api.bind_address);
      await this.#http.listen({ host, port });
    }
    if (config.proxy.enabled) {
      this.#proxy = await ProxyServer.start({
        config,
        logger: this.#logger,
        cluster: this.#proxyView(),
        adminQuery: this.#pool,
      });
    }
    this.#logger.info(
      { nodeId: config.node.id, cluster: this.#settings.clusterPort, api: this.#settings.apiUrl },
      'node started',
    );
  }

  get config(): ConfigFile {
    return this.#config;
  }

  /** Probes MariaDB once; refuses to start when it answers with settings WolfScale cannot run on. */
  async #checkMariaDb(serverName: string): Promise<void> {
    await this.#probe();
    if (this.#health.kind !== 'healthy') {
      this.#logger.warn(
        { reason: this.#health.reason },
        'the local MariaDB does not answer; the node starts, serves status, and is not eligible to lead until it does',
      );
      return;
    }
    const problems = await checkRequiredSettings(this.#pool, { serverName });
    if (this.#config.apply.mode === 'replica') {
      const row = await selectOne(
        this.#pool,
        'SELECT @@GLOBAL.log_slave_updates AS v, @@GLOBAL.server_id AS id',
      );
      if (variableText(row['v']) !== '1' && variableText(row['v']).toUpperCase() !== 'ON')
        problems.push({
          code: 'LOG_SLAVE_UPDATES',
          variable: 'log_slave_updates',
          actual: variableText(row['v']),
          required: 'ON',
          configLine: 'log_slave_updates=ON',
          message: `MariaDB at ${serverName} has log_slave_updates=OFF; apply.mode = "replica" needs log_slave_updates=ON because what the local replica applies must reach this node's binlog (for its capture when it leads, and the rewind check): add log_slave_updates=ON under [mariadbd] in ${defaultConfigFile} and restart MariaDB, or set apply.mode = "session".`,
        });
      if (Number(variableText(row['id'])) === streamServerId)
        throw new NodeStartError(
          `the local MariaDB at ${serverName} has server_id=${streamServerId}, the id of this node's binlog stream (apply.mode = "replica"): give MariaDB another server_id`,
        );
    }
    if (problems.length > 0) {
      throw new NodeStartError(
        `the local MariaDB at ${serverName} is not set up for WolfScale:\n${problems.map((p) => `  - ${p.message}`).join('\n')}`,
      );
    }
  }

  async #probe(): Promise<void> {
    const db = this.#config.database;
    this.#health = await probeHealth({
      host: db.host,
      port: db.port,
      user: db.user,
      password: db.password,
      timeoutMs: Math.max(200, this.#config.cluster.heartbeat_interval_ms * 2),
    });
    if (this.#health.kind === 'healthy') {
      const state = await this.#admin.gtidState().catch(() => undefined);
      if (state !== undefined) this.#gtidPosition = formatGtidPosition(state.binlogPos);
    }
    if (this.#applyLoop !== undefined) {
      this.#appliedSamples.push({ atMs: Date.now(), index: this.#applyLoop.appliedIndex });
      while ((this.#appliedSamples[0]?.atMs ?? Date.now()) < Date.now() - 10_000)
        this.#appliedSamples.shift();
    }
    this.#logHealthChange();
    this.#eligibility = eligibilityHealth(
      this.#eligibility,
      this.#health,
      Date.now(),
      healthTimeoutGraceHeartbeats * this.#config.cluster.heartbeat_interval_ms,
    );
    this.#log?.setHealthy(this.#eligibility.healthy && this.#applyLoop?.status().kind !== 'failed');
    this.#reportApplyProgress();
    this.#warnIfPausedLong();
    this.#watchOpening();
  }

  /**
   * Logs each change of the local MariaDB's health: it decides this node's eligibility (a leader
   * hands over; a probe that only timed out counts after a grace, `eligibility-health.ts`). Chaos
   * runs showed more such hand-overs than MariaDB kills, and without this line their cause (a
   * timeout under load, a refused connection) was lost.
   */
  #logHealthChange(): void {
    const health = this.#health;
    const previous = this.#healthLogged;
    this.#healthLogged = health.kind;
    if (previous === undefined || previous === health.kind) return;
    if (health.kind === 'unhealthy') {
      this.#logger.warn(
        {
          code: health.code,
          reason: health.reason,
          effect:
            health.code === 'TIMEOUT'
              ? `not eligible to lead (a leader hands over) if probes keep failing for ${healthTimeoutGraceHeartbeats} heartbeats`
              : 'not eligible to lead (a leader hands over)',
        },
        'the local MariaDB failed its health probe',
      );
    } else {
      this.#logger.info({ latencyMs: Math.round(health.latencyMs) }, 'the local MariaDB is healthy again');
    }
  }

  /** Hands leadership over when this node leads but its opening for writes is stuck. */
  #watchOpening(): void {
    if (this.#log === undefined || this.#leadership === undefined) return;
    const engine = this.#log.status();
    const state = this.#leadership.state;
    const open = (state.kind === 'writable' || state.kind === 'transferring') && state.term === engine.term;
    const verdict = watchOpening(
      this.#openingWatch,
      {
        leading: engine.role === 'LEADER',
        term: engine.term,
        open,
        stage: `${state.kind} ${'term' in state ? state.term : ''} ${state.kind === 'opening' ? state.step : ''}`,
        appliedIndex: this.#applyLoop?.appliedIndex ?? 0,
        transferring: engine.transferTo !== null,
      },
      Date.now(),
      openingStallMs,
    );
    this.#openingWatch = verdict.watch;
    if (!verdict.handOver) return;
    this.#logger.warn(
      {
        term: engine.term,
        stalledMs: verdict.stalledMs,
        leadership: state,
        steppedDown: this.#leadership.steppedDown,
        appliedIndex: this.#applyLoop?.appliedIndex,
        commitIndex: this.#log.commitIndex,
      },
      'this node leads but its opening for writes has made no progress: handing leadership to another node',
    );
    this.#log.transferLeadership(null, `no progress opening for writes for ${verdict.stalledMs} ms`);
  }

  /**
   * A pause that lasts is how applying got stuck unseen before (docs/RELIABILITY.md "Failures
   * found" 12 and 14): say so every `applyPausedWarnMs` while it lasts.
   */
  #warnIfPausedLong(): void {
    const status = this.#applyLoop?.status();
    if (status?.kind !== 'paused') {
      this.#pausedWarnedAtMs = undefined;
      return;
    }
    const now = Date.now();
    if (now - status.sinceMs < applyPausedWarnMs) return;
    if (this.#pausedWarnedAtMs !== undefined && now - this.#pausedWarnedAtMs < applyPausedWarnMs) return;
    this.#pausedWarnedAtMs = now;
    const rewind = this.#rewind.view;
    this.#logger.warn(
      {
        pausedMs: now - status.sinceMs,
        appliedIndex: status.appliedIndex,
        commitIndex: this.#log.commitIndex,
        rewindState: rewind.state,
        rewindDetail: rewind.detail,
        steppedDown: this.#leadership.steppedDown,
      },
      'applying has been paused by the rewind check for a long time: nothing committed since is applied here (see /status rewind)',
    );
  }

  #roleChanged(change: RoleChangedCommand): void {
    if (change.leaderId !== this.#lastLeaderId && change.leaderId !== null) {
      this.#metrics.leaderChanges.inc();
      if (this.#lastKnownLeaderId !== null && this.#lastKnownLeaderId !== change.leaderId)
        this.#metrics.failovers.inc();
      this.#lastKnownLeaderId = change.leaderId;
    }
    this.#lastLeaderId = change.leaderId;
    this.#rewind.roleChanged(change);
    this.#leadership.handle(change);
  }

  /** Whether this node has applied the log closely enough for failback (`apply-caught-up.ts`); every probe. */
  #reportApplyProgress(): void {
    if (this.#applyLoop === undefined || this.#log === undefined) return;
    const maxLagMs = this.#config.cluster.max_apply_lag_ms;
    const applied = this.#applyLoop.appliedIndex;
    const boundAgo = appliedIndexAgo(this.#appliedSamples, Date.now(), maxLagMs) ?? applied;
    this.#appliedRecently = applied - boundAgo;
    this.#log.setApplyCaughtUp(
      applyCaughtUp({
        commitIndex: this.#log.commitIndex,
        appliedIndex: applied,
        lagMs: this.#lagMs(),
        appliedIndexBoundAgo: boundAgo,
        applyFailed: this.#applyLoop.status().kind === 'failed',
        maxLagMs,
      }),
    );
  }

  #recordCommit(index: number): void {
    // Between probes: a commit that leaves more to apply than the node applied in the last
    // bound makes it "behind" at once (a node back from a partition learns many at a time; the
    // next probe may come after its rewind check has made it a failback target).
    if (this.#applyLoop !== undefined && index - this.#applyLoop.appliedIndex > this.#appliedRecently)
      this.#log.setApplyCaughtUp(false);
    this.#commitTimes.push({ index, atMs: Date.now() });
    if (this.#commitTimes.length > commitTimesMax)
      this.#commitTimes.splice(0, this.#commitTimes.length - commitTimesMax);
  }

  #rememberGtid(gtid: string, index: number): void {
    this.#gtidIndexes.set(gtid, index);
    if (this.#gtidIndexes.size > gtidIndexesMax) {
      const oldest = this.#gtidIndexes.keys().next().value;
      if (oldest !== undefined) this.#gtidIndexes.delete(oldest);
    }
  }

  /** Milliseconds since the oldest committed entry this node has not applied was committed. */
  #lagMs(): number {
    const applied = this.#applyLoop.appliedIndex;
    if (applied >= this.#log.commitIndex) return 0;
    const first = this.#commitTimes.find((commit) => commit.index > applied);
    return first === undefined ? 0 : Date.now() - first.atMs;
  }

  /** The read-only view the MySQL proxy routes by (src/proxy/route.ts). */
  #proxyView(): ProxyClusterSource {
    // Computed at most every 2 ms: routing asks per statement, and a view that old is harmless
    // (a write sent to a leader that just stepped down is refused by its read-only MariaDB).
    let cached: { view: ClusterView; atMs: number } | undefined;
    return {
      view: () => {
        const now = Date.now();
        if (cached !== undefined && now - cached.atMs < 2) return cached.view;
        const view: ClusterView = {
          localIsLeader: this.writeRoute().kind === 'local',
          // Until the rewind check is done, a deposed leader's MariaDB may show commits no quorum
          // acknowledged (released when their sessions were ended): reads go to the leader.
          localHealthy:
            this.#health.kind === 'healthy' &&
            this.#rewind.view.state !== 'waiting' &&
            this.#rewind.view.state !== 'rewinding' &&
            this.#rewind.view.state !== 'needs_migration',
          appliedPosition: this.#applyLoop.appliedPosition,
          lagMs: this.#lagMs(),
          localReadBlocker: localReadBlocker(this.#rewind.view.state),
        };
        cached = { view, atMs: now };
        return view;
      },
      leaderProxy: () => {
        const status = this.#log.status();
        if (status.leaderId === null || status.leaderId === status.id) return undefined;
        const address = this.#log.peerMeta(status.leaderId)?.['proxyAddress'];
        return address === undefined ? undefined : { id: status.leaderId, ...splitHostPort(address) };
      },
    };
  }

  /** The MySQL proxy's port, when it runs. */
  get proxyPort(): number | undefined {
    return this.#proxy?.port;
  }

  // ---- NodeApi -------------------------------------------------------------------------------

  writeRoute(): WriteRoute {
    return writeRouteOf(
      this.#log.status(),
      this.#leadership.state,
      (id) => this.#log.peerMeta(id)?.['apiUrl'],
    );
  }

  #ownStatusName(): NodeStatusName {
    if (this.#resetRequested) return 'OFFLINE';
    if (this.#rewind.needsMigration) return 'NEEDS_MIGRATION';
    if (this.#applyLoop.status().kind === 'failed') return 'DIVERGED';
    const lag = this.#log.commitIndex - this.#applyLoop.appliedIndex;
    const reported = this.#log.nodeStatuses().get(this.#config.node.id);
    if (reported !== undefined && reported !== 'ACTIVE') return reported;
    return lag > 0 && this.#lagMs() > this.#config.cluster.max_apply_lag_ms ? 'SYNCING' : 'ACTIVE';
  }

  status(): NodeStatusView {
    const engine = this.#log.status();
    const applyStatus = this.#applyLoop.status();
    const detail =
      applyStatus.kind === 'failed'
        ? `applying stopped: ${applyStatus.error.message}`
        : this.#leadership.state.kind === 'failed'
          ? this.#leadership.state.reason
          : (this.#log.failure()?.message ?? null);
    return {
      node_id: engine.id,
      role: engine.role,
      status: this.#ownStatusName(),
      leader_id: engine.leaderId,
      writable: this.writeRoute().kind === 'local',
      term: engine.term,
      commit_index: this.#log.commitIndex,
      applied_index: this.#applyLoop.appliedIndex,
      last_index: engine.lastLogId.index,
      gtid_position: this.#gtidPosition,
      lag_entries: Math.max(0, this.#log.commitIndex - this.#applyLoop.appliedIndex),
      lag_ms: this.#lagMs(),
      cluster_size: engine.members.length,
      has_quorum: engine.leaderId !== null,
      uptime_seconds: Math.floor((Date.now() - this.#startedMs) / 1000),
      mariadb:
        this.#health.kind === 'healthy'
          ? { healthy: true, reason: null }
          : { healthy: false, reason: this.#health.reason },
      detail,
      rewind: this.#rewind.view,
      apply: {
        mode: this.#config.apply.mode,
        state: applyStatus.kind,
        paused_ms: applyStatus.kind === 'paused' ? Date.now() - applyStatus.sinceMs : null,
      },
    };
  }

  health(): HealthView {
    const reasons: string[] = [];
    if (this.#health.kind !== 'healthy') reasons.push(`MariaDB: ${this.#health.reason}`);
    const applyStatus = this.#applyLoop.status();
    if (applyStatus.kind === 'failed') reasons.push(`applying stopped: ${applyStatus.error.message}`);
    const failure = this.#log.failure();
    if (failure !== undefined) reasons.push(`replicated log stopped: ${failure.message}`);
    if (this.#leadership.state.kind === 'failed') reasons.push(this.#leadership.state.reason);
    return {
      healthy: reasons.length === 0,
      node_id: this.#config.node.id,
      is_leader: this.#log.status().role === 'LEADER',
      reasons,
    };
  }

  cluster(): readonly ClusterNodeView[] {
    const engine = this.#log.status();
    const statuses = this.#log.nodeStatuses();
    const ownAddress = this.#config.node.advertise_address ?? this.#config.node.bind_address;
    return engine.members.map((member): ClusterNodeView => {
      const self = member.id === engine.id;
      const peer = this.#settings.peers.find((p) => p.id === member.id);
      const connected = self || this.#log.connectedPeers().includes(member.id);
      const reported = self
        ? this.#ownStatusName()
        : (statuses.get(member.id) ?? (connected ? 'ACTIVE' : 'OFFLINE'));
      const progress = self ? undefined : this.#reports.view(member.id);
      return {
        id: member.id,
        address: self ? ownAddress : (peer?.address ?? 'unknown'),
        api_url: self ? this.#settings.apiUrl : (this.#log.peerMeta(member.id)?.['apiUrl'] ?? null),
        status: reported,
        role: member.id === engine.leaderId ? 'LEADER' : 'FOLLOWER',
        applied_index: self ? this.#applyLoop.appliedIndex : (progress?.appliedIndex ?? 0),
        lag_entries: self
          ? Math.max(0, this.#log.commitIndex - this.#applyLoop.appliedIndex)
          : (progress?.applyLagEntries ?? 0),
        lag_ms: self ? this.#lagMs() : (progress?.applyLagMs ?? null),
        last_seen_ms_ago: self ? 0 : (progress?.lastSeenMsAgo ?? null),
      };
    });
  }

  async metrics(): Promise<{ readonly contentType: string; readonly body: string }> {
    const engine = this.#log.status();
    const m = this.#metrics;
    m.isLeader.set(engine.role === 'LEADER' ? 1 : 0);
    m.term.set(engine.term);
    m.lastIndex.set(engine.lastLogId.index);
    m.commitIndex.set(this.#log.commitIndex);
    m.appliedIndex.set(this.#applyLoop.appliedIndex);
    m.applyLagEntries.set(Math.max(0, this.#log.commitIndex - this.#applyLoop.appliedIndex));
    m.mariadbHealthy.set(this.#health.kind === 'healthy' ? 1 : 0);
    m.followerMatchLag.reset();
    m.followerApplyLagEntries.reset();
    m.followerApplyLagMs.reset();
    for (const progress of this.#log.followerProgress())
      m.followerMatchLag.set(
        { node: progress.id },
        Math.max(0, engine.lastLogId.index - progress.matchIndex),
      );
    for (const member of engine.members) {
      if (member.id === engine.id) continue;
      const view = this.#reports.view(member.id);
      if (view.applyLagEntries !== null)
        m.followerApplyLagEntries.set({ node: member.id }, view.applyLagEntries);
      if (view.applyLagMs !== null) m.followerApplyLagMs.set({ node: member.id }, view.applyLagMs);
    }
    const wal = this.#log.walSize();
    m.walBytes.set(wal.bytes);
    m.walSegments.set(wal.segments);
    m.walFirstIndex.set(this.#log.firstIndex());
    m.retentionChecks.set(this.#reports.retentionChecks());
    m.purgedEntries.set(this.#reports.purgedEntries());
    const oldest = this.#appliedSamples[0];
    const newest = this.#appliedSamples.at(-1);
    m.applyRate.set(
      oldest === undefined || newest === undefined || newest.atMs <= oldest.atMs
        ? 0
        : ((newest.index - oldest.index) * 1000) / (newest.atMs - oldest.atMs),
    );
    m.throttling.set(this.#reports.throttling ? 1 : 0);
    m.throttledSeconds.set(this.#reports.throttledMs() / 1000);
    return { contentType: m.registry.contentType, body: await m.registry.metrics() };
  }

  async write(statement: Statement): Promise<Result<WriteOutcome>> {
    if (this.writeRoute().kind !== 'local')
      return fail('NOT_LEADER', 'this node stopped leading before the write ran; retry');
    let connection: mariadb.PoolConnection;
    try {
      connection = await this.#pool.getConnection();
    } catch (error) {
      return fail(
        'DATABASE_UNAVAILABLE',
        `the leader's MariaDB does not answer: ${(error as Error).message}`,
      );
    }
    let timer: NodeJS.Timeout | undefined;
    let abandoned = false;
    try {
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), writeTimeoutMs);
      });
      const run = (async () => {
        const result = (await connection.query(statement.sql, [...statement.values])) as {
          affectedRows?: number | bigint;
          insertId?: number | bigint;
        };
        const [row] = (await connection.query('SELECT @@last_gtid AS gtid')) as Array<{ gtid: string }>;
        return { result, gtid: row?.gtid ?? '' };
      })();
      const outcome = await Promise.race([run, timedOut]);
      if (outcome === 'timeout') {
        // Not the driver's destroy() of a busy connection (src/mariadb/abandon-connection.ts):
        // its thread is ended with a KILL of our own, then the pool drops it (it is no longer
        // valid) — or keeps waiting for it if the server hangs; the response does not wait.
        abandoned = true;
        const db = this.#config.database;
        const killer = {
          host: db.host,
          port: db.port,
          ...(db.socket === undefined ? {} : { socketPath: db.socket }),
          user: db.user,
          password: db.password,
        };
        void killThread(killer, connection.threadId).then(() => connection.release().catch(() => undefined));
        return fail(
          'OUTCOME_UNKNOWN',
          `the write did not finish within ${writeTimeoutMs} ms (the leader may have lost its quorum): check whether it happened before retrying`,
        );
      }
      const gtid = outcome.gtid === '' ? null : outcome.gtid;
      return ok({
        affected_rows: Number(outcome.result.affectedRows ?? 0),
        insert_id: String(outcome.result.insertId ?? 0),
        gtid,
        wal_index: gtid === null ? null : (this.#gtidIndexes.get(gtid) ?? null),
      });
    } catch (error) {
      const e = error as { errno?: number; sqlState?: string; sqlMessage?: string; message: string };
      if (e.errno !== undefined && e.errno < 2000) {
        return fail('DATABASE_ERROR', e.sqlMessage ?? e.message, {
          database: { errno: e.errno, sqlState: e.sqlState ?? 'HY000', message: e.sqlMessage ?? e.message },
        });
      }
      return fail(
        'OUTCOME_UNKNOWN',
        `the connection to MariaDB failed during the write (${e.message}): check whether it happened before retrying`,
      );
    } finally {
      clearTimeout(timer);
      if (!abandoned && connection.isValid()) await connection.release().catch(() => undefined);
    }
  }

  async promote(options: {
    readonly force: boolean;
    readonly nodeId: string;
  }): Promise<Result<AdminOutcome>> {
    const engine = this.#log.status();
    if (options.force) {
      const reachable = [engine.id, ...this.#log.connectedPeers()];
      this.#logger.warn({ members: reachable }, 'FORCED PROMOTION requested by an operator');
      this.#log.forcePromote(reachable);
      return ok({
        message: `forced promotion of ${engine.id} with members ${reachable.join(', ')} requested: entries a lost majority committed beyond this node's log are lost; the node log lists the index range that may be affected`,
      });
    }
    if (engine.role !== 'LEADER')
      return fail('NOT_LEADER', 'only the leader can transfer leadership; send this to the leader');
    if (options.nodeId === engine.id) return ok({ message: `${engine.id} already leads` });
    if (!engine.members.some((member) => member.id === options.nodeId)) {
      return fail('NODE_NOT_FOUND', `${options.nodeId} is not a member of this cluster`);
    }
    this.#log.transferLeadership(options.nodeId);
    return ok({ message: `leadership transfer from ${engine.id} to ${options.nodeId} started` });
  }

  async demote(): Promise<Result<AdminOutcome>> {
    const engine = this.#log.status();
    if (engine.role !== 'LEADER')
      return fail('NOT_LEADER', 'only the leader can step down; send this to the leader');
    this.#log.transferLeadership(null);
    return ok({ message: `${engine.id} is handing leadership to the next eligible node` });
  }

  /**
   * Stops the node and deletes its WAL and membership record (keeping the term and vote, so it
   * can never vote twice in a term). On restart it fetches the log again from the leader; its
   * MariaDB keeps its data, and the applier skips what it already holds.
   */
  async reset(): Promise<Result<AdminOutcome>> {
    if (this.#log.status().role === 'LEADER') {
      return fail('BAD_REQUEST', 'this node leads: demote it first (wolfctl demote), then reset it');
    }
    this.#resetRequested = true;
    setImmediate(() => void this.stop('reset requested'));
    return ok({
      message: `${this.#config.node.id} stops and deletes its WAL; restart it to fetch the log from the leader`,
    });
  }

  /** Stops everything (leadership handed over first when this node leads). Idempotent. */
  stop(reason: string): Promise<void> {
    this.#stopping ??= this.#stop(reason);
    return this.#stopping;
  }

  async #stop(reason: string): Promise<void> {
    this.#logger.info({ reason }, 'node stopping');
    clearInterval(this.#healthTimer);
    this.#reports?.stop();
    if (this.#log !== undefined && this.#log.status().role === 'LEADER' && !this.#resetRequested) {
      this.#log.transferLeadership(null);
      const deadline = Date.now() + 2000;
      while (this.#log.status().role === 'LEADER' && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
    await this.#http?.close();
    await this.#proxy?.close();
    await this.#leadership?.close();
    await this.#applyLoop?.stop();
    await this.#log?.close();
    if (this.#resetRequested) {
      await rm(join(this.#config.node.data_dir, 'wal'), { recursive: true, force: true });
      await rm(join(this.#config.node.data_dir, 'membership.json'), { force: true });
    }
    await this.#pool.end().catch(() => undefined);
    await this.#dataDirLock?.release();
    for (const listener of this.#stoppedListeners) listener(reason);
  }
}

/** Reads cluster.tls_cert / tls_key / tls_ca; a file that cannot be read stops the start. */
async function clusterTls(config: ConfigFile): Promise<TransportTls | undefined> {
  const { tls_cert: certPath, tls_key: keyPath, tls_ca: caPath } = config.cluster;
  if (certPath === undefined || keyPath === undefined) return undefined;
  const read = async (key: string, path: string): Promise<Buffer> => {
    try {
      return await readFile(path);
    } catch (error) {
      throw new NodeStartError(
        `cannot read ${key} ${path}: ${(error as Error).message}: fix the path or the file's permissions`,
      );
    }
  };
  return {
    cert: await read('cluster.tls_cert', certPath),
    key: await read('cluster.tls_key', keyPath),
    ...(caPath === undefined ? {} : { ca: await read('cluster.tls_ca', caPath) }),
  };
}

async function fileExists(path: string): Promise<boolean> {
  return await access(path).then(
    () => true,
    () => false,
  );
}

function splitAddress(address: string): [string, number] {
  const colon = address.lastIndexOf(':');
  return [address.slice(0, colon).replace(/^\[|\]$/g, ''), Number(address.slice(colon + 1))];
}

/**
 * Where writes go, from the engine's role and term and the leadership state (pure).
 *
 * Local only when this node leads *this* term and its MariaDB was opened for writes in *this*
 * term. A `writable` state left over from an earlier term does not count: between a new role
 * change and its transition (read_only=ON, rewind of the old tail, opening again), the state
 * still says `writable` for the old term while MariaDB may hold commits no quorum acknowledged.
 * Found by the chaos suite (docs/RELIABILITY.md, "Failures found"): a paused leader, resumed,
 * was elected again at once and reported `writable` for the new term; clients sent there read
 * transactions that were rewound a moment later.
 */
export function writeRouteOf(
  engine: { readonly role: string; readonly term: number; readonly leaderId: string | null },
  state: LeadershipState,
  apiUrlOf: (nodeId: string) => string | undefined,
): WriteRoute {
  if (engine.role === 'LEADER') {
    if (state.kind === 'writable' && state.term === engine.term) return { kind: 'local' };
    const current = state.kind === 'follower' || state.term === engine.term;
    return {
      kind: 'no-leader',
      reason: !current
        ? `this node was elected leader for term ${engine.term} and is stepping down from an earlier term before it opens for writes; retry shortly`
        : state.kind === 'opening'
          ? `this node was elected leader and is opening for writes (${state.step}); retry shortly`
          : state.kind === 'transferring'
            ? `this node is handing leadership to ${state.to}; retry shortly`
            : `this node leads but cannot take writes: ${state.kind === 'failed' ? state.reason : 'opening'}`,
    };
  }
  if (engine.leaderId === null) {
    return {
      kind: 'no-leader',
      reason:
        'no leader is elected right now (an election is running, or a majority is unreachable); retry shortly',
    };
  }
  const apiUrl = apiUrlOf(engine.leaderId);
  if (apiUrl === undefined) {
    return {
      kind: 'no-leader',
      reason: `the leader ${engine.leaderId} has not told this node its API address yet; retry shortly`,
    };
  }
  return { kind: 'forward', leaderId: engine.leaderId, apiUrl };
}
