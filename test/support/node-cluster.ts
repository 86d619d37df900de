import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { parseConfig } from '../../src/config/load-config.js';
import type { ConfigFile } from '../../src/config/schema.js';
import { WolfScaleNode } from '../../src/node/wolfscale-node.js';
import { freePort } from '../../src/testing/free-port.js';
import type { MariaDbSet } from '../../src/testing/mariadb-harness.js';

export const apiToken = 'test-token-0123456789';

export interface ClusterNode {
  readonly id: string;
  readonly config: ConfigFile;
  node: WolfScaleNode | undefined;
}

/** Configurations for one WolfScale node per MariaDB server of `set`, on free ports. */
export async function clusterConfigs(
  set: MariaDbSet,
  options: {
    heartbeatMs?: number;
    tls?: { certPath: string; keyPath: string };
    /** Extra TOML lines for the [wal] and [cluster] sections. */
    wal?: string;
    cluster?: string;
  } = {},
): Promise<ClusterNode[]> {
  const dataRoot = await mkdtemp(join(tmpdir(), 'wolfscale-nodes-'));
  const ports = await Promise.all(
    set.servers.map(async () => ({
      cluster: await freePort(),
      api: await freePort(),
      proxy: await freePort(),
    })),
  );
  const ids = set.servers.map((_, i) => `node-${i + 1}`);
  return set.servers.map((server, i) => {
    const id = ids[i] as string;
    const peers = ids
      .map((peerId, j) => `${peerId}@127.0.0.1:${ports[j]?.cluster}`)
      .filter((_, j) => j !== i)
      .map((peer) => JSON.stringify(peer))
      .join(', ');
    const text = `
[node]
id = "${id}"
bind_address = "127.0.0.1:${ports[i]?.cluster}"
data_dir = "${join(dataRoot, id)}"
[database]
host = "127.0.0.1"
port = ${server.port}
user = "root"
password = ""
[cluster]
secret = "cluster-secret-0123456789"
peers = [${peers}]
heartbeat_interval_ms = ${options.heartbeatMs ?? 100}
${options.tls === undefined ? '' : `tls_cert = "${options.tls.certPath}"\ntls_key = "${options.tls.keyPath}"\ntls_ca = "${options.tls.certPath}"`}
election_timeout_ms = ${(options.heartbeatMs ?? 100) * 4}
${options.cluster ?? ''}
[wal]
${options.wal ?? ''}
[api]
bind_address = "127.0.0.1:${ports[i]?.api}"
token = "${apiToken}"
[proxy]
bind_address = "127.0.0.1:${ports[i]?.proxy}"
`;
    const parsed = parseConfig(text);
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
    return { id, config: parsed.config, node: undefined };
  });
}

export async function startNode(member: ClusterNode): Promise<WolfScaleNode> {
  member.node = await WolfScaleNode.start({
    config: member.config,
    logger: pino({ level: process.env['WOLFSCALE_TEST_LOG'] ?? 'silent' }, pino.destination(2)),
  });
  return member.node;
}

export async function stopAll(members: readonly ClusterNode[]): Promise<void> {
  await Promise.all(members.map((member) => member.node?.stop('test over')));
  const dataRoot = members[0] === undefined ? undefined : join(members[0].config.node.data_dir, '..');
  if (dataRoot !== undefined) await rm(dataRoot, { recursive: true, force: true });
}
