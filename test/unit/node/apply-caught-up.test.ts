import { describe, expect, test } from 'vitest';
import { appliedIndexAgo, applyCaughtUp } from '../../../src/node/apply-caught-up.js';

const base = {
  commitIndex: 1000,
  appliedIndex: 1000,
  lagMs: 0,
  appliedIndexBoundAgo: 1000,
  applyFailed: false,
  maxLagMs: 1000,
};

describe('applyCaughtUp (failback asks it)', () => {
  test('nothing to apply: caught up, however long ago it last applied', () => {
    expect(applyCaughtUp(base)).toBe(true);
  });

  test('a follower under load, a few entries behind and applying fast, is caught up', () => {
    expect(applyCaughtUp({ ...base, appliedIndex: 990, lagMs: 40, appliedIndexBoundAgo: 200 })).toBe(true);
  });

  test('back from a partition with a large backlog: its lag is young, but it would take long to drain', () => {
    // The chaos case: the node learned of 20,000 commits at once, so `lagMs` starts at 0.
    expect(
      applyCaughtUp({
        ...base,
        commitIndex: 24_000,
        appliedIndex: 4000,
        lagMs: 50,
        appliedIndexBoundAgo: 1000,
      }),
    ).toBe(false);
  });

  test('applying paused (a rewind check) with a backlog: behind', () => {
    expect(applyCaughtUp({ ...base, commitIndex: 1005, lagMs: 300, appliedIndexBoundAgo: 1000 })).toBe(false);
  });

  test('a small backlog that has waited longer than the bound: behind', () => {
    expect(applyCaughtUp({ ...base, commitIndex: 1002, lagMs: 1500, appliedIndexBoundAgo: 0 })).toBe(false);
  });

  test('applying stopped with an error: behind, even with nothing committed since', () => {
    expect(applyCaughtUp({ ...base, applyFailed: true })).toBe(false);
  });
});

describe('appliedIndexAgo', () => {
  const samples = [
    { atMs: 1000, index: 10 },
    { atMs: 1500, index: 20 },
    { atMs: 2000, index: 40 },
    { atMs: 2500, index: 80 },
  ];

  test('the newest sample at least that old', () => {
    expect(appliedIndexAgo(samples, 2600, 1000)).toBe(20);
    expect(appliedIndexAgo(samples, 3000, 1000)).toBe(40);
  });

  test('none that old: the oldest (a shorter window undercounts, so it errs towards "behind")', () => {
    expect(appliedIndexAgo(samples, 1200, 1000)).toBe(10);
  });

  test('no samples: undefined', () => {
    expect(appliedIndexAgo([], 1000, 1000)).toBeUndefined();
  });
});
