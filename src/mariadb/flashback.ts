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
  const last = tail.groups.at(-1);
  if (first === undefined || last === undefined) return '';
  return await run(
    'mariadb-binlog',
    [
      '--read-from-remote-server',
      ...connectionArgs(server),
      '--flashback',
      '--verbose',
      `--start-position=${first.position}`,
      // Exactly the tail: a file torn after it (a crash mid-write) is not read into.
      `--stop-position=${last.endPosition}`,
      ...tail.files,
    ],
    server.password,
  );
}

/** Where an undo records that it committed: one row per undo, in the undo's own transaction. */
export const rewindMarkerTable = 'mysql.wolfscale_rewind';
/** Held by the session running an undo until it ends (see `undoCommitted`). */
const undoLockName = 'wolfscale_rewind';

const startTransaction = 'START TRANSACTION/*!*/;';

/**
 * Makes the flashback SQL of `mariadb-binlog --flashback` (one `START TRANSACTION … COMMIT` per
 * undone group) one transaction that also inserts `markerId` into `rewindMarkerTable`: the undo
 * then either committed whole, marker included, or not at all, and after a crash
 * `undoCommitted` tells which (docs/RELIABILITY.md "Failures found" 13). The script first takes
 * a named lock that its session holds until it ends, so a check after a restart can wait for an
 * undo that outlived its node process.
 *
 * Statements end with the delimiter the output's `DELIMITER` line sets; `COMMIT` (followed by
 * a line holding only the delimiter) and `START TRANSACTION` stand on lines of their own, which
 * base64 lines (4n characters) and the `###` comment lines never are.
 */
export function atomicFlashback(flashback: string, markerId: string): string {
  if (!/^[A-Za-z0-9-]{1,64}$/.test(markerId)) throw new Error(`invalid rewind marker id ${markerId}`);
  const lines = flashback.split('\n');
  const kept: string[] = [];
  let transactions = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (line === startTransaction) {
      transactions++;
      continue;
    }
    if (line === 'COMMIT' && lines[i + 1] === '/*!*/;') {
      i++;
      continue;
    }
    kept.push(line);
  }
  const delimiter = kept.indexOf('DELIMITER /*!*/;');
  const end = kept.lastIndexOf('DELIMITER ;');
  if (transactions === 0 || delimiter < 0 || end < delimiter)
    throw new Error(
      'mariadb-binlog --flashback printed no transaction in the expected form (START TRANSACTION/*!*/; … COMMIT): this mariadb-binlog is not supported for rewinds; install the MariaDB client tools of the server version',
    );
  return [
    ...kept.slice(0, delimiter + 1),
    `DO GET_LOCK('${undoLockName}', 600)/*!*/;`,
    `CREATE TABLE IF NOT EXISTS ${rewindMarkerTable} (id VARCHAR(64) NOT NULL PRIMARY KEY, undone_at DATETIME(6) NOT NULL) ENGINE=InnoDB/*!*/;`,
    startTransaction,
    ...kept.slice(delimiter + 1, end),
    `INSERT INTO ${rewindMarkerTable} VALUES ('${markerId}', NOW(6))/*!*/;`,
    'COMMIT/*!*/;',
    ...kept.slice(end),
  ].join('\n');
}

/**
 * Whether the undo marked `markerId` committed. Waits first for a session still running an undo
 * (its node process died, the `mariadb` client it started did not): until it ends, the answer is
 * not known.
 */
export async function undoCommitted(runner: SqlRunner, markerId: string): Promise<boolean> {
  const rows = (await runner.query(
    `SELECT GET_LOCK('${undoLockName}', 60) AS got, RELEASE_LOCK('${undoLockName}') AS released`,
  )) as Array<{ got: unknown }>;
  if (Number(rows[0]?.got) !== 1)
    throw new Error(
      `a session still holds the lock ${undoLockName} of this node's rewind undo after 60 s (a mariadb client left by a killed node process): find it with SHOW PROCESSLIST on the local MariaDB and let it finish or KILL it; the rewind check retries meanwhile`,
    );
  try {
    const marked = (await runner.query(`SELECT COUNT(*) AS n FROM ${rewindMarkerTable} WHERE id = ?`, [
      markerId,
    ])) as Array<{ n: unknown }>;
    return Number(marked[0]?.n) > 0;
  } catch (error) {
    // No marker table yet: no undo ever committed here.
    if ((error as { errno?: number }).errno === 1146) return false;
    throw error;
  }
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
