import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import type { WolfScaleNode } from '../../src/node/wolfscale-node.js';
import type { MariaDbServer, MariaDbSet } from '../../src/testing/mariadb-harness.js';
import { startMariaDb } from '../support/mariadb.js';
import { type ClusterNode, clusterConfigs, startNode, stopAll } from '../support/node-cluster.js';
import { waitFor } from '../support/wait-for.js';

/** The WAL segment files of a node, oldest first (named by their first index). */
async function segments(member: ClusterNode): Promise<string[]> {
  const files = await readdir(join(member.config.node.data_dir, 'wal'));
  return files.filter((name) => name.endsWith('.wal')).sort();
}

function firstIndexOf(names: readonly string[]): number {
  return Number((names[0] ?? '1.wal').replace('.wal', ''));
}

/** ~100 KiB of incompressible text per row: 1 MiB segments fill after ~10 rows. */
async function insertRows(server: MariaDbServer, from: number, count: number): Promise<void> {
  for (let id = from; id < from + count; id++) {
    await server.query('INSERT INTO app.blob_rows (id, body) VALUES (?, ?)', [
      id,
      randomBytes(75_000).toString('base64'),
    ]);
  }
}

async function retentionChecks(apiUrl: string): Promise<number> {
  const text = await (await fetch(`${apiUrl}/metrics`)).text();
  return Number(/^wolfscale_wal_retention_checks_total (\d+)$/m.exec(text)?.[1] ?? 0);
}

async function gtidPos(server: MariaDbServer): Promise<string | undefined> {
  const [row] = await server.query<Array<{ pos: string }>>('SELECT @@gtid_binlog_pos AS pos');
  return row?.pos;
}

describe('WAL retention on a running cluster', () => {
  let set: MariaDbSet | undefined;
  let members: ClusterNode[] = [];
  afterAll(async () => {
    await stopAll(members);
    await set?.destroy();
  });

  test('segments every node has applied are removed; a follower restarted meanwhile still catches up', async () => {
    set = await startMariaDb(3, { durable: true });
    members = await clusterConfigs(set, { wal: 'segment_size_mb = 1\nretention_hours = 0' });
    await Promise.all(members.map(startNode));
    const [leaderServer] = set.servers;
    const [leaderMember, , restarted] = members;
    const leader = leaderMember?.node;
    if (leaderServer === undefined || leader === undefined || restarted === undefined)
      throw new Error('the cluster did not start');
    await waitFor('node-1 to lead and accept writes', () => leader.writeRoute().kind === 'local', {
      timeoutMs: 30_000,
    });
    await leaderServer.query('CREATE DATABASE app');
    await leaderServer.query('CREATE TABLE app.blob_rows (id INT PRIMARY KEY, body MEDIUMTEXT)');
    await insertRows(leaderServer, 1, 40);

    // Every node applied everything: each purges its old segments (the last one always stays).
    for (const member of members) {
      const names = await waitFor(
        `${member.id} to purge its WAL`,
        async () => {
          const names = await segments(member);
          return firstIndexOf(names) > 1 && names.length <= 2 ? names : undefined;
        },
        { timeoutMs: 30_000 },
      );
      expect(names.length).toBeLessThanOrEqual(2);
    }
    const metrics = await (await fetch(`${leader.apiUrl}/metrics`)).text();
    expect(metrics).toMatch(/^wolfscale_wal_first_index [1-9]\d*$/m);
    expect(metrics).toMatch(/^wolfscale_wal_bytes \d+$/m);

    // node-3 goes away; the leader keeps writing, but keeps the segments node-3 lacks.
    const heldAt = (restarted.node?.status().last_index ?? 0) + 1;
    await restarted.node?.stop('test: restart');
    restarted.node = undefined;
    await insertRows(leaderServer, 100, 40);
    // Let the leader's retention run twice more while node-3 is away.
    const checksNow = await retentionChecks(leader.apiUrl);
    await waitFor(
      'two more retention checks on the leader',
      async () => (await retentionChecks(leader.apiUrl)) >= checksNow + 2,
    );
    const leaderSegments = await segments(leaderMember as ClusterNode);
    expect(firstIndexOf(leaderSegments)).toBeLessThanOrEqual(heldAt);
    expect(leaderSegments.length).toBeGreaterThanOrEqual(4);

    await startNode(restarted);
    const target = await gtidPos(leaderServer);
    const restartedServer = set.servers[2] as MariaDbServer;
    await waitFor(
      'node-3 to catch up after its restart',
      async () => (await gtidPos(restartedServer)) === target,
      {
        timeoutMs: 60_000,
      },
    );
    expect((restarted.node as WolfScaleNode | undefined)?.status().status).not.toBe('NEEDS_MIGRATION');
    const [count] = await restartedServer.query<Array<{ n: number }>>(
      'SELECT COUNT(*) AS n FROM app.blob_rows',
    );
    expect(Number(count?.n)).toBe(80);
    // Once node-3 holds everything, the leader purges past where it had to stop.
    await waitFor(
      'the leader to purge once node-3 caught up',
      async () => firstIndexOf(await segments(leaderMember as ClusterNode)) > heldAt,
      { timeoutMs: 30_000 },
    );
  });
});
