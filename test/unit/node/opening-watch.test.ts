import { describe, expect, test } from 'vitest';
import { type OpeningObservation, type OpeningWatch, watchOpening } from '../../../src/node/opening-watch.js';

const limitMs = 10_000;
const stuck: OpeningObservation = {
  leading: true,
  term: 145,
  open: false,
  stage: 'follower  ',
  appliedIndex: 42_940,
  transferring: false,
};

/** Observes `seen` at each of `times`, carrying the watch along; returns the verdicts. */
function run(seen: (atMs: number) => OpeningObservation, times: readonly number[]) {
  let watch: OpeningWatch | undefined;
  return times.map((atMs) => {
    const verdict = watchOpening(watch, seen(atMs), atMs, limitMs);
    watch = verdict.watch;
    return verdict;
  });
}

describe('a leader whose opening for writes is stuck hands leadership over', () => {
  test('the case of failure 19: leading, not open, no step and no apply progress → hand over after the limit, then again every limit', () => {
    const verdicts = run(() => stuck, [0, 5_000, 9_999, 10_000, 15_000, 20_000]);
    expect(verdicts.map((v) => v.handOver)).toEqual([false, false, false, true, false, true]);
    expect(verdicts[3]?.stalledMs).toBe(10_000);
  });

  test('an opening that makes progress (applying its backlog, or moving through its steps) is left alone', () => {
    const applying = run(
      (atMs) => ({ ...stuck, appliedIndex: 42_940 + atMs / 1000 }),
      [0, 10_000, 20_000, 40_000],
    );
    expect(applying.some((v) => v.handOver)).toBe(false);
    const steps = [
      'opening 145 apply',
      'opening 145 enable semi-sync master',
      'opening 145 start the capture',
    ];
    const stepping = run(
      (atMs) => ({ ...stuck, stage: steps[Math.min(steps.length - 1, atMs / 9_000)] ?? '' }),
      [0, 9_000, 18_000],
    );
    expect(stepping.some((v) => v.handOver)).toBe(false);
  });

  test('the limit counts from the last progress, not from the election', () => {
    const verdicts = run(
      (atMs) => ({ ...stuck, appliedIndex: Math.min(atMs, 8_000) }),
      [0, 4_000, 8_000, 12_000, 17_999, 18_000],
    );
    expect(verdicts.map((v) => v.handOver)).toEqual([false, false, false, false, false, true]);
  });

  test('an open leader, a follower, a transfer under way, or a new term reset or hold the watch', () => {
    expect(watchOpening(undefined, { ...stuck, open: true }, 0, limitMs)).toEqual({
      watch: undefined,
      handOver: false,
      stalledMs: 0,
    });
    expect(watchOpening(undefined, { ...stuck, leading: false }, 0, limitMs).watch).toBeUndefined();
    const transferring = run(
      (atMs) => ({ ...stuck, transferring: atMs >= 5_000 }),
      [0, 5_000, 10_000, 30_000],
    );
    expect(transferring.some((v) => v.handOver)).toBe(false);
    const newTerm = run((atMs) => ({ ...stuck, term: atMs < 9_000 ? 145 : 146 }), [0, 9_000, 18_000, 19_000]);
    expect(newTerm.map((v) => v.handOver)).toEqual([false, false, false, true]);
  });
});
