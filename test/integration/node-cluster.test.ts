import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import type { MariaDbSet } from '../../src/testing/mariadb-harness.js';
import { startMariaDb } from '../support/mariadb.js';
import { apiToken, type ClusterNode, clusterConfigs, startNode, stopAll } from '../support/node-cluster.js';
import { writeSelfSignedCertificate } from '../support/self-signed.js';
import { waitFor } from '../support/wait-for.js';

describe('a three-node cluster of real MariaDB servers', () => {
  let set: MariaDbSet | undefined;
  let members: ClusterNode[] = [];
  afterAll(async () => {
    await stopAll(members);
    await set?.destroy();
  });

  test('the lowest id leads; writes on the leader and through a follower reach every node', async () => {
    set = await startMariaDb(3, { durable: true });
    members = await clusterConfigs(set);
    await Promise.all(members.map(startNode));
    const [leaderServer, ...followerServers] = set.servers;
    if (leaderServer === undefined) throw new Error('no servers');
    const leader = members[0]?.node;
    if (leader === undefined) throw new Error('node-1 did not start');

    await waitFor('node-1 to lead and accept writes', () => leader.writeRoute().kind === 'local', {
      timeoutMs: 30_000,
    });
    expect(await leaderServer.query('SELECT @@read_only AS ro')).toEqual([{ ro: 0 }]);
    for (const server of followerServers)
      expect(await server.query('SELECT @@read_only AS ro')).toEqual([{ ro: 1 }]);

    // A write made directly on the leader's MariaDB is captured, committed on a quorum, applied.
    await leaderServer.query('CREATE DATABASE app');
    await leaderServer.query(
      'CREATE TABLE app.t (id INT PRIMARY KEY, v VARCHAR(40), at DATETIME(6) DEFAULT NOW(6))',
    );
    await leaderServer.query("INSERT INTO app.t (id, v) VALUES (1, 'direct'), (2, UUID())");

    // A write sent to a follower's HTTP API runs on the leader.
    const follower = members[1]?.node;
    if (follower === undefined) throw new Error('node-2 did not start');
    const response = await fetch(`${follower.apiUrl}/write/insert`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${apiToken}` },
      body: JSON.stringify({ table: 'app.t', values: { id: 3, v: 'via follower' } }),
    });
    const answer = (await response.json()) as { success: boolean; gtid: string; wal_index: number };
    expect(response.status).toBe(200);
    expect(answer.success).toBe(true);
    expect(answer.gtid).toMatch(/^0-1-\d+$/);
    expect(answer.wal_index).toBeGreaterThan(0);

    const leaderGtid = (
      await leaderServer.query<Array<{ pos: string }>>('SELECT @@gtid_binlog_pos AS pos')
    )[0]?.pos;
    for (const server of set.servers) {
      await waitFor(`server ${server.serverId} to apply everything`, async () => {
        const [row] = await server.query<Array<{ pos: string }>>('SELECT @@gtid_binlog_pos AS pos');
        return row?.pos === leaderGtid;
      });
    }
    // A follower's @@gtid_binlog_pos moves at binlog write, a moment before InnoDB makes the row
    // visible: wait for the checksums to agree (a real divergence never does, and fails here).
    const servers = set.servers;
    const checksums = await waitFor('CHECKSUM TABLE to agree on every server', async () => {
      const sums = await Promise.all(
        servers.map(
          async (server) =>
            (await server.query<Array<{ Checksum: number }>>('CHECKSUM TABLE app.t'))[0]?.Checksum,
        ),
      );
      return sums.every((sum) => sum === sums[0]) ? sums : undefined;
    });
    expect(checksums).toHaveLength(3);
    const rows = await followerServers[1]?.query('SELECT id, v FROM app.t ORDER BY id');
    expect((rows as Array<{ id: number }>).map((row) => row.id)).toEqual([1, 2, 3]);

    // A follower's /cluster knows the other nodes' progress from the leader's reports.
    const appliedEverywhere = leader.status().commit_index;
    const view = await waitFor('node-2 to learn how far node-3 has applied', async () => {
      const nodes = (await (await fetch(`${follower.apiUrl}/cluster/nodes`)).json()) as Array<{
        id: string;
        applied_index: number;
        lag_entries: number;
        lag_ms: number | null;
        last_seen_ms_ago: number | null;
      }>;
      const node3 = nodes.find((node) => node.id === 'node-3');
      return node3 !== undefined && node3.applied_index >= appliedEverywhere ? node3 : undefined;
    });
    expect(view.lag_ms).not.toBeNull();
    expect(view.last_seen_ms_ago).not.toBeNull();
    const metrics = await (await fetch(`${leader.apiUrl}/metrics`)).text();
    expect(metrics).toMatch(/^wolfscale_follower_apply_lag_ms\{node="node-2"\} \d+$/m);
    expect(metrics).toMatch(/^wolfscale_follower_lag_entries\{node="node-3"\} \d+$/m);
    expect(metrics).toMatch(/^wolfscale_wal_bytes [1-9]\d*$/m);
  });

  test('cluster traffic over TLS with verified certificates: a write on the leader reaches every node', async () => {
    await stopAll(members);
    await set?.destroy();
    set = await startMariaDb(3, { durable: true });
    const certDir = await mkdtemp(join(tmpdir(), 'wolfscale-cluster-tls-'));
    try {
      members = await clusterConfigs(set, { tls: await writeSelfSignedCertificate(certDir) });
      await Promise.all(members.map(startNode));
      const leader = members[0]?.node;
      const [leaderServer] = set.servers;
      if (leader === undefined || leaderServer === undefined) throw new Error('node-1 did not start');
      await waitFor('node-1 to lead over TLS', () => leader.writeRoute().kind === 'local', {
        timeoutMs: 30_000,
      });
      await leaderServer.query('CREATE DATABASE tls_app');
      await leaderServer.query('CREATE TABLE tls_app.t (id INT PRIMARY KEY)');
      await leaderServer.query('INSERT INTO tls_app.t VALUES (1), (2)');
      const [target] = await leaderServer.query<Array<{ pos: string }>>('SELECT @@gtid_binlog_pos AS pos');
      for (const server of set.servers) {
        await waitFor(`server ${server.serverId} to apply over TLS`, async () => {
          const [row] = await server.query<Array<{ pos: string }>>('SELECT @@gtid_binlog_pos AS pos');
          return row?.pos === target?.pos;
        });
      }
    } finally {
      await rm(certDir, { recursive: true, force: true });
    }
  });
});
