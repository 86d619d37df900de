import { describe, expect, test } from 'vitest';
import { EntrySizes } from '../../../src/consensus/entry-sizes.js';
import { nextBatchEnd, nextIndexAfterReject } from '../../../src/consensus/flow-control.js';
import { LogIds } from '../../../src/consensus/log-ids.js';
import { newProgress } from '../../../src/consensus/progress.js';

const limits = { inflightMessagesMax: 2, inflightEntriesMax: 10, inflightBytesMax: 100, batchEntriesMax: 4 };

function sizes(bytes: number[]): EntrySizes {
  const s = new EntrySizes(1, 1000);
  for (const [i, b] of bytes.entries()) s.record(i + 1, b);
  return s;
}

describe('flow control', () => {
  test('a batch is bounded by batchEntriesMax, the entries room and the bytes room', () => {
    const progress = { ...newProgress('n2', 1, 0), state: 'replicate' as const };
    expect(nextBatchEnd(progress, limits, 20, sizes(Array(20).fill(1)))).toBe(4);
    expect(nextBatchEnd(progress, limits, 20, sizes(Array(20).fill(40)))).toBe(2);
    progress.inflight.push({ lastIndex: 8, entryCount: 8, bytes: 8 });
    progress.nextIndex = 9;
    expect(nextBatchEnd(progress, limits, 20, sizes(Array(20).fill(1)))).toBe(10);
    progress.inflight.push({ lastIndex: 10, entryCount: 2, bytes: 2 });
    expect(nextBatchEnd({ ...progress, nextIndex: 11 }, limits, 20, sizes(Array(20).fill(1)))).toBeNull();
  });

  test('an entry larger than the byte bound goes alone into an empty pipeline, and waits otherwise', () => {
    const progress = { ...newProgress('n2', 1, 0), state: 'replicate' as const };
    const big = sizes([500, 1, 1]);
    expect(nextBatchEnd(progress, limits, 3, big)).toBe(1);
    progress.inflight.push({ lastIndex: 0, entryCount: 0, bytes: 1 });
    expect(nextBatchEnd(progress, limits, 3, big)).toBeNull();
  });

  test('back-off after a rejection uses the conflict term, and never goes below the match index', () => {
    // Leader log: terms 1 1 1 4 4 5.
    const log = new LogIds({
      purged: { term: 0, index: 0 },
      termStarts: [
        { term: 1, index: 1 },
        { term: 4, index: 4 },
        { term: 5, index: 6 },
      ],
      lastIndex: 6,
    });
    // The follower holds term 4 at index 6; ours ends at 5: resume right after our last term-4 entry.
    expect(nextIndexAfterReject(0, 6, { term: 4, index: 4 }, log)).toBe(6);
    // Follower's conflicting term 2 is unknown to us: go to its first index of that term.
    expect(nextIndexAfterReject(0, 6, { term: 2, index: 3 }, log)).toBe(3);
    // Follower's log is shorter.
    expect(nextIndexAfterReject(0, 6, { term: 0, index: 2 }, log)).toBe(2);
    expect(nextIndexAfterReject(2, 6, { term: 0, index: 2 }, log)).toBe(3);
  });

  test('entry sizes: truncation, purge and the tracked bound', () => {
    const s = new EntrySizes(1, 4);
    for (let i = 1; i <= 4; i++) s.record(i, i * 10);
    expect(s.bytesBetween(1, 4)).toBe(100);
    s.truncateFrom(3);
    expect(s.bytesOf(3)).toBe(0);
    s.record(3, 7);
    expect(s.bytesOf(3)).toBe(7);
    s.record(4, 8);
    s.record(5, 9); // over the bound: the older half is forgotten
    expect([s.bytesOf(1), s.bytesOf(2), s.bytesOf(4), s.bytesOf(5)]).toEqual([0, 0, 8, 9]);
    s.forgetBefore(5);
    expect(s.bytesOf(4)).toBe(0);
  });
});
