/**
 * Failover time and durability under a steady write load, on a 3-node playground.
 *
 * Each round: a writer inserts rows one at a time through the leader's MariaDB (as the `app`
 * account) and records every acknowledged row; the leader's node process and its MariaDB are
 * killed with SIGKILL; the clock runs until a write succeeds on another node's MariaDB (they are
 * read-only until that node leads with a connected capture). Every acknowledged row must be on
 * the new leader. Then the killed node and its MariaDB restart, rejoin and take leadership back
 * (failback) before the next round.
 *
 * Env: ROUNDS (10), HEARTBEAT_MS (the configuration default, 500). Prints one JSON line last.
 */
import type { Connection } from 'mariadb';
import { Playground, type PlaygroundNode } from '../src/cli/playground-command.js';
import { configSchema } from '../src/config/schema.js';

const rounds = Number(process.env['ROUNDS'] ?? 10);
const defaults = configSchema.shape.cluster.parse({});
const heartbeatMs = Number(process.env['HEARTBEAT_MS'] ?? defaults.heartbeat_interval_ms);
const electionTimeoutMs = heartbeatMs * 3;
const quiet = { out: () => {}, err: (text: string) => process.stderr.write(`${text}\n`) };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function leaderNode(playground: Playground, timeoutMs: number): Promise<PlaygroundNode> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const statuses = await playground.statuses();
    const index = statuses.findIndex((s) => s?.role === 'LEADER' && s.writable && s.status === 'ACTIVE');
    const settled = statuses.every((s) => s !== undefined && s.lag_entries === 0);
    if (index >= 0 && settled && index === 0) return playground.nodes[index] as PlaygroundNode;
    if (Date.now() > deadline)
      throw new Error(
        `no settled leader within ${timeoutMs} ms: ${JSON.stringify(statuses.map((s) => s && [s.node_id, s.role, s.writable, s.status]))}`,
      );
    await sleep(50);
  }
}

async function appConnection(node: PlaygroundNode): Promise<Connection> {
  return await node.server.connect({ user: 'app', password: 'app', database: 'app', connectTimeout: 1000 });
}

const playground = await Playground.start(
  {
    nodes: 3,
    json: false,
    heartbeatMs,
    nodeCommand: { command: process.execPath, args: ['--import', 'tsx', 'src/bin/wolfscale.ts'] },
  },
  quiet,
);
const failoverMs: number[] = [];
let lost = 0;
let acknowledgedTotal = 0;
try {
  const first = await leaderNode(playground, 60_000);
  await first.server.query('CREATE TABLE app.f (round INT, seq INT, PRIMARY KEY (round, seq))');
  for (let round = 1; round <= rounds; round++) {
    const leader = await leaderNode(playground, 120_000);
    const others = playground.nodes.filter((node) => node !== leader);
    const writer = await appConnection(leader);
    const acked: number[] = [];
    let writing = true;
    const writerDone = (async () => {
      for (let seq = 1; writing; seq++) {
        try {
          await writer.query('INSERT INTO app.f VALUES (?, ?)', [round, seq]);
          acked.push(seq);
        } catch {
          return;
        }
      }
    })();
    await sleep(300);
    const killedAt = performance.now();
    await playground.killNode(leader);
    await leader.server.kill();
    writing = false;
    await writerDone;
    writer.destroy();
    const probes = await Promise.all(others.map((node) => appConnection(node)));
    let winner: PlaygroundNode | undefined;
    for (let attempt = 0; winner === undefined; attempt++) {
      for (const [i, probe] of probes.entries()) {
        try {
          await probe.query('INSERT INTO app.f VALUES (?, ?)', [round, 1_000_000 + attempt]);
          winner = others[i];
          break;
        } catch {
          // read-only until that node leads with a connected capture
        }
      }
      if (winner === undefined) await sleep(10);
      if (performance.now() - killedAt > 60_000) throw new Error(`round ${round}: no new leader within 60 s`);
    }
    failoverMs.push(performance.now() - killedAt);
    for (const probe of probes) probe.destroy();
    const present = new Set(
      (
        await (winner as PlaygroundNode).server.query<Array<{ seq: number }>>(
          'SELECT seq FROM app.f WHERE round = ?',
          [round],
        )
      ).map((r) => r.seq),
    );
    const missing = acked.filter((seq) => !present.has(seq));
    lost += missing.length;
    acknowledgedTotal += acked.length;
    process.stderr.write(
      `round ${round}: ${Math.round(failoverMs.at(-1) ?? 0)} ms to a write on ${winner?.id}; ${acked.length} acknowledged, ${missing.length} missing\n`,
    );
    await leader.server.start();
    playground.startNode(leader);
  }
} finally {
  await playground.stop();
}
const sorted = [...failoverMs].sort((a, b) => a - b);
process.stdout.write(
  `${JSON.stringify({
    bench: 'failover',
    rounds: failoverMs.length,
    heartbeat_interval_ms: heartbeatMs,
    election_timeout_ms: electionTimeoutMs,
    failover_ms_p50: Math.round(sorted[Math.floor((sorted.length - 1) / 2)] ?? 0),
    failover_ms_max: Math.round(sorted.at(-1) ?? 0),
    acknowledged_writes: acknowledgedTotal,
    lost_acknowledged_writes: lost,
  })}\n`,
);
