import type { Gtid } from '../protocol/gtid.js';
import { formatGtid, parseGtid } from './gtid-position.js';
import { type SqlRunner, selectRows, variableText } from './sql-runner.js';

/**
 * Reads the local MariaDB's binlog through SQL (`SHOW BINARY LOGS`, `SHOW BINLOG EVENTS`) and
 * finds its tail: the transaction groups after the last one the caller says is committed. Used
 * by the rewind of a returning old leader (src/node/DESIGN.md, "Rewind").
 */

/** One transaction group of the binlog: its GTID event through its XID/COMMIT. */
export interface BinlogGroup {
  readonly gtid: Gtid;
  readonly file: string;
  /** Position of the GTID event in `file`. */
  readonly position: number;
  /** End position of the group's last event. */
  readonly endPosition: number;
  /**
   * transactional: BEGIN … Xid with row events only (can be flashed back); ddl: a standalone
   * statement (DDL, CREATE USER, …); non-transactional: BEGIN … COMMIT query (MyISAM, Aria);
   * statement: BEGIN … with a logged statement or XA inside; incomplete: no end seen.
   */
  readonly kind: 'transactional' | 'ddl' | 'non-transactional' | 'statement' | 'incomplete';
  /** Tables of its row events, `db.table`. */
  readonly tables: readonly string[];
  /** Logged statements (DDL text, statements inside the group). */
  readonly statements: readonly string[];
}

export interface BinlogTail {
  /** The groups after the last committed one, in binlog order; empty when there is no tail. */
  readonly groups: readonly BinlogGroup[];
  /**
   * A binlog file that ends inside an event (a crash in the middle of MariaDB's write): where its
   * unreadable part begins. MariaDB itself ignores that part at start (its transaction is rolled
   * back, its GTID not counted); so does the tail, and a group cut by it is not in `groups`.
   */
  readonly torn?: { readonly file: string; readonly position: number };
  /** `@@gtid_binlog_state` as it was before the first tail group (one GTID per domain-server pair). */
  readonly stateBefore: readonly Gtid[];
  /** The binlog files the tail is in, oldest first. */
  readonly files: readonly string[];
}

interface BinlogEventRow {
  readonly pos: number;
  readonly type: string;
  readonly end: number;
  readonly info: string;
}

/** The binlog files, oldest first. */
export async function binlogFiles(runner: SqlRunner): Promise<string[]> {
  const rows = await selectRows(runner, 'SHOW BINARY LOGS');
  return rows.map((row) => variableText(row['Log_name']));
}

/** MariaDB's answer to SHOW BINLOG EVENTS over an event it cannot read ("Wrong offset or I/O error"). */
const binlogReadErrno = 1220;
/** Events per SHOW BINLOG EVENTS while the readable part of a torn file is found. */
const tornPageEvents = 1000;

function eventRows(rows: readonly Record<string, unknown>[]): BinlogEventRow[] {
  return rows.map((row) => ({
    pos: Number(variableText(row['Pos'])),
    type: variableText(row['Event_type']),
    end: Number(variableText(row['End_log_pos'])),
    info: variableText(row['Info']),
  }));
}

/**
 * A file's events. A file that ends inside an event (MariaDB killed in the middle of writing
 * it: seen in a chaos run, where the rewind check then failed on every retry and the node never
 * applied again) is read in pages up to the first event MariaDB cannot read; `tornAt` says where.
 */
export async function fileEvents(
  runner: SqlRunner,
  file: string,
): Promise<{ readonly events: BinlogEventRow[]; readonly tornAt?: number }> {
  try {
    return { events: eventRows(await selectRows(runner, `SHOW BINLOG EVENTS IN ${quoteString(file)}`)) };
  } catch (error) {
    if ((error as { errno?: number }).errno !== binlogReadErrno) throw error;
  }
  const events: BinlogEventRow[] = [];
  let from = 4; // after the binlog magic
  let page = tornPageEvents;
  for (;;) {
    let rows: BinlogEventRow[];
    try {
      rows = eventRows(
        await selectRows(runner, `SHOW BINLOG EVENTS IN ${quoteString(file)} FROM ${from} LIMIT ${page}`),
      );
    } catch (error) {
      if ((error as { errno?: number }).errno !== binlogReadErrno) throw error;
      if (page > 1) {
        page = Math.max(1, Math.floor(page / 10));
        continue;
      }
      return { events, tornAt: from };
    }
    events.push(...rows);
    const last = rows.at(-1);
    // The whole file read without the error this time (it was being written): done.
    if (last === undefined || rows.length < page) return { events };
    from = last.end;
  }
}

/** One file's groups, and the binlog state at its start (its Gtid_list event). */
export function groupFileEvents(
  file: string,
  events: readonly BinlogEventRow[],
): { readonly startState: Gtid[]; readonly groups: BinlogGroup[] } {
  let startState: Gtid[] = [];
  const groups: BinlogGroup[] = [];
  let open:
    | {
        gtid: Gtid;
        position: number;
        standalone: boolean;
        tables: Set<string>;
        statements: string[];
        statement: boolean;
      }
    | undefined;
  const close = (kind: BinlogGroup['kind'], end: number): void => {
    if (open === undefined) return;
    groups.push({
      gtid: open.gtid,
      file,
      position: open.position,
      endPosition: end,
      kind,
      tables: [...open.tables],
      statements: open.statements,
    });
    open = undefined;
  };
  for (const event of events) {
    if (event.type === 'Gtid_list') {
      startState = parseGtidList(event.info, file);
      continue;
    }
    if (event.type === 'Gtid') {
      if (open !== undefined) close('incomplete', event.pos);
      const match = /^(BEGIN )?GTID (\d+-\d+-\d+)/.exec(event.info);
      const gtid = match === null ? undefined : parseGtid(match[2] as string);
      if (gtid === undefined || typeof gtid === 'string') {
        throw new Error(`${file} at ${event.pos}: cannot read the GTID event '${event.info}'`);
      }
      open = {
        gtid,
        position: event.pos,
        standalone: match?.[1] === undefined,
        tables: new Set(),
        statements: [],
        statement: /\bXA\b/.test(event.info),
      };
      continue;
    }
    if (open === undefined) continue;
    if (event.type === 'Table_map') {
      const table = /\(([^)]*)\)\s*$/.exec(event.info)?.[1];
      if (table !== undefined) open.tables.add(table);
    } else if (event.type === 'Xid') {
      close(open.statement ? 'statement' : 'transactional', event.end);
    } else if (event.type === 'Query') {
      const text = event.info.trim();
      if (open.standalone) {
        open.statements.push(text);
        close('ddl', event.end);
      } else if (/^COMMIT\b/i.test(text)) {
        close(open.statement ? 'statement' : 'non-transactional', event.end);
      } else if (/^ROLLBACK\b/i.test(text)) {
        close('statement', event.end);
      } else {
        open.statements.push(text);
        open.statement = true;
      }
    } else if (/^(Write|Update|Delete)_rows/.test(event.type) || event.type === 'Annotate_rows') {
      // row events: the table comes from the Table_map before them
    } else if (!['Format_desc', 'Binlog_checkpoint', 'Rotate', 'Stop'].includes(event.type)) {
      open.statements.push(`${event.type}: ${event.info}`);
      open.statement = true;
    }
  }
  if (open !== undefined) close('incomplete', events.at(-1)?.end ?? open.position);
  return { startState, groups };
}

/**
 * The binlog's tail after the last group `isCommitted` accepts, reading files newest first and
 * stopping as soon as a committed group is found (the tail is normally in the last file).
 */
export async function findBinlogTail(
  runner: SqlRunner,
  isCommitted: (gtid: Gtid) => boolean,
): Promise<BinlogTail> {
  const files = await binlogFiles(runner);
  const tail: BinlogGroup[] = [];
  let torn: BinlogTail['torn'];
  for (let f = files.length - 1; f >= 0; f--) {
    const file = files[f] as string;
    const read = await fileEvents(runner, file);
    const grouped = groupFileEvents(file, read.events);
    const { startState } = grouped;
    let { groups } = grouped;
    if (read.tornAt !== undefined) torn = { file, position: read.tornAt };
    // A group cut by a tear, or one that ends a file another file follows without its end (a
    // crash between two of its events: MariaDB rotates only between groups), is not in the
    // binlog as far as MariaDB is concerned: rolled back at its start, its GTID not counted.
    if ((read.tornAt !== undefined || f < files.length - 1) && groups.at(-1)?.kind === 'incomplete')
      groups = groups.slice(0, -1);
    let g = groups.length - 1;
    while (g >= 0 && !isCommitted((groups[g] as BinlogGroup).gtid)) g--;
    tail.unshift(...groups.slice(g + 1));
    if (g >= 0 || f === 0) {
      let state = startState;
      for (const group of groups.slice(0, g + 1)) state = stateWith(state, group.gtid);
      return {
        groups: tail,
        stateBefore: state,
        files: tailFiles(files, tail),
        ...(torn === undefined ? {} : { torn }),
      };
    }
  }
  return {
    groups: tail,
    stateBefore: [],
    files: tailFiles(files, tail),
    ...(torn === undefined ? {} : { torn }),
  };
}

/** The files from the tail's first group to its last (nothing after it is read for the undo). */
function tailFiles(files: readonly string[], tail: readonly BinlogGroup[]): string[] {
  const first = tail[0];
  const last = tail.at(-1);
  if (first === undefined || last === undefined) return [];
  return files.slice(files.indexOf(first.file), files.indexOf(last.file) + 1);
}

/** A binlog state with `gtid` as the last GTID of its domain-server pair. */
export function stateWith(state: readonly Gtid[], gtid: Gtid): Gtid[] {
  return [...state.filter((g) => !(g.domainId === gtid.domainId && g.serverId === gtid.serverId)), gtid];
}

/**
 * The state as `SET GLOBAL gtid_binlog_state` takes it: within a domain the highest sequence
 * number last (MariaDB takes the last one listed as the domain's current GTID).
 */
export function formatBinlogState(state: readonly Gtid[]): string {
  return [...state]
    .sort((a, b) =>
      a.domainId !== b.domainId
        ? a.domainId - b.domainId
        : a.sequenceNumber < b.sequenceNumber
          ? -1
          : a.sequenceNumber > b.sequenceNumber
            ? 1
            : 0,
    )
    .map(formatGtid)
    .join(',');
}

function parseGtidList(info: string, file: string): Gtid[] {
  const inner = info
    .trim()
    .replace(/^\[|\]$/g, '')
    .trim();
  if (inner === '') return [];
  return inner.split(',').map((part) => {
    const gtid = parseGtid(part.trim());
    if (typeof gtid === 'string') throw new Error(`${file}: cannot read its Gtid_list '${info}': ${gtid}`);
    return gtid;
  });
}

function quoteString(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}
