import { spawn } from 'node:child_process';
import type { Gtid } from '../protocol/gtid.js';
import type { BinlogTail } from './binlog-tail.js';
import { formatBinlogState } from './binlog-tail.js';
import type { SqlRunner } from './sql-runner.js';

/**
 * Undoes a binlog tail on the local MariaDB and resets its GTID state (src/node/DESIGN.md,
 * "Rewind"): `mariadb-binlog --flashback` of exactly the tail's groups, piped into `mariadb`
 * with `sql_log_bin=0`; then RESET MASTER and `SET GLOBAL gtid_binlog_state`.
 */
export interface LocalServer {
  readonly host: string;
  readonly port: number;
  readonly socket?: string;
  readonly user: string;
  readonly password: string;
}

export interface FlashbackResult {
  /** Rows changed by the undo, per table (`db.table`). */
  readonly rowsByTable: ReadonlyMap<string, number>;
}

/** Row lines of `mariadb-binlog -v` output: `### INSERT INTO \`db\`.\`t\``, `### UPDATE …`, `### DELETE FROM …`. */
const rowLine = /^### (?:INSERT INTO|UPDATE|DELETE FROM) `((?:[^`]|``)+)`\.`((?:[^`]|``)+)`/;

export function countFlashbackRows(sql: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of sql.split('\n')) {
    const match = rowLine.exec(line);
    if (match === null) continue;
    const table = `${(match[1] as string).replace(/``/g, '`')}.${(match[2] as string).replace(/``/g, '`')}`;
    counts.set(table, (counts.get(table) ?? 0) + 1);
  }
  return counts;
}

function connectionArgs(server: LocalServer): string[] {
  return server.socket !== undefined
    ? [`--socket=${server.socket}`, `--user=${server.user}`]
    : [`--host=${server.host}`, `--port=${server.port}`, '--protocol=TCP', `--user=${server.user}`];
}

async function run(
  command: string,
  args: readonly string[],
  password: string,
  input?: string,
): Promise<string> {
  return await new Promise<string>((resolve, reject) => {
    const child = spawn(command, args, {
      env: { ...process.env, MYSQL_PWD: password },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', (error: NodeJS.ErrnoException) => {
      reject(
        new Error(
          error.code === 'ENOENT'
            ? `${command} is not installed: install the MariaDB client tools beside the node (apt-get install -y mariadb-client)`
            : `${command}: ${error.message}`,
        ),
      );
    });
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out).toString('utf8'));
      else
        reject(
          new Error(
            `${command} exited with ${code}: ${Buffer.concat(err).toString('utf8').trim().slice(0, 2000)}`,
          ),
        );
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(input ?? '');
  });
}

/** The flashback SQL of the tail: inverse row events, newest group first. Reads through the server. */
export async function flashbackSql(server: LocalServer, tail: BinlogTail): Promise<string> {
  const first = tail.groups[0];
  if (first === undefined) return '';
  return await run(
    'mariadb-binlog',
    [
      '--read-from-remote-server',
      ...connectionArgs(server),
      '--flashback',
      '--verbose',
      `--start-position=${first.position}`,
      ...tail.files,
    ],
    server.password,
  );
}

/** Runs the flashback SQL on the server without binlogging it; stops at the first error. */
export async function applyWithoutBinlog(server: LocalServer, sql: string): Promise<void> {
  await run(
    'mariadb',
    [...connectionArgs(server), '--init-command=SET SESSION sql_log_bin=0', '--batch'],
    server.password,
    sql,
  );
}

/**
 * Empties the binlog and sets the GTID state: the server then holds exactly `state`, and the
 * next transaction of a domain gets the next sequence number. Needs SUPER; nothing else may
 * write meanwhile (the node's MariaDB is read-only and nothing is applied).
 */
export async function resetBinlogState(runner: SqlRunner, state: readonly Gtid[]): Promise<void> {
  await runner.query('RESET MASTER');
  await runner.query(`SET GLOBAL gtid_binlog_state = '${formatBinlogState(state)}'`);
}
