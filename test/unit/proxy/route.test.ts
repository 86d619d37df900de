import { describe, expect, test } from 'vitest';
import { ServerStatus } from '../../../src/protocol/capabilities.js';
import { classify } from '../../../src/proxy/classify.js';
import {
  afterResponse,
  type ClusterView,
  coverage,
  initialRouting,
  localReadBlocker,
  parseLastGtid,
  type RouteDecision,
  route,
  type SessionRouting,
} from '../../../src/proxy/route.js';

const follower: ClusterView = {
  localIsLeader: false,
  localHealthy: true,
  appliedPosition: new Map([[0, 100n]]),
  lagMs: 0,
};
const leader: ClusterView = { ...follower, localIsLeader: true };
const maxLagMs = 1000;

function decide(sql: string, session: SessionRouting = initialRouting, view = follower): RouteDecision {
  return route(session, classify(sql), view, maxLagMs);
}

const autocommitFlags = ServerStatus.autocommit;
const inTransactionFlags = ServerStatus.autocommit | ServerStatus.inTransaction;

/** Runs statements through the router and the state transition, as a session would. */
function play(
  steps: ReadonlyArray<{ sql: string; flags?: number; gtids?: string[]; ok?: boolean }>,
  view = follower,
): { session: SessionRouting; decisions: RouteDecision[] } {
  let session = initialRouting;
  const decisions: RouteDecision[] = [];
  for (const step of steps) {
    const classification = classify(step.sql);
    const decision = route(session, classification, view, maxLagMs);
    decisions.push(decision);
    session = afterResponse(session, {
      backend: decision.backend,
      pin: classification.pin,
      succeeded: step.ok ?? true,
      statusFlags: step.ok === false ? undefined : (step.flags ?? autocommitFlags),
      lastGtids: step.gtids ?? [],
    });
  }
  return { session, decisions };
}

describe('route', () => {
  test('on the leader everything runs locally', () => {
    for (const sql of ['SELECT 1', 'INSERT INTO t VALUES (1)', 'BEGIN', 'SELECT GET_LOCK("x", 1)'])
      expect(decide(sql, initialRouting, leader)).toEqual({ backend: 'local', reason: 'this node leads' });
  });

  test('on a follower: reads local, writes and unknown statements to the leader', () => {
    expect(decide('SELECT * FROM t WHERE id = 1')).toEqual({
      backend: 'local',
      reason: 'SELECT without locks, writes or unknown functions',
    });
    expect(decide('SHOW TABLES').backend).toBe('local');
    expect(decide('INSERT INTO t VALUES (1)')).toEqual({ backend: 'leader', reason: 'INSERT writes' });
    expect(decide('SELECT * FROM t FOR UPDATE').backend).toBe('leader');
    expect(decide('CALL p()').backend).toBe('leader');
    expect(decide('SELECT my_function(1)').backend).toBe('leader');
    expect(decide('FROBNICATE everything').backend).toBe('leader');
  });

  test('session statements run where the session is', () => {
    expect(decide('SET NAMES utf8mb4')).toEqual({
      backend: 'local',
      reason: 'session state, run where the session is (local)',
    });
    const onLeader = { ...initialRouting, current: 'leader' as const };
    expect(decide('USE app', onLeader)).toEqual({
      backend: 'leader',
      reason: 'session state, run where the session is (leader)',
    });
  });

  test('a lagging or unhealthy follower sends reads to the leader', () => {
    expect(decide('SELECT 1', initialRouting, { ...follower, lagMs: 1001 })).toEqual({
      backend: 'leader',
      reason: 'the local MariaDB lags 1001 ms > max_lag_ms 1000',
    });
    expect(decide('SELECT 1', initialRouting, { ...follower, lagMs: 1000 }).backend).toBe('local');
    expect(decide('SELECT 1', initialRouting, { ...follower, localHealthy: false })).toEqual({
      backend: 'leader',
      reason: 'the local MariaDB is unhealthy',
    });
  });

  test('a node whose binlog may hold a diverged tail (rewind waiting or running) serves no reads', () => {
    for (const state of ['waiting', 'rewinding', 'needs_migration'] as const) {
      const blocker = localReadBlocker(state);
      expect(blocker).toBeDefined();
      expect(decide('SELECT 1', initialRouting, { ...follower, localReadBlocker: blocker })).toEqual({
        backend: 'leader',
        reason: blocker,
      });
      // Once it leads, everything runs on it (a leader's rewind check is never pending).
      expect(decide('SELECT 1', initialRouting, { ...leader, localReadBlocker: blocker }).backend).toBe(
        'local',
      );
    }
    for (const state of ['clean', 'rewound', undefined] as const) {
      expect(localReadBlocker(state)).toBeUndefined();
      expect(
        decide('SELECT 1', initialRouting, { ...follower, localReadBlocker: localReadBlocker(state) })
          .backend,
      ).toBe('local');
    }
  });

  // Regression (docs/RELIABILITY.md failure 7; chaos, 3 nodes, 900 s, seed 11): a node made leader
  // by failback, still applying its backlog (leading, not yet writable), served a read forwarded
  // by a follower's proxy from its own stale MariaDB, and the client missed its own appends.
  test("a session forwarded by another node's proxy is served only by an open leader", () => {
    const forwarded: SessionRouting = { ...initialRouting, leaderBound: true };
    const opening: ClusterView = { ...follower, appliedPosition: new Map(), lagMs: 0 };
    for (const sql of ['SELECT 1', 'SELECT v FROM t WHERE id = 1', 'SHOW TABLES', 'SET @a = 1', 'USE app']) {
      expect(decide(sql, forwarded, opening)).toEqual({
        backend: 'leader',
        reason: "forwarded by a follower's proxy: only an open leader serves it",
      });
      // The same statement from an ordinary client of that node runs locally (caught up, healthy).
      expect(decide(sql, initialRouting, opening).backend).toBe('local');
      expect(decide(sql, forwarded, leader)).toEqual({ backend: 'local', reason: 'this node leads' });
    }
    // It stays leader-bound through the session's responses.
    const after = afterResponse(forwarded, {
      backend: 'leader',
      pin: undefined,
      succeeded: true,
      statusFlags: autocommitFlags,
      lastGtids: ['0-1-5'],
    });
    expect(after.leaderBound).toBe(true);
    expect(decide('SELECT 1', after, opening).backend).toBe('leader');
  });

  test('causal reads: a read after a write goes local only once the write is applied locally', () => {
    const { session } = play([{ sql: 'INSERT INTO t VALUES (1)', gtids: ['0-1-101'] }]);
    expect(session.written).toEqual(new Map([[0, 101n]]));
    expect(decide('SELECT * FROM t', session)).toEqual({
      backend: 'leader',
      reason: "the local MariaDB has not applied this session's write in domain 0 (sequence 101) yet",
    });
    const caughtUp = { ...follower, appliedPosition: new Map([[0, 101n]]) };
    expect(decide('SELECT * FROM t', session, caughtUp).backend).toBe('local');
    const otherDomainOnly = { ...follower, appliedPosition: new Map([[1, 500n]]) };
    expect(decide('SELECT * FROM t', session, otherDomainOnly).backend).toBe('leader');
  });

  test('the written position keeps the highest sequence per domain', () => {
    const { session } = play([
      { sql: 'INSERT INTO t VALUES (1)', gtids: ['0-1-105'] },
      { sql: 'INSERT INTO t VALUES (2)', gtids: ['0-1-103', '2-1-7'] },
      { sql: 'SELECT 1', gtids: [''] },
    ]);
    expect(session.written).toEqual(
      new Map([
        [0, 105n],
        [2, 7n],
      ]),
    );
  });

  test('a transaction pins to the leader until the status flags say it ended', () => {
    const { decisions, session } = play([
      { sql: 'BEGIN', flags: inTransactionFlags },
      { sql: 'SELECT * FROM t', flags: inTransactionFlags },
      { sql: 'COMMIT', flags: autocommitFlags, gtids: ['0-1-120'] },
      { sql: 'SELECT * FROM t' },
    ]);
    expect(decisions.map((d) => d.backend)).toEqual(['leader', 'leader', 'leader', 'leader']);
    expect(decisions[1]).toEqual({ backend: 'leader', reason: 'inside a transaction' });
    // after COMMIT the read goes to the leader only because the commit is not applied locally yet
    expect(decisions[3]?.reason).toMatch(/has not applied this session's write/);
    expect(session.inTransaction).toBe(false);
    expect(session.pin).toBeUndefined();
    const applied = { ...follower, appliedPosition: new Map([[0, 120n]]) };
    expect(decide('SELECT * FROM t', session, applied).backend).toBe('local');
  });

  test('autocommit=0 pins until autocommit is back on', () => {
    const { decisions, session } = play([
      { sql: 'SET autocommit = 0', flags: 0 },
      { sql: 'SELECT 1', flags: ServerStatus.inTransaction },
      { sql: 'COMMIT', flags: 0 },
      { sql: 'SELECT 1', flags: 0 },
      { sql: 'SET autocommit = 1', flags: autocommitFlags },
      { sql: 'SELECT 1' },
    ]);
    expect(decisions.map((d) => d.backend)).toEqual([
      'leader',
      'leader',
      'leader',
      'leader',
      'leader',
      'local',
    ]);
    expect(decisions[3]).toEqual({ backend: 'leader', reason: 'autocommit is off' });
    expect(session.autocommit).toBe(true);
  });

  test('sticky pins last for the session', () => {
    for (const [sql, pin] of [
      ['CREATE TEMPORARY TABLE tmp (a INT)', 'temporary-table'],
      ['LOCK TABLES t WRITE', 'table-lock'],
      ['SELECT GET_LOCK("job", 10)', 'named-lock'],
      ['SELECT @n := COUNT(*) FROM t', 'user-variable'],
      ['SELECT LAST_INSERT_ID()', 'last-insert-id'],
    ] as const) {
      const { session, decisions } = play([{ sql }, { sql: 'SELECT 1' }, { sql: 'SHOW TABLES' }]);
      expect(session.pin).toBe(pin);
      expect(decisions[1]).toEqual({ backend: 'leader', reason: `pinned to the leader: ${pin}` });
      expect(decisions[2]?.backend).toBe('leader');
    }
  });

  test('a statement that failed does not pin', () => {
    const { session } = play([{ sql: 'LOCK TABLES missing WRITE', ok: false }]);
    expect(session.pin).toBeUndefined();
    expect(decide('SELECT 1', session).backend).toBe('local');
  });

  test('an ERR keeps the previous status flags', () => {
    const { session } = play([
      { sql: 'BEGIN', flags: inTransactionFlags },
      { sql: 'INSERT INTO missing VALUES (1)', ok: false },
    ]);
    expect(session.inTransaction).toBe(true);
  });

  test('coverage and last_gtid parsing', () => {
    expect(coverage(new Map(), new Map())).toEqual({ covered: true });
    expect(coverage(new Map([[0, 5n]]), new Map([[0, 6n]]))).toEqual({
      covered: false,
      domain: 0,
      needed: 6n,
    });
    expect(parseLastGtid('0-1-42')).toEqual({ domain: 0, sequence: 42n });
    expect(parseLastGtid(' 3-7-18446744073709551615 ')).toEqual({
      domain: 3,
      sequence: 18446744073709551615n,
    });
    expect(parseLastGtid('')).toBeUndefined();
    expect(parseLastGtid('not a gtid')).toBeUndefined();
  });
});
