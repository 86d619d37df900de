import type { NodeId } from './node-id.js';

/**
 * Flow control on apply lag (`cluster.max_apply_lag_ms`): the leader holds its acknowledgements
 * to MariaDB (so its commits) while a voting follower has fallen too far behind applying, so that
 * a failover never waits on a long apply backlog and reads on followers stay fresh. Pure: time
 * is ticks, the runtime feeds the followers' reports and asks for the decision.
 *
 * - Starts throttling when a counted follower reports an apply lag above `maxLagMs`; stops once
 *   every counted follower is at or below half of it (hysteresis, so it does not flap at the bound).
 * - Counted: voting members other than the leader whose last report is fresh (at most
 *   `staleTicks` old), whose applying has not stopped and whose MariaDB answers. A follower that
 *   cannot apply at all (stopped on an error, MariaDB down, silent) is not waited for: it would
 *   stop the cluster's writes without ever catching up; it is reported by its status instead.
 * - Nor is one whose applied index has not moved for `stallTicks` while it lags (applying paused
 *   or stuck): found by the chaos suite (docs/RELIABILITY.md "Failures found" 12), a follower
 *   stuck in a deadlock held every acknowledgement of the cluster, so every write, for minutes.
 * - A follower's lag is measured by the follower itself: milliseconds since the oldest committed
 *   entry it has not applied was committed (0 when it is caught up).
 */
export interface ApplyLagReport {
  readonly lagMs: number;
  readonly applyFailed: boolean;
  readonly mariadbHealthy: boolean;
  /** Tick at which the report arrived. */
  readonly atTick: number;
  /** Tick at which this follower's reported applied index last changed. */
  readonly progressTick: number;
}

export interface ThrottleLimits {
  readonly maxLagMs: number;
  readonly staleTicks: number;
  /** A lagging follower whose applied index has not moved for this many ticks is not waited for. */
  readonly stallTicks: number;
}

export type ThrottleDecision =
  | { readonly throttling: false; readonly reason: string }
  | {
      readonly throttling: true;
      readonly reason: string;
      /** The followers over the bound, worst first. */
      readonly laggards: readonly { readonly id: NodeId; readonly lagMs: number }[];
    };

export function decideThrottle(
  wasThrottling: boolean,
  voters: readonly NodeId[],
  reports: ReadonlyMap<NodeId, ApplyLagReport>,
  nowTick: number,
  limits: ThrottleLimits,
): ThrottleDecision {
  const counted: Array<{ id: NodeId; lagMs: number }> = [];
  for (const id of voters) {
    const report = reports.get(id);
    if (report === undefined || nowTick - report.atTick > limits.staleTicks) continue;
    if (report.applyFailed || !report.mariadbHealthy) continue;
    if (report.lagMs > 0 && nowTick - report.progressTick > limits.stallTicks) continue;
    counted.push({ id, lagMs: report.lagMs });
  }
  counted.sort((a, b) => b.lagMs - a.lagMs);
  const bound = wasThrottling ? limits.maxLagMs / 2 : limits.maxLagMs;
  const laggards = counted.filter((follower) => follower.lagMs > bound);
  if (laggards.length === 0) {
    return {
      throttling: false,
      reason:
        counted.length === 0
          ? 'no follower is applying and reporting'
          : `every applying follower is within ${bound} ms (worst: ${counted[0]?.id} at ${counted[0]?.lagMs} ms)`,
    };
  }
  const worst = laggards[0] as { id: NodeId; lagMs: number };
  return {
    throttling: true,
    reason: wasThrottling
      ? `${worst.id} is still ${worst.lagMs} ms behind applying (resumes at ≤ ${bound} ms)`
      : `${worst.id} is ${worst.lagMs} ms behind applying (cluster.max_apply_lag_ms = ${limits.maxLagMs})`,
    laggards,
  };
}
