import { describe, expect, test } from 'vitest';
import type { FollowerProgress } from '../../../src/consensus/index.js';
import { purgeBeforeIndex, retentionFloor } from '../../../src/consensus/index.js';

function follower(
  id: string,
  matchIndex: number,
  heardTicksAgo = 1,
  needsMigration = false,
): FollowerProgress {
  return { id, matchIndex, heardTicksAgo, needsMigration, voter: true };
}

const base = { isLeader: true, commitIndex: 100, appliedIndex: 100, leaderFloor: null, holdTicks: 300 };

describe('WAL retention: what may be purged', () => {
  test('the leader keeps what its slowest live follower lacks', () => {
    expect(purgeBeforeIndex({ ...base, followers: [follower('n2', 90), follower('n3', 40)] })).toBe(41);
  });

  test('never past the commit index or the local applied index', () => {
    const followers = [follower('n2', 100), follower('n3', 100)];
    expect(purgeBeforeIndex({ ...base, commitIndex: 70, followers })).toBe(71);
    expect(purgeBeforeIndex({ ...base, appliedIndex: 60, followers })).toBe(61);
  });

  test('a follower silent for the hold time, or needing migration, no longer holds the WAL back', () => {
    const followers = [follower('n2', 95), follower('n3', 10, 300), follower('n4', 5, 1, true)];
    expect(purgeBeforeIndex({ ...base, followers })).toBe(96);
    expect(purgeBeforeIndex({ ...base, followers: [follower('n3', 10, 299)] })).toBe(11);
  });

  test('a follower purges only up to the floor its leader announced, and nothing without one', () => {
    const follower = { ...base, isLeader: false, followers: [] };
    expect(purgeBeforeIndex(follower)).toBe(1);
    expect(purgeBeforeIndex({ ...follower, leaderFloor: 50 })).toBe(50);
    expect(purgeBeforeIndex({ ...follower, leaderFloor: 500 })).toBe(101);
    expect(purgeBeforeIndex({ ...follower, leaderFloor: 500, appliedIndex: 30 })).toBe(31);
  });

  test('nothing applied or committed: nothing may go', () => {
    expect(purgeBeforeIndex({ ...base, commitIndex: 0, appliedIndex: 0, followers: [] })).toBe(1);
  });

  test('the announced floor is the slowest live follower, or the fallback', () => {
    expect(retentionFloor([follower('n2', 7), follower('n3', 9)], 300, 1000)).toBe(8);
    expect(retentionFloor([follower('n2', 7, 400)], 300, 1000)).toBe(1000);
    expect(retentionFloor([], 300, 1000)).toBe(1000);
  });
});
