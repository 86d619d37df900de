import type { Logger } from 'pino';
import { BinlogCapture, type BinlogCaptureOptions } from '../capture/binlog-capture.js';
import type { RoleChangedCommand } from '../consensus/index.js';
import type { MariaDbAdmin } from '../mariadb/mariadb-admin.js';
import type { SqlRunner } from '../mariadb/sql-runner.js';
import type { NodeApplyLoop } from './apply-loop.js';
import { CaptureLoop } from './capture-loop.js';
import type { ReplicatedLog } from './replicated-log.js';

/**
 * Puts the local MariaDB in the role the engine decided, one transition at a time.
 *
 * Leader of term T (each step re-checks that T is still current, else gives up):
 *  1. wait until this term's no-op is committed and applied locally (everything before it is);
 *  2. enable semi-sync master (AFTER_SYNC, never times out);
 *  3. start the capture from the local `@@gtid_binlog_pos`, wait until MariaDB counts it as a
 *     semi-sync client;
 *  4. `read_only=OFF`.
 * Any other role: `read_only=ON` first, then stop the capture, end the client sessions still
 * waiting for an acknowledgement (they never get an OK), then disable semi-sync master.
 *
 * Errors in a step are logged and retried with backoff while the role lasts; MariaDB stays
 * read-only meanwhile, so nothing commits unacknowledged.
 */
export interface LeadershipOptions {
  readonly log: ReplicatedLog;
  readonly admin: MariaDbAdmin;
  /** Runs the statements the admin has no method for (ending waiting sessions). */
  readonly sql: SqlRunner;
  readonly applyLoop: NodeApplyLoop;
  readonly logger: Logger;
  readonly capture: Omit<BinlogCaptureOptions, 'logger' | 'startAfter'>;
  readonly onCommitted?: (gtid: string, index: number, latencyMs: number) => void;
  /**
   * Called right before the client sessions of the local MariaDB are ended: drops the local
   * proxy's clients whose command runs there (`ProxyServer.severLocalCommands`), so an OK that
   * MariaDB releases while the sessions are ended reaches no client. Returns how many.
   */
  readonly beforeEndingSessions?: () => number;
  /** Flow control's gate on acknowledgements (see CaptureLoopOptions.ackGate). */
  readonly ackGate?: () => Promise<void> | undefined;
  /** How long to wait for MariaDB to count the capture as a semi-sync client. Default 10 s. */
  readonly semiSyncClientWaitMs?: number;
}

export type LeadershipState =
  | { readonly kind: 'follower' }
  | { readonly kind: 'opening'; readonly term: number; readonly step: string }
  | { readonly kind: 'writable'; readonly term: number }
  /** Handing leadership over: read-only, the capture still proposes what is in flight. */
  | { readonly kind: 'transferring'; readonly term: number; readonly to: string }
  | { readonly kind: 'failed'; readonly term: number; readonly reason: string };

const retryDelayMsMax = 2000;

export class Leadership {
  readonly #options: LeadershipOptions;
  readonly #logger: Logger;
  /** Terms in which this node led: their entries are its own captures (see ApplyLoop). */
  readonly ledTerms = new Set<number>();
  #chain: Promise<void> = Promise.resolve();
  #current: RoleChangedCommand | undefined;
  #captureLoop: CaptureLoop | undefined;
  #state: LeadershipState = { kind: 'follower' };
  /**
   * The last #follow() finished and no #lead() began since: MariaDB is read-only, its semi-sync
   * master is off and no commit can be waiting for an acknowledgement. A node that becomes a
   * candidate then skips the quiet rounds (measured: they delayed every failover by 200 ms).
   */
  #followerSettled = false;
  #abort = new AbortController();
  /** Set by close(): the step-down of a shutdown does not wait forever for a MariaDB that is down. */
  #closing = false;
  /** Step-downs queued or running: counted when queued, so a check never sees a stale "done". */
  #stepDownsPending = 0;

  constructor(options: LeadershipOptions) {
    this.#options = options;
    this.#logger = options.logger;
  }

  get state(): LeadershipState {
    return this.#state;
  }

  /**
   * No step-down is queued or running: semi-sync master is off (or this node leads again).
   * The rewind check, hence applying, waits for it: a commit applied while semi-sync master is
   * still on waits for an acknowledgement no one sends, and the step-down's quiet rounds never
   * end the node's own sessions, so both waited forever (chaos, 5 nodes, seed 5: a deposed leader
   * stayed SYNCING at its last own GTID; docs/RELIABILITY.md "Failures found" 4).
   */
  get steppedDown(): boolean {
    return this.#stepDownsPending === 0;
  }

  /** Takes a role change from the engine; transitions run in order. */
  handle(change: RoleChangedCommand): void {
    if (change.role === 'LEADER') this.ledTerms.add(change.term);
    this.#current = change;
    this.#abort.abort();
    this.#abort = new AbortController();
    const signal = this.#abort.signal;
    if (change.role !== 'LEADER') this.#stepDownsPending++;
    const follow = (): Promise<void> =>
      this.#follow().finally(() => {
        this.#stepDownsPending--;
      });
    this.#chain = this.#chain
      .then(() => (change.role === 'LEADER' ? this.#lead(change.term, signal) : follow()))
      .catch((error: Error) => this.#logger.error({ err: error }, 'role transition failed'));
  }

  /**
   * A leadership transfer started: stop new commits (read_only=ON) so the target can catch up
   * with the ones in flight, which the capture still proposes and acknowledges.
   */
  transferStarted(to: string): void {
    this.#chain = this.#chain
      .then(async () => {
        const state = this.#state;
        if (state.kind !== 'writable') return;
        await this.#retry('set read_only=ON for a transfer', state.term, () =>
          this.#readOnlyEndingOrphans(() => this.#stillLeading(state.term)),
        );
        if (this.#stillLeading(state.term)) {
          this.#state = { kind: 'transferring', term: state.term, to };
          this.#logger.info({ term: state.term, to }, 'read-only while leadership is handed over');
        }
      })
      .catch((error: Error) => this.#logger.error({ err: error }, 'role transition failed'));
  }

  /** The transfer gave up (the target did not catch up): this node takes writes again. */
  transferAborted(): void {
    this.#chain = this.#chain
      .then(async () => {
        const state = this.#state;
        if (
          state.kind !== 'transferring' ||
          !this.#stillLeading(state.term) ||
          this.#captureLoop === undefined
        )
          return;
        if (
          await this.#retry('set read_only=OFF after an aborted transfer', state.term, () =>
            this.#options.admin.setReadOnly(false),
          )
        ) {
          this.#state = { kind: 'writable', term: state.term };
          this.#logger.info({ term: state.term }, 'transfer aborted: this node takes writes again');
        }
      })
      .catch((error: Error) => this.#logger.error({ err: error }, 'role transition failed'));
  }

  /** Puts MariaDB in the follower role now: at start, before the engine has said anything. */
  stepDownNow(): void {
    this.#stepDownsPending++;
    this.#chain = this.#chain
      .then(() =>
        this.#follow().finally(() => {
          this.#stepDownsPending--;
        }),
      )
      .catch((error: Error) => this.#logger.error({ err: error }, 'role transition failed'));
  }

  /** Steps down locally (read-only, no capture): for shutdown. */
  async close(): Promise<void> {
    this.#closing = true;
    this.#current = undefined;
    this.#abort.abort();
    await this.#chain;
    await this.#follow();
  }

  #stillLeading(term: number): boolean {
    return this.#current?.role === 'LEADER' && this.#current.term === term;
  }

  async #follow(): Promise<void> {
    const { admin } = this.#options;
    // Measured on MariaDB 10.11.19: SET GLOBAL read_only=ON waits for every commit in flight,
    // including one waiting for a semi-sync acknowledgement that will never come (this node no
    // longer leads), and while it waits it blocks every commit that has not reached the binlog.
    // So the sessions are ended *while* read_only=ON is pending (`#readOnlyEndingOrphans`). Ending
    // them between attempts instead (each bounded by lock_wait_timeout) lost acknowledged writes
    // (docs/RELIABILITY.md "Failures found" 8): a commit a client starts right after the session
    // waiting for an acknowledgement is killed can return OK with no acknowledgement at all —
    // measured, 10–38 OKs per step-down with 16 reconnecting clients and no semi-sync replica
    // (`test/integration/step-down-ok.test.ts`); with read_only=ON pending, none.
    // Once read_only is on no commit is in flight, so disabling semi-sync below releases no one.
    // This step never gives up, not even when the engine makes this node leader again meanwhile
    // (the next transition waits for it): going on without read_only=ON and then disabling
    // semi-sync released commits still in flight with an OK that no quorum backed (chaos seed 1,
    // docs/RELIABILITY.md "Failures found" 2).
    await this.#untilDone('set read_only=ON', () => this.#readOnlyEndingOrphans(() => false));
    this.#state = { kind: 'follower' };
    const loop = this.#captureLoop;
    this.#captureLoop = undefined;
    if (loop !== undefined)
      this.#logger.info({ reason: await loop.stop('this node no longer leads') }, 'capture stopped');
    // Commits still waiting for an acknowledgement must never reach their clients as OK: end
    // their connections first (the client sees the connection drop), then disable semi-sync so
    // this node's own applied transactions do not wait for an acknowledgement no one will send.
    // Measured on MariaDB 10.11: with semi-sync enabled and no semi-sync replica, commits block.
    // Found by the chaos suite (issue 9): a COMMIT that passed its read_only check and then
    // waited behind read_only=ON for the commit lock still commits once read_only is ON; with
    // semi-sync already disabled its client got an OK for a transaction no quorum held (lost
    // after the rewind). So semi-sync stays on until no such straggler can remain: it would wait
    // for an acknowledgement, is ended here, and only two quiet rounds 100 ms apart let us on.
    const settled = this.#followerSettled;
    await this.#retry('end sessions waiting for a semi-sync acknowledgement', undefined, async () => {
      for (let quietRounds = 0; quietRounds < 2 && !settled; ) {
        // Only a group commit's leader shows the waiting state, and killing it alone releases
        // the rest of its group with an OK: when anyone waits, every client session is ended.
        const waiting = await this.#semiSyncWaiterCount();
        const ended = waiting > 0 ? await this.#endClientSessions() : 0;
        if (ended > 0) {
          this.#logger.warn(
            { sessions: ended },
            'ended every client session (a commit was waiting for an acknowledgement after read_only=ON): their clients got no OK for it; the transactions are rewound when this node rejoins',
          );
        }
        quietRounds = waiting === 0 ? quietRounds + 1 : 0;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    });
    await this.#retry('disable semi-sync master', undefined, () => admin.disableSemiSyncMaster());
    this.#followerSettled = true;
  }

  /**
   * For a step-down and a transfer: `SET GLOBAL read_only = ON` waits for every commit in progress, and a commit
   * waiting for an acknowledgement that this node, no longer leading, will never send waits
   * forever (measured under a 16-thread sysbench load: a failback left every session and the role
   * transitions blocked). So while it waits and `stillLeading()` is false, every client session is
   * ended (`#endClientSessions`; their clients get no OK); while this node still leads, the capture
   * acknowledges the waiting commits and they finish on their own.
   */
  async #readOnlyEndingOrphans(stillLeading: () => boolean): Promise<void> {
    let done = false;
    const setting = this.#options.admin.setReadOnly(true).finally(() => {
      done = true;
    });
    while (!done) {
      await Promise.race([
        setting.catch(() => undefined),
        new Promise((resolve) => setTimeout(resolve, 100)),
      ]);
      if (done || stillLeading()) continue;
      const ended = await this.#endClientSessions().catch(() => 0);
      if (ended > 0) {
        this.#logger.warn(
          { sessions: ended },
          'read_only=ON was blocked by commits no quorum will acknowledge: ended the client sessions (they got no OK)',
        );
      }
    }
    await setting;
  }

  /**
   * KILL CONNECTION of every client session (not this node's own, not MariaDB's threads); the
   * sessions waiting for a semi-sync acknowledgement last. Ending only those was not enough
   * (chaos seed 1, docs/RELIABILITY.md "Failures found" 2): only the leader of a binlog group
   * commit shows that state; killing it ends the wait for the whole group, and the others in the
   * group got their OK. A killed session's socket is shut at once, so it cannot get an OK later.
   * Call it only while `read_only=ON` is pending or on: with neither, commits started right after
   * the waiting session is killed can return OK unacknowledged (failure 8, measured on 10.11.19).
   */
  async #endClientSessions(): Promise<number> {
    const dropped = this.#options.beforeEndingSessions?.() ?? 0;
    if (dropped > 0)
      this.#logger.warn(
        { clients: dropped },
        "dropped the proxy's clients whose statement was in flight on this node's MariaDB before ending its sessions: they get no answer (outcome unknown), never an OK no quorum holds",
      );
    const rows = (await this.#options.sql.query(
      "SELECT id FROM information_schema.processlist WHERE id <> CONNECTION_ID() AND user NOT IN ('system user', 'event_scheduler', SUBSTRING_INDEX(USER(), '@', 1)) AND command NOT IN ('Daemon', 'Binlog Dump', 'Slave_IO', 'Slave_SQL', 'Slave_worker') ORDER BY state = 'Waiting for semi-sync ACK from slave'",
    )) as Array<{ id: number | bigint }>;
    for (const row of rows) {
      await this.#options.sql.query(`KILL CONNECTION ${BigInt(row.id).toString()}`).catch(() => undefined);
    }
    return rows.length;
  }

  async #semiSyncWaiterCount(): Promise<number> {
    const rows = (await this.#options.sql.query(
      "SELECT COUNT(*) AS n FROM information_schema.processlist WHERE state = 'Waiting for semi-sync ACK from slave'",
    )) as Array<{ n: number | bigint }>;
    return Number(rows[0]?.n ?? 0);
  }

  async #lead(term: number, signal: AbortSignal): Promise<void> {
    const { log, admin, applyLoop } = this.#options;
    this.#followerSettled = false;
    const step = (name: string): boolean => {
      if (!this.#stillLeading(term)) return false;
      this.#state = { kind: 'opening', term, step: name };
      this.#logger.info({ term, step: name }, 'opening this node for writes');
      return true;
    };
    // The engine appended this term's no-op when it became leader: it is the last entry now.
    const noopIndex = log.status().lastLogId.index;
    if (!step(`apply everything up to this term's first entry (${noopIndex})`)) return;
    await this.#waitFor(() => log.commitIndex >= noopIndex, signal);
    // A newer role change ends this opening here. Going on to wait for the apply loop deadlocked
    // (chaos L1, docs/RELIABILITY.md "Failures found" 12): the step-down queued behind this
    // opening is what the rewind check waits for, and the check pauses applying.
    if (signal.aborted) return;
    try {
      await applyLoop.waitApplied(noopIndex, signal);
    } catch (error) {
      if (signal.aborted) {
        // A newer role change ended this term while it waited: nothing failed.
        this.#logger.info({ term }, 'opening abandoned: this node no longer leads this term');
        return;
      }
      this.#state = { kind: 'failed', term, reason: (error as Error).message };
      this.#logger.error(
        { term, reason: (error as Error).message },
        'cannot open for writes: applying failed',
      );
      return;
    }
    if (!step('enable semi-sync master')) return;
    if (!(await this.#retry('enable semi-sync master', term, () => admin.enableSemiSyncMaster()))) return;
    if (!step('start the capture')) return;
    const capture = new BinlogCapture({
      ...this.#options.capture,
      logger: this.#logger.child({ component: 'capture' }),
    });
    const started = await this.#retry('start the capture', term, async () => {
      await capture.start();
    });
    if (!started) {
      await capture.stop();
      return;
    }
    const loop = new CaptureLoop({
      capture,
      log,
      logger: this.#logger,
      ...(this.#options.onCommitted === undefined ? {} : { onCommitted: this.#options.onCommitted }),
      ...(this.#options.ackGate === undefined ? {} : { ackGate: this.#options.ackGate }),
    });
    this.#captureLoop = loop;
    void loop.done.then((reason) => {
      if (this.#captureLoop === loop && this.#stillLeading(term)) {
        this.#logger.error(
          { term, reason },
          'the capture stopped while this node leads: handing leadership over',
        );
        log.transferLeadership(null);
      }
    });
    if (!step('wait for the capture to be a semi-sync client')) return;
    const waitMs = this.#options.semiSyncClientWaitMs ?? 10_000;
    const deadline = Date.now() + waitMs;
    for (;;) {
      const state = await admin.semiSyncMasterState().catch(() => undefined);
      if (state !== undefined && state.clients >= 1 && state.active) break;
      if (!this.#stillLeading(term)) return;
      if (Date.now() > deadline) {
        this.#state = {
          kind: 'failed',
          term,
          reason: `the capture did not register as a semi-sync client within ${waitMs} ms`,
        };
        this.#logger.error({ term }, this.#state.reason);
        log.transferLeadership(null);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    if (!step('set read_only=OFF')) return;
    if (!(await this.#retry('set read_only=OFF', term, () => admin.setReadOnly(false)))) return;
    if (!this.#stillLeading(term)) {
      await admin.setReadOnly(true);
      return;
    }
    this.#state = { kind: 'writable', term };
    this.#logger.info({ term }, 'this node leads and its MariaDB accepts writes');
  }

  async #waitFor(condition: () => boolean, signal: AbortSignal): Promise<void> {
    while (!condition() && !signal.aborted) await new Promise((resolve) => setTimeout(resolve, 5));
  }

  /** Retries `action` with backoff until it succeeds, whatever the role meanwhile (or until close()). */
  async #untilDone(what: string, action: () => Promise<void>): Promise<void> {
    let delayMs = 50;
    for (;;) {
      if (this.#closing && delayMs > 50) return;
      try {
        await action();
        return;
      } catch (error) {
        this.#logger.warn({ err: error, what, retryInMs: delayMs }, 'role transition step failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        delayMs = Math.min(delayMs * 2, retryDelayMsMax);
      }
    }
  }

  /** Retries `action` with backoff while `term` is led (or forever when term is undefined); false when given up. */
  async #retry(what: string, term: number | undefined, action: () => Promise<void>): Promise<boolean> {
    let delayMs = 50;
    for (;;) {
      if (term !== undefined && !this.#stillLeading(term)) return false;
      try {
        await action();
        return true;
      } catch (error) {
        this.#logger.warn({ err: error, what, retryInMs: delayMs }, 'role transition step failed; retrying');
        if (term === undefined && this.#current?.role === 'LEADER') return false;
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        delayMs = Math.min(delayMs * 2, retryDelayMsMax);
      }
    }
  }
}
