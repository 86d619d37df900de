/**
 * Failover under a 16-thread sysbench oltp_write_only load (see failover-load-scenario.ts), on a
 * 3-node playground with the default timings. Each round kills the leader's node process and its
 * MariaDB with SIGKILL, measures the time to the first write accepted by the new leader, checks
 * that every acknowledged unique row survived, then restarts the killed pair and waits for
 * failback before the next round. Needs sysbench (apt-get install -y sysbench).
 *
 * Env: ROUNDS (3), HEARTBEAT_MS (configuration default, 500), THREADS (16). Prints one JSON line last.
 */
import { Playground, type PlaygroundNode } from '../src/cli/playground-command.js';
import { configSchema } from '../src/config/schema.js';
import { failoverRound, prepare, type RoundOptions, type RoundResult } from './failover-load-scenario.js';

const rounds = Number(process.env['ROUNDS'] ?? 3);
const defaults = configSchema.shape.cluster.parse({});
const heartbeatMs = Number(process.env['HEARTBEAT_MS'] ?? defaults.heartbeat_interval_ms);
const threads = Number(process.env['THREADS'] ?? 16);
const quiet = { out: () => {}, err: (text: string) => process.stderr.write(`${text}\n`) };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function settledLeader(playground: Playground, timeoutMs: number): Promise<PlaygroundNode> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const statuses = await playground.statuses();
    const index = statuses.findIndex((s) => s?.role === 'LEADER' && s.writable && s.status === 'ACTIVE');
    const settled = statuses.every((s) => s !== undefined && s.lag_entries === 0 && s.status === 'ACTIVE');
    if (index === 0 && settled) return playground.nodes[index] as PlaygroundNode;
    if (Date.now() > deadline) throw new Error(`no settled leader within ${timeoutMs} ms`);
    await sleep(100);
  }
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
const results: RoundResult[] = [];
try {
  const base = {
    threads,
    loadBeforeKillMs: 5000,
    loadAfterSeconds: 5,
    tables: 4,
    tableSize: 10_000,
    log: (line: string) => process.stderr.write(`${line}\n`),
  };
  await prepare(await settledLeader(playground, 60_000), { ...base, round: 0 });
  for (let round = 1; round <= rounds; round++) {
    const leader = await settledLeader(playground, 180_000);
    const options: RoundOptions = { ...base, round };
    const result = await failoverRound(playground, leader, options);
    results.push(result);
    process.stderr.write(`round ${round}: ${JSON.stringify(result)}\n`);
    await leader.server.start();
    playground.startNode(leader);
  }
} finally {
  await playground.stop();
}
const sorted = results.map((r) => r.failoverMs).sort((a, b) => a - b);
process.stdout.write(
  `${JSON.stringify({
    bench: 'failover-load',
    rounds: results.length,
    threads,
    heartbeat_interval_ms: heartbeatMs,
    failover_ms_p50: sorted[Math.floor((sorted.length - 1) / 2)] ?? 0,
    failover_ms_max: sorted.at(-1) ?? 0,
    tps_before_kill: results.map((r) => r.tpsBeforeKill),
    tps_after_failover: results.map((r) => r.tpsAfterFailover),
    acknowledged_writes: results.reduce((sum, r) => sum + r.acknowledged, 0),
    lost_acknowledged_writes: results.reduce((sum, r) => sum + r.lost.length, 0),
  })}\n`,
);
