/**
 * How fast the applier replays a source's binlog on a target, next to MariaDB's own replication
 * applying the same binlog in the same run.
 *
 * Three servers: a source, a target for the WolfScale applier, and a native replica
 * (`CHANGE MASTER TO ... MASTER_USE_GTID=slave_pos`). Source, target and replica run with durable
 * settings (sync_binlog=1, innodb_flush_log_at_trx_commit=1), as a WolfScale leader and follower do. The source
 * writes three phases, each into its own binlog file: schema, small transactions (one row each,
 * from several connections, so the binlog has group commits) and medium transactions (100 rows
 * each). Each phase is written, fetched into the replica's relay log, then applied by the
 * replica's SQL thread (from START SLAVE SQL_THREAD to MASTER_GTID_WAIT returning) and right
 * after by the applier (first submission to last commit), so both meet the same machine load.
 *
 * Then, when sysbench is installed, the lag: sysbench oltp_write_only (LAG_THREADS, default 16,
 * for LAG_LOAD_S, default 20 s) on the source while the capture streams to the applier and the
 * native replica replicates; `lag_after_load_ms` is how long after the load stopped the target
 * had applied everything (`native_lag_after_load_ms` the same for the replica).
 *
 * Prints one JSON line last. Environment: SMALL_TX (default 5000), MEDIUM_TX (default 300),
 * WRITERS (default 8), DURABLE (default 1: target and replica), SOURCE_DURABLE (default 1), LAG_LOAD_S (0 skips the lag), LAG_THREADS,
 * APPLY_SESSIONS (the applier's parallelSessions, default 4; 1 = one session), APPLY_MODE:
 * `replica` (default) serves the transactions as a binlog stream (`BinlogStreamServer`) to the
 * target's own replication (IO thread + REPLICA_THREADS parallel SQL threads, default 8, in
 * REPLICA_PARALLEL_MODE, default optimistic); `session` uses the client-session `Applier`. The
 * native replica keeps MariaDB's defaults (one SQL thread) in both modes.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Connection } from 'mariadb';
import pino from 'pino';
import { Applier, type ApplyOutcome } from '../src/apply/applier.js';
import type { ApplierTransaction } from '../src/apply/applier-transaction.js';
import { readBinlogTransactions } from '../src/apply/binlog-file-transactions.js';
import { applierTransactionFrom } from '../src/apply/from-captured.js';
import { BinlogCapture } from '../src/capture/binlog-capture.js';
import { releaseTransaction } from '../src/capture/captured-transaction.js';
import {
  formatGtidPosition,
  type GtidPosition,
  parseGtidPosition,
  positionContains,
} from '../src/mariadb/gtid-position.js';
import { BinlogStreamServer, BinlogTransactionList } from '../src/node/binlog-stream-server.js';
import { FL_GROUP_COMMIT_ID } from '../src/protocol/binlog/index.js';
import { formatGtid } from '../src/protocol/gtid.js';
import { type MariaDbServer, MariaDbSet } from '../src/testing/mariadb-harness.js';

const smallTransactions = Number(process.env['SMALL_TX'] ?? 5000);
const mediumTransactions = Number(process.env['MEDIUM_TX'] ?? 300);
const mediumRows = 100;
const writers = Number(process.env['WRITERS'] ?? 8);
const durable = (process.env['DURABLE'] ?? '1') === '1';
/**
 * The source's durability. A WolfScale leader's MariaDB must run with sync_binlog=1
 * (src/mariadb/required-settings.ts), and durable InnoDB commits, so the default source does too;
 * SOURCE_DURABLE=0 runs the source without fsyncs (the bench's default before 2026-12-05: a
 * source that commits faster than any durable server, MariaDB's own replicas included, can
 * apply).
 */
const sourceDurable = (process.env['SOURCE_DURABLE'] ?? '1') === '1';
const waitTimeoutS = Number(process.env['WAIT_TIMEOUT_S'] ?? 600);
/** sysbench oltp_write_only for the lag measurement; 0 skips it (and when sysbench is missing). */
const lagLoadS = Number(process.env['LAG_LOAD_S'] ?? 20);
const lagThreads = Number(process.env['LAG_THREADS'] ?? 16);
const lagPollIntervalMs = 10;
const applySessions = Number(process.env['APPLY_SESSIONS'] ?? 4);
const applyMode = process.env['APPLY_MODE'] ?? 'replica';
if (applyMode !== 'replica' && applyMode !== 'session')
  throw new Error(`APPLY_MODE must be replica or session, not ${applyMode}`);
const replicaThreads = Number(process.env['REPLICA_THREADS'] ?? 8);
const replicaParallelMode = process.env['REPLICA_PARALLEL_MODE'] ?? 'optimistic';

const logger = pino({ level: process.env['LOG_LEVEL'] ?? 'warn' }, pino.destination(2));

function progress(message: string): void {
  process.stderr.write(`${message}\n`);
}

async function binlogFiles(server: MariaDbServer): Promise<string[]> {
  const index = await readFile(join(server.dataDir, 'binlog.index'), 'utf8');
  return index
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => (line.startsWith('/') ? line : join(server.dataDir, line.replace(/^\.\//, ''))));
}

/** Runs `work(connection, i)` for i in [0, count) on `writers` connections. */
async function concurrently(
  server: MariaDbServer,
  count: number,
  work: (connection: Connection, i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: writers }, async () => {
      const connection = await server.connect();
      try {
        for (let i = next++; i < count; i = next++) await work(connection, i);
      } finally {
        await connection.end();
      }
    }),
  );
}

type Phase = 'schema' | 'small' | 'medium';

/** Writes one phase on the source and returns its transactions (its own binlog file). */
async function writePhase(source: MariaDbServer, phase: Phase): Promise<ApplierTransaction[]> {
  switch (phase) {
    case 'schema':
      await source.query('CREATE DATABASE bench');
      for (const table of ['small', 'medium']) {
        await source.query(
          `CREATE TABLE bench.${table} (id INT AUTO_INCREMENT PRIMARY KEY, k INT NOT NULL, c CHAR(120) NOT NULL, pad CHAR(60) NOT NULL DEFAULT '', KEY (k))`,
        );
      }
      break;
    case 'small':
      progress(`source: ${smallTransactions} small transactions from ${writers} connections`);
      await concurrently(source, smallTransactions, async (connection, i) => {
        await connection.query('INSERT INTO bench.small (k, c, pad) VALUES (?, UUID(), ?)', [i, `pad-${i}`]);
      });
      break;
    case 'medium': {
      progress(`source: ${mediumTransactions} transactions of ${mediumRows} rows`);
      const values = Array.from({ length: mediumRows }, (_, r) => `(${r}, UUID(), 'medium-pad')`).join(',');
      await concurrently(source, mediumTransactions, async (connection) => {
        await connection.query(`INSERT INTO bench.medium (k, c, pad) VALUES ${values}`);
      });
      break;
    }
  }
  await source.query('FLUSH BINARY LOGS');
  const closed = (await binlogFiles(source)).at(-2);
  if (closed === undefined) throw new Error('no closed binlog file');
  return await readBinlogTransactions([closed]);
}

/** Waits until the replica's IO thread has fetched `until` into its relay log. */
async function nativeFetched(replica: Connection, until: ApplierTransaction): Promise<void> {
  for (;;) {
    const [status] = (await replica.query('SHOW SLAVE STATUS')) as Array<Record<string, unknown>>;
    if (status?.['Last_IO_Error']) throw new Error(`native replica: ${String(status['Last_IO_Error'])}`);
    const fetched = parseGtidPosition(String(status?.['Gtid_IO_Pos'] ?? ''));
    if (fetched.ok && positionContains(fetched.value, until.gtid)) return;
    await new Promise((resolve) => setTimeout(resolve, lagPollIntervalMs));
  }
}

/** Runs the replica's SQL thread over one fetched phase; milliseconds until it applied `until`. */
async function nativeTimed(replica: Connection, until: ApplierTransaction): Promise<number> {
  const started = performance.now();
  await replica.query('START SLAVE SQL_THREAD');
  const [row] = (await replica.query(
    `SELECT MASTER_GTID_WAIT('${formatGtid(until.gtid)}', ${waitTimeoutS}) AS waited`,
  )) as Array<{ waited: unknown }>;
  const elapsedMs = performance.now() - started;
  await replica.query('STOP SLAVE SQL_THREAD');
  if (Number(row?.waited) !== 0)
    throw new Error(`the native replica did not reach ${formatGtid(until.gtid)}`);
  return elapsedMs;
}

/** CPU seconds (user + system) a process has used so far, from /proc. */
async function processCpuMs(pid: number | undefined): Promise<number> {
  if (pid === undefined) return Number.NaN;
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]?.split(' ') ?? [];
  // utime and stime are fields 14 and 15 of stat, 12 and 13 after the command name; in clock ticks (100/s).
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** Where transactions go: the client-session applier, or the stream to the target's replication. */
interface ApplySink {
  submit(transaction: ApplierTransaction): Promise<{ readonly committed?: Promise<ApplyOutcome> }>;
  /** Resolves when the target applied everything through `gtids`; throws on an apply error. */
  appliedThrough(gtids: GtidPosition): Promise<void>;
  /** Where the pipeline stands, for the progress log (what was received, what was applied). */
  describe(): Promise<string>;
  close(): Promise<void>;
}

function sessionSink(applier: Applier): ApplySink {
  return {
    submit: async (transaction) => ({ committed: (await applier.submit(transaction)).committed }),
    appliedThrough: async (gtids) => {
      for (;;) {
        if (applier.status().kind === 'failed') throw new Error('the applier failed');
        if (gtids.every((gtid) => positionContains(applier.applied, gtid))) return;
        await new Promise((resolve) => setTimeout(resolve, lagPollIntervalMs));
      }
    },
    describe: async () => `applied ${formatGtidPosition(applier.applied)}`,
    close: () => applier.close(),
  };
}

/** The target replicates from a BinlogStreamServer fed by `feed`. */
async function replicaSink(
  target: MariaDbServer,
  feed: BinlogTransactionList,
  port: number,
): Promise<ApplySink> {
  const admin = await target.connect();
  await admin.query('STOP SLAVE');
  await admin.query(
    `SET GLOBAL slave_parallel_threads=${replicaThreads}, slave_parallel_mode='${replicaParallelMode}'`,
  );
  await admin.query(
    `CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=${port}, MASTER_USER='wolfscale_stream', MASTER_PASSWORD='stream-secret', MASTER_USE_GTID=slave_pos, MASTER_HEARTBEAT_PERIOD=1`,
  );
  await admin.query('START SLAVE');
  return {
    submit: async (transaction) => {
      feed.push(transaction);
      return {};
    },
    appliedThrough: async (gtids) => {
      const deadline = performance.now() + waitTimeoutS * 1000;
      for (const gtid of gtids) {
        for (;;) {
          const [row] = (await admin.query(
            `SELECT MASTER_GTID_WAIT('${formatGtid(gtid)}', 1) AS waited`,
          )) as Array<{ waited: unknown }>;
          if (Number(row?.waited) === 0) break;
          const [status] = (await admin.query('SHOW SLAVE STATUS')) as Array<Record<string, unknown>>;
          const sqlErrno = Number(status?.['Last_SQL_Errno'] ?? 0);
          const ioErrno = Number(status?.['Last_IO_Errno'] ?? 0);
          if (sqlErrno !== 0 || ioErrno !== 0 || performance.now() > deadline) {
            throw new Error(
              `the target did not reach ${formatGtid(gtid)}: SQL ${sqlErrno} ${String(status?.['Last_SQL_Error'])}, IO ${ioErrno} ${String(status?.['Last_IO_Error'])}`,
            );
          }
        }
      }
    },
    describe: async () => {
      const [status] = (await admin.query('SHOW SLAVE STATUS')) as Array<Record<string, unknown>>;
      const [pos] = (await admin.query('SELECT @@gtid_slave_pos AS pos')) as Array<{ pos: string }>;
      return `received (Gtid_IO_Pos) ${String(status?.['Gtid_IO_Pos'])}, applied ${pos?.pos}, fed ${feed.length}`;
    },
    close: async () => {
      await admin.query('STOP SLAVE');
      await admin.end();
    },
  };
}

async function applyTimed(
  applier: ApplySink,
  transactions: readonly ApplierTransaction[],
  target: MariaDbServer,
): Promise<number> {
  const nodeCpuBefore = process.cpuUsage();
  const serverCpuBefore = await processCpuMs(target.pid);
  const started = performance.now();
  const pending: Promise<ApplyOutcome>[] = [];
  for (const transaction of transactions) {
    const { committed } = await applier.submit(transaction);
    if (committed !== undefined) pending.push(committed);
  }
  const outcomes = await Promise.all(pending);
  await applier.appliedThrough([last(transactions).gtid]);
  const elapsedMs = performance.now() - started;
  const nodeCpu = process.cpuUsage(nodeCpuBefore);
  const serverCpuMs = (await processCpuMs(target.pid)) - serverCpuBefore;
  progress(
    `  applier process CPU ${((nodeCpu.user + nodeCpu.system) / 1000).toFixed(0)} ms, target mariadbd CPU ${serverCpuMs.toFixed(0)} ms, wall ${elapsedMs.toFixed(0)} ms`,
  );
  const failed = outcomes.find((outcome) => outcome.kind !== 'applied');
  if (failed !== undefined)
    throw new Error(`apply did not succeed: ${JSON.stringify(failed, bigintReplacer)}`);
  return elapsedMs;
}

/** How many of the phase's transactions the source logged with a group commit id. */
function groupCommitShare(transactions: readonly ApplierTransaction[]): string {
  const grouped = transactions.filter((transaction) => {
    const event = transaction.events[0];
    // GTID event flags: the byte after the 19-byte header, sequence number and domain id.
    return event !== undefined && ((event[19 + 12] ?? 0) & FL_GROUP_COMMIT_ID) !== 0;
  });
  return `${grouped.length} of ${transactions.length} transactions carry a group commit id`;
}

function bigintReplacer(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? String(value) : value;
}

function last<T>(items: readonly T[]): T {
  const item = items.at(-1);
  if (item === undefined) throw new Error('empty phase');
  return item;
}

function sysbench(
  source: MariaDbServer,
  command: 'prepare' | 'run',
  extra: readonly string[],
): Promise<void> {
  const args = [
    'oltp_write_only',
    '--db-driver=mysql',
    '--mysql-host=127.0.0.1',
    `--mysql-port=${source.port}`,
    '--mysql-user=root',
    '--mysql-password=',
    '--mysql-db=sbtest',
    '--tables=4',
    '--table-size=10000',
    ...extra,
    command,
  ];
  return new Promise((resolve, reject) => {
    execFile('sysbench', args, { maxBuffer: 64 * 1024 * 1024 }, (error, _stdout, stderr) =>
      error === null
        ? resolve()
        : reject(new Error(`sysbench ${command} failed: ${error.message} ${stderr}`)),
    );
  });
}

async function sourcePosition(source: MariaDbServer): Promise<GtidPosition> {
  const [row] = await source.query<Array<{ pos: string }>>('SELECT @@gtid_binlog_pos AS pos');
  const parsed = parseGtidPosition(row?.pos ?? '');
  if (!parsed.ok) throw new Error(parsed.error.message);
  return parsed.value;
}

/**
 * sysbench oltp_write_only on the source while the capture streams to the applier and the native
 * replica replicates; returns how long after the load stopped each had applied everything.
 */
async function measureLag(
  source: MariaDbServer,
  applier: ApplySink,
  native: MariaDbServer,
): Promise<{ lagMs: number; nativeLagMs: number }> {
  const start = await sourcePosition(source);
  const capture = new BinlogCapture({
    ...source.connectOptions(),
    replicaServerId: 9001,
    startAfter: start,
    semiSync: false,
    logger,
  });
  await capture.start();
  let stopping = false;
  const consumer = (async () => {
    while (!stopping) {
      const captured = await capture.next();
      const { committed } = await applier.submit(await applierTransactionFrom(captured));
      void committed?.then((outcome) => {
        if (outcome.kind === 'failed') progress(`apply failed: ${outcome.error.message}`);
      });
      await releaseTransaction(captured);
    }
  })();
  const replica = await native.connect();
  try {
    await source.query('CREATE DATABASE sbtest');
    progress('lag: sysbench prepare');
    await sysbench(source, 'prepare', []);
    progress(`lag: sysbench oltp_write_only, ${lagThreads} threads, ${lagLoadS} s`);
    await sysbench(source, 'run', [`--threads=${lagThreads}`, `--time=${lagLoadS}`]);
    const loadEnded = performance.now();
    const end = await sourcePosition(source);
    progress(`lag: load ended at ${formatGtidPosition(end)}; target ${await applier.describe()}`);
    const nativeWait = (async () => {
      for (const gtid of end)
        await replica.query(`SELECT MASTER_GTID_WAIT('${formatGtid(gtid)}', ${waitTimeoutS})`);
      return performance.now() - loadEnded;
    })();
    await applier.appliedThrough(end);
    const lagMs = performance.now() - loadEnded;
    const loadTransactions =
      end.reduce((sum, gtid) => sum + Number(gtid.sequenceNumber), 0) -
      start.reduce((sum, gtid) => sum + Number(gtid.sequenceNumber), 0);
    progress(`lag: the source committed ${loadTransactions} transactions (prepare included)`);
    return { lagMs: Math.round(lagMs), nativeLagMs: Math.round(await nativeWait) };
  } finally {
    stopping = true;
    await capture.stop();
    await consumer.catch(() => undefined);
    await replica.end();
  }
}

function sysbenchAvailable(): Promise<boolean> {
  return new Promise((resolve) => execFile('sysbench', ['--version'], (error) => resolve(error === null)));
}

const sourceSet = await MariaDbSet.start({ count: 1, serverIdBase: 1, durable: sourceDurable });
// log_slave_updates: the native replica writes its binlog too, as a follower must (its GTID state).
const followers = await MariaDbSet.start({
  count: 2,
  serverIdBase: 2,
  durable,
  extraArgs: ['--log-slave-updates=ON'],
});
try {
  const source = sourceSet.servers[0]!;
  const [target, native] = followers.servers as [MariaDbServer, MariaDbServer];
  // The replica fetches each phase before its SQL thread runs, so its time covers applying
  // only; both sides apply a phase right after it was written, back to back, so a noisy
  // neighbour on the machine hits both alike.
  const replica = await native.connect();
  await replica.query(
    `CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=${source.port}, MASTER_USER='root', MASTER_PASSWORD='', MASTER_USE_GTID=slave_pos`,
  );
  await replica.query('START SLAVE IO_THREAD');
  const feed = new BinlogTransactionList();
  const stream = new BinlogStreamServer({
    port: 0,
    user: 'wolfscale_stream',
    password: 'stream-secret',
    serverId: 4_000_000_001,
    feed,
    logger,
  });
  await stream.start();
  const applier =
    applyMode === 'replica'
      ? await replicaSink(target, feed, stream.port)
      : sessionSink(
          await Applier.open({ target: target.connectOptions(), logger, parallelSessions: applySessions }),
        );
  const measured: Record<Phase, { count: number; ms: number; nativeMs: number }> = {
    schema: { count: 0, ms: 0, nativeMs: 0 },
    small: { count: 0, ms: 0, nativeMs: 0 },
    medium: { count: 0, ms: 0, nativeMs: 0 },
  };
  for (const phase of ['schema', 'small', 'medium'] as const) {
    const transactions = await writePhase(source, phase);
    progress(`${phase}: ${groupCommitShare(transactions)}`);
    await nativeFetched(replica, last(transactions));
    const nativeMs = await nativeTimed(replica, last(transactions));
    const ms = await applyTimed(applier, transactions, target);
    measured[phase] = { count: transactions.length, ms, nativeMs };
    progress(
      `${phase}: ${transactions.length} transactions, wolfscale ${ms.toFixed(0)} ms, native ${nativeMs.toFixed(0)} ms`,
    );
  }
  await replica.query('START SLAVE SQL_THREAD');

  for (const [name, server] of [
    ['wolfscale target', target],
    ['native replica', native],
  ] as const) {
    const rows = await server.query<Array<{ Variable_name: string; Value: string }>>(
      "SHOW GLOBAL STATUS WHERE Variable_name IN ('Binlog_commits', 'Binlog_group_commits', 'Innodb_os_log_fsyncs', 'Innodb_data_fsyncs')",
    );
    progress(`${name}: ${rows.map((row) => `${row.Variable_name}=${row.Value}`).join(' ')}`);
  }
  let lag: { lagMs: number; nativeLagMs: number } | undefined;
  if (lagLoadS > 0 && (await sysbenchAvailable())) {
    lag = await measureLag(source, applier, native);
    progress(`lag after load: wolfscale ${lag.lagMs} ms, native ${lag.nativeLagMs} ms`);
  } else {
    progress('lag: skipped (LAG_LOAD_S=0 or sysbench not installed)');
  }
  await applier.close();
  await stream.close();
  await replica.end();
  const perSecond = (count: number, ms: number): number => Math.round((count * 1000) / ms);
  const { small: smallPhase, medium: mediumPhase } = measured;
  const small = perSecond(smallPhase.count, smallPhase.ms);
  const nativeSmall = perSecond(smallPhase.count, smallPhase.nativeMs);
  const mediumRowsPerS = perSecond(mediumPhase.count * mediumRows, mediumPhase.ms);
  const nativeMediumRowsPerS = perSecond(mediumPhase.count * mediumRows, mediumPhase.nativeMs);
  const result = {
    bench: 'apply',
    durable,
    source_durable: sourceDurable,
    apply_mode: applyMode,
    ...(applyMode === 'replica'
      ? { replica_threads: replicaThreads, replica_parallel_mode: replicaParallelMode }
      : { apply_sessions: applySessions }),
    small_tx: smallPhase.count,
    medium_tx: mediumPhase.count,
    small_tx_per_s: small,
    medium_rows_per_s: mediumRowsPerS,
    native_small_tx_per_s: nativeSmall,
    native_medium_rows_per_s: nativeMediumRowsPerS,
    ratio_vs_native_small: Number((small / nativeSmall).toFixed(2)),
    ratio_vs_native_medium: Number((mediumRowsPerS / nativeMediumRowsPerS).toFixed(2)),
    lag_after_load_ms: lag?.lagMs ?? null,
    native_lag_after_load_ms: lag?.nativeLagMs ?? null,
    lag_load: lag === undefined ? null : `sysbench oltp_write_only ${lagThreads} threads ${lagLoadS} s`,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
} catch (error) {
  // First: destroying the servers below may end the process through a connection's error event.
  progress(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  for (const server of [...sourceSet.servers, ...followers.servers]) {
    progress(`server ${server.serverId} error log:\n${(await server.errorLogTail()).slice(-1500)}`);
  }
  throw error;
} finally {
  await Promise.all([sourceSet.destroy(), followers.destroy()]);
}
