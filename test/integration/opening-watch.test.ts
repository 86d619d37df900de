import { afterAll, describe, expect, test } from 'vitest';
import type { MariaDbSet } from '../../src/testing/mariadb-harness.js';
import { startMariaDb } from '../support/mariadb.js';
import { apiToken, type ClusterNode, clusterConfigs, startNode, stopAll } from '../support/node-cluster.js';
import { waitFor } from '../support/wait-for.js';

/**
 * docs/RELIABILITY.md failure 19: a node elected while one of its role transitions was stuck
 * led without ever opening for writes, and the cluster took no write for 30 s. Here the stuck
 * opening is made on purpose: node-3's applier is blocked by a table lock on its MariaDB, then
 * node-3 is given leadership (an operator's transfer, so no failback ends its term either). Its
 * opening waits to apply the log up to its term's first entry and cannot; the node must hand
 * leadership over by itself, so writes go on while the lock is still held.
 */
describe('a leader whose opening for writes is stuck hands leadership over', () => {
  let set: MariaDbSet | undefined;
  let members: ClusterNode[] = [];
  afterAll(async () => {
    await stopAll(members);
    await set?.destroy();
  });

  test('node-3 elected with its applier blocked by LOCK TABLES: it hands over, writes are acknowledged while the lock holds, and all converge once it is released', async () => {
    set = await startMariaDb(3, { durable: true });
    members = await clusterConfigs(set);
    await Promise.all(members.map(startNode));
    const [server1, , server3] = set.servers;
    const [node1, node2, node3] = members.map((member) => member.node);
    if (server1 === undefined || server3 === undefined) throw new Error('no servers');
    if (node1 === undefined || node2 === undefined || node3 === undefined)
      throw new Error('a node did not start');
    await waitFor('node-1 to lead and accept writes', () => node1.writeRoute().kind === 'local', {
      timeoutMs: 30_000,
    });
    await server1.query('CREATE DATABASE app');
    await server1.query('CREATE TABLE app.t (id INT PRIMARY KEY, via VARCHAR(20))');
    await server1.query("INSERT INTO app.t VALUES (1, 'node-1')");
    await waitFor('node-3 to apply the first row', async () => {
      const rows = await server3.query<unknown[]>('SELECT id FROM app.t').catch(() => []);
      return rows.length === 1;
    });

    const lock = await server3.connect();
    try {
      await lock.query('LOCK TABLES app.t WRITE');
      // Committed by node-1 and node-2; node-3 has it in its log and cannot apply it.
      await server1.query("INSERT INTO app.t VALUES (2, 'node-1')");

      const promoted = await fetch(`${node1.apiUrl}/admin/promote`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${apiToken}` },
        body: JSON.stringify({ node_id: 'node-3' }),
      });
      expect(promoted.status).toBe(200);
      await waitFor('node-3 to be elected', () => node3.status().role === 'LEADER', { timeoutMs: 30_000 });
      expect(node3.writeRoute().kind).not.toBe('local');

      // A write through node-2's API is acknowledged while node-3's table is still locked: by
      // then node-3 no longer leads.
      let id = 100;
      const answer = await waitFor(
        'a write to be acknowledged while node-3 stays locked',
        async () => {
          id += 1;
          const response = await fetch(`${node2.apiUrl}/write/insert`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${apiToken}` },
            body: JSON.stringify({ table: 'app.t', values: { id, via: 'node-2 api' } }),
          }).catch(() => undefined);
          if (response?.status !== 200) return undefined;
          return (await response.json()) as { success: boolean; gtid: string };
        },
        { timeoutMs: 60_000, intervalMs: 500 },
      );
      expect(answer.success).toBe(true);
      expect(node3.status().role).not.toBe('LEADER');
      expect(['node-1', 'node-2']).toContain(node1.status().leader_id);
    } finally {
      await lock.query('UNLOCK TABLES').catch(() => undefined);
      await lock.end().catch(() => undefined);
    }

    const servers = set.servers;
    await waitFor(
      'every MariaDB to hold the same rows and GTID position',
      async () => {
        const states = await Promise.all(
          servers.map(async (server) => {
            const [pos] = await server.query<Array<{ p: string }>>('SELECT @@gtid_binlog_pos AS p');
            const [sum] = await server.query<Array<{ Checksum: number }>>('CHECKSUM TABLE app.t');
            return `${pos?.p} ${sum?.Checksum}`;
          }),
        );
        return states.every((state) => state === states[0]);
      },
      { timeoutMs: 60_000 },
    );
  }, 240_000);
});
