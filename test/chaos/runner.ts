import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { copyFile, cp, mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as mariadb from 'mariadb';
import { Playground, type PlaygroundNode } from '../../src/cli/playground-command.js';
import type { NodeStatusView } from '../../src/http/node-api.js';
import { RelayMesh } from '../../src/testing/fault-relay.js';
import {
  type CheckResult,
  check,
  type Fault,
  type FinalState,
  type Operation,
  summarise,
} from './checker.js';

/**
 * The chaos runner (issue 9): a playground cluster whose cluster traffic runs through a relay
 * mesh, concurrent clients running the set / bank / append workloads, a seeded fault schedule,
 * then heal, convergence and the checks of checker.ts. See docs/RELIABILITY.md.
 */
/** `isolate` is the leader-isolation partition alone (also one of `partition`'s shapes). */
export type NemesisKind = 'kill' | 'pause' | 'partition' | 'db-kill' | 'isolate';
export const allNemeses: readonly NemesisKind[] = ['kill', 'pause', 'partition', 'db-kill'];
export const nemesisKinds: readonly NemesisKind[] = [...allNemeses, 'isolate'];

export interface ChaosOptions {
  readonly nodes: number;
  readonly durationS: number;
  readonly seed: number;
  readonly nemeses: readonly NemesisKind[];
  /** Where history.json and summary.txt go. */
  readonly outDir: string;
  /** Clients per workload. Default 2. */
  readonly clientsPerWorkload?: number;
  readonly heartbeatMs?: number;
  /** apply.mode of every node. Default session. */
  readonly applyMode?: 'session' | 'replica';
  /** Extra environment for the node processes (the planted-bug test sets WOLFSCALE_PLANTED_BUG). */
  readonly nodeEnv?: Readonly<Record<string, string>>;
  readonly log?: (line: string) => void;
}

export interface ChaosReport {
  readonly result: CheckResult;
  readonly summary: string;
  readonly historyPath: string;
  readonly faults: readonly Fault[];
}

const accounts = 5;
const initialBalance = 100;
const bankTotal = accounts * initialBalance;
const listKeys = 5;
/** Beyond the proxy's failover wait (proxy.failover_wait_ms, 5 s by default): its answer counts. */
const operationTimeoutMs = 10_000;
const convergeTimeoutMs = 180_000;

/** mulberry32: a small seeded PRNG, so a seed replays the same fault schedule. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Endpoint {
  readonly host: string;
  readonly port: number;
  readonly node: string;
}

/** Which node leads and accepts writes, refreshed from every node's /status. */
class LeaderMonitor {
  #leader: number | undefined;
  #statuses: Array<NodeStatusView | undefined> = [];
  #stopped = false;
  #loop: Promise<void> | undefined;
  readonly #playground: Playground;

  constructor(playground: Playground) {
    this.#playground = playground;
  }

  start(): void {
    this.#loop = (async () => {
      while (!this.#stopped) {
        await this.refresh();
        await sleep(100);
      }
    })();
  }

  /** Resolves with the statuses of a refresh that started after this call. */
  async fresh(): Promise<Array<NodeStatusView | undefined>> {
    const started = Date.now();
    while (this.#refreshedFrom < started && !this.#stopped) await sleep(20);
    return this.#statuses;
  }

  #refreshedFrom = 0;

  async refresh(): Promise<void> {
    const started = Date.now();
    this.#statuses = await this.#playground.statuses();
    this.#refreshedFrom = Math.max(this.#refreshedFrom, started);
    const leaders = this.#statuses
      .map((status, i) => (status?.role === 'LEADER' && status.writable ? i : -1))
      .filter((i) => i >= 0);
    // Two nodes both claiming to lead (one deposed, not yet knowing it): take the higher term.
    leaders.sort((a, b) => (this.#statuses[b]?.term ?? 0) - (this.#statuses[a]?.term ?? 0));
    this.#leader = leaders[0];
  }

  get leader(): number | undefined {
    return this.#leader;
  }

  get statuses(): Array<NodeStatusView | undefined> {
    return this.#statuses;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#loop;
  }
}

let monitor: LeaderMonitor | undefined;

/** THE ONE PLACE clients get their address: the proxy of the client's own node (issue 9). */
export function clientEndpoint(node: PlaygroundNode): Endpoint {
  return { host: '127.0.0.1', port: node.proxyPort, node: node.id };
}

/**
 * Definite failures: an error that says the statement or transaction did not happen (MariaDB's
 * own, relayed unchanged by the proxy, or the proxy's 1290 "no leader within
 * proxy.failover_wait_ms, not run"). Unknown: the connection died, the session was killed at
 * COMMIT, or the proxy's 1927 (a backend lost before the result arrived: it may have been applied;
 * also used for "not run", which is counted unknown to stay on the safe side).
 */
function outcomeOf(error: unknown): 'failed' | 'unknown' {
  const e = error as { errno?: number; fatal?: boolean };
  if (e.fatal === true || e.errno === undefined || e.errno >= 2000) return 'unknown';
  // Killed or shut down mid-statement (the step-down ends sessions waiting at COMMIT).
  if (e.errno === 1927 || e.errno === 1053 || e.errno === 1317) return 'unknown';
  return 'failed';
}

let nextSession = 0;

class Client {
  readonly #index: number;
  readonly #node: PlaygroundNode;
  #connection: mariadb.Connection | undefined;
  #endpoint: Endpoint | undefined;
  #session = -1;

  constructor(index: number, node: PlaygroundNode) {
    this.#index = index;
    this.#node = node;
  }

  get index(): number {
    return this.#index;
  }

  /** A connection to the current endpoint, or undefined when there is none right now. */
  async connection(): Promise<
    { connection: mariadb.Connection; endpoint: Endpoint; session: number } | undefined
  > {
    const endpoint = clientEndpoint(this.#node);
    if (
      this.#connection !== undefined &&
      this.#endpoint?.port === endpoint.port &&
      this.#connection.isValid()
    ) {
      return { connection: this.#connection, endpoint, session: this.#session };
    }
    this.drop();
    try {
      this.#connection = await mariadb.createConnection({
        host: endpoint.host,
        port: endpoint.port,
        user: 'app',
        password: 'app',
        database: 'app',
        connectTimeout: 2000,
        bigIntAsNumber: true,
      });
      // A connection the server ends (step-down, kill) emits an error event: it is an outcome.
      this.#connection.on('error', () => undefined);
      this.#endpoint = endpoint;
      this.#session = nextSession++;
      return { connection: this.#connection, endpoint, session: this.#session };
    } catch {
      return undefined;
    }
  }

  drop(): void {
    this.#connection?.destroy();
    this.#connection = undefined;
    this.#endpoint = undefined;
  }

  /**
   * Leaves a connection whose statement timed out open (closed at the end of the run), as a
   * proxy keeps its backend session: measured on MariaDB 10.11.19, a client that disconnects
   * while its commit waits for the semi-sync acknowledgement releases that commit, visible,
   * without a quorum (docs/RELIABILITY.md, "Findings").
   */
  park(): void {
    if (this.#connection !== undefined) parked.push(this.#connection);
    this.#connection = undefined;
    this.#endpoint = undefined;
  }
}

const parked: mariadb.Connection[] = [];

/** Runs one operation with a deadline; the outcome is recorded in `op`. */
async function run(
  client: Client,
  op: Operation,
  body: (connection: mariadb.Connection) => Promise<void>,
  now: () => number,
): Promise<boolean> {
  const target = await client.connection();
  if (target === undefined) return false;
  op.via = target.endpoint.node;
  op.session = target.session;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      body(target.connection),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('timed out')), operationTimeoutMs);
      }),
    ]);
    op.outcome = 'ok';
  } catch (error) {
    op.outcome = (error as Error).message === 'timed out' ? 'unknown' : outcomeOf(error);
    op.error = (error as Error).message.slice(0, 200);
    if ((error as Error).message === 'timed out') client.park();
    else if (op.outcome === 'unknown' || (error as { fatal?: boolean }).fatal === true) client.drop();
    else await target.connection.query('ROLLBACK').catch(() => client.drop());
  } finally {
    clearTimeout(timer);
    op.end = now();
  }
  return true;
}

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  // Two streams: the fault schedule does not depend on how many operations the clients ran.
  const random = seededRandom(options.seed);
  const workloadRandom = seededRandom(options.seed ^ 0x9e3779b9);
  const previousEnv: Record<string, string | undefined> = {};
  for (const [key, value] of Object.entries(options.nodeEnv ?? {})) {
    previousEnv[key] = process.env[key];
    process.env[key] = value;
  }
  let mesh: RelayMesh | undefined;
  let playground: Playground | undefined;
  let watch: CrashWatch | undefined;
  const history: Operation[] = [];
  const faults: Fault[] = [];
  try {
    log(
      `chaos: ${options.nodes} nodes, ${options.durationS} s, seed ${options.seed}, nemeses ${options.nemeses.join(',')}${options.applyMode === undefined ? '' : `, apply.mode ${options.applyMode}`}`,
    );
    playground = await Playground.start(
      {
        nodes: options.nodes,
        json: false,
        heartbeatMs: options.heartbeatMs ?? 100,
        ...(options.applyMode === undefined ? {} : { applyConfig: `mode = "${options.applyMode}"` }),
        nodeCommand: { command: process.execPath, args: ['--import', 'tsx', 'src/bin/wolfscale.ts'] },
        peerPorts: async (ports) => {
          mesh = await RelayMesh.start(ports);
          const relays = mesh;
          return (from, to) => relays.relay(from, to).port;
        },
      },
      { out: () => {}, err: log },
    );
    const pg = playground;
    const relays = mesh as RelayMesh;
    monitor = new LeaderMonitor(pg);
    await monitor.refresh();
    monitor.start();
    await setUp(pg, monitor);

    const t0 = Date.now();
    const now = (): number => Date.now() - t0;
    const endAt = options.durationS * 1000;
    watch = new CrashWatch(pg, now, log);
    const crashWatch = watch;
    let nextId = 0;
    let nextValue = 1;
    const record = (op: Omit<Operation, 'id' | 'end' | 'outcome'>): Operation => {
      const full: Operation = { ...op, id: nextId++, end: -1, outcome: 'unknown' };
      return full;
    };
    const perWorkload = options.clientsPerWorkload ?? 2;
    const workers: Array<Promise<void>> = [];
    let clientIndex = 0;
    const spawnClient = (loop: (client: Client) => Promise<void>): void => {
      const client = new Client(clientIndex, pg.nodes[clientIndex % pg.nodes.length] as PlaygroundNode);
      clientIndex++;
      workers.push(
        (async () => {
          while (now() < endAt) {
            await loop(client);
          }
          client.drop();
        })(),
      );
    };
    const attempt = async (
      client: Client,
      op: Operation,
      body: (c: mariadb.Connection) => Promise<void>,
    ): Promise<void> => {
      if (await run(client, op, body, now)) history.push(op);
      else await sleep(50);
    };
    for (let i = 0; i < perWorkload; i++) {
      spawnClient(async (client) => {
        const value = nextValue++;
        const op = record({ client: client.index, workload: 'set', f: 'insert', value, start: now() });
        await attempt(client, op, async (c) => {
          await c.query('INSERT INTO chaos_set (v) VALUES (?)', [value]);
        });
      });
      spawnClient(async (client) => {
        if (workloadRandom() < 0.5) {
          const op = record({ client: client.index, workload: 'bank', f: 'read', start: now() });
          await attempt(client, op, async (c) => {
            const [row] = (await c.query(
              'SELECT SUM(balance) AS s, @@server_id AS server FROM chaos_bank',
            )) as Array<{ s: number | string; server: number }>;
            op.total = Number(row?.s);
            op.node = servedBy(row?.server);
          });
          return;
        }
        const from = Math.floor(workloadRandom() * accounts);
        const to = (from + 1 + Math.floor(workloadRandom() * (accounts - 1))) % accounts;
        const amount = 1 + Math.floor(workloadRandom() * 10);
        const op = record({
          client: client.index,
          workload: 'bank',
          f: 'transfer',
          transfer: [from, to, amount],
          start: now(),
        });
        await attempt(client, op, async (c) => {
          await c.query('BEGIN');
          const rows = (await c.query('SELECT id, balance FROM chaos_bank WHERE id IN (?, ?) FOR UPDATE', [
            from,
            to,
          ])) as Array<{ id: number; balance: number }>;
          const balance = rows.find((r) => r.id === from)?.balance ?? 0;
          if (balance < amount) {
            await c.query('ROLLBACK');
            throw Object.assign(new Error('insufficient balance'), { errno: 0 });
          }
          await c.query('UPDATE chaos_bank SET balance = balance - ? WHERE id = ?', [amount, from]);
          await c.query('UPDATE chaos_bank SET balance = balance + ? WHERE id = ?', [amount, to]);
          await c.query('COMMIT');
        });
      });
      spawnClient(async (client) => {
        const key = Math.floor(workloadRandom() * listKeys);
        if (workloadRandom() < 0.4) {
          const op = record({ client: client.index, workload: 'append', f: 'read', key, start: now() });
          await attempt(client, op, async (c) => {
            const [row] = (await c.query('SELECT list, @@server_id AS server FROM chaos_lists WHERE k = ?', [
              key,
            ])) as Array<{ list: string; server: number }>;
            op.list = parseList(row?.list ?? '');
            op.node = servedBy(row?.server);
          });
          return;
        }
        const value = nextValue++;
        const op = record({
          client: client.index,
          workload: 'append',
          f: 'append',
          key,
          value,
          start: now(),
        });
        await attempt(client, op, async (c) => {
          await c.query('BEGIN');
          await c.query("UPDATE chaos_lists SET list = CONCAT(list, ?, ',') WHERE k = ?", [
            String(value),
            key,
          ]);
          const [row] = (await c.query('SELECT list, @@server_id AS server FROM chaos_lists WHERE k = ?', [
            key,
          ])) as Array<{ list: string; server: number }>;
          await c.query('COMMIT');
          op.list = parseList(row?.list ?? '');
          op.node = servedBy(row?.server);
        });
      });
    }

    // The nemesis: one fault at a time on a seeded schedule, healed before the next.
    while (now() < endAt - 3000) {
      await sleep(1500 + Math.floor(random() * 2500));
      if (now() >= endAt - 3000) break;
      const kind = options.nemeses[Math.floor(random() * options.nemeses.length)] as NemesisKind;
      const holdMs = 2000 + Math.floor(random() * 4000);
      const fault = await inject(kind, pg, relays, monitor, random, now, crashWatch);
      if (fault === undefined) continue;
      faults.push(fault);
      log(`  ${String(fault.start).padStart(6)} ms  ${fault.kind} ${fault.target} for ${holdMs} ms`);
      await sleep(holdMs);
      await fault.heal();
      fault.end = now();
    }
    await Promise.all(workers);

    log('chaos: healing and waiting for convergence …');
    await healAll(pg, relays, crashWatch);
    const final = { ...(await converge(pg, monitor, log)), crashes: crashWatch.crashes };
    const result = check(history, faults, final, bankTotal);
    const header = `wolfscale chaos: ${options.nodes} nodes, ${options.durationS} s, seed ${options.seed}, nemeses ${options.nemeses.join(',')}${options.applyMode === undefined ? '' : `, apply.mode ${options.applyMode}`}${options.nodeEnv?.['WOLFSCALE_PLANTED_BUG'] === undefined ? '' : `, PLANTED BUG ${options.nodeEnv['WOLFSCALE_PLANTED_BUG']}`}`;
    const summary = summarise(result, faults, header);
    await mkdir(options.outDir, { recursive: true });
    if (!result.valid) await keepDatabaseLogs(pg, crashWatch, options.outDir, log);
    const historyPath = join(options.outDir, 'history.json');
    // The summary and the logs first: they are small, and a 900 s run's history is not.
    await writeFile(join(options.outDir, 'summary.txt'), `${summary}\n`);
    for (const node of pg.nodes) {
      await copyFile(join(node.dataDir, 'wolfscale.log'), join(options.outDir, `${node.id}.log`)).catch(
        () => undefined,
      );
    }
    await writeHistory(
      historyPath,
      { options: { ...options, log: undefined }, faults, final, result },
      history,
    );
    return { result, summary, historyPath, faults };
  } finally {
    watch?.stop();
    for (const connection of parked.splice(0)) connection.destroy();
    await monitor?.stop();
    monitor = undefined;
    await playground?.stop();
    await mesh?.close();
    for (const [key, value] of Object.entries(previousEnv)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
}

/**
 * history.json: `rest`'s keys, then `history` with one operation per line. One JSON.stringify of
 * the whole run failed on a 900 s 5-node run (RangeError: Invalid string length, V8's string
 * limit): every list read holds every list, so the history grows with the square of the run.
 */
async function writeHistory(
  path: string,
  rest: Record<string, unknown>,
  history: readonly unknown[],
): Promise<void> {
  const out = createWriteStream(path);
  const write = async (text: string): Promise<void> => {
    if (!out.write(text)) await once(out, 'drain');
  };
  const done = new Promise<void>((resolve, reject) => {
    out.on('finish', resolve);
    out.on('error', reject);
  });
  await write('{\n');
  for (const [key, value] of Object.entries(rest))
    await write(`${JSON.stringify(key)}: ${JSON.stringify(value)},\n`);
  await write('"history": [\n');
  for (let i = 0; i < history.length; i++)
    await write(`${JSON.stringify(history[i])}${i + 1 < history.length ? ',' : ''}\n`);
  await write(']\n}\n');
  out.end();
  await done;
}

type ActiveFault = Fault & { heal: () => Promise<void> };

async function inject(
  kind: NemesisKind,
  pg: Playground,
  mesh: RelayMesh,
  monitor: LeaderMonitor,
  random: () => number,
  now: () => number,
  watch: CrashWatch,
): Promise<ActiveFault | undefined> {
  const n = pg.nodes.length;
  const leader = monitor.leader;
  const pickTarget = (): number =>
    leader !== undefined && random() < 0.5 ? leader : Math.floor(random() * n);
  const role = (i: number): string => `node-${i + 1}${i === leader ? ' (leader)' : ''}`;
  const fault = (target: string, heal: () => Promise<void>): ActiveFault => ({
    kind,
    target,
    start: now(),
    end: -1,
    heal,
  });
  if (kind === 'kill') {
    const i = pickTarget();
    const node = pg.nodes[i] as PlaygroundNode;
    watch.expectExit(node);
    await pg.killNode(node);
    return fault(role(i), async () => watch.start(node));
  }
  if (kind === 'pause') {
    const i = pickTarget();
    const child = pg.nodes[i]?.process;
    // A process that just exited on its own (the crash watch restarts it) is not paused.
    if (child?.pid === undefined || !signal(child, 'SIGSTOP')) return undefined;
    return fault(role(i), async () => {
      signal(child, 'SIGCONT');
    });
  }
  if (kind === 'db-kill') {
    const i = pickTarget();
    const node = pg.nodes[i] as PlaygroundNode;
    await node.server.kill();
    return fault(role(i), async () => node.server.start());
  }
  // partitions
  const shape = kind === 'isolate' ? 0 : Math.floor(random() * 4);
  const order = shuffle(
    Array.from({ length: n }, (_, i) => i),
    random,
  );
  if (shape === 0 && leader !== undefined) {
    mesh.isolate(leader);
    return { ...fault(`isolate ${role(leader)}`, async () => mesh.heal()), kind: 'partition' };
  }
  if (kind === 'isolate') return undefined;
  if (shape === 1) {
    const minority = order.slice(0, Math.floor((n - 1) / 2) || 1);
    mesh.partition(minority);
    return {
      ...fault(`minority [${minority.map(role).join(', ')}] | rest`, async () => mesh.heal()),
      kind: 'partition',
    };
  }
  if (shape === 2) {
    const half = Math.floor((n - 1) / 2);
    const left = order.slice(0, half);
    const bridge = order[half] as number;
    const right = order.slice(half + 1);
    mesh.bridge(left, bridge, right);
    return {
      ...fault(
        `bridge [${left.map(role).join(', ')}] - ${role(bridge)} - [${right.map(role).join(', ')}]`,
        async () => mesh.heal(),
      ),
      kind: 'partition',
    };
  }
  // one way: the leader (or a random node) cannot send to anyone
  const from = leader ?? (order[0] as number);
  for (let j = 0; j < n; j++) if (j !== from) mesh.cutOneWay(from, j);
  return { ...fault(`one-way: ${role(from)} cannot send`, async () => mesh.heal()), kind: 'partition' };
}

async function healAll(pg: Playground, mesh: RelayMesh, watch: CrashWatch): Promise<void> {
  mesh.heal();
  for (const node of pg.nodes) {
    if (node.process !== undefined) signal(node.process, 'SIGCONT');
    if (node.server.pid === undefined) await node.server.start();
    if (node.process === undefined || node.process.exitCode !== null || node.process.signalCode !== null) {
      watch.start(node);
    }
  }
}

/**
 * An invalid run keeps, for every node in `outDir/<node>-mariadb/`: its MariaDB binlog files and
 * error log, `diagnostics.txt` (the tables' definitions, CHECK TABLE … EXTENDED, values the set
 * table holds more than once, @@gtid_binlog_state) and, once the server is shut down cleanly, a
 * copy of the whole data directory in `datadir/` (the playground removes the data directories
 * when the run ends). Failure 18 (a follower held one primary key twice) could not be explained
 * because node-4's binlog and tables went with its data directory.
 */
async function keepDatabaseLogs(
  pg: Playground,
  watch: CrashWatch,
  outDir: string,
  log: (line: string) => void,
): Promise<void> {
  for (const node of pg.nodes) {
    const target = join(outDir, `${node.id}-mariadb`);
    await mkdir(target, { recursive: true });
    await writeFile(join(target, 'diagnostics.txt'), await diagnostics(node)).catch(() => undefined);
  }
  for (const node of pg.nodes) {
    const target = join(outDir, `${node.id}-mariadb`);
    const dataDir = node.server.dataDir;
    const files = (await readdir(dataDir).catch(() => [] as string[])).filter(
      (name) => /^binlog\./.test(name) || name === 'error.log',
    );
    for (const name of files) await copyFile(join(dataDir, name), join(target, name)).catch(() => undefined);
  }
  // The nodes would restart a stopped MariaDB's replication; they stop first, then the servers.
  for (const node of pg.nodes) {
    watch.expectExit(node);
    await pg.killNode(node).catch(() => undefined);
  }
  for (const node of pg.nodes) {
    await node.server.stop().catch(() => undefined);
    await cp(node.server.dataDir, join(outDir, `${node.id}-mariadb`, 'datadir'), { recursive: true }).catch(
      () => undefined,
    );
  }
  log(
    `chaos: the run is invalid; every node's MariaDB binlogs, error log, diagnostics and data directory are kept in ${outDir}/<node>-mariadb/`,
  );
}

/** What an invalid run's tables look like on one node, as text (each query's error in its place). */
async function diagnostics(node: PlaygroundNode): Promise<string> {
  const out: string[] = [`# ${node.id}`];
  let c: mariadb.Connection;
  try {
    c = await node.server.connect();
  } catch (error) {
    return `${out[0]}\ncannot connect: ${(error as Error).message}\n`;
  }
  const run = async (title: string, sql: string): Promise<void> => {
    out.push(`\n## ${title}\n${sql}`);
    try {
      const rows = (await c.query(sql)) as unknown[];
      for (const row of rows) out.push(JSON.stringify(row));
    } catch (error) {
      out.push(`error: ${(error as Error).message}`);
    }
  };
  try {
    for (const table of ['chaos_set', 'chaos_bank', 'chaos_lists']) {
      await run(`definition of ${table}`, `SHOW CREATE TABLE app.${table}`);
    }
    await run('integrity', 'CHECK TABLE app.chaos_set, app.chaos_bank, app.chaos_lists EXTENDED');
    await run(
      'row counts',
      'SELECT (SELECT COUNT(*) FROM app.chaos_set) AS set_rows, (SELECT COUNT(*) FROM app.chaos_lists) AS lists',
    );
    out.push('\n## set values read more than once (SELECT v FROM app.chaos_set ORDER BY v)');
    try {
      const values = ((await c.query('SELECT v FROM app.chaos_set ORDER BY v')) as Array<{ v: number }>).map(
        (r) => r.v,
      );
      const seen = new Set<number>();
      const twice: number[] = [];
      for (const v of values) {
        if (seen.has(v)) twice.push(v);
        seen.add(v);
      }
      out.push(twice.length === 0 ? 'none' : twice.join(', '));
    } catch (error) {
      out.push(`error: ${(error as Error).message}`);
    }
    await run(
      'GTID state',
      'SELECT @@GLOBAL.gtid_binlog_state AS state, @@GLOBAL.gtid_binlog_pos AS pos, @@GLOBAL.gtid_current_pos AS current, @@GLOBAL.read_only AS ro',
    );
  } finally {
    await c.end().catch(() => undefined);
  }
  return `${out.join('\n')}\n`;
}

/** Signals a child process; false when it has exited (ESRCH) or never started. */
function signal(child: ChildProcess, name: NodeJS.Signals): boolean {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return false;
  try {
    process.kill(child.pid, name);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
}

/**
 * Node processes that exit during the run without the nemesis having killed them: a crash of
 * WolfScale itself, which the check reports (`FinalState.crashes`). Each is logged and its node
 * restarted at once, so the run goes on. Before this, a crashed node was restarted silently at
 * the final heal, and a pause aimed at its dead process stopped the runner with ESRCH (a 3-node
 * 900 s run, seed 31, lost its logs that way).
 */
class CrashWatch {
  readonly crashes: string[] = [];
  readonly #expected = new WeakSet<ChildProcess>();
  readonly #pg: Playground;
  readonly #now: () => number;
  readonly #log: (line: string) => void;
  #stopped = false;

  constructor(pg: Playground, now: () => number, log: (line: string) => void) {
    this.#pg = pg;
    this.#now = now;
    this.#log = log;
    for (const node of pg.nodes) this.#watch(node);
  }

  /** The next exit of `node`'s process is the nemesis's doing. */
  expectExit(node: PlaygroundNode): void {
    if (node.process !== undefined) this.#expected.add(node.process);
  }

  /** Starts (or restarts) `node`'s process and watches it. */
  start(node: PlaygroundNode): void {
    this.#pg.startNode(node);
    this.#watch(node);
  }

  stop(): void {
    this.#stopped = true;
  }

  #watch(node: PlaygroundNode): void {
    const child = node.process;
    if (child === undefined) return;
    child.once('exit', (code, signalName) => {
      if (this.#stopped || this.#expected.has(child)) return;
      const line = `${node.id} exited on its own at ${this.#now()} ms (code ${code}, signal ${signalName}); see ${node.id}.log`;
      this.crashes.push(line);
      this.#log(`  CRASH ${line}; restarting it`);
      if (node.process === child) this.start(node);
    });
  }
}

async function setUp(pg: Playground, monitor: LeaderMonitor): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    await monitor.refresh();
    const leader = monitor.leader === undefined ? undefined : pg.nodes[monitor.leader];
    if (leader !== undefined) {
      try {
        const c = await mariadb.createConnection({
          host: '127.0.0.1',
          port: leader.mariadbPort,
          user: 'app',
          password: 'app',
          database: 'app',
        });
        try {
          await c.query('CREATE TABLE IF NOT EXISTS chaos_set (v INT PRIMARY KEY) ENGINE=InnoDB');
          await c.query(
            'CREATE TABLE IF NOT EXISTS chaos_bank (id INT PRIMARY KEY, balance INT NOT NULL) ENGINE=InnoDB',
          );
          await c.query(
            'CREATE TABLE IF NOT EXISTS chaos_lists (k INT PRIMARY KEY, list TEXT NOT NULL) ENGINE=InnoDB',
          );
          const values = Array.from({ length: accounts }, (_, i) => `(${i}, ${initialBalance})`).join(',');
          await c.query(`INSERT IGNORE INTO chaos_bank VALUES ${values}`);
          const lists = Array.from({ length: listKeys }, (_, i) => `(${i}, '')`).join(',');
          await c.query(`INSERT IGNORE INTO chaos_lists VALUES ${lists}`);
          await untilSetUpEverywhere(pg, deadline);
          return;
        } finally {
          c.destroy();
        }
      } catch (error) {
        if (Date.now() > deadline) throw error;
      }
    }
    if (Date.now() > deadline) throw new Error('no writable leader for the chaos tables within 60 s');
    await sleep(200);
  }
}

/**
 * Waits until every node's MariaDB holds the accounts and lists: a client's first read through a
 * follower's proxy may be served locally (it has no causal history yet), and a follower that has
 * not applied the set-up would answer with no accounts (the 900 s run with seed 11 counted two
 * such reads, total 0, as bank violations).
 */
async function untilSetUpEverywhere(pg: Playground, deadline: number): Promise<void> {
  for (const node of pg.nodes) {
    for (;;) {
      const rows = await node.server
        .query<Array<{ a: number | bigint; l: number | bigint }>>(
          'SELECT (SELECT COUNT(*) FROM app.chaos_bank) AS a, (SELECT COUNT(*) FROM app.chaos_lists) AS l',
        )
        .catch(() => []);
      if (Number(rows[0]?.a ?? 0) === accounts && Number(rows[0]?.l ?? 0) >= listKeys) break;
      if (Date.now() > deadline) throw new Error(`${node.id} did not apply the chaos tables within 60 s`);
      await sleep(100);
    }
  }
}

/** Waits until every node is ACTIVE and all MariaDBs hold the same data; reads the final state. */
async function converge(
  pg: Playground,
  monitor: LeaderMonitor,
  log: (line: string) => void,
): Promise<FinalState> {
  const deadline = Date.now() + convergeTimeoutMs;
  let last: FinalState | undefined;
  // A write after healing: everything before it is committed once it is acknowledged.
  for (;;) {
    await monitor.refresh();
    const leader = monitor.leader === undefined ? undefined : pg.nodes[monitor.leader];
    if (leader !== undefined) {
      try {
        const c = await mariadb.createConnection({
          host: '127.0.0.1',
          port: leader.mariadbPort,
          user: 'app',
          password: 'app',
          database: 'app',
          connectTimeout: 2000,
        });
        try {
          // Bounded: a cluster that holds its commits (failure 12) hung the run here for good.
          const write = (async () => {
            await c.query('UPDATE chaos_bank SET balance = balance WHERE id = 0');
            await c.query(
              "INSERT INTO chaos_lists VALUES (-1, 'converged') ON DUPLICATE KEY UPDATE list = list",
            );
          })();
          write.catch(() => undefined);
          const timedOut = await Promise.race([write.then(() => false), sleep(10_000).then(() => true)]);
          if (!timedOut) break;
          log('chaos: the convergence write got no answer within 10 s; retrying');
        } finally {
          c.destroy();
        }
      } catch {
        // retry until the deadline
      }
    }
    if (Date.now() > deadline) break;
    await sleep(200);
  }
  for (;;) {
    last = await finalState(pg);
    const equal = (values: readonly string[]): boolean => values.every((v) => v === values[0]);
    if (
      last.statuses.every((s) => s === 'ACTIVE') &&
      equal(last.checksums) &&
      equal(last.gtidPositions) &&
      !last.checksums.includes('unavailable')
    )
      return last;
    if (Date.now() > deadline) return last;
    await sleep(500);
  }
}

async function finalState(pg: Playground): Promise<FinalState> {
  const statuses = await pg.statuses();
  const perNode = await Promise.all(
    pg.nodes.map(async (node) => {
      try {
        const c = await node.server.connect();
        try {
          const set = (await c.query('SELECT v FROM app.chaos_set ORDER BY v')) as Array<{ v: number }>;
          const [bank] = (await c.query('SELECT SUM(balance) AS s FROM app.chaos_bank')) as Array<{
            s: unknown;
          }>;
          const lists = (await c.query(
            'SELECT k, list FROM app.chaos_lists WHERE k >= 0 ORDER BY k',
          )) as Array<{
            k: number;
            list: string;
          }>;
          const sums = (await c.query(
            'CHECKSUM TABLE app.chaos_set, app.chaos_bank, app.chaos_lists',
          )) as Array<{
            Checksum: unknown;
          }>;
          const [pos] = (await c.query('SELECT @@GLOBAL.gtid_binlog_pos AS p')) as Array<{ p: string }>;
          return {
            set: set.map((r) => r.v),
            total: Number(bank?.s),
            lists: Object.fromEntries(lists.map((r) => [String(r.k), parseList(r.list)])),
            checksum: sums.map((r) => String(r.Checksum)).join(','),
            pos: pos?.p ?? '',
          };
        } finally {
          await c.end();
        }
      } catch {
        return { set: [], total: Number.NaN, lists: {}, checksum: 'unavailable', pos: 'unavailable' };
      }
    }),
  );
  return {
    sets: perNode.map((n) => n.set),
    bankTotals: perNode.map((n) => n.total),
    lists: perNode.map((n) => n.lists),
    checksums: perNode.map((n) => n.checksum),
    gtidPositions: perNode.map((n) => n.pos),
    statuses: statuses.map((s) => s?.status ?? 'DOWN'),
  };
}

/** The playground starts node-i's MariaDB with server_id i. */
function servedBy(serverId: number | undefined): string {
  if (serverId === undefined) throw new Error('the read returned no row');
  return `node-${serverId}`;
}

function parseList(text: string): number[] {
  return text
    .split(',')
    .filter((part) => part !== '')
    .map(Number);
}

function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
