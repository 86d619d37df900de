import type { Health } from '../mariadb/health-probe.js';

/**
 * Whether the local MariaDB's health makes this node ineligible to lead (and a leader hand over).
 *
 * A probe that found the server gone or broken (connection refused or reset, a failed query)
 * counts at once. A probe that only ran out of time counts once probes have been failing for
 * `graceMs`: measured in chaos runs on the 2-core machine (3 and 5 nodes, heartbeat 100 ms, probe
 * deadline 200 ms, load 8–10), about three quarters of the timed-out episodes ended with the very
 * next probe (most within 250 ms), and each of them made a leader hand over at once —
 * leadership churn with no failure behind it. A MariaDB that really hangs is still left after
 * `graceMs` more. Pure: the node keeps the last verdict between probes.
 */
export interface EligibilityHealth {
  readonly healthy: boolean;
  /** When the current run of failed probes began (undefined while probes succeed). */
  readonly failingSinceMs: number | undefined;
}

export function eligibilityHealth(
  previous: EligibilityHealth,
  health: Health,
  nowMs: number,
  graceMs: number,
): EligibilityHealth {
  if (health.kind === 'healthy') return { healthy: true, failingSinceMs: undefined };
  const since = previous.failingSinceMs ?? nowMs;
  if (health.code !== 'TIMEOUT') return { healthy: false, failingSinceMs: since };
  // The grace covers a healthy server's slow answer, never a node that was not healthy before
  // (at start, or after a failure that counted).
  return { healthy: previous.healthy && nowMs - since < graceMs, failingSinceMs: since };
}

/** Before the first probe: not eligible. */
export const notProbedYet: EligibilityHealth = { healthy: false, failingSinceMs: undefined };
