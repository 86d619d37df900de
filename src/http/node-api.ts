import type { Result } from '../errors/error-codes.js';
import type { Statement } from './write-sql.js';

/**
 * What the HTTP API needs from a running node: the port between src/http (which owns routes,
 * validation and auth) and src/node (which owns the state). The node implements it; tests may
 * implement it with plain values.
 */
export type Role = 'LEADER' | 'FOLLOWER' | 'CANDIDATE';

export type NodeStatusName =
  | 'JOINING'
  | 'SYNCING'
  | 'ACTIVE'
  | 'LAGGING'
  | 'DROPPED'
  | 'OFFLINE'
  | 'NEEDS_MIGRATION'
  | 'DIVERGED';

export interface NodeStatusView {
  readonly node_id: string;
  readonly role: Role;
  readonly status: NodeStatusName;
  readonly leader_id: string | null;
  /** True on the leader once its MariaDB accepts writes (capture connected, read_only off). */
  readonly writable: boolean;
  readonly term: number;
  readonly commit_index: number;
  readonly applied_index: number;
  readonly last_index: number;
  /** This node's MariaDB `@@gtid_binlog_pos`, when it answers. */
  readonly gtid_position: string | null;
  /** Committed entries this node has not applied yet. */
  readonly lag_entries: number;
  /** Age of the oldest committed entry this node has not applied; 0 when caught up. */
  readonly lag_ms: number;
  readonly cluster_size: number;
  readonly has_quorum: boolean;
  readonly uptime_seconds: number;
  readonly mariadb: { readonly healthy: boolean; readonly reason: string | null };
  /** Why this node is not ACTIVE, or what it discarded on rejoin; null when there is nothing to say. */
  readonly detail: string | null;
  /** The rewind of transactions this node held but the cluster never committed (issue 9). */
  readonly rewind?: RewindView;
  /**
   * The apply loop: `paused` while a rewind check holds it (nothing new is applied), with how
   * long it has been paused; `failed` when applying stopped for good (see `detail`).
   */
  readonly apply?: {
    readonly mode: 'session' | 'replica';
    readonly state: 'running' | 'paused' | 'failed';
    readonly paused_ms: number | null;
  };
}

/** What the last rewind check found and discarded (src/node/DESIGN.md, "Rewind"). */
export interface RewindView {
  /** waiting: applying paused until checked; clean: nothing to discard; rewound: last rewind below. */
  readonly state: 'waiting' | 'clean' | 'rewinding' | 'rewound' | 'needs_migration';
  readonly detail: string | null;
  /** The transactions undone by the last rewind, with the tables their row events changed. */
  readonly discarded: ReadonlyArray<{ readonly gtid: string; readonly tables: readonly string[] }>;
  /** Rows changed by the undo, per table. */
  readonly rows_by_table: Readonly<Record<string, number>>;
  /** `@@gtid_binlog_state` the last rewind restored. */
  readonly restored_position: string | null;
  readonly at: string | null;
}

export interface ClusterNodeView {
  readonly id: string;
  /** Cluster address (node.advertise_address). */
  readonly address: string;
  /** The node's HTTP API, e.g. "http://10.0.0.2:8080"; null until the node has told the leader. */
  readonly api_url: string | null;
  readonly status: NodeStatusName;
  readonly role: Role;
  readonly applied_index: number;
  readonly lag_entries: number;
  readonly lag_ms: number | null;
  /** Milliseconds since the leader last heard from it; null when never. */
  readonly last_seen_ms_ago: number | null;
}

export interface HealthView {
  readonly healthy: boolean;
  readonly node_id: string;
  readonly is_leader: boolean;
  /** Empty when healthy; otherwise each reason says what is wrong. */
  readonly reasons: readonly string[];
}

export interface WriteOutcome {
  readonly affected_rows: number;
  /** A string, because MariaDB insert ids can exceed 2^53. */
  readonly insert_id: string;
  /** The GTID the write committed under on the leader. */
  readonly gtid: string | null;
  /** The WAL index of the transaction, once the leader captured it. */
  readonly wal_index: number | null;
}

export interface AdminOutcome {
  readonly message: string;
}

/** Where a write arriving here must run. */
export type WriteRoute =
  | { readonly kind: 'local' }
  | { readonly kind: 'forward'; readonly leaderId: string; readonly apiUrl: string }
  | { readonly kind: 'no-leader'; readonly reason: string };

export interface NodeApi {
  /** Decides whether writes run here or are forwarded to the leader's API. */
  writeRoute(): WriteRoute;
  status(): NodeStatusView;
  health(): HealthView;
  cluster(): readonly ClusterNodeView[];
  /** Prometheus exposition text. */
  metrics(): Promise<{ readonly contentType: string; readonly body: string }>;
  /**
   * Runs one write on the leader's MariaDB (forwarding to it from a follower). Resolves once the
   * transaction is committed on a quorum, or with an error value.
   */
  write(statement: Statement): Promise<Result<WriteOutcome>>;
  /**
   * Makes `nodeId` the leader. Without `force` this runs on the leader (a transfer). With `force`
   * it runs on the node to promote, for a lost majority, and reports what may be lost.
   */
  promote(options: { readonly force: boolean; readonly nodeId: string }): Promise<Result<AdminOutcome>>;
  demote(): Promise<Result<AdminOutcome>>;
  /** Deletes this node's WAL and hard state after stopping it; the node must be restarted. */
  reset(): Promise<Result<AdminOutcome>>;
}
