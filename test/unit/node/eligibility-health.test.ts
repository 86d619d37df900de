import { describe, expect, test } from 'vitest';
import type { Health } from '../../../src/mariadb/health-probe.js';
import {
  type EligibilityHealth,
  eligibilityHealth,
  notProbedYet,
} from '../../../src/node/eligibility-health.js';

const graceMs = 300;
const ok: Health = { kind: 'healthy', latencyMs: 2, readOnly: true };
const timeout: Health = { kind: 'unhealthy', code: 'TIMEOUT', reason: 'did not answer within 200 ms' };
const refused: Health = { kind: 'unhealthy', code: 'CONNECT_FAILED', reason: 'connect ECONNREFUSED' };
const reset: Health = { kind: 'unhealthy', code: 'QUERY_FAILED', reason: 'read ECONNRESET' };

/** Probes every 100 ms from `notProbedYet`; returns each verdict's `healthy`. */
function run(probes: readonly Health[]): boolean[] {
  let state: EligibilityHealth = notProbedYet;
  return probes.map((health, i) => {
    state = eligibilityHealth(state, health, i * 100, graceMs);
    return state.healthy;
  });
}

describe('which probe failures make a node ineligible to lead', () => {
  test('a refused or reset connection counts at once (a killed MariaDB hands leadership over without delay)', () => {
    expect(run([ok, ok, refused, ok])).toEqual([true, true, false, true]);
    expect(run([ok, reset])).toEqual([true, false]);
  });

  test('timeouts count once they have lasted the grace: a slow answer under load does not move leadership', () => {
    // The chaos runs' common case: one or two probes time out, the next one answers.
    expect(run([ok, timeout, timeout, ok])).toEqual([true, true, true, true]);
    // A MariaDB that hangs: ineligible from the probe at which the failures have lasted 300 ms.
    expect(run([ok, timeout, timeout, timeout, timeout, timeout])).toEqual([
      true,
      true,
      true,
      true,
      false,
      false,
    ]);
  });

  test('the grace does not make a node eligible that was not: at start, or after a failure that counted', () => {
    expect(run([timeout, timeout, ok])).toEqual([false, false, true]);
    expect(run([ok, refused, timeout, timeout])).toEqual([true, false, false, false]);
  });

  test('a refused connection during a run of timeouts counts at once, and the run starts over after a success', () => {
    expect(run([ok, timeout, refused])).toEqual([true, true, false]);
    expect(run([ok, timeout, timeout, ok, timeout, timeout, timeout, ok])).toEqual([
      true,
      true,
      true,
      true,
      true,
      true,
      true,
      true,
    ]);
  });
});
