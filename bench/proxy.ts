/**
 * The MySQL proxy's throughput and added latency, against baselines measured in the same run on
 * a 3-node playground: sysbench oltp_point_select and oltp_read_only at 1 and 16 threads,
 *   - direct to the leader's MariaDB,
 *   - through HAProxy in TCP mode (a pure relay: the physical limit for a proxy here),
 *   - through our proxy on the leader,
 *   - through a follower's proxy (its reads run on the follower's MariaDB).
 *
 * Env: SECONDS (8) per run, TABLE_SIZE (10000), PROFILE=1 to run the nodes under
 * `node --cpu-prof` and print where the leader's proxy process spends its time, PROFILE_DIR
 * (with PROFILE=1: keep the profiles there instead of a temporary directory).
 * Prints one JSON line last.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Playground, type PlaygroundNode } from '../src/cli/playground-command.js';
import { freePort } from '../src/testing/free-port.js';

const run = promisify(execFile);
const seconds = Number(process.env['SECONDS_PER_RUN'] ?? process.env['SECONDS'] ?? 8);
const tableSize = Number(process.env['TABLE_SIZE'] ?? 10_000);
const profile = process.env['PROFILE'] === '1';
const log = (text: string) => process.stderr.write(`${text}\n`);
const quiet = { out: () => {}, err: log };

const work = await mkdtemp(join(tmpdir(), 'wolfscale-bench-proxy-'));
const profileDir = process.env['PROFILE_DIR'] ?? join(work, 'profiles');
const playground = await Playground.start(
  {
    nodes: 3,
    json: false,
    nodeCommand: {
      command: process.execPath,
      args: [
        ...(profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
        '--import',
        'tsx',
        'src/bin/wolfscale.ts',
      ],
    },
  },
  quiet,
);

interface Result {
  readonly qps: number;
  readonly p50Ms: number;
}

function parse(stdout: string): Result {
  const qps = Number(/queries:\s+\d+\s+\(([\d.]+) per sec\.\)/.exec(stdout)?.[1]);
  const p50Ms = Number(/50th percentile:\s+([\d.]+)/.exec(stdout)?.[1]);
  if (!Number.isFinite(qps) || !Number.isFinite(p50Ms))
    throw new Error(`cannot read sysbench output:\n${stdout}`);
  return { qps, p50Ms };
}

let haproxy: ReturnType<typeof spawn> | undefined;
const results: Record<string, Result> = {};
let failover: Record<string, number | boolean> | undefined;
try {
  const statuses = await playground.statuses();
  const leaderIndex = statuses.findIndex((status) => status?.role === 'LEADER' && status.writable);
  const leader = playground.nodes[leaderIndex];
  const follower = playground.nodes.find((_, i) => i !== leaderIndex);
  if (leader === undefined || follower === undefined) throw new Error('no writable leader');
  const common = (port: number) => [
    '--db-driver=mysql',
    '--mysql-host=127.0.0.1',
    `--mysql-port=${port}`,
    '--mysql-user=app',
    '--mysql-password=app',
    '--mysql-db=app',
    '--tables=4',
    `--table-size=${tableSize}`,
  ];
  log(`preparing 4 tables of ${tableSize} rows on ${leader.id} …`);
  await run('sysbench', ['oltp_read_only', ...common(leader.mariadbPort), 'prepare'], { maxBuffer: 1 << 26 });
  const [target] = await leader.server.query<Array<{ pos: string }>>('SELECT @@gtid_binlog_pos AS pos');
  for (const node of playground.nodes) {
    for (;;) {
      const [row] = await node.server.query<Array<{ pos: string }>>('SELECT @@gtid_binlog_pos AS pos');
      if (row?.pos === target?.pos) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  const haproxyPort = await freePort();
  const haproxyConfig = join(work, 'haproxy.cfg');
  await writeFile(
    haproxyConfig,
    `global\n  maxconn 1000\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client 1h\n  timeout server 1h\nlisten mariadb\n  bind 127.0.0.1:${haproxyPort}\n  option tcp-smart-accept\n  server leader 127.0.0.1:${leader.mariadbPort}\n`,
  );
  haproxy = spawn('haproxy', ['-f', haproxyConfig, '-db'], { stdio: ['ignore', 'ignore', 'inherit'] });
  await new Promise((resolve) => setTimeout(resolve, 500));
  const targets = {
    direct: leader.mariadbPort,
    haproxy: haproxyPort,
    leader_proxy: leader.proxyPort,
    follower_proxy: follower.proxyPort,
  };
  for (const test of ['oltp_point_select', 'oltp_read_only']) {
    for (const threads of [1, 16]) {
      for (const [name, port] of Object.entries(targets)) {
        const { stdout } = await run(
          'sysbench',
          [
            test,
            ...common(port),
            `--threads=${threads}`,
            `--time=${seconds}`,
            '--percentile=50',
            '--db-ps-mode=auto',
            'run',
          ],
          { maxBuffer: 1 << 26 },
        );
        const result = parse(stdout);
        const key = `${test.replace('oltp_', '')}_${threads}_${name}`;
        results[key] = result;
        log(`${key}: ${Math.round(result.qps)} queries/s, p50 ${result.p50Ms} ms`);
      }
    }
  }
  haproxy.kill('SIGTERM');
  haproxy = undefined;
  // The failover phase kills the leader with SIGKILL: it would lose the leader's CPU profile.
  if ((process.env['FAILOVER'] ?? (profile ? '0' : '1')) !== '0')
    failover = await failoverPhase(leader, follower, common);
} finally {
  haproxy?.kill('SIGTERM');
  await playground.stop();
}

/**
 * sysbench oltp_read_write through a follower's proxy while a writer records every acknowledged
 * insert through the same proxy; the leader's node process and its MariaDB get SIGKILL in the
 * middle. sysbench must go on after the failover, and every acknowledged row must be on the new
 * leader.
 */
async function failoverPhase(
  leader: PlaygroundNode,
  follower: PlaygroundNode,
  common: (port: number) => string[],
): Promise<Record<string, number | boolean>> {
  const mariadb = await import('mariadb');
  const writer = await mariadb.createConnection({
    host: '127.0.0.1',
    port: follower.proxyPort,
    user: 'app',
    password: 'app',
    database: 'app',
  });
  await writer.query('CREATE TABLE IF NOT EXISTS acked (seq INT PRIMARY KEY)');
  const acked: number[] = [];
  let errors = 0;
  let writing = true;
  const writerDone = (async () => {
    for (let seq = 1; writing; seq++) {
      try {
        await writer.query('INSERT INTO acked VALUES (?)', [seq]);
        acked.push(seq);
      } catch {
        errors += 1;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  })();
  const duration = 20;
  const sysbench = run(
    'sysbench',
    [
      'oltp_read_write',
      ...common(follower.proxyPort),
      '--threads=4',
      `--time=${duration}`,
      '--report-interval=1',
      '--db-ps-mode=auto',
      '--mysql-ignore-errors=1927,1290,1213,1205,2013,1053,1047',
      'run',
    ],
    { maxBuffer: 1 << 26 },
  );
  await new Promise((resolve) => setTimeout(resolve, 6000));
  const killedAtS = 6;
  log(`killing the leader ${leader.id} (node process and MariaDB) …`);
  await playground.killNode(leader);
  await leader.server.kill();
  const { stdout } = await sysbench;
  writing = false;
  await writerDone;
  await writer.end();
  // Transactions per second after the kill, from sysbench's per-second report.
  const perSecond = [...stdout.matchAll(/\[ (\d+)s \] thds: \d+ tps: ([\d.]+)/g)].map((m) => ({
    at: Number(m[1]),
    tps: Number(m[2]),
  }));
  const afterKill = perSecond.filter((entry) => entry.at > killedAtS + 1);
  const resumedAt = afterKill.find((entry) => entry.tps > 0)?.at;
  const lastSeconds = afterKill.slice(-3).reduce((sum, entry) => sum + entry.tps, 0) / 3;
  const survivors = playground.nodes.filter((node) => node !== leader);
  const present = new Set<number>();
  for (const node of survivors) {
    const rows = await node.server.query<Array<{ seq: number }>>('SELECT seq FROM app.acked');
    if (rows.length > present.size) for (const row of rows) present.add(row.seq);
  }
  const lost = acked.filter((seq) => !present.has(seq)).length;
  log(
    `failover: ${acked.length} acknowledged inserts, ${lost} lost, ${errors} errors; sysbench resumed at ${resumedAt ?? 'never'} s (killed at ${killedAtS} s), last 3 s ${Math.round(lastSeconds)} tps`,
  );
  return {
    acknowledged_writes: acked.length,
    lost_acknowledged_writes: lost,
    writer_errors: errors,
    sysbench_resumed_s_after_kill: resumedAt === undefined ? -1 : resumedAt - killedAtS,
    sysbench_tps_last_3s: Math.round(lastSeconds),
    sysbench_continued: resumedAt !== undefined && lastSeconds > 0,
  };
}

let profileSummary: Array<{ fn: string; self_pct: number }> | undefined;
if (profile) {
  // The leader's node process: the profile with the most samples.
  const files = (await readdir(profileDir)).filter((file) => file.endsWith('.cpuprofile'));
  let best:
    | {
        nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number } }>;
        samples: number[];
        timeDeltas: number[];
      }
    | undefined;
  let bestBusy = 0;
  for (const file of files) {
    const parsed = JSON.parse(await readFile(join(profileDir, file), 'utf8'));
    // The busiest process (the leader's, which served the leader-proxy runs): most non-idle samples.
    const idleIds = new Set(
      parsed.nodes
        .filter((n: { callFrame: { functionName: string } }) => n.callFrame.functionName === '(idle)')
        .map((n: { id: number }) => n.id),
    );
    const busy = parsed.samples.filter((id: number) => !idleIds.has(id)).length;
    if (best === undefined || busy > bestBusy) {
      best = parsed;
      bestBusy = busy;
    }
  }
  if (best !== undefined) {
    const selfTime = new Map<number, number>();
    for (const [i, id] of best.samples.entries())
      selfTime.set(id, (selfTime.get(id) ?? 0) + (best.timeDeltas[i] ?? 0));
    const byFunction = new Map<string, number>();
    let total = 0;
    for (const node of best.nodes) {
      if (node.callFrame.functionName === '(idle)') continue;
      const time = selfTime.get(node.id) ?? 0;
      total += time;
      const where = node.callFrame.url.replace(/^.*\/(src|node_modules)\//, '$1/');
      const key = `${node.callFrame.functionName || '(anonymous)'} ${where}:${node.callFrame.lineNumber + 1}`;
      byFunction.set(key, (byFunction.get(key) ?? 0) + time);
    }
    profileSummary = [...byFunction.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 25)
      .map(([fn, time]) => ({ fn, self_pct: Math.round((time / total) * 1000) / 10 }));
    for (const entry of profileSummary) log(`${String(entry.self_pct).padStart(5)}%  ${entry.fn}`);
  }
}
await rm(work, { recursive: true, force: true });

const qps = (key: string) => results[key]?.qps ?? Number.NaN;
const ratio = (a: string, b: string) => Math.round((qps(a) / qps(b)) * 1000) / 1000;
process.stdout.write(
  `${JSON.stringify({
    bench: 'proxy',
    seconds_per_run: seconds,
    point_select_16_ratio_haproxy: ratio('point_select_16_leader_proxy', 'point_select_16_haproxy'),
    point_select_16_ratio_direct: ratio('point_select_16_leader_proxy', 'point_select_16_direct'),
    point_select_16_ratio_follower_haproxy: ratio(
      'point_select_16_follower_proxy',
      'point_select_16_haproxy',
    ),
    read_only_16_ratio_haproxy: ratio('read_only_16_leader_proxy', 'read_only_16_haproxy'),
    point_select_1_added_us_p50: Math.round(
      ((results['point_select_1_leader_proxy']?.p50Ms ?? Number.NaN) -
        (results['point_select_1_direct']?.p50Ms ?? Number.NaN)) *
        1000,
    ),
    point_select_1_haproxy_added_us_p50: Math.round(
      ((results['point_select_1_haproxy']?.p50Ms ?? Number.NaN) -
        (results['point_select_1_direct']?.p50Ms ?? Number.NaN)) *
        1000,
    ),
    qps: Object.fromEntries(Object.entries(results).map(([key, value]) => [key, Math.round(value.qps)])),
    p50_ms: Object.fromEntries(Object.entries(results).map(([key, value]) => [key, value.p50Ms])),
    ...(failover === undefined ? {} : { failover }),
    ...(profileSummary === undefined ? {} : { profile_top: profileSummary.slice(0, 10) }),
  })}\n`,
);
