import { stringify } from 'smol-toml';

/** What `wolfscale init` asks for; everything else keeps its default and is shown commented out. */
export interface ConfigAnswers {
  readonly nodeId: string;
  readonly bindAddress: string;
  readonly advertiseAddress?: string;
  readonly dataDir: string;
  readonly databaseHost: string;
  readonly databasePort: number;
  readonly databaseUser: string;
  readonly databasePassword: string;
  readonly peers: readonly string[];
  readonly clusterName: string;
  readonly secret: string;
  readonly apiToken: string;
}

/** A TOML value, quoted and escaped by the TOML library rather than by hand. */
function value(v: string | number | boolean | readonly string[]): string {
  return stringify({ v }).replace(/^v = /, '').trim();
}

/**
 * The text of a commented configuration file. Pure: the caller writes it. Every line it emits
 * passes `parseConfig` (a test checks this).
 */
export function renderConfig(answers: ConfigAnswers): string {
  const advertise =
    answers.advertiseAddress === undefined
      ? `# advertise_address = "10.0.0.1:7654"   # required when bind_address is 0.0.0.0 and there are peers`
      : `advertise_address = ${value(answers.advertiseAddress)}`;
  return `# WolfScale node configuration. Reference: docs/configuration.md
# Check it with: wolfscale validate -c <this file>

[node]
# This node's identity. The lowest id among healthy, caught-up nodes leads.
id = ${value(answers.nodeId)}
# Cluster traffic between nodes.
bind_address = ${value(answers.bindAddress)}
${advertise}
data_dir = ${value(answers.dataDir)}

[database]
# This node's own MariaDB. WolfScale's account needs ALL PRIVILEGES (it replays DDL, users and grants).
host = ${value(answers.databaseHost)}
port = ${value(answers.databasePort)}
user = ${value(answers.databaseUser)}
password = ${value(answers.databasePassword)}

[cluster]
cluster_name = ${value(answers.clusterName)}
# The same secret on every node; it authenticates cluster connections.
secret = ${value(answers.secret)}
# The other nodes, as "host:port" or "id@host:port". Never this node itself.
peers = ${value(answers.peers)}
# heartbeat_interval_ms = 500
# election_timeout_ms = 1500
# never_leader = false
# failback = true
# dead_node_removal_s = 30

[wal]
# fsync = true        # false is unsafe: a power loss can lose acknowledged writes
# segment_size_mb = 64
# retention_hours = 168

[api]
bind_address = "0.0.0.0:8080"
# Bearer token for writes and admin (wolfctl reads it from this file).
token = ${value(answers.apiToken)}

[proxy]
# Applications connect here with their own MariaDB accounts.
bind_address = "0.0.0.0:8007"
# tls_cert = "/etc/wolfscale/proxy-cert.pem"
# tls_key = "/etc/wolfscale/proxy-key.pem"

[apply]
# replica (default): MariaDB's own parallel replication applies committed transactions from
# this node's local binlog stream (needs log_slave_updates=ON). session: WolfScale's sessions
# replay each transaction.
# mode = "replica"

[logging]
level = "info"
`;
}
