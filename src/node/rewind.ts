import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { RoleChangedCommand } from '../consensus/index.js';
import type { RewindView } from '../http/node-api.js';
import { type BinlogTail, findBinlogTail, formatBinlogState } from '../mariadb/binlog-tail.js';
import {
  applyWithoutBinlog,
  atomicFlashback,
  countFlashbackRows,
  flashbackSql,
  type LocalServer,
  resetBinlogState,
  undoCommitted,
} from '../mariadb/flashback.js';
import { formatGtid, parseGtidPosition } from '../mariadb/gtid-position.js';
import { type SqlRunner, selectOne, variableText } from '../mariadb/sql-runner.js';
import type { Gtid } from '../protocol/gtid.js';
import type { NodeApplyLoop } from './apply-loop.js';
import { AtomicJsonFile } from './atomic-json-file.js';
import type { ReplicatedLog } from './replicated-log.js';

/**
 * Rewind of a returning old leader's binlog tail (DESIGN.md, "Rewind"): at start and after every
 * leadership this node held, applying pauses until the local binlog holds nothing the cluster
 * did not commit. Transactions outside the committed log are flashed back and the GTID state is
 * reset; a tail that cannot be undone (DDL, non-transactional) stops applying with
 * NEEDS_MIGRATION. The node never applies on top of a diverged binlog.
 */
export interface RewindOptions {
  readonly log: ReplicatedLog;
  readonly applyLoop: NodeApplyLoop;
  readonly sql: SqlRunner;
  readonly server: LocalServer;
  readonly dataDir: string;
  readonly logger: Logger;
  /** No step-down is queued or running (`Leadership.steppedDown`): semi-sync master is off. */
  readonly steppedDown: () => boolean;
}

interface Journal {
  readonly phase: 'undoing' | 'undone' | 'done';
  /**
   * The row the undo inserts in its own transaction (`atomicFlashback`): after a crash while
   * `undoing`, its presence says whether the undo committed. Journals written before it existed
   * have none; such an interrupted undo cannot be decided.
   */
  readonly markerId?: string;
  readonly discarded: RewindView['discarded'];
  readonly stateBefore: string;
  readonly rowsByTable: Record<string, number>;
  readonly at: string;
}

const pollMs = 50;

export class Rewind {
  readonly #options: RewindOptions;
  readonly #logger: Logger;
  readonly #journal: AtomicJsonFile<Journal>;
  readonly #baseline: AtomicJsonFile<{ readonly state: string }>;
  #view: RewindView = {
    state: 'waiting',
    detail: 'checking the local binlog against the committed log',
    discarded: [],
    rows_by_table: {},
    restored_position: null,
    at: null,
  };
  #wasLeader = false;
  #baselineState: readonly Gtid[] = [];

  constructor(options: RewindOptions) {
    this.#options = options;
    this.#logger = options.logger.child({ component: 'rewind' });
    this.#journal = new AtomicJsonFile(join(options.dataDir, 'rewind.json'), 'rewind journal');
    this.#baseline = new AtomicJsonFile(join(options.dataDir, 'rewind-baseline.json'), 'rewind baseline');
  }

  get view(): RewindView {
    // A check still queued behind the one that finished: the state it reports is not current.
    if (this.#pending > 0 && (this.#view.state === 'clean' || this.#view.state === 'rewound'))
      return { ...this.#view, state: 'waiting' };
    return this.#view;
  }

  /** Checks scheduled and not finished. */
  #pending = 0;

  get needsMigration(): boolean {
    return this.#view.state === 'needs_migration';
  }

  /** Pauses applying until the first check is done; call before the apply loop starts. */
  start(): void {
    this.#schedule('start');
  }

  /** A leadership this node held ended: check again before anything more is applied. */
  roleChanged(change: RoleChangedCommand): void {
    const leading = change.role === 'LEADER';
    if (this.#wasLeader && !leading)
      this.#schedule(`leadership of an earlier term ended (now ${change.role})`);
    this.#wasLeader = leading;
  }

  #schedule(reason: string): void {
    // At once, not when the pause begins: the proxy stops serving local reads from this moment.
    if (this.#view.state !== 'needs_migration') this.#view = { ...this.#view, state: 'waiting' };
    this.#pending++;
    void this.#options.applyLoop
      .pauseWhile(async (signal) => {
        if (this.#view.state !== 'needs_migration') this.#view = { ...this.#view, state: 'waiting' };
        // MariaDB down, a query failing: retried while the node runs. Only a tail that cannot be
        // undone (or an interrupted undo) stops applying for good.
        for (let delayMs = 100; ; delayMs = Math.min(delayMs * 2, 2000)) {
          try {
            await this.#check(reason, signal);
            return;
          } catch (error) {
            if (error instanceof NeedsMigration || signal.aborted) throw error;
            this.#logger.warn(
              { err: error, retryInMs: delayMs },
              'the rewind check failed; applying waits and the check is retried',
            );
            await new Promise((resolve) => setTimeout(resolve, delayMs));
          }
        }
      })
      .catch(() => undefined)
      .finally(() => {
        this.#pending--;
      });
  }

  async #check(reason: string, signal: AbortSignal): Promise<void> {
    // Read before anything else: a leadership that ends after this point makes this check stale.
    const epoch = this.#options.log.status().checkEpoch;
    let previous = await this.#journal.load();
    if (previous?.phase === 'undoing') {
      if (previous.markerId === undefined)
        this.#migrate(
          `a rewind of ${previous.discarded.map((d) => d.gtid).join(', ')} was interrupted (the node or MariaDB stopped while undoing) by a version that could not tell afterwards whether its undo committed: this node's data cannot be trusted. Restore it from a healthy node (wolfctl migrate, or mariadb-dump --single-transaction --gtid from the leader, then delete ${this.#journal.file} and wolfctl reset)`,
        );
      // The undo is one transaction with its marker: it committed whole or not at all.
      if (await undoCommitted(this.#options.sql, previous.markerId)) {
        previous = { ...previous, phase: 'undone' };
        await this.#journal.save(previous);
      } else {
        this.#logger.warn(
          { discarded: previous.discarded },
          'a rewind was interrupted before its undo committed (nothing of it was applied): checking the binlog again',
        );
        previous = undefined;
      }
    }
    if (previous?.phase === 'undone') {
      await resetBinlogState(this.#options.sql, parseState(previous.stateBefore));
      await this.#journal.save({ ...previous, phase: 'done' });
      this.#logger.warn({ restoredPosition: previous.stateBefore }, 'finished an interrupted rewind');
    }
    if (previous !== undefined) this.#view = viewFrom(previous, 'rewound');
    await this.#loadBaseline();
    const commitIndex = await this.#waitFinal(signal);
    await waitNoCommitInFlight({ sql: this.#options.sql, steppedDown: this.#options.steppedDown, signal });
    const committed = await this.#committedGtids(commitIndex);
    const tail = await findBinlogTail(this.#options.sql, (gtid) => this.#isCommitted(gtid, committed));
    if (tail.torn !== undefined) {
      this.#logger.warn(
        { file: tail.torn.file, position: tail.torn.position, reason },
        'the local binlog ends inside an event (MariaDB was killed while writing it); MariaDB ignored that part when it started, and so does the rewind check',
      );
    }
    if (tail.groups.length === 0) {
      this.#view = { ...this.#view, state: previous === undefined ? 'clean' : 'rewound' };
      this.#logger.debug({ reason, commitIndex }, 'the local binlog holds only committed transactions');
      this.#options.log.localStateChecked(epoch);
      return;
    }
    const refused = tail.groups.filter((group) => group.kind !== 'transactional');
    if (refused.length > 0) {
      this.#view = {
        ...this.#view,
        discarded: [],
        rows_by_table: {},
        at: new Date().toISOString(),
      };
      this.#migrate(
        `this node's binlog holds ${tail.groups.length} transaction(s) the cluster never committed (${tail.groups.map((g) => formatGtid(g.gtid)).join(', ')}), and ${refused.map((g) => `${formatGtid(g.gtid)} (${g.kind}${g.statements.length > 0 ? `: ${g.statements.join('; ').slice(0, 200)}` : ''})`).join(', ')} cannot be undone. Nothing was changed. Restore this node from a healthy one (wolfctl migrate, or mariadb-dump --single-transaction --gtid from the leader, then wolfctl reset)`,
      );
    }
    await this.#undo(tail, reason);
    this.#options.log.localStateChecked(epoch);
  }

  async #undo(tail: BinlogTail, reason: string): Promise<void> {
    const { server, sql } = this.#options;
    const flashback = await flashbackSql(server, tail);
    const rows = countFlashbackRows(flashback);
    const stateBefore = formatBinlogState(tail.stateBefore);
    const markerId = randomUUID();
    const journal: Journal = {
      phase: 'undoing',
      markerId,
      discarded: tail.groups.map((group) => ({ gtid: formatGtid(group.gtid), tables: [...group.tables] })),
      stateBefore,
      rowsByTable: Object.fromEntries(rows),
      at: new Date().toISOString(),
    };
    this.#view = { ...viewFrom(journal, 'rewinding'), detail: 'undoing uncommitted transactions' };
    await sql.query('SELECT 1'); // narrows the window in which MariaDB can vanish mid-undo
    await this.#journal.save(journal);
    await applyWithoutBinlog(server, atomicFlashback(flashback, markerId));
    await this.#journal.save({ ...journal, phase: 'undone' });
    await resetBinlogState(sql, tail.stateBefore);
    await this.#journal.save({ ...journal, phase: 'done' });
    this.#view = viewFrom(journal, 'rewound');
    this.#logger.warn(
      {
        reason,
        discarded: journal.discarded,
        rowsByTable: journal.rowsByTable,
        restoredPosition: stateBefore,
      },
      `rewound ${journal.discarded.length} transaction(s) the cluster never committed (no client got an OK for them); the local MariaDB is back at ${stateBefore || 'the empty position'}`,
    );
  }

  #migrate(message: string): never {
    this.#view = { ...this.#view, state: 'needs_migration', detail: message };
    this.#logger.error(message);
    throw new NeedsMigration(message);
  }

  /** GTIDs this node held before it ever joined: never rewound. Recorded at the first start. */
  async #loadBaseline(): Promise<void> {
    const saved = await this.#baseline.load();
    if (saved !== undefined) {
      this.#baselineState = parseState(saved.state);
      return;
    }
    const { log } = this.#options;
    if (log.status().lastLogId.index > 0) return;
    const row = await selectOne(this.#options.sql, 'SELECT @@GLOBAL.gtid_binlog_state AS state');
    const state = variableText(row['state']);
    await this.#baseline.save({ state });
    this.#baselineState = parseState(state);
  }

  /** Waits until the entry at the commit index has the current term: the log before it is final. */
  async #waitFinal(signal: AbortSignal): Promise<number> {
    const { log } = this.#options;
    for (;;) {
      if (signal.aborted) throw new Error('stopped');
      const commitIndex = log.commitIndex;
      const status = log.status();
      if (commitIndex > 0 && status.leaderId !== null) {
        const [entry] = await log.read(commitIndex, commitIndex, 1).catch(() => []);
        if (entry !== undefined && entry.term === status.term) return commitIndex;
      }
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
  }

  async #committedGtids(commitIndex: number): Promise<Committed> {
    const { log } = this.#options;
    const gtids = new Set<string>();
    const firstSeq = new Map<number, bigint>();
    let pending: Gtid | undefined;
    let next = log.firstIndex();
    while (next <= commitIndex) {
      const entries = await log.read(next, commitIndex, 8 * 1024 * 1024);
      if (entries.length === 0) break;
      for (const entry of entries) {
        next = entry.index + 1;
        if (entry.kind !== 'transaction') {
          pending = undefined;
          continue;
        }
        const chunk = Buffer.from(entry.payload.buffer, entry.payload.byteOffset, entry.payload.byteLength);
        const flags = chunk.readUInt8(1);
        if ((flags & 1) !== 0) {
          pending = {
            domainId: chunk.readUInt32LE(6),
            serverId: chunk.readUInt32LE(10),
            sequenceNumber: chunk.readBigUInt64LE(14),
          };
        }
        if ((flags & 2) !== 0 && pending !== undefined) {
          gtids.add(formatGtid(pending));
          if (!firstSeq.has(pending.domainId)) firstSeq.set(pending.domainId, pending.sequenceNumber);
          pending = undefined;
        }
      }
    }
    return { gtids, firstSeq, complete: log.firstIndex() <= 1 };
  }

  #isCommitted(gtid: Gtid, committed: Committed): boolean {
    if (committed.gtids.has(formatGtid(gtid))) return true;
    const base = this.#baselineState.find(
      (g) => g.domainId === gtid.domainId && g.serverId === gtid.serverId,
    );
    if (base !== undefined && base.sequenceNumber >= gtid.sequenceNumber) return true;
    // Older than anything the retained WAL holds in its domain: applied or captured long ago.
    const first = committed.firstSeq.get(gtid.domainId);
    if (!committed.complete && (first === undefined || gtid.sequenceNumber < first)) return true;
    return false;
  }
}

class NeedsMigration extends Error {}

interface Committed {
  readonly gtids: Set<string>;
  readonly firstSeq: Map<number, bigint>;
  /** The WAL still starts at index 1: it holds every committed GTID. */
  readonly complete: boolean;
}

function viewFrom(journal: Journal, state: RewindView['state']): RewindView {
  return {
    state,
    detail: `discarded ${journal.discarded.length} transaction(s) the cluster never committed`,
    discarded: journal.discarded,
    rows_by_table: journal.rowsByTable,
    restored_position: journal.stateBefore,
    at: journal.at,
  };
}

function parseState(text: string): Gtid[] {
  const gtids: Gtid[] = [];
  for (const part of text.split(',')) {
    const parsed = parseGtidPosition(part);
    if (parsed.ok) gtids.push(...parsed.value);
  }
  return gtids;
}

/**
 * Waits until no client commit can be in flight on the local MariaDB: `read_only=ON` has taken
 * effect (the step-down sets it; MariaDB sets it only once every commit in flight is done, and
 * clients cannot start new ones) and no session waits for a semi-sync acknowledgement. Waiting
 * for the second alone was not enough (chaos seed 1, docs/RELIABILITY.md "Failures found" 3): a
 * commit queued behind the step-down's read_only attempt reached the binlog after the tail was
 * read and before RESET MASTER, so its row stayed while its GTID vanished: the node diverged.
 * A COMMIT that passed its read_only check just before read_only=ON can still reach the binlog
 * after it (it then waits for an acknowledgement and the step-down ends it), so, like the
 * step-down, this wants two quiet rounds `roundMs` apart. And first the step-down must be done
 * (semi-sync master off): applying resumes after the rewind check, and an applied commit would
 * wait for an acknowledgement forever while semi-sync master is on (see `Leadership.steppedDown`).
 */
export async function waitNoCommitInFlight(options: {
  readonly sql: SqlRunner;
  /** No step-down is queued or running. */
  readonly steppedDown: () => boolean;
  readonly signal: AbortSignal;
  readonly roundMs?: number;
}): Promise<void> {
  const { sql, steppedDown, signal } = options;
  const roundMs = options.roundMs ?? Math.max(pollMs, 100);
  while (!steppedDown()) {
    if (signal.aborted) throw new Error('stopped');
    await new Promise((resolve) => setTimeout(resolve, Math.min(pollMs, roundMs)));
  }
  for (let quiet = 0; quiet < 2; ) {
    if (signal.aborted) throw new Error('stopped');
    const row = await selectOne(
      sql,
      "SELECT @@GLOBAL.read_only AS ro, (SELECT COUNT(*) FROM information_schema.processlist WHERE state = 'Waiting for semi-sync ACK from slave') AS n",
    );
    quiet = Number(variableText(row['ro'])) === 1 && Number(variableText(row['n'])) === 0 ? quiet + 1 : 0;
    if (quiet < 2) await new Promise((resolve) => setTimeout(resolve, roundMs));
  }
}
