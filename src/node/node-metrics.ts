import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The node's Prometheus metrics, in a registry of its own (several nodes may share a process in
 * tests and the playground). Gauges are set from the node's state when scraped.
 */
export class NodeMetrics {
  readonly registry = new Registry();
  readonly isLeader = new Gauge({
    name: 'wolfscale_is_leader',
    help: '1 when this node leads',
    registers: [this.registry],
  });
  readonly term = new Gauge({
    name: 'wolfscale_term',
    help: 'current consensus term',
    registers: [this.registry],
  });
  readonly lastIndex = new Gauge({
    name: 'wolfscale_wal_last_index',
    help: 'last WAL index',
    registers: [this.registry],
  });
  readonly commitIndex = new Gauge({
    name: 'wolfscale_commit_index',
    help: 'highest quorum-committed index',
    registers: [this.registry],
  });
  readonly appliedIndex = new Gauge({
    name: 'wolfscale_applied_index',
    help: 'highest index applied to the local MariaDB',
    registers: [this.registry],
  });
  readonly applyLagEntries = new Gauge({
    name: 'wolfscale_apply_lag_entries',
    help: 'committed entries not yet applied locally',
    registers: [this.registry],
  });
  readonly followerMatchLag = new Gauge({
    name: 'wolfscale_follower_lag_entries',
    help: 'leader only: entries a follower does not hold durably yet (last index − its match index)',
    labelNames: ['node'],
    registers: [this.registry],
  });
  readonly followerApplyLagEntries = new Gauge({
    name: 'wolfscale_follower_apply_lag_entries',
    help: 'committed entries a node has not applied to its MariaDB, as this node last heard (leader: from the followers; follower: from the leader)',
    labelNames: ['node'],
    registers: [this.registry],
  });
  readonly followerApplyLagMs = new Gauge({
    name: 'wolfscale_follower_apply_lag_ms',
    help: 'milliseconds a node is behind applying (age of its oldest unapplied committed entry), as last reported',
    labelNames: ['node'],
    registers: [this.registry],
  });
  readonly walBytes = new Gauge({
    name: 'wolfscale_wal_bytes',
    help: 'bytes of frames in the WAL segment files',
    registers: [this.registry],
  });
  readonly walSegments = new Gauge({
    name: 'wolfscale_wal_segments',
    help: 'WAL segment files held',
    registers: [this.registry],
  });
  readonly walFirstIndex = new Gauge({
    name: 'wolfscale_wal_first_index',
    help: 'first index still in the WAL (grows as retention purges)',
    registers: [this.registry],
  });
  readonly retentionChecks = new Gauge({
    name: 'wolfscale_wal_retention_checks_total',
    help: 'times retention decided what this node may purge (each may remove nothing)',
    registers: [this.registry],
  });
  readonly purgedEntries = new Gauge({
    name: 'wolfscale_wal_purged_entries_total',
    help: 'WAL entries removed by retention since the node started',
    registers: [this.registry],
  });
  readonly applyRate = new Gauge({
    name: 'wolfscale_apply_rate_entries_per_second',
    help: 'entries applied (or, on the leader, its own captures counted as applied) per second over the last ~10 s',
    registers: [this.registry],
  });
  readonly throttling = new Gauge({
    name: 'wolfscale_flow_control_throttling',
    help: 'leader only: 1 while commit acknowledgements are held because a follower is behind applying',
    registers: [this.registry],
  });
  readonly throttledSeconds = new Gauge({
    name: 'wolfscale_flow_control_held_seconds',
    help: 'leader only: total seconds commit acknowledgements were held by flow control since the node started',
    registers: [this.registry],
  });
  readonly failovers = new Counter({
    name: 'wolfscale_failovers_total',
    help: 'times the leader changed from one known node to another, as seen by this node (failover, transfer, failback)',
    registers: [this.registry],
  });
  readonly mariadbHealthy = new Gauge({
    name: 'wolfscale_mariadb_healthy',
    help: '1 when the local MariaDB answers',
    registers: [this.registry],
  });
  readonly transactionsCommitted = new Counter({
    name: 'wolfscale_transactions_committed_total',
    help: 'leader only: captured transactions committed on a quorum and acknowledged',
    registers: [this.registry],
  });
  readonly leaderChanges = new Counter({
    name: 'wolfscale_leader_changes_total',
    help: 'times this node saw a new leader (failovers, transfers, elections)',
    registers: [this.registry],
  });
  readonly commitLatency = new Histogram({
    name: 'wolfscale_commit_latency_seconds',
    help: 'leader only: from capture to quorum commit',
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'wolfscale_process_' });
  }
}
