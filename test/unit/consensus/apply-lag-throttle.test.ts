import { describe, expect, test } from 'vitest';
import { type ApplyLagReport, decideThrottle, type ThrottleDecision } from '../../../src/consensus/index.js';

const limits = { maxLagMs: 1000, staleTicks: 3, stallTicks: 20 };
const voters = ['n2', 'n3'];

function report(lagMs: number, atTick: number, extra: Partial<ApplyLagReport> = {}): ApplyLagReport {
  return { lagMs, atTick, progressTick: atTick, applyFailed: false, mariadbHealthy: true, ...extra };
}

/** Runs the decision tick by tick over a schedule of reports, as the leader's runtime does. */
function run(schedule: ReadonlyArray<Record<string, number>>): ThrottleDecision[] {
  const reports = new Map<string, ApplyLagReport>();
  let throttling = false;
  return schedule.map((lags, tick) => {
    for (const [id, lagMs] of Object.entries(lags)) reports.set(id, report(lagMs, tick));
    const decision = decideThrottle(throttling, voters, reports, tick, limits);
    throttling = decision.throttling;
    return decision;
  });
}

describe('flow control on apply lag', () => {
  test('starts above the bound, holds until the follower is back under half of it', () => {
    const decisions = run([
      { n2: 0, n3: 0 },
      { n2: 900, n3: 10 },
      { n2: 1200, n3: 10 },
      { n2: 800, n3: 10 },
      { n2: 600, n3: 10 },
      { n2: 400, n3: 10 },
      { n2: 900, n3: 10 },
    ]);
    expect(decisions.map((d) => d.throttling)).toEqual([false, false, true, true, true, false, false]);
    const started = decisions[2];
    expect(started?.throttling && started.laggards).toEqual([{ id: 'n2', lagMs: 1200 }]);
    expect(started?.reason).toContain('n2 is 1200 ms behind applying (cluster.max_apply_lag_ms = 1000)');
    expect(decisions[3]?.reason).toContain('resumes at ≤ 500 ms');
  });

  test('the worst follower is named first', () => {
    const decisions = run([{ n2: 1500, n3: 3000 }]);
    expect(decisions[0]?.throttling && decisions[0].laggards.map((l) => l.id)).toEqual(['n3', 'n2']);
  });

  test('a follower that stopped reporting is not waited for once its report is stale', () => {
    const reports = new Map([['n2', report(5000, 0)]]);
    expect(decideThrottle(false, voters, reports, 3, limits).throttling).toBe(true);
    expect(decideThrottle(true, voters, reports, 4, limits).throttling).toBe(false);
  });

  test('a follower whose applying stopped or whose MariaDB is down is not waited for', () => {
    const failed = new Map([['n2', report(5000, 0, { applyFailed: true })]]);
    const down = new Map([['n2', report(5000, 0, { mariadbHealthy: false })]]);
    expect(decideThrottle(false, voters, failed, 0, limits).throttling).toBe(false);
    expect(decideThrottle(false, voters, down, 0, limits).throttling).toBe(false);
  });

  // Regression (chaos L1; docs/RELIABILITY.md "Failures found" 12): a follower whose applying was
  // stuck kept reporting, lagging ever more, and held every acknowledgement for minutes.
  test('a lagging follower whose applied index has not moved for stallTicks is not waited for', () => {
    const moving = new Map([['n2', report(5000, 30, { progressTick: 15 })]]);
    const stuck = new Map([['n2', report(5000, 30, { progressTick: 9 })]]);
    expect(decideThrottle(false, voters, moving, 30, limits).throttling).toBe(true);
    expect(decideThrottle(true, voters, stuck, 30, limits)).toEqual({
      throttling: false,
      reason: 'no follower is applying and reporting',
    });
    // Caught up and idle: nothing to apply, nothing to hold.
    const idle = new Map([['n2', report(0, 30, { progressTick: 0 })]]);
    expect(decideThrottle(false, voters, idle, 30, limits).throttling).toBe(false);
  });

  test('only voting members count (a learner catching up does not slow the cluster)', () => {
    const reports = new Map([['learner', report(60_000, 0)]]);
    expect(decideThrottle(false, voters, reports, 0, limits)).toEqual({
      throttling: false,
      reason: 'no follower is applying and reporting',
    });
  });
});
