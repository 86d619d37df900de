/**
 * Failover under load, one round (shared by `npm run bench:failover-load` and
 * test/integration/failover-load.test.ts):
 *
 * 1. sysbench `oltp_write_only` at 16 threads runs against the leader's MariaDB (as `app`), and
 *    beside it a separate client inserts unique rows one at a time, recording every row whose
 *    COMMIT returned OK (acknowledged);
 * 2. after `loadBeforeKillMs`, the leader's node process and its MariaDB are killed with SIGKILL;
 * 3. the clock runs until a unique-row INSERT succeeds on another node's MariaDB (read-only until
 *    that node leads with a connected capture): that is `failoverMs`;
 * 4. sysbench starts again, 16 threads, against the new leader, while the unique writer goes on
 *    there; both must make progress;
 * 5. every acknowledged unique row, before and after the kill, must be on the new leader and on
 *    the remaining follower.
 *
 * The proxy does not exist yet, so both clients connect to a leader's MariaDB directly and switch
 * to the new leader after the kill, as an application with a list of servers would.
 */
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import type { Connection } from 'mariadb';
import type { Playground, PlaygroundNode } from '../src/cli/playground-command.js';

const execFileAsync = promisify(execFile);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface RoundOptions {
  readonly threads: number;
  readonly loadBeforeKillMs: number;
  readonly loadAfterSeconds: number;
  readonly tables: number;
  readonly tableSize: number;
  /** Distinguishes the rounds' unique rows. */
  readonly round: number;
  readonly log?: (line: string) => void;
}

export interface RoundResult {
  readonly killed: string;
  readonly newLeader: string;
  readonly failoverMs: number;
  /** sysbench transactions per second on the old leader until the kill (from its own counter). */
  readonly tpsBeforeKill: number;
  readonly tpsAfterFailover: number;
  readonly acknowledged: number;
  readonly acknowledgedAfterFailover: number;
  readonly lost: readonly number[];
}

export function sysbenchArgs(node: PlaygroundNode, options: RoundOptions): string[] {
  return [
    'oltp_write_only',
    '--db-driver=mysql',
    '--mysql-host=127.0.0.1',
    `--mysql-port=${node.mariadbPort}`,
    '--mysql-user=app',
    '--mysql-password=app',
    '--mysql-db=app',
    `--tables=${options.tables}`,
    `--table-size=${options.tableSize}`,
  ];
}

/** Creates sysbench's tables and the unique-row table on the leader (replicated like any write). */
export async function prepare(leader: PlaygroundNode, options: RoundOptions): Promise<void> {
  await execFileAsync('sysbench', [...sysbenchArgs(leader, options), 'prepare'], {
    maxBuffer: 16 * 1024 * 1024,
  });
  await leader.server.query(
    'CREATE TABLE IF NOT EXISTS app.acked (round INT, seq INT, PRIMARY KEY (round, seq))',
  );
}

interface Load {
  /** Resolves with the transactions sysbench completed (it exits when its server dies). */
  readonly done: Promise<{ transactions: number; seconds: number }>;
}

/** sysbench in the background; its per-second report lines count the transactions it finished. */
function startSysbench(node: PlaygroundNode, options: RoundOptions, seconds: number): Load {
  const child = spawn(
    'sysbench',
    [
      ...sysbenchArgs(node, options),
      `--threads=${options.threads}`,
      `--time=${seconds}`,
      '--report-interval=1',
      'run',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const startedMs = performance.now();
  const done = new Promise<{ transactions: number; seconds: number }>((resolve) => {
    child.on('close', () => {
      const final = /transactions:\s+(\d+)/.exec(output);
      // Killed mid-run, sysbench prints no summary: add up its per-second reports instead.
      let transactions = final?.[1] === undefined ? 0 : Number(final[1]);
      if (final === null) {
        for (const match of output.matchAll(/tps: ([\d.]+)/g)) transactions += Number(match[1]);
      }
      resolve({ transactions, seconds: (performance.now() - startedMs) / 1000 });
    });
  });
  return { done };
}

async function appConnection(node: PlaygroundNode): Promise<Connection> {
  return await node.server.connect({ user: 'app', password: 'app', database: 'app', connectTimeout: 1000 });
}

/** Inserts unique rows on `node` until told to stop or a statement fails; returns the acknowledged. */
function uniqueWriter(node: PlaygroundNode, round: number, firstSeq: number) {
  const acked: number[] = [];
  let writing = true;
  const done = (async () => {
    let connection: Connection;
    try {
      connection = await appConnection(node);
    } catch {
      return;
    }
    try {
      for (let seq = firstSeq; writing; seq++) {
        await connection.query('INSERT INTO app.acked VALUES (?, ?)', [round, seq]);
        acked.push(seq);
      }
    } catch {
      // the server died or turned read-only: this row was not acknowledged
    } finally {
      connection.destroy();
    }
  })();
  return {
    acked,
    stop: async () => {
      writing = false;
      await done;
    },
    done,
  };
}

async function seqs(node: PlaygroundNode, round: number): Promise<Set<number>> {
  const rows = await node.server.query<Array<{ seq: number }>>('SELECT seq FROM app.acked WHERE round = ?', [
    round,
  ]);
  return new Set(rows.map((row) => row.seq));
}

export async function failoverRound(
  playground: Playground,
  leader: PlaygroundNode,
  options: RoundOptions,
): Promise<RoundResult> {
  const log = options.log ?? (() => {});
  const others = playground.nodes.filter((node) => node !== leader);
  const load = startSysbench(leader, options, 600);
  const writer = uniqueWriter(leader, options.round, 1);
  await sleep(options.loadBeforeKillMs);
  const killedAt = performance.now();
  await playground.killNode(leader);
  await leader.server.kill();
  await writer.stop();
  const before = await load.done;
  log(`killed ${leader.id} after ${writer.acked.length} acknowledged unique rows`);

  // The first node to take a write is the new leader.
  const probes = await Promise.all(others.map((node) => appConnection(node)));
  let winner: PlaygroundNode | undefined;
  const probeSeq = 1_000_000;
  while (winner === undefined) {
    for (const [i, probe] of probes.entries()) {
      try {
        await probe.query('INSERT INTO app.acked VALUES (?, ?)', [options.round, probeSeq]);
        winner = others[i];
        break;
      } catch {
        // read-only until that node leads with a connected capture
      }
    }
    if (winner === undefined) await sleep(10);
    if (performance.now() - killedAt > 60_000) throw new Error('no new leader within 60 s of the kill');
  }
  const failoverMs = performance.now() - killedAt;
  for (const probe of probes) probe.destroy();
  const newLeader = winner;
  log(`${newLeader.id} took a write ${Math.round(failoverMs)} ms after the kill`);

  const after = startSysbench(newLeader, options, options.loadAfterSeconds);
  const writerAfter = uniqueWriter(newLeader, options.round, 2_000_000);
  const afterLoad = await after.done;
  await writerAfter.stop();

  const acknowledged = [...writer.acked, probeSeq, ...writerAfter.acked];
  const follower = others.find((node) => node !== newLeader) as PlaygroundNode;
  const onLeader = await seqs(newLeader, options.round);
  const lost = acknowledged.filter((seq) => !onLeader.has(seq));
  // The remaining follower applies everything too (poll with a deadline: it may still be applying).
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const onFollower = await seqs(follower, options.round);
    if (acknowledged.every((seq) => onFollower.has(seq))) break;
    await sleep(100);
  }
  const onFollower = await seqs(follower, options.round);
  for (const seq of acknowledged) if (!onFollower.has(seq) && !lost.includes(seq)) lost.push(seq);
  return {
    killed: leader.id,
    newLeader: newLeader.id,
    failoverMs: Math.round(failoverMs),
    tpsBeforeKill: Number((before.transactions / Math.max(before.seconds, 0.001)).toFixed(1)),
    tpsAfterFailover: Number((afterLoad.transactions / Math.max(afterLoad.seconds, 0.001)).toFixed(1)),
    acknowledged: acknowledged.length,
    acknowledgedAfterFailover: writerAfter.acked.length,
    lost,
  };
}
