import type { ConfigFile } from '../config/schema.js';
import type { EngineConfig } from '../consensus/index.js';
import type { Peer } from './replicated-log.js';

/**
 * What the runtime derives from the configuration file. Pure.
 *
 * Time: the engine counts ticks; the node ticks every `tickMs` = heartbeat / 5 (at most 100 ms),
 * so heartbeats, election timeouts and the stagger between ranked candidates are whole ticks.
 */
export interface NodeSettings {
  readonly tickMs: number;
  readonly engine: Partial<EngineConfig>;
  readonly peers: readonly Peer[];
  /** This node's API URL as other nodes can reach it. */
  readonly apiUrl: string;
  readonly clusterHost: string;
  readonly clusterPort: number;
}

export type SettingsResult =
  | { readonly ok: true; readonly settings: NodeSettings }
  | { readonly ok: false; readonly errors: readonly string[] };

function split(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(':');
  return { host: address.slice(0, colon).replace(/^\[|\]$/g, ''), port: Number(address.slice(colon + 1)) };
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '';
}

export function nodeSettings(config: ConfigFile): SettingsResult {
  const errors: string[] = [];
  const peers: Peer[] = [];
  for (const entry of config.cluster.peers) {
    const at = entry.lastIndexOf('@');
    if (at < 0) {
      errors.push(
        `cluster.peers entry "${entry}" has no node id: write it as "id@${entry}" (e.g. "node-2@${entry}"), so that every node agrees on the initial members`,
      );
      continue;
    }
    peers.push({ id: entry.slice(0, at), address: entry.slice(at + 1) });
  }
  const heartbeatMs = config.cluster.heartbeat_interval_ms;
  const tickMs = Math.max(5, Math.min(100, Math.floor(heartbeatMs / 5)));
  const ticks = (ms: number): number => Math.max(1, Math.round(ms / tickMs));
  const heartbeatIntervalTicks = ticks(heartbeatMs);
  const bind = split(config.node.bind_address);
  const advertise = split(config.node.advertise_address ?? config.node.bind_address);
  const api = split(config.api.bind_address);
  const apiHost = isWildcard(api.host)
    ? isWildcard(advertise.host)
      ? '127.0.0.1'
      : advertise.host
    : api.host;
  if (errors.length > 0) return { ok: false, errors };
  return {
    ok: true,
    settings: {
      tickMs,
      engine: {
        heartbeatIntervalTicks,
        electionTimeoutTicks: ticks(config.cluster.election_timeout_ms),
        // The next-ranked node waits a bit over one heartbeat per rank: long enough for the
        // preferred node's vote requests to arrive first, short enough to keep failover quick.
        staggerTicks: Math.max(1, Math.round(heartbeatIntervalTicks * 0.6)),
        deadNodeRemovalTicks: ticks(config.cluster.dead_node_removal_s * 1000),
        failback: config.cluster.failback,
        batchEntriesMax: config.cluster.max_batch_entries,
      },
      peers,
      apiUrl: `http://${apiHost.includes(':') ? `[${apiHost}]` : apiHost}:${api.port}`,
      clusterHost: bind.host,
      clusterPort: bind.port,
    },
  };
}
