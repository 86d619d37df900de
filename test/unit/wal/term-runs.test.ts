import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { TermRuns } from '../../../src/wal/term-runs.js';

type Op =
  | { kind: 'append'; termStep: number }
  | { kind: 'truncate'; back: number }
  | { kind: 'purge'; ahead: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({ kind: fc.constant('append' as const), termStep: fc.constantFrom(0, 0, 0, 1, 2) }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), back: fc.nat(10) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('purge' as const), ahead: fc.nat(10) }) },
);

describe('TermRuns', () => {
  test.prop([fc.array(opArb, { maxLength: 120 })])(
    'answers termAt like a plain array of terms, through appends, truncations and purges',
    (ops) => {
      const runs = new TermRuns(0, 0);
      // model[i] = term of index i; indexes below prevIndex are forgotten.
      const model: number[] = [0];
      let prevIndex = 0;
      for (const op of ops) {
        const lastIndex = model.length - 1;
        if (op.kind === 'append') {
          const term = model[lastIndex]! + op.termStep;
          runs.append(lastIndex + 1, term);
          model.push(term);
        } else if (op.kind === 'truncate') {
          const index = Math.max(prevIndex + 1, lastIndex + 1 - op.back);
          runs.truncateFrom(index);
          model.length = index;
        } else {
          const firstIndex = Math.min(lastIndex + 1, prevIndex + 1 + op.ahead);
          if (firstIndex <= prevIndex + 1) continue;
          runs.purgeBefore(firstIndex);
          prevIndex = firstIndex - 1;
        }
        expect([runs.prevIndex, runs.lastIndex, runs.lastTerm]).toEqual([
          prevIndex,
          model.length - 1,
          model.at(-1),
        ]);
        for (let index = 0; index <= model.length + 1; index += 1) {
          const expected = index >= prevIndex && index < model.length ? model[index] : undefined;
          expect(runs.termAt(index)).toBe(expected);
        }
      }
    },
  );

  test('refuses a decreasing term or a gap: the Raft log invariants', () => {
    const runs = new TermRuns(0, 0);
    runs.append(1, 3);
    expect(() => runs.append(2, 2)).toThrow(/below the previous term 3/);
    expect(() => runs.append(3, 3)).toThrow(/does not follow 1/);
  });

  test('runsBetween returns the runs clamped to the range', () => {
    const runs = new TermRuns(0, 0);
    for (const [index, term] of [
      [1, 1],
      [2, 1],
      [3, 2],
      [4, 2],
      [5, 5],
    ] as const) {
      runs.append(index, term);
    }
    expect(runs.runsBetween(2, 4)).toEqual([
      { startIndex: 2, term: 1 },
      { startIndex: 3, term: 2 },
    ]);
  });
});
