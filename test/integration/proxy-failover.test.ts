import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as mariadb from 'mariadb';
import { afterAll, describe, expect, test } from 'vitest';
import { Playground, type PlaygroundNode } from '../../src/cli/playground-command.js';
import type { NodeStatusView } from '../../src/http/node-api.js';
import { compareServers } from '../support/compare.js';
import { waitFor } from '../support/wait-for.js';

const nodeCommand = { command: process.execPath, args: ['--import', 'tsx', 'src/bin/wolfscale.ts'] };
const quietIo = { out: () => {}, err: () => {} };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Long enough for a node process to restart and win an election (part 2), short enough for the suite. */
const failoverWaitMs = 12_000;

/**
 * sysbench's errors that the proxy uses for "not run, retry" or "outcome unknown" (and MariaDB's
 * own retryable ones, sysbench's default list): 1213 deadlock, 1205 lock wait timeout, 1020
 * record changed (sysbench's defaults); 1927 (70100) the connection holding the statement or the
 * transaction was lost: outcome unknown, or the transaction was rolled back; 1290 no leader
 * within proxy.failover_wait_ms, or a read-only server (not run). sysbench restarts the
 * transaction (its event) on each of them. Anything else stops sysbench with FATAL.
 */
const sysbenchIgnoredErrors = '1213,1205,1020,1927,1290';

interface AppClient {
  readonly connection: mariadb.Connection;
}

async function proxyConnection(node: PlaygroundNode): Promise<mariadb.Connection> {
  return await mariadb.createConnection({
    host: '127.0.0.1',
    port: node.proxyPort,
    user: 'app',
    password: 'app',
    database: 'app',
    connectTimeout: 5000,
  });
}

function sqlError(error: unknown): { errno: number; sqlState: string; message: string } {
  const e = error as { errno?: number; sqlState?: string; sqlMessage?: string; message?: string };
  return { errno: e.errno ?? -1, sqlState: e.sqlState ?? '', message: e.sqlMessage ?? e.message ?? '' };
}

/**
 * The proxies of a 3-node cluster (separate processes) across kill -9 of the leader: sysbench
 * goes on, acknowledged writes survive, statements wait for a leader, reads are retried, writes
 * whose outcome is unknown get 1927 (DESIGN.md §5; src/proxy/DESIGN.md "Failover").
 */
describe('the proxies of a three-node cluster across failures', () => {
  let playground: Playground | undefined;
  afterAll(async () => {
    await playground?.stop();
  });

  test('kill -9 of the leader under sysbench; no leader; a read whose server dies', async () => {
    playground = await Playground.start(
      { nodes: 3, json: false, nodeCommand, proxyConfig: `failover_wait_ms = ${failoverWaitMs}` },
      quietIo,
    );
    const nodes = playground.nodes;
    const [node1, node2, node3] = nodes as [PlaygroundNode, PlaygroundNode, PlaygroundNode];
    const statuses = async () => await (playground as Playground).statuses();
    try {
      await waitFor(
        'node-1 to lead with every node active',
        async () => {
          const all = await statuses();
          return (
            all.every((s): s is NodeStatusView => s?.status === 'ACTIVE') &&
            all[0]?.role === 'LEADER' &&
            all[0].writable
          );
        },
        { timeoutMs: 60_000 },
      );

      // Logins through a proxy check the account in its own node's MariaDB.
      await waitFor('the app account on every node', async () => {
        for (const node of nodes) {
          const rows = await node.server.query<unknown[]>(
            "SELECT 1 FROM mysql.global_priv WHERE User = 'app'",
          );
          if (rows.length !== 1) return false;
        }
        return true;
      });

      // ---- 1. kill -9 of the leader (node process and MariaDB) under sysbench ------------------
      const sysbenchArgs = (node: PlaygroundNode) => [
        'oltp_read_write',
        '--db-driver=mysql',
        '--mysql-host=127.0.0.1',
        `--mysql-port=${node.proxyPort}`,
        '--mysql-user=app',
        '--mysql-password=app',
        '--mysql-db=app',
        '--tables=2',
        '--table-size=1000',
      ];
      await run('sysbench', [...sysbenchArgs(node2), 'prepare']);
      const setup = await proxyConnection(node3);
      await setup.query('CREATE TABLE acked (seq INT PRIMARY KEY)');
      await setup.query('CREATE TABLE slow (id INT PRIMARY KEY, v INT)');
      await setup.query('INSERT INTO slow VALUES (1, 0)');
      await setup.end();

      // sysbench through node-2's proxy, prepared statements (--db-ps-mode=auto, the default).
      const sysbenchSeconds = 14;
      const killAtS = 5;
      const load = run('sysbench', [
        ...sysbenchArgs(node2),
        '--threads=4',
        `--time=${sysbenchSeconds}`,
        '--report-interval=1',
        '--db-ps-mode=auto',
        `--mysql-ignore-errors=${sysbenchIgnoredErrors}`,
        'run',
      ]);
      // A client of our own through node-3's proxy records every acknowledged insert.
      const writer = recordingWriter(node3, 1);
      await sleep(killAtS * 1000 - 1500);
      // A write running on the leader when it dies: its outcome is unknown, never a false OK.
      const slowClient = await proxyConnection(node3);
      const slowWrite = slowClient.query('UPDATE slow SET v = v + 1 WHERE SLEEP(6) = 0').then(
        () => ({ ok: true as const }),
        (error: unknown) => ({ ok: false as const, ...sqlError(error) }),
      );
      await waitFor(
        'the slow UPDATE to run on the leader',
        async () =>
          (
            await node1.server.query<unknown[]>(
              "SELECT 1 FROM information_schema.processlist WHERE info LIKE 'UPDATE slow SET%'",
            )
          ).length === 1,
        { timeoutMs: 10_000 },
      );
      await playground.killNode(node1);
      await node1.server.kill();
      const slowOutcome = await slowWrite;
      slowClient.destroy();
      expect(slowOutcome).toMatchObject({ ok: false, errno: 1927, sqlState: '70100' });
      expect(slowOutcome.ok === false && slowOutcome.message).toMatch(/may or may not have been applied/);

      const sysbench = await load;
      await writer.stop();
      // sysbench ran to its end (no FATAL) and committed transactions after the failover.
      expect(sysbench.code, sysbench.output.slice(-3000)).toBe(0);
      expect(sysbench.output).not.toMatch(/FATAL/);
      const perSecond = [...sysbench.output.matchAll(/\[ (\d+)s \] thds: \d+ tps: ([\d.]+)/g)].map((m) => ({
        at: Number(m[1]),
        tps: Number(m[2]),
      }));
      const afterKill = perSecond.filter((entry) => entry.at > killAtS + 1 && entry.tps > 0);
      expect(afterKill.length, sysbench.output.slice(-3000)).toBeGreaterThan(0);
      // The writer's only errors are the proxy's "outcome unknown" / "not run".
      expect(writer.errors.filter((errno) => errno !== 1927 && errno !== 1290)).toEqual([]);
      expect(writer.acked.length).toBeGreaterThan(0);
      process.stderr.write(
        `proxy failover: sysbench tps per second ${JSON.stringify(perSecond.map((e) => e.tps))} (kill at ${killAtS} s); writer ${writer.acked.length} acknowledged, errors ${JSON.stringify(writer.errors)}\n`,
      );

      const survivors = [node2, node3];
      const newLeader = await waitFor('a new writable leader', async () => {
        const all = await statuses();
        const index = all.findIndex((s) => s?.role === 'LEADER' && s.writable);
        return index > 0 ? nodes[index] : undefined;
      });
      const follower = survivors.find((node) => node !== newLeader) as PlaygroundNode;
      await expectAllAcknowledged(survivors, writer.acked);

      // ---- 2. no leader: statements wait up to proxy.failover_wait_ms -------------------------
      // The new leader's node process dies (its MariaDB stays): one node of three is left, which
      // cannot elect a leader.
      await playground.killNode(newLeader);
      const lone = await proxyConnection(follower);
      const refused = await lone.query('INSERT INTO acked VALUES (-1)').then(
        () => ({ ok: true as const }),
        (error: unknown) => ({ ok: false as const, ...sqlError(error) }),
      );
      expect(refused).toMatchObject({ ok: false, errno: 1290, sqlState: 'HY000' });
      expect(refused.ok === false && refused.message).toMatch(
        /no leader was elected within proxy\.failover_wait_ms .* the statement was not run/,
      );
      // A statement sent while there is no leader waits, and runs once one is elected.
      const waiting = lone.query('INSERT INTO acked VALUES (-2)');
      await sleep(500);
      playground.startNode(newLeader);
      await waiting;
      lone.destroy();
      await expectAllAcknowledged(survivors, [...writer.acked, -2]);
      const rows = await newLeader.server.query<unknown[]>('SELECT seq FROM app.acked WHERE seq = -1');
      expect(rows).toEqual([]);

      // ---- 3. an autocommit read whose server dies is retried once ------------------------------
      const leaderNow = await waitFor('a writable leader', async () => {
        const all = await statuses();
        const index = all.findIndex((s) => s?.role === 'LEADER' && s.writable);
        return index > 0 ? nodes[index] : undefined;
      });
      const readerNode = survivors.find((node) => node !== leaderNow) as PlaygroundNode;
      await waitFor('the follower to be active and caught up', async () => {
        const all = await statuses();
        const status = all[nodes.indexOf(readerNode)];
        return status?.status === 'ACTIVE' && status.rewind?.state !== 'waiting';
      });
      const reader = await proxyConnection(readerNode);
      // A session that wrote nothing reads on its own node's MariaDB …
      const [local] = await reader.query<Array<{ id: bigint }>>('SELECT @@server_id AS id');
      expect(Number(local?.id)).toBe(nodes.indexOf(readerNode) + 1);
      const read = reader.query<Array<{ s: bigint; id: bigint }>>('SELECT SLEEP(3) AS s, @@server_id AS id');
      await waitFor(
        'the read to run on the follower',
        async () =>
          (
            await readerNode.server.query<unknown[]>(
              "SELECT 1 FROM information_schema.processlist WHERE info LIKE 'SELECT SLEEP(3)%'",
            )
          ).length === 1,
        { timeoutMs: 10_000 },
      );
      // … which dies in the middle: the read runs again, on the leader.
      await readerNode.server.kill();
      const [answer] = await read;
      expect({ s: Number(answer?.s), id: Number(answer?.id) }).toEqual({
        s: 0,
        id: nodes.indexOf(leaderNow) + 1,
      });
      reader.destroy();
    } catch (error) {
      const tails = await Promise.all(
        nodes.map(async (node) => {
          const text = await readFile(join(node.dataDir, 'wolfscale.log'), 'utf8').catch(() => '(no log)');
          return `--- ${node.id} log (last 30 lines) ---\n${text.trim().split('\n').slice(-30).join('\n')}`;
        }),
      );
      throw new Error(`${(error as Error).message}\n${tails.join('\n')}`, { cause: error });
    }
  });
});

/** Runs a command to its end; resolves with its exit code and output (never rejects). */
function run(command: string, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.on('close', (code) => resolve({ code, output }));
  });
}

/** Inserts unique rows through a node's proxy, reconnecting when needed; records the acknowledged. */
function recordingWriter(node: PlaygroundNode, firstSeq: number) {
  const acked: number[] = [];
  const errors: number[] = [];
  let writing = true;
  const done = (async () => {
    let client: AppClient | undefined;
    for (let seq = firstSeq; writing; seq++) {
      try {
        client ??= { connection: await proxyConnection(node) };
        await client.connection.query('INSERT INTO acked VALUES (?)', [seq]);
        acked.push(seq);
      } catch (error) {
        errors.push(sqlError(error).errno);
        if (client !== undefined && !client.connection.isValid()) {
          client.connection.destroy();
          client = undefined;
        }
        await sleep(20);
      }
    }
    client?.connection.destroy();
  })();
  return {
    acked,
    errors,
    stop: async () => {
      writing = false;
      await done;
    },
  };
}

/** Every acknowledged row is on every node given, and their tables are identical. */
async function expectAllAcknowledged(
  nodes: readonly PlaygroundNode[],
  acked: readonly number[],
): Promise<void> {
  await waitFor(
    'every acknowledged row on every surviving node',
    async () => {
      for (const node of nodes) {
        const rows = await node.server.query<Array<{ seq: number }>>('SELECT seq FROM app.acked');
        const present = new Set(rows.map((row) => row.seq));
        if (!acked.every((seq) => present.has(seq))) return false;
      }
      return true;
    },
    { timeoutMs: 60_000, intervalMs: 200 },
  );
  const connections = await Promise.all(nodes.map((node) => node.server.connect()));
  try {
    const comparison = await waitFor(
      'the surviving servers to be identical',
      async () => {
        const result = await compareServers(
          connections[0] as mariadb.Connection,
          connections[1] as mariadb.Connection,
        );
        return result.equal ? result : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    ).catch(async (error: Error) => {
      const result = await compareServers(
        connections[0] as mariadb.Connection,
        connections[1] as mariadb.Connection,
      );
      throw new Error(`${error.message}: ${result.differences.join('; ')}`);
    });
    expect(comparison.tables).toBeGreaterThan(0);
  } finally {
    await Promise.all(connections.map((connection) => connection.end()));
  }
}
