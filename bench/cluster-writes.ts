/**
 * Write throughput of a 3-node cluster against a single MariaDB with the same durability
 * (sync_binlog=1, innodb_flush_log_at_trx_commit=1), in one run: sysbench oltp_write_only at 1
 * and 16 threads against the leader's MariaDB (every commit waits for a quorum), then against a
 * lone server. Also reports how far the followers were behind when the load stopped, and how long
 * they took to apply everything. Needs sysbench (apt-get install -y sysbench).
 *
 * Flow control (`cluster.max_apply_lag_ms`): the cluster runs twice in the same script, first with
 * the default bound (1000 ms: the leader holds its acknowledgements while a follower is further
 * behind applying), then with the bound at its maximum (3,600,000 ms: never reached, i.e. off) at
 * 16 threads; `flow_control_cost_16` = 1 − on/off tps. The leader's `wolfscale_flow_control_held_seconds`
 * says how long it held acknowledgements during each cluster run.
 *
 * The clusters run with the product's default `apply.mode` (`replica` since 2026-12-05: followers
 * apply through MariaDB's own parallel replication); a third cluster runs with
 * `apply.mode = "session"` (WolfScale's client sessions) at 16 threads:
 * `session_write_16_ratio_single`.
 *
 * The baseline issue 7 names: MariaDB's own semi-sync replication to two replicas, as durable as
 * the cluster, at 16 threads: `native_semisync_write_16_ratio_single`.
 *
 * Env: SECONDS_PER_RUN (20), TABLES (4), TABLE_SIZE (10000), FLOW_OFF_RUN (1; 0 skips the second
 * cluster), SESSION_RUN (1; 0 skips the third), NATIVE_RUN (1; 0 skips native semi-sync), PROFILE_DIR (unset; a directory: each node process writes a CPU profile there on
 * stop). Prints one JSON line last.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Playground, type PlaygroundNode } from '../src/cli/playground-command.js';
import { MariaDbSet } from '../src/testing/mariadb-harness.js';

const execFileAsync = promisify(execFile);
const seconds = Number(process.env['SECONDS_PER_RUN'] ?? 20);
const tables = Number(process.env['TABLES'] ?? 4);
const tableSize = Number(process.env['TABLE_SIZE'] ?? 10_000);
/** PROFILE_DIR: every node process writes a V8 CPU profile there when it stops (node --cpu-prof). */
const profileDir = process.env['PROFILE_DIR'];
const profileArgs = profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`];
const quiet = { out: () => {}, err: (text: string) => process.stderr.write(`${text}\n`) };

function sysbenchArgs(port: number, user: string, password: string, database: string): string[] {
  return [
    'oltp_write_only',
    '--db-driver=mysql',
    '--mysql-host=127.0.0.1',
    `--mysql-port=${port}`,
    `--mysql-user=${user}`,
    `--mysql-password=${password}`,
    `--mysql-db=${database}`,
    `--tables=${tables}`,
    `--table-size=${tableSize}`,
  ];
}

interface SysbenchRun {
  readonly tps: number;
  /** sysbench's average transaction latency, ms. */
  readonly latencyMs: number;
}

async function sysbench(args: string[], command: 'prepare' | 'run', threads = 1): Promise<SysbenchRun> {
  const { stdout } = await execFileAsync(
    'sysbench',
    [...args, `--threads=${threads}`, `--time=${seconds}`, '--report-interval=0', command],
    {
      maxBuffer: 16 * 1024 * 1024,
    },
  );
  if (command === 'prepare') return { tps: 0, latencyMs: 0 };
  const match = /transactions:\s+\d+\s+\(([\d.]+) per sec/.exec(stdout);
  const latency = /avg:\s+([\d.]+)/.exec(stdout);
  if (match?.[1] === undefined || latency?.[1] === undefined)
    throw new Error(`cannot read sysbench output:\n${stdout}`);
  return { tps: Number(match[1]), latencyMs: Number(latency[1]) };
}

async function gtid(node: PlaygroundNode): Promise<string> {
  const [row] = await node.server.query<Array<{ pos: string }>>('SELECT @@gtid_binlog_pos AS pos');
  return row?.pos ?? '';
}

/** The leader's counters: time flow control held acknowledgements; capture→committed latency sum and count. */
async function leaderCounters(
  node: PlaygroundNode,
): Promise<{ held: number; latencySum: number; latencyCount: number }> {
  const text = await (await fetch(`${node.apiUrl}/metrics`)).text();
  const value = (name: string) =>
    Number(new RegExp(`^${name} ([\\d.e+-]+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
  return {
    held: value('wolfscale_flow_control_held_seconds'),
    latencySum: value('wolfscale_commit_latency_seconds_sum'),
    latencyCount: value('wolfscale_commit_latency_seconds_count'),
  };
}

/** MariaDB's own count of commits that waited for a semi-sync acknowledgement, and their total wait (µs). */
async function semiSyncWaits(node: PlaygroundNode): Promise<{ waits: number; waitUs: number }> {
  const rows = await node.server.query<Array<{ Variable_name: string; Value: string }>>(
    "SHOW GLOBAL STATUS WHERE Variable_name IN ('Rpl_semi_sync_master_tx_waits', 'Rpl_semi_sync_master_tx_wait_time')",
  );
  const value = (name: string) => Number(rows.find((row) => row.Variable_name === name)?.Value ?? Number.NaN);
  return {
    waits: value('Rpl_semi_sync_master_tx_waits'),
    waitUs: value('Rpl_semi_sync_master_tx_wait_time'),
  };
}

const result: Record<string, number | string> = { bench: 'cluster-writes', seconds_per_run: seconds };

/** One cluster: sysbench against the leader at each thread count; `prefix` names the keys. */
async function clusterRuns(
  prefix: string,
  threadCounts: readonly number[],
  clusterConfig: string,
  applyMode?: 'session' | 'replica',
): Promise<void> {
  const playground = await Playground.start(
    {
      nodes: 3,
      json: false,
      clusterConfig,
      ...(applyMode === undefined ? {} : { applyConfig: `mode = "${applyMode}"` }),
      nodeCommand: {
        command: process.execPath,
        args: [...profileArgs, '--import', 'tsx', 'src/bin/wolfscale.ts'],
      },
    },
    quiet,
  );
  try {
    const statuses = await playground.statuses();
    const leader = playground.nodes[statuses.findIndex((s) => s?.role === 'LEADER')] as PlaygroundNode;
    const followers = playground.nodes.filter((node) => node !== leader);
    const args = sysbenchArgs(leader.mariadbPort, 'app', 'app', 'app');
    await sysbench(args, 'prepare');
    for (const threads of threadCounts) {
      const before = await leaderCounters(leader);
      const waitsBefore = await semiSyncWaits(leader);
      const run = await sysbench(args, 'run', threads);
      const after = await leaderCounters(leader);
      const waitsAfter = await semiSyncWaits(leader);
      // How long MariaDB's commits waited for the acknowledgement, as MariaDB measures it.
      result[`${prefix}_${threads}_semi_sync_wait_ms`] = Number(
        ((waitsAfter.waitUs - waitsBefore.waitUs) / 1000 / (waitsAfter.waits - waitsBefore.waits)).toFixed(2),
      );
      result[`${prefix}_${threads}_tps`] = run.tps;
      result[`${prefix}_${threads}_latency_ms`] = run.latencyMs;
      // The part of each commit spent between the capture receiving it and the quorum holding it.
      result[`${prefix}_${threads}_quorum_ms`] = Number(
        (
          (1000 * (after.latencySum - before.latencySum)) /
          (after.latencyCount - before.latencyCount)
        ).toFixed(2),
      );
      result[`${prefix}_${threads}_flow_control_held_s`] = Number((after.held - before.held).toFixed(2));
      const target = await gtid(leader);
      const stoppedAt = performance.now();
      const behind = await Promise.all(
        followers.map(async (node) => ((await gtid(node)) === target ? 0 : 1)),
      );
      for (const node of followers) {
        while ((await gtid(node)) !== target) {
          if (performance.now() - stoppedAt > 600_000)
            throw new Error(`${node.id} did not catch up within 10 minutes`);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
      result[`${prefix}_${threads}_followers_behind_at_stop`] = behind.reduce((sum: number, b) => sum + b, 0);
      result[`${prefix}_${threads}_apply_catch_up_ms`] = Math.round(performance.now() - stoppedAt);
    }
  } finally {
    await playground.stop();
  }
}

await clusterRuns('cluster_write', [1, 16], '');
if (process.env['FLOW_OFF_RUN'] !== '0')
  await clusterRuns('cluster_no_flow_control_write', [16], 'max_apply_lag_ms = 3600000');
if (process.env['SESSION_RUN'] !== '0') await clusterRuns('cluster_session_write', [16], '', 'session');

/**
 * MariaDB's own semi-sync replication in the same run: a primary (AFTER_SYNC, never falling back
 * to asynchronous within the run) and two replicas, every server as durable as the cluster's
 * (sync_binlog=1, innodb_flush_log_at_trx_commit=1) and the replicas applying as our replica mode
 * does (log_slave_updates, 8 optimistic parallel threads). A commit waits for one replica's
 * acknowledgement: the same 2-of-3 the cluster's quorum needs.
 */
async function nativeSemiSyncRun(threads: number): Promise<void> {
  const primarySet = await MariaDbSet.start({
    count: 1,
    durable: true,
    serverIdBase: 1,
    extraArgs: [
      '--rpl-semi-sync-master-enabled=ON',
      '--rpl-semi-sync-master-wait-point=AFTER_SYNC',
      '--rpl-semi-sync-master-timeout=600000',
      '--rpl-semi-sync-master-wait-no-slave=OFF',
    ],
  });
  const replicaSet = await MariaDbSet.start({
    count: 2,
    durable: true,
    serverIdBase: 2,
    extraArgs: [
      '--rpl-semi-sync-slave-enabled=ON',
      '--log-slave-updates=ON',
      '--slave-parallel-threads=8',
      '--slave-parallel-mode=optimistic',
    ],
  });
  try {
    const [primary] = primarySet.servers;
    if (primary === undefined) throw new Error('no primary');
    await primary.query('CREATE DATABASE app');
    for (const replica of replicaSet.servers) {
      await replica.query(
        `CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=${primary.port}, MASTER_USER='root', MASTER_PASSWORD='', MASTER_USE_GTID=slave_pos`,
      );
      await replica.query('START SLAVE');
    }
    const status = async (name: string): Promise<number> => {
      const rows = await primary.query<Array<{ Value: string }>>(`SHOW GLOBAL STATUS LIKE '${name}'`);
      return Number(rows[0]?.Value ?? Number.NaN);
    };
    const deadline = Date.now() + 30_000;
    while ((await status('Rpl_semi_sync_master_clients')) !== 2) {
      if (Date.now() > deadline)
        throw new Error('the two native replicas did not connect as semi-sync replicas');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const args = sysbenchArgs(primary.port, 'root', '', 'app');
    await sysbench(args, 'prepare');
    const unacknowledgedBefore = await status('Rpl_semi_sync_master_no_tx');
    const run = await sysbench(args, 'run', threads);
    result[`native_semisync_write_${threads}_tps`] = run.tps;
    result[`native_semisync_write_${threads}_latency_ms`] = run.latencyMs;
    // Commits that returned without an acknowledgement (must be 0 for the comparison to hold).
    result[`native_semisync_write_${threads}_unacknowledged`] =
      (await status('Rpl_semi_sync_master_no_tx')) - unacknowledgedBefore;
    const [row] = await primary.query<Array<{ pos: string }>>('SELECT @@gtid_binlog_pos AS pos');
    const target = row?.pos ?? '';
    const stoppedAt = performance.now();
    for (const replica of replicaSet.servers) {
      for (;;) {
        const [applied] = await replica.query<Array<{ pos: string }>>('SELECT @@gtid_slave_pos AS pos');
        if (applied?.pos === target) break;
        if (performance.now() - stoppedAt > 600_000)
          throw new Error('a native replica did not catch up within 10 minutes');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
    result[`native_semisync_write_${threads}_apply_catch_up_ms`] = Math.round(performance.now() - stoppedAt);
  } finally {
    await replicaSet.destroy();
    await primarySet.destroy();
  }
}

if (process.env['NATIVE_RUN'] !== '0') await nativeSemiSyncRun(16);

const single = await MariaDbSet.start({ count: 1, durable: true });
try {
  const [server] = single.servers;
  if (server === undefined) throw new Error('no server');
  await server.query('CREATE DATABASE app');
  const args = sysbenchArgs(server.port, 'root', '', 'app');
  await sysbench(args, 'prepare');
  for (const threads of [1, 16]) {
    const run = await sysbench(args, 'run', threads);
    result[`single_write_${threads}_tps`] = run.tps;
    result[`single_write_${threads}_latency_ms`] = run.latencyMs;
  }
} finally {
  await single.destroy();
}
const ratio = (threads: number) =>
  Number(
    (
      (result[`cluster_write_${threads}_tps`] as number) / (result[`single_write_${threads}_tps`] as number)
    ).toFixed(2),
  );
result['write_1_ratio_single'] = ratio(1);
result['write_16_ratio_single'] = ratio(16);
if (result['cluster_no_flow_control_write_16_tps'] !== undefined) {
  result['flow_control_cost_16'] = Number(
    (
      1 -
      (result['cluster_write_16_tps'] as number) / (result['cluster_no_flow_control_write_16_tps'] as number)
    ).toFixed(2),
  );
}
if (result['cluster_session_write_16_tps'] !== undefined) {
  result['session_write_16_ratio_single'] = Number(
    ((result['cluster_session_write_16_tps'] as number) / (result['single_write_16_tps'] as number)).toFixed(
      2,
    ),
  );
}
if (result['native_semisync_write_16_tps'] !== undefined) {
  result['native_semisync_write_16_ratio_single'] = Number(
    ((result['native_semisync_write_16_tps'] as number) / (result['single_write_16_tps'] as number)).toFixed(
      2,
    ),
  );
}
process.stdout.write(`${JSON.stringify(result)}\n`);
