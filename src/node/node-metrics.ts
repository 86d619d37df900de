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
    help: 'leader only: entries a follower lacks',
    labelNames: ['node'],
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
