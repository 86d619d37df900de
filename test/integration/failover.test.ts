import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { Playground, type PlaygroundNode } from '../../src/cli/playground-command.js';
import type { NodeStatusView } from '../../src/http/node-api.js';
import { waitFor } from '../support/wait-for.js';

const nodeCommand = { command: process.execPath, args: ['--import', 'tsx', 'src/bin/wolfscale.ts'] };
const quietIo = { out: () => {}, err: () => {} };

async function writableLeader(playground: Playground): Promise<string | undefined> {
  const statuses = await playground.statuses();
  const leaders = statuses.filter((s): s is NodeStatusView => s?.role === 'LEADER' && s.writable);
  return leaders.length === 1 ? leaders[0]?.node_id : undefined;
}

/** A commit that takes this long is stuck (commits take milliseconds here): fail with evidence. */
const statementDeadlineMs = 15_000;

async function insertAcknowledged(node: PlaygroundNode, from: number, to: number): Promise<number[]> {
  const acked: number[] = [];
  const connection = await node.server.connect({ user: 'app', password: 'app', database: 'app' });
  try {
    for (let id = from; id <= to; id++) {
      let timer: NodeJS.Timeout | undefined;
      const stuck = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(new Error(`INSERT ${id} on ${node.id} did not return within ${statementDeadlineMs} ms`)),
          statementDeadlineMs,
        );
      });
      try {
        await Promise.race([
          connection.query('INSERT INTO app.acked (id, note) VALUES (?, UUID())', [id]),
          stuck,
        ]);
      } finally {
        clearTimeout(timer);
      }
      acked.push(id);
    }
  } finally {
    connection.destroy();
  }
  return acked;
}

/** Runs a scenario; on failure, the error carries the end of every node's log. */
/** A playground node's log lines (pino JSON). */
async function logLines(node: PlaygroundNode): Promise<Array<{ msg: string; code?: string }>> {
  return (await readFile(join(node.dataDir, 'wolfscale.log'), 'utf8'))
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { msg: string; code?: string });
}

async function withNodeLogs(
  playground: Playground | undefined,
  scenario: () => Promise<void>,
): Promise<void> {
  try {
    await scenario();
  } catch (error) {
    const tails = await Promise.all(
      (playground?.nodes ?? []).map(async (node) => {
        const text = await readFile(join(node.dataDir, 'wolfscale.log'), 'utf8').catch(() => '(no log)');
        return `--- ${node.id} log (last 40 lines) ---\n${text.trim().split('\n').slice(-40).join('\n')}`;
      }),
    );
    throw new Error(`${(error as Error).message}\n${tails.join('\n')}`, { cause: error });
  }
}

async function ids(node: PlaygroundNode): Promise<number[]> {
  const rows = await node.server.query<Array<{ id: number }>>('SELECT id FROM app.acked ORDER BY id');
  return rows.map((row) => row.id);
}

describe('failover with real processes', () => {
  let playground: Playground | undefined;

  /** A fresh 3-node playground whose node-1 leads and takes writes; its nodes. */
  async function startLedByNode1(): Promise<[PlaygroundNode, PlaygroundNode, PlaygroundNode]> {
    await playground?.stop();
    playground = await Playground.start({ nodes: 3, json: false, heartbeatMs: 100, nodeCommand }, quietIo);
    const started = playground;
    await withNodeLogs(started, async () => {
      await waitFor('node-1 to lead', async () => (await writableLeader(started)) === 'node-1');
    });
    return started.nodes as [PlaygroundNode, PlaygroundNode, PlaygroundNode];
  }
  afterAll(async () => {
    await playground?.stop();
  });

  async function killTheLeader(applyMode: 'session' | 'replica'): Promise<void> {
    await playground?.stop();
    playground = await Playground.start(
      { nodes: 3, json: false, heartbeatMs: 100, nodeCommand, applyConfig: `mode = "${applyMode}"` },
      quietIo,
    );
    await withNodeLogs(playground, async () => {
      const [n1, n2, n3] = (playground as Playground).nodes as [
        PlaygroundNode,
        PlaygroundNode,
        PlaygroundNode,
      ];
      // Whoever wins the first election, failback hands leadership to node-1 once it is up.
      await waitFor(
        'node-1 to lead',
        async () => (await writableLeader(playground as Playground)) === 'node-1',
      );
      await n1.server.query('CREATE TABLE app.acked (id INT PRIMARY KEY, note VARCHAR(40))');
      const before = await insertAcknowledged(n1, 1, 50);

      await (playground as Playground).killNode(n1);
      await n1.server.kill();
      // node-3 may win first when its log is ahead of node-2's (Raft's up-to-date rule); failback
      // then hands leadership to node-2, the lowest eligible id.
      await waitFor(
        'node-2 to lead',
        async () => (await writableLeader(playground as Playground)) === 'node-2',
        {
          timeoutMs: 30_000,
        },
      );
      const during = await insertAcknowledged(n2, 51, 100);
      if (applyMode === 'replica') {
        const [status] = await n3.server.query<Array<Record<string, unknown>>>('SHOW SLAVE STATUS');
        expect(status).toMatchObject({ Slave_SQL_Running: 'Yes', Master_Host: '127.0.0.1' });
      }
      for (const node of [n2, n3]) {
        await waitFor(
          `${node.id} to hold every acknowledged row`,
          async () => (await ids(node)).length === 100,
        );
        expect(await ids(node)).toEqual([...before, ...during]);
      }

      await n1.server.start();
      (playground as Playground).startNode(n1);
      expect(
        await waitFor(
          'node-1 to lead again (failback)',
          async () => ((await writableLeader(playground as Playground)) === 'node-1' ? 'node-1' : undefined),
          {
            timeoutMs: 60_000,
          },
        ),
      ).toBe('node-1');
      const after = await insertAcknowledged(n1, 101, 120);
      const all = [...before, ...during, ...after];
      for (const node of [n1, n2, n3]) {
        await waitFor(`${node.id} to hold all 120 rows`, async () => (await ids(node)).length === 120, {
          timeoutMs: 30_000,
        });
        expect(await ids(node)).toEqual(all);
      }
      const checksums = await Promise.all(
        [n1, n2, n3].map((node) => node.server.query('CHECKSUM TABLE app.acked')),
      );
      expect(checksums[1]).toEqual(checksums[0]);
      expect(checksums[2]).toEqual(checksums[0]);
    });
  }

  test('kill -9 of the leader and its MariaDB: node-2 takes over, nothing acknowledged is lost, node-1 comes back and leads again', async () => {
    await killTheLeader('session');
  });

  test('the same with apply.mode = "replica": followers apply through their MariaDB\'s own replication', async () => {
    await killTheLeader('replica');
  });

  test("the leader's MariaDB dies: leadership moves, that node's /health says why, and it leads again once MariaDB is back", async () => {
    const [n1, n2] = await startLedByNode1();
    await withNodeLogs(playground, async () => {
      await n1.server.query('CREATE TABLE app.acked (id INT PRIMARY KEY, note VARCHAR(40))');
      const before = await insertAcknowledged(n1, 1, 20);

      await n1.server.kill();
      await waitFor(
        'node-2 to lead',
        async () => (await writableLeader(playground as Playground)) === 'node-2',
        {
          timeoutMs: 30_000,
        },
      );
      const health = await fetch(`${n1.apiUrl}/health`);
      expect(health.status).toBe(503);
      const body = (await health.json()) as { healthy: boolean; reasons: string[] };
      expect(body.healthy).toBe(false);
      expect(body.reasons.join(' ')).toMatch(/^MariaDB: .*127\.0\.0\.1:\d+/);
      const during = await insertAcknowledged(n2, 21, 40);

      await n1.server.start();
      await waitFor(
        'node-1 to lead again',
        async () => (await writableLeader(playground as Playground)) === 'node-1',
        {
          timeoutMs: 60_000,
        },
      );
      expect((await fetch(`${n1.apiUrl}/health`)).status).toBe(200);
      // Both changes of its MariaDB's health are in node-1's log, with the probe's reason.
      const lines = await logLines(n1);
      const failed = lines.find((line) => line.msg.startsWith('the local MariaDB failed its health probe'));
      expect(failed?.code).toBe('CONNECT_FAILED');
      expect(lines.some((line) => line.msg === 'the local MariaDB is healthy again')).toBe(true);
      await waitFor('node-1 to hold every acknowledged row', async () => (await ids(n1)).length === 40);
      expect(await ids(n1)).toEqual([...before, ...during]);
    });
  });

  test('failback waits while the returning node is behind applying: node-2 keeps leading until node-1 has applied, then hands over', async () => {
    const [n1, n2] = await startLedByNode1();
    await withNodeLogs(playground, async () => {
      const started = playground as Playground;
      await n1.server.query('CREATE TABLE app.acked (id INT PRIMARY KEY, note VARCHAR(40))');
      const before = await insertAcknowledged(n1, 1, 20);
      await started.killNode(n1);
      await waitFor('node-2 to lead', async () => (await writableLeader(started)) === 'node-2', {
        timeoutMs: 30_000,
      });
      const during = await insertAcknowledged(n2, 21, 60);
      // node-1's MariaDB cannot apply: a table lock holds its applier (a slow MariaDB, as far as
      // the node can tell). Its log, health and rewind check are unaffected.
      const lock = await n1.server.connect();
      try {
        await lock.query('LOCK TABLES app.acked READ');
        started.startNode(n1);
        const commit = (await started.statuses())[1]?.commit_index ?? 0;
        await waitFor(
          'node-1 to hold the log, with its rewind check done',
          async () => {
            const s = (await started.statuses())[0];
            return s !== undefined && s.last_index >= commit && s.rewind?.state === 'clean';
          },
          { timeoutMs: 30_000 },
        );
        // Without the apply condition, node-2 hands over within a few heartbeats (100 ms) here.
        for (let i = 0; i < 15; i++) {
          await new Promise((resolve) => setTimeout(resolve, 200));
          const [s1, s2] = await started.statuses();
          expect(s2?.role).toBe('LEADER');
          expect(s1?.applied_index ?? 0).toBeLessThan(commit);
        }
      } finally {
        await lock.query('UNLOCK TABLES').catch(() => undefined);
        lock.destroy();
      }
      await waitFor(
        'node-1 to lead again (failback)',
        async () => (await writableLeader(started)) === 'node-1',
        {
          timeoutMs: 30_000,
        },
      );
      const after = await insertAcknowledged(n1, 61, 70);
      await waitFor('node-2 to hold all 70 rows', async () => (await ids(n2)).length === 70);
      expect(await ids(n1)).toEqual([...before, ...during, ...after]);
      expect(await ids(n2)).toEqual([...before, ...during, ...after]);
    });
  });

  test("the leader's MariaDB hangs (SIGSTOP): its probes time out, and after the grace leadership moves; it leads again once MariaDB answers", async () => {
    const [n1, n2] = await startLedByNode1();
    await withNodeLogs(playground, async () => {
      const pid = n1.server.pid;
      if (pid === undefined) throw new Error("node-1's MariaDB is not running");
      process.kill(pid, 'SIGSTOP');
      try {
        await waitFor(
          'node-2 to lead',
          async () => (await writableLeader(playground as Playground)) === 'node-2',
          { timeoutMs: 30_000 },
        );
        const lines = await logLines(n1);
        expect(
          lines.find((line) => line.msg.startsWith('the local MariaDB failed its health probe'))?.code,
        ).toBe('TIMEOUT');
      } finally {
        process.kill(pid, 'SIGCONT');
      }
      await waitFor(
        'node-1 to lead again',
        async () => (await writableLeader(playground as Playground)) === 'node-1',
        { timeoutMs: 60_000 },
      );
      expect((await fetch(`${n2.apiUrl}/health`)).status).toBe(200);
    });
  });
});
