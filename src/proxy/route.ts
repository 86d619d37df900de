import { ServerStatus } from '../protocol/capabilities.js';
import type { Classification, PinReason } from './classify.js';

/**
 * Where a session's next statement runs. Pure: session state, the statement's classification and
 * a snapshot of the cluster in; a decision with its reason out. See DESIGN.md "Routing".
 */
export type BackendName = 'local' | 'leader';

export interface RouteDecision {
  readonly backend: BackendName;
  readonly reason: string;
}

/** What the proxy knows of the cluster at the moment of a statement. */
export interface ClusterView {
  /** This node leads and its MariaDB takes writes: local and leader are the same server. */
  readonly localIsLeader: boolean;
  /** The local MariaDB answers its health probes. */
  readonly localHealthy: boolean;
  /** Per replication domain, the highest sequence number applied (COMMIT returned) locally. */
  readonly appliedPosition: ReadonlyMap<number, bigint>;
  /** How far the local MariaDB is behind the commit index, in milliseconds. */
  readonly lagMs: number;
  /**
   * Why the local MariaDB must not answer reads even when healthy and caught up (its binlog may
   * hold a tail the cluster never committed: a rewind check pending or running); undefined when
   * it may. See `localReadBlocker`.
   */
  readonly localReadBlocker?: string | undefined;
}

/**
 * The `localReadBlocker` for a node's rewind state (`/status` `rewind.state`): a node that may hold
 * a diverged tail (not checked yet, being rewound, or beyond repair) must not serve reads.
 */
export function localReadBlocker(
  rewindState: 'waiting' | 'clean' | 'rewinding' | 'rewound' | 'needs_migration' | undefined,
): string | undefined {
  switch (rewindState) {
    case 'waiting':
      return 'the local binlog is not checked against the committed log yet (rewind waiting)';
    case 'rewinding':
      return 'the local MariaDB is being rewound';
    case 'needs_migration':
      return 'the local MariaDB holds transactions the cluster never committed (needs migration)';
    default:
      return undefined;
  }
}

export interface SessionRouting {
  /** Sticky pins (not transactions): released only by COM_RESET_CONNECTION / COM_CHANGE_USER. */
  readonly pin: PinReason | undefined;
  /** From the last status flags. */
  readonly inTransaction: boolean;
  readonly autocommit: boolean;
  /** Per domain, the highest sequence number of a GTID this session received in an OK packet. */
  readonly written: ReadonlyMap<number, bigint>;
  /** The backend the session used last. */
  readonly current: BackendName | undefined;
  /**
   * The client is another node's proxy forwarding to the leader (connect attribute
   * `_wolfscale_forwarded`): only an open leader serves it, never this node's MariaDB while it is
   * not leading and writable. A node made leader by failback applies its backlog before it opens;
   * a forwarded read served from its MariaDB meanwhile missed its client's own acknowledged
   * writes (docs/RELIABILITY.md, failure 7). Fixed for the session's life.
   */
  readonly leaderBound: boolean;
}

export const initialRouting: SessionRouting = {
  pin: undefined,
  inTransaction: false,
  autocommit: true,
  written: new Map(),
  current: undefined,
  leaderBound: false,
};

const transactionPins: ReadonlySet<PinReason> = new Set(['transaction', 'autocommit-off']);

/** Whether `applied` covers every GTID in `written`; the first domain that is not covered otherwise. */
export function coverage(
  applied: ReadonlyMap<number, bigint>,
  written: ReadonlyMap<number, bigint>,
):
  | { readonly covered: true }
  | { readonly covered: false; readonly domain: number; readonly needed: bigint } {
  for (const [domain, sequence] of written) {
    const have = applied.get(domain);
    if (have === undefined || have < sequence) return { covered: false, domain, needed: sequence };
  }
  return { covered: true };
}

export function route(
  session: SessionRouting,
  statement: Pick<Classification, 'route' | 'reason' | 'pin'>,
  view: ClusterView,
  maxLagMs: number,
): RouteDecision {
  if (view.localIsLeader) return { backend: 'local', reason: 'this node leads' };
  if (session.leaderBound)
    return { backend: 'leader', reason: "forwarded by a follower's proxy: only an open leader serves it" };
  if (session.inTransaction) return { backend: 'leader', reason: 'inside a transaction' };
  if (!session.autocommit) return { backend: 'leader', reason: 'autocommit is off' };
  if (session.pin !== undefined) return { backend: 'leader', reason: `pinned to the leader: ${session.pin}` };
  if (statement.route === 'leader') return { backend: 'leader', reason: statement.reason };
  if (statement.route === 'session') {
    const backend = session.current ?? 'local';
    return { backend, reason: `session state, run where the session is (${backend})` };
  }
  if (!view.localHealthy) return { backend: 'leader', reason: 'the local MariaDB is unhealthy' };
  if (view.localReadBlocker !== undefined) return { backend: 'leader', reason: view.localReadBlocker };
  if (view.lagMs > maxLagMs)
    return { backend: 'leader', reason: `the local MariaDB lags ${view.lagMs} ms > max_lag_ms ${maxLagMs}` };
  const covered = coverage(view.appliedPosition, session.written);
  if (!covered.covered) {
    return {
      backend: 'leader',
      reason: `the local MariaDB has not applied this session's write in domain ${covered.domain} (sequence ${covered.needed}) yet`,
    };
  }
  return { backend: 'local', reason: statement.reason };
}

/** A GTID as `last_gtid` reports it ('' when the statement wrote nothing); undefined when not a GTID. */
export function parseLastGtid(
  text: string,
): { readonly domain: number; readonly sequence: bigint } | undefined {
  const match = /^(\d{1,10})-(\d{1,10})-(\d{1,20})$/.exec(text.trim());
  if (match === null) return undefined;
  return { domain: Number(match[1]), sequence: BigInt(match[3] as string) };
}

/**
 * The session's routing state after a statement's response: the statement's sticky pin (when it
 * succeeded), the last status flags, the GTIDs its OK packets reported.
 */
export function afterResponse(
  session: SessionRouting,
  outcome: {
    readonly backend: BackendName;
    readonly pin: PinReason | undefined;
    readonly succeeded: boolean;
    /** Status flags of the response's last OK/EOF; undefined when it ended in ERR. */
    readonly statusFlags: number | undefined;
    readonly lastGtids: readonly string[];
  },
): SessionRouting {
  let written = session.written;
  for (const text of outcome.lastGtids) {
    const gtid = parseLastGtid(text);
    if (gtid === undefined) continue;
    const have = written.get(gtid.domain);
    if (have !== undefined && have >= gtid.sequence) continue;
    const next = new Map(written);
    next.set(gtid.domain, gtid.sequence);
    written = next;
  }
  const stickyPin =
    session.pin ??
    (outcome.succeeded && outcome.pin !== undefined && !transactionPins.has(outcome.pin)
      ? outcome.pin
      : undefined);
  const flags = outcome.statusFlags;
  return {
    pin: stickyPin,
    inTransaction: flags === undefined ? session.inTransaction : (flags & ServerStatus.inTransaction) !== 0,
    autocommit: flags === undefined ? session.autocommit : (flags & ServerStatus.autocommit) !== 0,
    written,
    current: outcome.backend,
    leaderBound: session.leaderBound,
  };
}
