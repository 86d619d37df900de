import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Connection } from 'mariadb';
import { afterAll, describe, expect, test } from 'vitest';
import { Playground, type PlaygroundNode } from '../../src/cli/playground-command.js';
import type { NodeStatusView } from '../../src/http/node-api.js';
import { RelayMesh } from '../../src/testing/fault-relay.js';
import { waitFor } from '../support/wait-for.js';

/**
 * A leader commits transactions that never get a quorum (its cluster traffic is cut, its clients
 * block in the semi-sync wait), is killed, the others elect a leader and take writes over the
 * same GTID sequence numbers; the old leader comes back. With only row changes in its tail it
 * rewinds them and converges; with DDL in its tail it stops in NEEDS_MIGRATION.
 */
const nodeCommand = { command: process.execPath, args: ['--import', 'tsx', 'src/bin/wolfscale.ts'] };
const quietIo = { out: () => {}, err: () => {} };

async function writableLeader(playground: Playground): Promise<string | undefined> {
  const statuses = await playground.statuses();
  const leaders = statuses.filter((s): s is NodeStatusView => s?.role === 'LEADER' && s.writable);
  return leaders.length === 1 ? leaders[0]?.node_id : undefined;
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

async function app(node: PlaygroundNode): Promise<Connection> {
  return await node.server.connect({ user: 'app', password: 'app', database: 'app' });
}

async function insertAcknowledged(node: PlaygroundNode, from: number, to: number): Promise<void> {
  const connection = await app(node);
  try {
    for (let id = from; id <= to; id++)
      await connection.query('INSERT INTO t (id, note) VALUES (?, UUID())', [id]);
  } finally {
    connection.destroy();
  }
}

async function ids(node: PlaygroundNode): Promise<number[]> {
  const rows = await node.server.query<Array<{ id: number }>>('SELECT id FROM app.t ORDER BY id');
  return rows.map((row) => row.id);
}

async function binlogPos(node: PlaygroundNode): Promise<string> {
  const [row] = await node.server.query<Array<{ p: string }>>('SELECT @@GLOBAL.gtid_binlog_pos AS p');
  return row?.p ?? '';
}

function seq(position: string): number {
  return Number(position.split('-').at(-1));
}

/** Status of one node over HTTP. */
async function status(node: PlaygroundNode): Promise<NodeStatusView | undefined> {
  try {
    const response = await fetch(`${node.apiUrl}/status`, { signal: AbortSignal.timeout(1000) });
    return response.ok ? ((await response.json()) as NodeStatusView) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Isolates node-1 (the leader), then runs `uncommitted` on its MariaDB as the SUPER-less `app`
 * user: the statements reach the binlog and wait for an acknowledgement that never comes. Waits
 * until node-1's binlog holds `count` more transactions, kills node-1's process, and waits for
 * node-2 to lead. Returns the unfinished statements' promises and node-1's binlog position.
 */
async function leaderTailThenCrash(
  playground: Playground,
  mesh: RelayMesh,
  count: number,
  uncommitted: (connection: Connection, i: number) => Promise<unknown>,
): Promise<{ tailPos: string; committedPos: string; outcomes: Array<Promise<unknown>> }> {
  const [n1] = playground.nodes as [PlaygroundNode];
  const committedPos = await binlogPos(n1);
  const connections = await Promise.all(Array.from({ length: count }, () => app(n1)));
  mesh.isolate(0);
  const outcomes = connections.map((connection, i) =>
    uncommitted(connection, i).then(
      () => 'ok',
      (error: Error) => `failed: ${error.message}`,
    ),
  );
  // MariaDB may let only the first waiting commit into the binlog until it is acknowledged
  // (group commit): one is enough for a tail.
  const tailPos = await waitFor(
    "node-1's binlog to hold an uncommitted transaction",
    async () => {
      const pos = await binlogPos(n1);
      return seq(pos) > seq(committedPos) ? pos : undefined;
    },
    { timeoutMs: 10_000 },
  );
  await playground.killNode(n1);
  await waitFor('node-2 to lead', async () => (await writableLeader(playground)) === 'node-2', {
    timeoutMs: 30_000,
  });
  for (const connection of connections) connection.destroy();
  return { tailPos, committedPos, outcomes };
}

describe('rewind of a returning old leader', () => {
  let playground: Playground | undefined;
  let mesh: RelayMesh | undefined;
  afterAll(async () => {
    await playground?.stop();
    await mesh?.close();
  });

  async function start(): Promise<Playground> {
    await playground?.stop();
    await mesh?.close();
    playground = await Playground.start(
      {
        nodes: 3,
        json: false,
        heartbeatMs: 100,
        nodeCommand,
        peerPorts: async (ports) => {
          mesh = await RelayMesh.start(ports);
          const relays = mesh;
          return (from, to) => relays.relay(from, to).port;
        },
      },
      quietIo,
    );
    await waitFor(
      'node-1 to lead',
      async () => (await writableLeader(playground as Playground)) === 'node-1',
    );
    return playground;
  }

  // Once skipped: in a full `npm test` one of the isolated leader's commits returned OK although
  // no quorum held it. The step-down ended the waiting sessions between read_only attempts, and a
  // commit started right after such a kill could return OK unacknowledged (docs/RELIABILITY.md
  // "Failures found" 8; test/integration/step-down-ok.test.ts). Sessions are now ended only while
  // read_only=ON is pending.
  test('row changes no quorum acknowledged are rewound; the node reports them, catches up, leads again; all nodes equal', async () => {
    const pg = await start();
    await withNodeLogs(pg, async () => {
      const [n1, n2, n3] = pg.nodes as [PlaygroundNode, PlaygroundNode, PlaygroundNode];
      await n1.server.query('CREATE TABLE app.t (id INT PRIMARY KEY, note VARCHAR(40)) ENGINE=InnoDB');
      await insertAcknowledged(n1, 1, 20);
      const { tailPos, committedPos, outcomes } = await leaderTailThenCrash(
        pg,
        mesh as RelayMesh,
        3,
        (connection, i) => connection.query('INSERT INTO t (id, note) VALUES (?, UUID())', [1001 + i]),
      );
      // The new leader's writes take the same sequence numbers as node-1's tail.
      await insertAcknowledged(n2, 21, 40);
      expect(seq(await binlogPos(n2))).toBeGreaterThanOrEqual(seq(tailPos));
      for (const outcome of outcomes) expect(await outcome).toMatch(/^failed/); // no client got an OK

      mesh?.heal();
      pg.startNode(n1);
      const report = await waitFor(
        'node-1 to report its rewind',
        async () => {
          const s = await status(n1);
          return s?.rewind?.state === 'rewound' ? s.rewind : undefined;
        },
        { timeoutMs: 60_000 },
      );
      // Exactly node-1's own transactions after the last committed one, one row each.
      const tailLength = report.discarded.length;
      expect(tailLength).toBeGreaterThanOrEqual(seq(tailPos) - seq(committedPos));
      expect(tailLength).toBeLessThanOrEqual(3);
      const expectedTail = Array.from({ length: tailLength }, (_, i) => `0-1-${seq(committedPos) + 1 + i}`);
      expect(report.discarded.map((d) => d.gtid)).toEqual(expectedTail);
      expect(report.discarded.every((d) => d.tables.join() === 'app.t')).toBe(true);
      expect(report.rows_by_table).toEqual({ 'app.t': tailLength });
      expect(report.restored_position).toBe(committedPos);
      const log = await readFile(join(n1.dataDir, 'wolfscale.log'), 'utf8');
      expect(log).toContain(`"gtid":"${expectedTail[0]}"`);
      expect(log).toContain(`rewound ${tailLength} transaction(s) the cluster never committed`);

      await waitFor('node-1 to lead again (failback)', async () => (await writableLeader(pg)) === 'node-1', {
        timeoutMs: 60_000,
      });
      await insertAcknowledged(n1, 41, 50);
      const all = Array.from({ length: 50 }, (_, i) => i + 1);
      for (const node of [n1, n2, n3]) {
        await waitFor(`${node.id} to hold exactly the 50 acknowledged rows`, async () => {
          const held = await ids(node);
          return held.length === 50 && held.every((id, i) => id === all[i]);
        });
      }
      await waitFor('equal GTID positions', async () => {
        const positions = await Promise.all([n1, n2, n3].map(binlogPos));
        return positions.every((p) => p === positions[0]);
      });
      const checksums = await Promise.all(
        [n1, n2, n3].map((node) => node.server.query('CHECKSUM TABLE app.t')),
      );
      expect(checksums[1]).toEqual(checksums[0]);
      expect(checksums[2]).toEqual(checksums[0]);
      const statuses = await pg.statuses();
      expect(statuses.map((s) => s?.status)).toEqual(['ACTIVE', 'ACTIVE', 'ACTIVE']);
      expect(statuses.map((s) => s?.apply?.state)).toEqual(['running', 'running', 'running']);
    });
  });

  // Once a product race: the restarted node-1 counted as healthy before its rewind check had run,
  // so failback handed it leadership and node-2 turned read-only (1290) until node-1 found the
  // DDL tail. A node is now no failback target until its check is done (src/consensus/DESIGN.md).
  test('DDL in the tail cannot be rewound: the node stops in NEEDS_MIGRATION, says what to do, changes nothing; the cluster goes on', async () => {
    const pg = await start();
    await withNodeLogs(pg, async () => {
      const [n1, n2] = pg.nodes as [PlaygroundNode, PlaygroundNode, PlaygroundNode];
      await n1.server.query('CREATE TABLE app.t (id INT PRIMARY KEY, note VARCHAR(40)) ENGINE=InnoDB');
      await insertAcknowledged(n1, 1, 10);
      const { tailPos } = await leaderTailThenCrash(pg, mesh as RelayMesh, 1, (connection) =>
        connection.query('CREATE TABLE ddl_tail (id INT PRIMARY KEY)'),
      );
      await insertAcknowledged(n2, 11, 20);
      mesh?.heal();
      pg.startNode(n1);
      const s = await waitFor(
        'node-1 to report NEEDS_MIGRATION',
        async () => {
          const current = await status(n1);
          return current?.status === 'NEEDS_MIGRATION' ? current : undefined;
        },
        { timeoutMs: 60_000 },
      );
      expect(s.rewind?.state).toBe('needs_migration');
      expect(s.rewind?.detail).toContain(tailPos);
      expect(s.rewind?.detail).toMatch(/ddl: .*CREATE TABLE ddl_tail/);
      expect(s.rewind?.detail).toMatch(/wolfctl migrate/);
      expect(s.detail).toMatch(/cannot be undone/);
      // Nothing was changed on node-1, nothing applied on top of the diverged binlog.
      expect(await binlogPos(n1)).toBe(tailPos);
      expect(await ids(n1)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
      // node-1 is not eligible: node-2 keeps leading and taking writes.
      const health = await fetch(`${n1.apiUrl}/health`);
      expect(health.status).toBe(503);
      await insertAcknowledged(n2, 21, 25);
      expect(await writableLeader(pg)).toBe('node-2');
    });
  });
});
