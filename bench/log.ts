/**
 * The replicated log alone (engine + WAL + transport, no MariaDB): three nodes on localhost with
 * fsync on. Measures sequential propose→commit latency (one proposal at a time, what a single
 * client's commit waits for) and pipelined throughput (many proposals in flight), for 256 B
 * payloads. Prints one JSON line last. Env: PROPOSALS (2000), TICK_MS (100).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { ReplicatedLog } from '../src/node/replicated-log.js';
import { freePort } from '../src/testing/free-port.js';

const proposals = Number(process.env['PROPOSALS'] ?? 2000);
const tickMs = Number(process.env['TICK_MS'] ?? 100);
const root = await mkdtemp(join(tmpdir(), 'wolfscale-bench-log-'));
const ids = ['node-1', 'node-2', 'node-3'];
const ports = [await freePort(), await freePort(), await freePort()];
const logs = await Promise.all(
  ids.map((id, i) =>
    ReplicatedLog.open({
      nodeId: id,
      dataDir: join(root, id),
      peers: ids
        .map((peer, j) => ({ id: peer, address: `127.0.0.1:${ports[j]}` }))
        .filter((peer) => peer.id !== id),
      neverLeader: false,
      tickMs,
      healthy: true,
      logger: pino({ level: 'silent' }),
      transport: {
        clusterName: 'bench',
        secret: 'bench-secret-0123456789',
        listenHost: '127.0.0.1',
        listenPort: ports[i] as number,
      },
    }),
  ),
);
try {
  while (!logs.some((log) => log.status().role === 'LEADER')) await new Promise((r) => setTimeout(r, 10));
  const leader = logs.find((log) => log.status().role === 'LEADER') as ReplicatedLog;
  const payload = new Uint8Array(256).fill(7);
  const latencies: number[] = [];
  for (let i = 0; i < Math.min(proposals, 500); i++) {
    const started = performance.now();
    const outcome = await leader.propose(payload);
    if (!outcome.ok) throw new Error(`proposal refused: ${outcome.reason}`);
    latencies.push(performance.now() - started);
  }
  latencies.sort((a, b) => a - b);
  const started = performance.now();
  const outcomes = await Promise.all(Array.from({ length: proposals }, () => leader.propose(payload)));
  const elapsedS = (performance.now() - started) / 1000;
  if (!outcomes.every((outcome) => outcome.ok)) throw new Error('a pipelined proposal was refused');
  const result = {
    bench: 'log',
    nodes: 3,
    payload_bytes: 256,
    sequential_commit_ms_p50: Number((latencies[Math.floor(latencies.length / 2)] ?? 0).toFixed(2)),
    sequential_commit_ms_p99: Number((latencies[Math.floor(latencies.length * 0.99)] ?? 0).toFixed(2)),
    pipelined_commits_per_s: Math.round(proposals / elapsedS),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
} finally {
  await Promise.all(logs.map((log) => log.close()));
  await rm(root, { recursive: true, force: true });
}
