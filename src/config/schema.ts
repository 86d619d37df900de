import { z } from 'zod';

/**
 * The configuration file's schema: the original WolfScale's sections and key names (so existing
 * files keep working), the keys this design adds, and their defaults. Every section is optional;
 * only `node.id` and the database credentials have no default.
 *
 * Keys the original accepted but that never had an effect there (`cluster.auto_discovery`,
 * `api.cors_enabled`, `performance.*`, …) are accepted and reported as warnings by the loader, so
 * an old file starts; see `inertKeys`.
 */

const hostPortRe = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$/;

/** "host:port" with a port in 1..65535. IPv6 hosts in brackets. */
export const hostPort = z.string().refine(
  (value) => {
    const match = hostPortRe.exec(value);
    if (match === null) return false;
    const port = Number(match[2]);
    return port >= 1 && port <= 65535;
  },
  { message: 'expected "host:port" with a port from 1 to 65535, e.g. "10.0.0.1:7654"' },
);

/** A peer: "host:port" or "id@host:port" (the id is checked against what the peer announces). */
export const peer = z.string().refine(
  (value) => {
    const at = value.lastIndexOf('@');
    return hostPort.safeParse(at >= 0 ? value.slice(at + 1) : value).success && (at < 0 || at > 0);
  },
  { message: 'expected a peer as "host:port" or "id@host:port", e.g. "node-2@10.0.0.2:7654"' },
);

const nodeIdRe = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

const port = z.number().int().min(1).max(65535);
const positiveInt = z.number().int().positive();
const nonNegativeInt = z.number().int().nonnegative();

const nodeSection = z.strictObject({
  id: z.string().regex(nodeIdRe, {
    message: 'expected 1–64 letters, digits, "_", "." or "-", starting with a letter or digit, e.g. "node-1"',
  }),
  bind_address: hostPort.default('0.0.0.0:7654'),
  advertise_address: hostPort.optional(),
  data_dir: z.string().min(1).default('/var/lib/wolfscale'),
});

const databaseSection = z.strictObject({
  host: z.string().min(1).default('127.0.0.1'),
  port: port.default(3306),
  /** A unix socket; when set it is used instead of host and port. */
  socket: z.string().min(1).optional(),
  user: z.string().min(1),
  password: z.string(),
  database: z.string().min(1).optional(),
  pool_size: positiveInt.max(1000).default(10),
  connect_timeout_secs: positiveInt.max(3600).default(30),
});

const walSection = z.strictObject({
  batch_size: positiveInt.max(1_000_000).default(1000),
  flush_interval_ms: nonNegativeInt.max(10_000).default(0),
  compression: z.boolean().default(true),
  segment_size_mb: positiveInt.max(4096).default(64),
  retention_hours: nonNegativeInt.default(168),
  fsync: z.boolean().default(true),
});

const clusterSection = z.strictObject({
  cluster_name: z.string().min(1).default('wolfscale'),
  /** Shared secret for the HMAC challenge between nodes. Required once there are peers. */
  secret: z.string().min(16, { message: 'expected a shared secret of at least 16 characters' }).optional(),
  peers: z.array(peer).default([]),
  bootstrap: z.boolean().default(false),
  heartbeat_interval_ms: positiveInt.min(10).max(60_000).default(500),
  election_timeout_ms: positiveInt.min(50).max(600_000).default(1500),
  never_leader: z.boolean().default(false),
  /** Original name of `never_leader`; either one set means the node never campaigns. */
  disable_auto_election: z.boolean().default(false),
  failback: z.boolean().default(true),
  dead_node_removal_s: positiveInt.max(86_400).default(30),
  max_apply_lag_ms: positiveInt.max(3_600_000).default(1000),
  max_batch_entries: positiveInt.max(100_000).default(1000),
  tls_cert: z.string().min(1).optional(),
  tls_key: z.string().min(1).optional(),
  tls_ca: z.string().min(1).optional(),
  // Accepted for old files; no effect (see inertKeys).
  auto_discovery: z.boolean().optional(),
  election_timeout_min_ms: positiveInt.optional(),
  election_timeout_max_ms: positiveInt.optional(),
  min_quorum: nonNegativeInt.optional(),
});

const apiSection = z.strictObject({
  enabled: z.boolean().default(true),
  bind_address: hostPort.default('0.0.0.0:8080'),
  /** Bearer token for writes and admin. Without one, writes and admin are refused. */
  token: z.string().min(16, { message: 'expected a token of at least 16 characters' }).optional(),
  /** Whether /health, /status, /cluster and /metrics answer without the token. */
  open_status: z.boolean().default(true),
  cors_enabled: z.boolean().optional(),
});

const proxySection = z.strictObject({
  enabled: z.boolean().default(true),
  bind_address: hostPort.default('0.0.0.0:8007'),
  tls_cert: z.string().min(1).optional(),
  tls_key: z.string().min(1).optional(),
  /** Refuse clients that do not use TLS (needs tls_cert and tls_key). */
  tls_required: z.boolean().default(false),
  max_lag_ms: nonNegativeInt.max(3_600_000).default(1000),
  failover_wait_ms: nonNegativeInt.max(600_000).default(5000),
  max_connections: positiveInt.max(100_000).default(1000),
  idle_timeout_s: nonNegativeInt.max(604_800).default(28_800),
  // The original's names for the TLS keys; mapped onto tls_* by the loader.
  ssl_enabled: z.boolean().optional(),
  ssl_cert: z.string().min(1).optional(),
  ssl_key: z.string().min(1).optional(),
  ssl_required: z.boolean().optional(),
  backend_user: z.string().optional(),
  backend_password: z.string().optional(),
});

const loggingSection = z.strictObject({
  level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).default('info'),
  /** pretty on a terminal and json otherwise, unless set. */
  format: z.enum(['auto', 'pretty', 'json']).default('auto'),
  file: z.string().min(1).optional(),
});

const applySection = z.strictObject({
  /**
   * How a follower applies committed transactions to its MariaDB. replica (default): MariaDB's
   * own parallel replication, fed from this node's binlog stream on 127.0.0.1 (group commit on
   * the follower; needs log_slave_updates=ON). session: WolfScale's own client sessions (BINLOG
   * statements, commits in order).
   */
  mode: z.enum(['session', 'replica']).default('replica'),
  /** session mode: sessions applying at once. */
  sessions: positiveInt.max(16).default(4),
  /** replica mode: slave_parallel_threads. */
  replica_threads: nonNegativeInt.max(256).default(8),
  /** replica mode: slave_parallel_mode. */
  replica_parallel_mode: z
    .enum(['optimistic', 'conservative', 'aggressive', 'minimal', 'none'])
    .default('optimistic'),
});

const replicationSection = z.strictObject({
  /**
   * local: capture from this node's own MariaDB (the default). binlog: capture from an external
   * server given in [binlog]. "proxy" is the original's name for local capture.
   */
  mode: z.enum(['local', 'binlog', 'proxy']).default('local'),
});

const binlogSection = z.strictObject({
  host: z.string().min(1).optional(),
  port: port.default(3306),
  user: z.string().min(1).optional(),
  password: z.string().optional(),
  server_id: positiveInt.max(4_294_967_295).default(1001),
  /** A GTID position to start from, e.g. "0-1-100"; default: the source's current position. */
  start_gtid: z.string().min(1).optional(),
  start_file: z.string().min(1).optional(),
  start_position: nonNegativeInt.optional(),
});

const performanceSection = z.strictObject({
  auto_tune: z.boolean().optional(),
  worker_threads: nonNegativeInt.optional(),
  channel_buffer: nonNegativeInt.optional(),
});

export const configSchema = z.strictObject({
  node: nodeSection,
  database: databaseSection,
  wal: walSection.default(walSection.parse({})),
  cluster: clusterSection.default(clusterSection.parse({})),
  api: apiSection.default(apiSection.parse({})),
  proxy: proxySection.default(proxySection.parse({})),
  logging: loggingSection.default(loggingSection.parse({})),
  apply: applySection.default(applySection.parse({})),
  replication: replicationSection.default(replicationSection.parse({})),
  binlog: binlogSection.default(binlogSection.parse({})),
  performance: performanceSection.optional(),
});

/** The file as parsed: snake_case keys, defaults filled in. */
export type ConfigFile = z.infer<typeof configSchema>;

/** Keys accepted for compatibility that do nothing; the loader warns when a file sets them. */
export const inertKeys: Readonly<Record<string, string>> = {
  'cluster.auto_discovery': 'nodes find each other through cluster.peers; UDP discovery is not supported',
  'cluster.election_timeout_min_ms': 'the election timeout is cluster.election_timeout_ms',
  'cluster.election_timeout_max_ms': 'the election timeout is cluster.election_timeout_ms',
  'cluster.min_quorum': 'the quorum is always a majority of the voting members',
  'api.cors_enabled': 'the API sends no CORS headers',
  'proxy.backend_user': 'the proxy logs in to MariaDB as the client itself',
  'proxy.backend_password': 'the proxy logs in to MariaDB as the client itself',
  'performance.auto_tune': 'nothing to tune',
  'performance.worker_threads': 'nothing to tune',
  'performance.channel_buffer': 'nothing to tune',
};
