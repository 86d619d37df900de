/**
 * Where the time of one write goes: a 3-node playground with WOLFSCALE_WRITE_TRACE on, sysbench
 * oltp_write_only at THREADS (1) for SECONDS (10) against the leader, then one line per step of
 * the write path with its median and p90 offset (ms) from the capture receiving the transaction.
 * Followers are named by their order of answering (f1 = the one whose ack made the quorum).
 *
 *   npx tsx scripts/write-trace.ts            # or: TRACE_DIR=/tmp/x to keep the raw traces
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);
const threads = Number(process.env['THREADS'] ?? 1);
const seconds = Number(process.env['SECONDS'] ?? 10);
const traceDir = process.env['TRACE_DIR'] ?? (await mkdtemp(join(tmpdir(), 'wolfscale-trace-')));
process.env['WOLFSCALE_WRITE_TRACE'] = traceDir;
const { Playground } = await import('../src/cli/playground-command.js');

const skipRun = process.env['REPORT_ONLY'] === '1';
if (!skipRun) {
  const playground = await Playground.start(
    {
      nodes: 3,
      json: false,
      nodeCommand: { command: process.execPath, args: ['--import', 'tsx', 'src/bin/wolfscale.ts'] },
    },
    { out: () => {}, err: (text: string) => process.stderr.write(`${text}\n`) },
  );
  try {
    const statuses = await playground.statuses();
    const leader = playground.nodes[statuses.findIndex((s) => s?.role === 'LEADER')];
    if (leader === undefined) throw new Error('no leader');
    const args = [
      'oltp_write_only',
      '--db-driver=mysql',
      '--mysql-host=127.0.0.1',
      `--mysql-port=${leader.mariadbPort}`,
      '--mysql-user=app',
      '--mysql-password=app',
      '--mysql-db=app',
      '--tables=4',
      '--table-size=10000',
    ];
    await execFileAsync('sysbench', [...args, 'prepare']);
    const { stdout } = await execFileAsync('sysbench', [
      ...args,
      `--threads=${threads}`,
      `--time=${seconds}`,
      '--report-interval=0',
      'run',
    ]);
    process.stderr.write(`${/transactions:.*$/m.exec(stdout)?.[0] ?? stdout}\n`);
  } finally {
    await playground.stop();
  }
}

// ---- report
type Timeline = Map<string, number>;
const byNode = new Map<string, Map<number, Timeline>>();
for (const file of await readdir(traceDir)) {
  if (!file.endsWith('.trace')) continue;
  let node = file;
  const points = new Map<number, Timeline>();
  for (const line of (await readFile(join(traceDir, file), 'utf8')).split('\n')) {
    const [ns, point, index] = line.split(' ');
    if (ns === undefined || point === undefined || index === undefined) continue;
    if (point.startsWith('label:')) {
      node = point.slice('label:'.length);
      continue;
    }
    const i = Number(index);
    let timeline = points.get(i);
    if (timeline === undefined) {
      timeline = new Map();
      points.set(i, timeline);
    }
    // The first time a point is reached for an index counts (a follower may ack an index twice).
    if (!timeline.has(point)) timeline.set(point, Number(BigInt(ns) / 1000n) / 1000);
  }
  byNode.set(node, points);
}
const leaderEntry = [...byNode].find(([, points]) => [...points.values()].some((t) => t.has('ack')));
if (leaderEntry === undefined) throw new Error(`no leader trace in ${traceDir}`);
const [leaderId, leaderPoints] = leaderEntry;
const offsets = new Map<string, number[]>();
const record = (name: string, value: number) => {
  let list = offsets.get(name);
  if (list === undefined) {
    list = [];
    offsets.set(name, list);
  }
  list.push(value);
};
let counted = 0;
for (const [index, timeline] of leaderPoints) {
  const start = timeline.get('cap.recv');
  if (start === undefined || !timeline.has('ack')) continue;
  counted++;
  for (const [point, at] of timeline) record(`L ${point.replace(/\.node-\d+/, '')}`, at - start);
  // Followers in the order the leader heard their acks.
  const followers = [...byNode.keys()]
    .filter((id) => id !== leaderId)
    .map((id) => ({ id, heard: timeline.get(`l.resp.${id}`) ?? Number.POSITIVE_INFINITY }))
    .sort((a, b) => a.heard - b.heard);
  followers.forEach(({ id }, rank) => {
    for (const [point, at] of byNode.get(id)?.get(index) ?? []) record(`f${rank + 1} ${point}`, at - start);
    const repl = timeline.get(`l.repl.${id}.written`);
    const heard = timeline.get(`l.resp.${id}`);
    if (repl !== undefined) record(`L f${rank + 1} repl.written`, repl - start);
    if (heard !== undefined) record(`L f${rank + 1} resp.heard`, heard - start);
  });
}
const quantile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
const summary = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mean = values.reduce((sum, v) => sum + v, 0) / Math.max(1, values.length);
  return `p50 ${quantile(sorted, 0.5).toFixed(3).padStart(7)}  p90 ${quantile(sorted, 0.9).toFixed(3).padStart(7)}  mean ${mean.toFixed(3).padStart(7)}  n=${values.length}`;
};
console.log(
  `trace ${traceDir}: ${counted} transactions, leader ${leaderId}; ms after the capture received each`,
);
const rows = [...offsets].map(([name, values]) => ({
  name,
  values,
  p50: quantile(
    [...values].sort((a, b) => a - b),
    0.5,
  ),
}));
for (const row of rows.sort((a, b) => a.p50 - b.p50))
  console.log(`${row.name.padEnd(28)} ${summary(row.values)}`);

// Steps: per transaction, the time between consecutive points of the path (f1: the follower whose ack made the quorum).
const steps: Array<[string, string]> = [
  ['L cap.first', 'L cap.recv'],
  ['L cap.recv', 'L cap.next'],
  ['L cap.next', 'L propose'],
  ['L propose', 'L wal.append'],
  ['L wal.append', 'L wal.write'],
  ['L wal.write', 'L wal.written'],
  ['L wal.written', 'L wal.synced'],
  ['L wal.synced', 'L wal.durable'],
  ['L wal.append', 'L f1 repl.written'],
  ['L f1 repl.written', 'f1 f.recv'],
  ['f1 f.recv', 'f1 wal.append'],
  ['f1 wal.append', 'f1 wal.write'],
  ['f1 wal.write', 'f1 wal.written'],
  ['f1 wal.written', 'f1 wal.synced'],
  ['f1 wal.synced', 'f1 wal.durable'],
  ['f1 wal.durable', 'f1 f.resp.queued'],
  ['f1 f.resp.queued', 'f1 f.resp.written'],
  ['f1 f.resp.written', 'L f1 resp.heard'],
  ['L quorum.ready', 'L commit'],
  ['L commit', 'L outcome'],
  ['L outcome', 'L ack'],
];
const perTx = new Map<string, number>();
const stepValues = new Map<string, number[]>();
let leaderLast = 0;
for (const [index, timeline] of leaderPoints) {
  const start = timeline.get('cap.recv');
  if (start === undefined || !timeline.has('ack')) continue;
  perTx.clear();
  for (const [point, at] of timeline) perTx.set(`L ${point}`, at - start);
  const followers = [...byNode.keys()]
    .filter((id) => id !== leaderId)
    .map((id) => ({ id, heard: timeline.get(`l.resp.${id}`) ?? Number.POSITIVE_INFINITY }))
    .sort((a, b) => a.heard - b.heard);
  const first = followers[0];
  if (first === undefined) continue;
  for (const [point, at] of byNode.get(first.id)?.get(index) ?? []) perTx.set(`f1 ${point}`, at - start);
  const repl = timeline.get(`l.repl.${first.id}.written`);
  if (repl !== undefined) perTx.set('L f1 repl.written', repl - start);
  perTx.set('L f1 resp.heard', first.heard - start);
  const own = perTx.get('L wal.durable') ?? 0;
  perTx.set('L quorum.ready', Math.max(own, first.heard - start));
  if (own > first.heard - start) leaderLast++;
  for (const [from, to] of steps) {
    const a = perTx.get(from);
    const b = perTx.get(to);
    if (a === undefined || b === undefined) continue;
    const key = `${from} -> ${to}`;
    let list = stepValues.get(key);
    if (list === undefined) {
      list = [];
      stepValues.set(key, list);
    }
    list.push(b - a);
  }
}
console.log(
  `\nsteps (ms); the leader's own fsync finished after the quorum follower's ack in ${leaderLast} of ${counted}`,
);
for (const [from, to] of steps) {
  const values = stepValues.get(`${from} -> ${to}`);
  if (values !== undefined) console.log(`${`${from} -> ${to}`.padEnd(40)} ${summary(values)}`);
}
